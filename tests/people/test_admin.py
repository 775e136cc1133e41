"""People admin: pages load, writes go through the services, refusals come back as form errors."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from common.audit import record_history
from people.models import ContactType, Person, PersonContactType
from tests.admin_smoke import admin_url, smoke
from tests.factories.people import PersonContactTypeFactory, PersonFactory

pytestmark = pytest.mark.django_db

NO_ROLES = {"role_periods-TOTAL_FORMS": "0", "role_periods-INITIAL_FORMS": "0"}


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def test_person_admin_pages(admin_client):
    person = PersonFactory(last_name="Zebedee")
    smoke(admin_client, person, search="zebedee")


def test_contact_type_admin_pages(admin_client):
    smoke(admin_client, ContactType.objects.get(code="caregiver"), search="caregiver")


def test_person_contact_type_admin_pages(admin_client):
    period = PersonContactTypeFactory(person=PersonFactory(last_name="Quill"))
    smoke(admin_client, period, search="quill")


def test_add_person_normalises_email_and_phone(admin_client):
    response = admin_client.post(
        admin_url(Person, "add"),
        {"first_name": "Ann", "last_name": "Lee", "email": " Ann@Example.ORG ", "phone": "(801) 555-0123", **NO_ROLES},
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    person = Person.objects.get()
    assert (person.email, person.phone) == ("ann@example.org", "+18015550123")
    assert (record_history(person)[0].username, record_history(person)[0].channel) == ("root", "admin")


def test_duplicate_email_and_bad_phone_are_form_errors(admin_client):
    existing = PersonFactory(email="ann@example.org")
    response = admin_client.post(
        admin_url(Person, "add"),
        {"first_name": "Ann", "last_name": "Lee", "email": "ANN@example.org", "phone": "12", **NO_ROLES},
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["phone"] == ["'12' is not a valid phone number."]
    [error] = errors["email"]
    assert error.startswith("A person with this email already exists: ")
    assert f'<a href="{admin_url(Person, "change", existing.pk)}">{existing}</a>' in response.content.decode()
    assert Person.objects.count() == 1


def test_role_inline_starts_a_period_and_refuses_an_overlap_without_500(admin_client):
    person = PersonFactory()
    start = timezone.now() - dt.timedelta(days=10)
    role_row = {
        "role_periods-TOTAL_FORMS": "1",
        "role_periods-INITIAL_FORMS": "0",
        "role_periods-0-contact_type": str(ContactType.objects.get(code="caregiver").pk),
        "role_periods-0-valid_from_0": start.strftime("%Y-%m-%d"),
        "role_periods-0-valid_from_1": start.strftime("%H:%M:%S"),
    }
    details = {"first_name": person.first_name, "last_name": person.last_name, "email": person.email}
    response = admin_client.post(admin_url(Person, "change", person.pk), {**details, **role_row})
    assert response.status_code == 302, response.context["errors"]
    assert list(person.role_periods.values_list("contact_type__code", "valid_to")) == [("caregiver", None)]

    # The same role again, overlapping: the page comes back with the reason, nothing is written.
    response = admin_client.post(admin_url(Person, "change", person.pk), {**details, **role_row})
    assert response.status_code == 200
    assert "Overlaps the existing Caregiver period" in response.content.decode()
    assert PersonContactType.objects.filter(person=person).count() == 1


def test_soft_delete_action_asks_for_a_reason_then_deletes(admin_client):
    person = PersonFactory()
    url = admin_url(Person, "changelist")
    response = admin_client.post(url, {"action": "soft_delete_selected", "_selected_action": [person.pk]})
    assert response.status_code == 200 and "reason" in response.content.decode()
    assert Person.objects.filter(pk=person.pk).exists()
    response = admin_client.post(
        url,
        {"action": "soft_delete_selected", "_selected_action": [person.pk], "confirm": "yes", "reason": "duplicate"},
    )
    assert response.status_code == 302
    stored = Person.all_objects.get(pk=person.pk)
    assert (stored.is_active, stored.deletion_reason, stored.deleted_by.username) == (False, "duplicate", "root")
    response = admin_client.post(url, {"action": "restore_selected", "_selected_action": [person.pk]})
    assert response.status_code == 302 and Person.objects.filter(pk=person.pk).exists()


def test_no_hard_delete_from_the_admin(admin_client):
    person = PersonFactory()
    response = admin_client.get(admin_url(Person, "delete", person.pk))
    assert response.status_code == 403
    response = admin_client.get(admin_url(Person, "changelist"))
    assert 'value="delete_selected"' not in response.content.decode()


def test_navigator_sees_people_but_cannot_delete(client, navigator_user):
    person = PersonFactory()
    client.force_login(navigator_user)
    response = client.get(admin_url(Person, "changelist"))
    assert response.status_code == 200
    assert "soft_delete_selected" not in response.content.decode()
    assert client.get(admin_url(Person, "change", person.pk)).status_code == 200


def test_cm_staff_see_no_people(client, cpss_user):
    client.force_login(cpss_user)
    assert client.get(admin_url(Person, "changelist")).status_code == 403


def test_changing_to_someone_else_s_email_links_to_them(admin_client):
    ann = PersonFactory(first_name="Ann", last_name="Lee", email="ann@example.org")
    bob = PersonFactory(email="bob@example.org")
    form = {"first_name": bob.first_name, "last_name": bob.last_name, "email": " ANN@example.org", **NO_ROLES}
    response = admin_client.post(admin_url(Person, "change", bob.pk), form)
    assert response.status_code == 200
    assert f'<a href="{admin_url(Person, "change", ann.pk)}">Ann Lee</a> (ann@example.org)' in response.content.decode()
    assert Person.objects.get(pk=bob.pk).email == "bob@example.org"
    # Keeping one's own email is no conflict.
    form["email"] = "BOB@example.org"
    assert admin_client.post(admin_url(Person, "change", bob.pk), form).status_code == 302


@pytest.mark.parametrize("term", ["(801) 555-0142", "801.555.0142", "+1 801 555 0142", "Zebedee"])
def test_person_search_finds_phones_however_typed(admin_client, term):
    wanted = PersonFactory(last_name="Zebedee", phone="+18015550142")
    PersonFactory(phone="+18015550999")
    response = admin_client.get(admin_url(Person, "changelist"), {"q": term})
    assert [row.pk for row in response.context["cl"].result_list] == [wanted.pk]


def test_only_superusers_link_logins_to_persons(client, navigator_user, superuser):
    person = PersonFactory()
    client.force_login(navigator_user)
    body = client.get(admin_url(Person, "change", person.pk)).content.decode()
    assert 'name="email"' in body and 'name="user"' not in body
    client.force_login(superuser)
    assert 'name="user"' in client.get(admin_url(Person, "change", person.pk)).content.decode()


def test_person_page_links_to_their_records(admin_client):
    from tests.factories.patients import PatientFactory, PatientLeadFactory

    patient = PatientFactory()
    lead = PatientLeadFactory(person=patient.person, status="lost")
    body = admin_client.get(admin_url(Person, "change", patient.person_id)).content.decode()
    assert f'href="{admin_url(type(patient), "change", patient.pk)}">Patient record</a>' in body
    assert f'href="{admin_url(type(lead), "change", lead.pk)}">Lead (Lost)</a>' in body
    navigator_page = admin_client.get(admin_url(Person, "change", patient.navigator_id)).content.decode()
    assert f"?navigator={patient.navigator_id}" in navigator_page and "Navigator of 1 patient(s)" in navigator_page


def test_a_navigator_sees_a_person_s_login_without_a_link_to_the_logins(client, navigator_user):
    person = PersonFactory(user=navigator_user)
    client.force_login(navigator_user)
    body = client.get(admin_url(Person, "change", person.pk)).content.decode()
    assert "Staff login" in body and ">nav</div>" in body and "/admin/people/user/" not in body


def test_person_changelist_costs_the_same_whether_or_not_the_page_shows_roles(admin_client):
    """The page's role periods come with their contact types in one query, so a page of people
    without any role costs what a page with roles costs (a nested prefetch skipped a query)."""
    url = admin_url(Person, "changelist")
    admin_client.get(url)  # warm the per-process caches
    without_roles = [PersonFactory(last_name=f"Aardvark{i}") for i in range(3)]

    with CaptureQueriesContext(connection) as plain:
        response = admin_client.get(url, {"q": "aardvark"})
    assert list(response.context["cl"].result_list) == sorted(without_roles, key=lambda p: p.last_name)
    role = ContactType.objects.get(code=ContactType.PATIENT_LEAD).name
    assert f'<td class="field-current_roles">{role}</td>' not in response.content.decode()
    for person in without_roles:
        PersonContactTypeFactory(person=person)
    with CaptureQueriesContext(connection) as with_roles:
        response = admin_client.get(url, {"q": "aardvark"})
    assert response.content.decode().count(f'<td class="field-current_roles">{role}</td>') == 3
    assert len(with_roles.captured_queries) == len(plain.captured_queries)
