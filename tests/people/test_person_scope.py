"""Who sees which Person, for every role, in the admin and the API (issue 9, item 1).

The programs share the ``person`` table, not what staff can learn through it: a navigator or CRM
supervisor never sees a Person known only to contingency management (substance-use treatment, 42 CFR
Part 2), a CM user never sees patient navigation's people, and an email of someone outside the user's
program is the same neutral 409 as any unusable email. Superusers see and link both programs.
"""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from common.models import PHIAccess
from people.models import Person
from people.selectors import persons_visible_to
from tests.admin_smoke import admin_url
from tests.navigation_api import API, client_for, ids, written_rows
from tests.person_scope import CM_ROLES, NAVIGATION_ROLES, NEUTRAL_409, ROLES, scope_world

__all__ = ["scope_world"]

pytestmark = pytest.mark.django_db


def _pks(people) -> set:
    return {person.pk for person in people}


def _admin(client, user):
    client.force_login(user)
    return client


def _autocomplete(client, *, app_label: str, model_name: str, field_name: str, term: str = ""):
    return client.get(
        reverse("admin:autocomplete"),
        {"app_label": app_label, "model_name": model_name, "field_name": field_name, "term": term},
    )


# Every Person field the admin can offer an autocomplete for: the view asks the Person admin for rows.
PERSON_FIELDS = (
    ("people", "personcontacttype", "person"),
    ("patients", "patient", "person"),
    ("patients", "patientlead", "person"),
    ("patients", "physician", "person"),
    ("cm_program", "canonicalpatient", "person"),
    ("cm_program", "cmprovider", "person"),
)


# --- The one definition ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_each_role_sees_the_persons_of_its_own_program(scope_world, role):
    user = scope_world.users[role]
    assert _pks(persons_visible_to(user)) >= _pks(scope_world.visible(role))
    others = {scope_world.cm_only, scope_world.cm_staff, scope_world.nav_only, scope_world.both, scope_world.deleted}
    assert not _pks(persons_visible_to(user)) & _pks(others - scope_world.visible(role))
    # Scripts and management commands (no actor) see everyone; a login in no group sees nobody.
    assert _pks(persons_visible_to(None)) >= _pks(others)


def test_a_login_without_a_role_sees_no_person(scope_world, django_user_model):
    nobody = django_user_model.objects.create_user(username="nogroup", password="pw", is_staff=True)
    assert list(persons_visible_to(nobody)) == []


# --- API: list, search, detail, history --------------------------------------------------------------------


@pytest.mark.parametrize("role", NAVIGATION_ROLES)
def test_api_and_admin_hide_cm_people_from_navigation_roles(client, scope_world, role):
    user = scope_world.users[role]
    api = client_for(user)
    listed = ids(api.get(f"{API}/persons/", {"page_size": 500, "include_inactive": "true"}))
    assert str(scope_world.cm_only.pk) not in listed and str(scope_world.cm_staff.pk) not in listed
    assert str(scope_world.nav_only.pk) in listed and str(scope_world.both.pk) in listed
    assert ids(api.get(f"{API}/persons/", {"search": "Confidential"})) == set()
    assert ids(api.get(f"{API}/persons/", {"search": "carla@cm.example.org"})) == set()
    for url in (f"{API}/persons/{scope_world.cm_only.pk}/", f"{API}/persons/{scope_world.cm_only.pk}/history/"):
        response = api.get(url)
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"

    admin = _admin(client, user)
    changelist = admin.get(admin_url(Person, "changelist"))
    assert changelist.status_code == 200
    shown = {row.pk for row in changelist.context["cl"].result_list}
    assert scope_world.cm_only.pk not in shown and scope_world.cm_staff.pk not in shown
    assert {scope_world.nav_only.pk, scope_world.both.pk} <= shown
    assert "Confidential" not in changelist.content.decode()
    # Deleted people, as in the API: only for those who may restore them (CRM supervisors).
    deleted = admin.get(admin_url(Person, "changelist"), {"deleted": "yes"})
    assert [row.pk for row in deleted.context["cl"].result_list] == (
        [scope_world.deleted.pk] if role == "crm_supervisor" else []
    )
    for term in ("Confidential", "carla@cm.example.org", "801 555 0111", "Staffcpss"):
        searched = admin.get(admin_url(Person, "changelist"), {"q": term})
        assert searched.status_code == 200 and list(searched.context["cl"].result_list) == [], term
    # Change and history pages of someone outside the scope: "does not exist" (the admin's not found).
    for view in ("change", "history"):
        page = admin.get(admin_url(Person, view, scope_world.cm_only.pk))
        assert page.status_code == 302 and page["Location"] == reverse("admin:index"), view
        assert "Confidential" not in admin.get(page["Location"]).content.decode()
    # The database audit trail as a whole (pghistory's own admin) is for superusers only.
    assert admin.get("/admin/pghistory/events/").status_code == 403

    # A superuser sees and finds both programs.
    root = scope_world.users["superuser"]
    listed = ids(client_for(root).get(f"{API}/persons/", {"page_size": 500}))
    assert {str(scope_world.cm_only.pk), str(scope_world.nav_only.pk), str(scope_world.both.pk)} <= listed
    admin = _admin(client, root)
    searched = admin.get(admin_url(Person, "changelist"), {"q": "Confidential"})
    assert [row.pk for row in searched.context["cl"].result_list] == [scope_world.cm_only.pk]
    assert admin.get(admin_url(Person, "history", scope_world.cm_only.pk)).status_code == 200


@pytest.mark.parametrize("role", ROLES)
def test_only_superusers_get_the_cross_program_section_of_the_person_page(client, scope_world, role):
    """Issue 14: the Person page of someone in both programs shows both (CM identity, enrollments, CPSS)
    to superusers only; navigation roles see their own program's page, CM roles do not reach the page."""
    admin = _admin(client, scope_world.users[role])
    before = PHIAccess.objects.count()
    page = admin.get(admin_url(Person, "change", scope_world.both.pk))
    html = page.content.decode()
    entries = list(PHIAccess.objects.order_by("pk")[before:])
    if role == "superuser":
        assert page.status_code == 200 and 'id="cross-program"' in html
        assert page.context["cross_program"].cm.canonical.person_id == scope_world.both.pk
        assert [entry.scope for entry in entries] == ["change+cross_program"]
        return
    assert 'id="cross-program"' not in html and "Contingency management" not in html
    assert not (page.context or {}).get("cross_program")
    if role in NAVIGATION_ROLES:
        assert page.status_code == 200
        assert [entry.scope for entry in entries] == ["change"]
    else:
        assert page.status_code in (302, 403) and entries == []


@pytest.mark.parametrize("role", NAVIGATION_ROLES)
def test_admin_autocompletes_offer_navigation_roles_no_cm_people(client, scope_world, role):
    admin = _admin(client, scope_world.users[role])
    for app_label, model_name, field_name in PERSON_FIELDS:
        for term in ("", "Confidential", "Carla", "Staffcpss"):
            response = _autocomplete(
                admin, app_label=app_label, model_name=model_name, field_name=field_name, term=term
            )
            assert response.status_code == 200, (model_name, field_name)
            offered = {row["id"] for row in response.json()["results"]}
            assert str(scope_world.cm_only.pk) not in offered, (model_name, field_name, term)
            assert str(scope_world.cm_staff.pk) not in offered, (model_name, field_name, term)
        everyone = _autocomplete(admin, app_label=app_label, model_name=model_name, field_name=field_name)
        assert str(scope_world.nav_only.pk) in {row["id"] for row in everyone.json()["results"]}
    root = _admin(client, scope_world.users["superuser"])
    for app_label, model_name, field_name in PERSON_FIELDS:
        found = _autocomplete(root, app_label=app_label, model_name=model_name, field_name=field_name, term="Carla")
        assert [row["id"] for row in found.json()["results"]] == [str(scope_world.cm_only.pk)], model_name


@pytest.mark.parametrize("role", CM_ROLES)
def test_cm_roles_reach_no_person_through_the_admin_or_the_api(client, scope_world, role):
    user = scope_world.users[role]
    api = client_for(user)
    assert api.get(f"{API}/persons/").status_code == 403
    assert api.get(f"{API}/persons/{scope_world.cm_only.pk}/").status_code == 403
    admin = _admin(client, user)
    assert admin.get(admin_url(Person, "changelist")).status_code == 403
    assert admin.get(admin_url(Person, "history", scope_world.nav_only.pk)).status_code in (302, 403)
    for app_label, model_name, field_name in PERSON_FIELDS:
        response = _autocomplete(admin, app_label=app_label, model_name=model_name, field_name=field_name, term="N")
        assert response.status_code == 403, (model_name, field_name)
    # And what the services will let them reuse or link: the Persons of CM only (their caseload, for a CPSS).
    assert _pks(persons_visible_to(user)) & _pks([scope_world.nav_only, scope_world.deleted]) == set()
    assert scope_world.cm_only in persons_visible_to(user)


# --- API: the neutral 409 -------------------------------------------------------------------------------


def _post_person(api, email: str, **extra):
    return api.post(
        f"{API}/persons/", {"first_name": "Probe", "last_name": "Probe", "email": email, **extra}, format="json"
    )


@pytest.mark.parametrize("role", NAVIGATION_ROLES)
def test_a_cm_person_s_email_is_the_neutral_409_for_navigation_roles(scope_world, role):
    api = client_for(scope_world.users[role])
    before = written_rows()
    out_of_program = _post_person(api, " Carla@CM.example.org ")
    cm_staff = _post_person(api, "sam@cm.example.org")
    assert out_of_program.status_code == cm_staff.status_code == 409
    assert json.loads(out_of_program.content) == NEUTRAL_409
    assert out_of_program.content == cm_staff.content
    assert "existing_id" not in out_of_program.content.decode() and "Carla" not in out_of_program.content.decode()
    # Moving someone to that email: the same answer, nothing changed.
    moved = api.patch(f"{API}/persons/{scope_world.nav_only.pk}/", {"email": "carla@cm.example.org"}, format="json")
    assert moved.status_code == 409 and moved.content == out_of_program.content
    assert written_rows() == before
    assert Person.objects.get(pk=scope_world.nav_only.pk).email == "nina@nav.example.org"
    # Within the program the conflict still names the existing person.
    named = _post_person(api, "nina@nav.example.org").json()["error"]
    assert (named["code"], named["existing_id"]) == ("conflict", str(scope_world.nav_only.pk))


def test_a_deleted_person_the_navigator_cannot_see_is_the_same_neutral_409(scope_world):
    navigator = client_for(scope_world.users["navigator"])
    deleted = _post_person(navigator, "dora@nav.example.org")
    out_of_program = _post_person(navigator, "carla@cm.example.org")
    assert deleted.status_code == 409 and deleted.content == out_of_program.content
    assert json.loads(deleted.content) == NEUTRAL_409
    # A CRM supervisor restores people: they are told who it is.
    supervisor = _post_person(client_for(scope_world.users["crm_supervisor"]), "dora@nav.example.org").json()["error"]
    assert (supervisor["code"], supervisor["existing_id"]) == ("conflict", str(scope_world.deleted.pk))


def test_the_neutral_409_is_one_body_for_every_role_endpoint_and_reason(scope_world):
    """Out of program or deleted out of sight, through persons, patients, leads or a CM enrollment: one
    body, byte for byte. Only a superuser is told who has the email."""
    from cm_program.models import CMProgram

    cm_provider = scope_world.users["cpss"].cm_provider
    program = CMProgram.objects.get(name="Scope CM")
    person = {"first_name": "Probe", "last_name": "Probe"}
    answers = {
        "navigator /persons/ (CM patient)": client_for(scope_world.users["navigator"]).post(
            f"{API}/persons/", {**person, "email": "carla@cm.example.org"}, format="json"
        ),
        "navigator /leads/ (deleted)": client_for(scope_world.users["navigator"]).post(
            f"{API}/leads/", {**person, "email": "dora@nav.example.org"}, format="json"
        ),
        "crm supervisor /patients/ (CM staff)": client_for(scope_world.users["crm_supervisor"]).post(
            f"{API}/patients/", {**person, "email": "sam@cm.example.org"}, format="json"
        ),
        "cm supervisor /cm/enroll/ (navigation lead)": client_for(scope_world.users["cm_supervisor"]).post(
            f"{API}/cm/enroll/",
            {
                **person,
                "date_of_birth": "1990-01-01",
                "email": "nina@nav.example.org",
                "cm_program_id": str(program.pk),
                "cpss_provider_id": str(cm_provider.pk),
            },
            format="json",
        ),
    }
    for name, response in answers.items():
        assert response.status_code == 409, (name, response.content)
        assert json.loads(response.content) == NEUTRAL_409, name
    assert len({response.content for response in answers.values()}) == 1
    root = client_for(scope_world.users["superuser"]).post(
        f"{API}/persons/", {**person, "email": "carla@cm.example.org"}, format="json"
    )
    assert (root.json()["error"]["code"], root.json()["error"]["existing_id"]) == (
        "conflict",
        str(scope_world.cm_only.pk),
    )


def test_the_api_guide_shows_the_neutral_409_as_it_is(scope_world):
    from pathlib import Path

    guide = (Path(__file__).resolve().parents[2] / "docs" / "API.md").read_text()
    documented = guide.split("```json\n")[1:]
    shown = [json.loads(block.split("\n```")[0]) for block in documented if '"unavailable"' in block.split("\n```")[0]]
    actual = client_for(scope_world.users["navigator"]).post(
        f"{API}/persons/", {"first_name": "P", "last_name": "P", "email": "carla@cm.example.org"}, format="json"
    )
    assert shown == [actual.json()] == [NEUTRAL_409]


# --- Admin forms --------------------------------------------------------------------------------------------

NO_ROLES = {"role_periods-TOTAL_FORMS": "0", "role_periods-INITIAL_FORMS": "0"}


@pytest.mark.parametrize("role", NAVIGATION_ROLES)
def test_admin_person_form_answers_a_cm_email_with_the_neutral_error(client, scope_world, role):
    admin = _admin(client, scope_world.users[role])
    before = written_rows()
    response = admin.post(
        admin_url(Person, "add"),
        {"first_name": "Probe", "last_name": "Probe", "email": "carla@cm.example.org", **NO_ROLES},
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["email"] == [NEUTRAL_409["error"]["message"]]
    body = response.content.decode()
    assert "Confidential" not in body and admin_url(Person, "change", scope_world.cm_only.pk) not in body
    changed = admin.post(
        admin_url(Person, "change", scope_world.nav_only.pk),
        {"first_name": "Nina", "last_name": "Navonly", "email": "carla@cm.example.org", **NO_ROLES},
    )
    assert changed.context["adminform"].form.errors["email"] == [NEUTRAL_409["error"]["message"]]
    assert written_rows() == before


def test_admin_person_fields_refuse_a_cm_person_even_by_id(client, scope_world):
    """A Person outside the scope cannot be picked by posting their id (the autocomplete does not offer
    them): giving a CM-only person a navigation role would make them visible to navigation."""
    from people.models import ContactType, PersonContactType

    admin = _admin(client, scope_world.users["crm_supervisor"])
    caregiver = ContactType.objects.get(code=ContactType.CAREGIVER)
    response = admin.post(
        admin_url(PersonContactType, "add"),
        {
            "person": scope_world.cm_only.pk,
            "contact_type": caregiver.pk,
            "valid_from_0": "2026-01-05",
            "valid_from_1": "10:00",
        },
    )
    assert response.status_code == 200 and "person" in response.context["adminform"].form.errors
    assert not PersonContactType.objects.filter(person=scope_world.cm_only).exists()
    assert scope_world.cm_only not in persons_visible_to(scope_world.users["crm_supervisor"])


# --- The scope and the search box together (docs/PERFORMANCE.md, "Search", Round 2) --------------------------


def test_the_navigation_scope_keeps_cm_linked_persons_with_a_role_only(scope_world):
    from common.search import search

    world = scope_world
    found = _pks(search(persons_visible_to(world.users["navigator"]), ("email",), "example.org"))
    assert world.nav_only.pk in found and world.both.pk in found  # no CM link / CM link and a role
    assert world.cm_only.pk not in found and world.cm_staff.pk not in found  # CM links, no role


def test_a_scoped_search_probes_roles_per_match_instead_of_hashing_every_role_period(scope_world):
    """As ``EXISTS`` inside the scope's OR, PostgreSQL hashed the whole ``person_contact_type`` table on every
    searched request (324 ms for "smith" at 200,000 persons); the role test is now a per-row probe that runs
    only for CM-linked matches, after the search indexes have found the rows."""
    from django.db import connection

    from common.search import search

    queryset = search(persons_visible_to(scope_world.users["navigator"]), ("last_name", "first_name"), "confidential")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = queryset.explain()
        cursor.execute("RESET enable_seqscan")
    assert "hashed SubPlan" not in plan and "Seq Scan on person_contact_type" not in plan, plan
    assert "SubPlan" in plan, plan  # the role probe is there, for the CM-linked rows
    assert list(queryset) == []
