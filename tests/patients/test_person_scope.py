"""The returning-patient rule within a program (issue 9, item 1).

Registering a patient, a lead or a physician reuses the Person found by email, but only a Person the
user may see: a CM patient's email given by a navigator or CRM supervisor is the neutral 409 (API) or
the same neutral form error (admin); nothing is created, nothing is read back, and the Person stays out
of sight. A superuser, who sees both programs, links the two records.
"""

from __future__ import annotations

import json

import pytest

from patients.models import Patient, PatientLead, Physician
from people.models import Person
from people.services import UNUSABLE_EMAIL_MESSAGE
from tests.admin_smoke import admin_url
from tests.navigation_api import API, client_for, ids, written_rows
from tests.person_scope import CM_ROLES, NAVIGATION_ROLES, NEUTRAL_409, scope_world

__all__ = ["scope_world"]

pytestmark = pytest.mark.django_db

# What the caller types: a different name and phone than the stored ones, so that a reuse would report
# the stored values back as conflicts.
PROBE = {"first_name": "Probe", "last_name": "Person", "phone": "(801) 555-0199", "date_of_birth": "1991-09-09"}

ENDPOINTS = ("patients", "leads", "physicians")


def _body(endpoint: str, email: str) -> dict:
    body = {**PROBE, "email": email}
    if endpoint == "physicians":
        body.pop("date_of_birth")
    return body


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("role", NAVIGATION_ROLES)
def test_a_cm_patient_s_email_registers_nothing_and_reveals_nothing(scope_world, role, endpoint):
    api = client_for(scope_world.users[role])
    before = written_rows()
    response = api.post(f"{API}/{endpoint}/", _body(endpoint, " CARLA@cm.example.org"), format="json")
    assert response.status_code == 409, response.content
    assert json.loads(response.content) == NEUTRAL_409
    text = response.content.decode()
    for stored in ("Carla", "Confidential", "+18015550111", "1980-01-02", str(scope_world.cm_only.pk)):
        assert stored not in text
    # Nothing written: no Person, no patient / lead / physician, no role, no audit event.
    assert written_rows() == before
    # ... and the CM patient is as invisible as before.
    assert api.get(f"{API}/persons/{scope_world.cm_only.pk}/").status_code == 404
    assert str(scope_world.cm_only.pk) not in ids(api.get(f"{API}/persons/", {"page_size": 500}))
    assert not scope_world.cm_only.role_periods.exists()
    # CM staff register nothing in patient navigation at all.
    for cm_role in CM_ROLES:
        cm = client_for(scope_world.users[cm_role]).post(
            f"{API}/{endpoint}/", _body(endpoint, "nina@nav.example.org"), format="json"
        )
        assert cm.status_code == 403
    assert written_rows() == before

    # A superuser, who sees both programs, links them: the same Person, reused with its conflicts...
    linked = client_for(scope_world.users["superuser"]).post(
        f"{API}/{endpoint}/", _body(endpoint, "carla@cm.example.org"), format="json"
    )
    assert linked.status_code == 201, linked.content
    body = linked.json()
    assert body["person_reused"] is True and body["person"]["id"] == str(scope_world.cm_only.pk)
    assert body["conflicts"]["last_name"] == {"stored": "Confidential", "given": "Person"}
    assert Person.all_objects.filter(email="carla@cm.example.org").count() == 1
    # ... who is from then on a patient-navigation person too (by a superuser's decision).
    assert api.get(f"{API}/persons/{scope_world.cm_only.pk}/").status_code == 200


@pytest.mark.parametrize("endpoint", ("patients", "leads"))
def test_a_deleted_person_out_of_the_navigator_s_sight_is_the_same_refusal(scope_world, endpoint):
    api = client_for(scope_world.users["navigator"])
    before = written_rows()
    deleted = api.post(f"{API}/{endpoint}/", _body(endpoint, "dora@nav.example.org"), format="json")
    out_of_program = api.post(f"{API}/{endpoint}/", _body(endpoint, "carla@cm.example.org"), format="json")
    assert deleted.status_code == 409 and deleted.content == out_of_program.content
    assert json.loads(deleted.content) == NEUTRAL_409
    assert written_rows() == before
    # A CRM supervisor may restore people: they are pointed at the deleted person, as before.
    supervisor = client_for(scope_world.users["crm_supervisor"]).post(
        f"{API}/{endpoint}/", _body(endpoint, "dora@nav.example.org"), format="json"
    )
    assert supervisor.status_code == 409 and supervisor.json()["error"]["existing_id"] == str(scope_world.deleted.pk)


@pytest.mark.parametrize("endpoint", ("patients", "leads"))
@pytest.mark.parametrize("role", NAVIGATION_ROLES)
def test_within_the_program_a_returning_person_is_still_reused(scope_world, role, endpoint):
    """The rule inside the program is unchanged: the navigation lead is reused with the conflicts
    reported, and a second registration names the existing record."""
    api = client_for(scope_world.users[role])
    response = api.post(f"{API}/{endpoint}/", _body(endpoint, "nina@nav.example.org"), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["person_reused"] is True and body["person"]["id"] == str(scope_world.nav_only.pk)
    assert body["conflicts"]["first_name"] == {"stored": "Nina", "given": "Probe"}
    # A CM patient's email, right after: still the neutral refusal (the scope is per Person, not per call).
    refused = api.post(f"{API}/{endpoint}/", _body(endpoint, "carla@cm.example.org"), format="json")
    assert json.loads(refused.content) == NEUTRAL_409


# --- Admin add forms ------------------------------------------------------------------------------------------


def _admin_form(model) -> dict:
    form = {"first_name": "Probe", "last_name": "Person", "email": "carla@cm.example.org", "phone": "(801) 555-0199"}
    if model is PatientLead:
        form.update(source="contact_form", notes="")
    return form


@pytest.mark.parametrize("model", (Patient, PatientLead, Physician))
@pytest.mark.parametrize("role", NAVIGATION_ROLES)
def test_admin_add_forms_refuse_a_cm_patient_s_email_with_the_neutral_error(client, scope_world, role, model):
    client.force_login(scope_world.users[role])
    before = written_rows()
    response = client.post(admin_url(model, "add"), _admin_form(model))
    assert response.status_code == 200, response.get("Location")
    assert response.context["adminform"].form.errors["email"] == [UNUSABLE_EMAIL_MESSAGE]
    page = response.content.decode()
    assert "Confidential" not in page and admin_url(Person, "change", scope_world.cm_only.pk) not in page
    assert written_rows() == before
    # The deleted person a navigator cannot see gets the very same error.
    if role == "navigator":
        deleted = client.post(admin_url(model, "add"), {**_admin_form(model), "email": "dora@nav.example.org"})
        assert deleted.context["adminform"].form.errors["email"] == [UNUSABLE_EMAIL_MESSAGE]
        assert "Dora" not in deleted.content.decode()
    assert written_rows() == before
    # A superuser adds the record on the CM patient's Person.
    client.force_login(scope_world.users["superuser"])
    added = client.post(admin_url(model, "add"), _admin_form(model))
    assert added.status_code == 302, added.context and added.context["adminform"].form.errors
    assert model.objects.get().person == scope_world.cm_only
