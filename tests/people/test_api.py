"""The persons endpoints: one Person per human, role periods, audit trail, and the CM boundary."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from people.models import ContactType, Person, PersonContactType
from tests.factories.cm_program import CanonicalPatientFactory
from tests.factories.people import PersonContactTypeFactory, PersonFactory
from tests.navigation_api import API, assert_error, client_for, ids, results, written_rows

pytestmark = pytest.mark.django_db


@pytest.fixture
def nav(navigator_user):
    return client_for(navigator_user)


@pytest.fixture
def sup(crm_supervisor_user):
    return client_for(crm_supervisor_user)


def test_create_a_person_normalised_and_one_per_email(nav):
    response = nav.post(
        f"{API}/persons",
        {
            "first_name": " Ann ",
            "last_name": "Lee",
            "email": " Ann@Example.ORG",
            "phone": "(801) 555-0123",
            "date_of_birth": "1970-05-01",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert {k: body[k] for k in ("first_name", "last_name", "email", "phone", "date_of_birth", "is_active")} == {
        "first_name": "Ann",
        "last_name": "Lee",
        "email": "ann@example.org",
        "phone": "+18015550123",
        "date_of_birth": "1970-05-01",
        "is_active": True,
    }
    before = written_rows()
    again = nav.post(
        f"{API}/persons/", {"first_name": "A", "last_name": "L", "email": "ANN@example.org"}, format="json"
    )
    assert assert_error(again, 409, "conflict", fields=("email",))["existing_id"] == body["id"]
    assert written_rows() == before


def test_update_a_person(nav):
    person = PersonFactory(first_name="Ann", email="ann@example.org")
    patched = nav.patch(f"{API}/persons/{person.pk}/", {"phone": "+44 20 7946 0958"}, format="json")
    assert patched.status_code == 200 and patched.json()["phone"] == "+442079460958"
    assert patched.json()["first_name"] == "Ann"
    assert_error(
        nav.put(f"{API}/persons/{person.pk}/", {"first_name": " ", "email": "x@"}, format="json"),
        400,
        "invalid",
        fields=("first_name", "email"),
    )
    put = nav.put(f"{API}/persons/{person.pk}", {"first_name": "Anne", "last_name": "Lee"}, format="json")
    assert put.status_code == 200 and (put.json()["first_name"], put.json()["email"]) == ("Anne", "ann@example.org")
    assert_error(
        nav.patch(f"{API}/persons/{person.pk}/", {"date_of_birth": "2999-01-01"}, format="json"),
        400,
        "invalid",
        fields=("date_of_birth",),
    )


def test_person_filters(nav):
    navigator_role = ContactType.objects.get(code=ContactType.PATIENT_NAVIGATOR)
    nina = PersonFactory(email="nina@example.org", last_name="Navigator")
    PersonContactTypeFactory(person=nina, contact_type=navigator_role)
    former = PersonFactory()
    PersonContactTypeFactory(person=former, contact_type=navigator_role, valid_to=timezone.now() - dt.timedelta(days=1))
    other = PersonFactory(last_name="Other")
    assert ids(nav.get(f"{API}/persons/", {"role": "patient_navigator"})) == {str(nina.pk)}
    assert ids(nav.get(f"{API}/persons/", {"email": "NINA@example.org "})) == {str(nina.pk)}
    assert ids(nav.get(f"{API}/persons/", {"search": "other"})) == {str(other.pk)}
    assert_error(nav.get(f"{API}/persons/", {"role": "astronaut"}), 400, "invalid", fields=("role",))


def test_soft_delete_and_restore_a_person(nav, sup):
    person = PersonFactory()
    assert_error(nav.delete(f"{API}/persons/{person.pk}/"), 403, "permission_denied")
    assert sup.delete(f"{API}/persons/{person.pk}/", {"reason": "Test record"}, format="json").status_code == 204
    person.refresh_from_db()
    assert person.is_active is False and person.deletion_reason == "Test record"
    assert str(person.pk) not in ids(sup.get(f"{API}/persons/"))
    assert ids(sup.get(f"{API}/persons/", {"is_active": "false"})) == {str(person.pk)}
    assert_error(nav.get(f"{API}/persons/{person.pk}/"), 404, "not_found")
    assert sup.post(f"{API}/persons/{person.pk}/restore/").json()["is_active"] is True


def test_role_periods_start_end_and_refusals(nav):
    person = PersonFactory()
    url = f"{API}/persons/{person.pk}/roles/"
    assert results(nav.get(url)) == []
    since = timezone.now() - dt.timedelta(days=30)
    started = nav.post(url, {"role": "caregiver", "valid_from": since.isoformat()}, format="json")
    assert started.status_code == 201, started.content
    assert (
        started.json()["role"],
        started.json()["role_name"],
        started.json()["valid_to"],
        started.json()["is_current"],
    ) == ("caregiver", "Caregiver", None, True)
    overlap = nav.post(url, {"role": "caregiver"}, format="json")
    assert_error(overlap, 400, "invalid", fields=("valid_from",))
    assert_error(nav.post(url, {"role": "astronaut"}, format="json"), 400, "invalid", fields=("role",))
    ended = nav.post(f"{url}end", {"role": "caregiver"}, format="json")
    assert ended.status_code == 200 and ended.json()["is_current"] is False and ended.json()["valid_to"]
    assert_error(nav.post(f"{url}end/", {"role": "caregiver"}, format="json"), 400, "invalid", fields=("contact_type",))
    periods = results(nav.get(url))
    assert [(p["role"], p["is_current"]) for p in periods] == [("caregiver", False)]
    assert PersonContactType.objects.filter(person=person).count() == 1


def test_history_lists_who_changed_what_through_which_channel(nav):
    created = nav.post(f"{API}/persons/", {"first_name": "Ann", "last_name": "Lee"}, format="json").json()
    nav.patch(f"{API}/persons/{created['id']}/", {"last_name": "Leigh"}, format="json")
    history = results(nav.get(f"{API}/persons/{created['id']}/history/"))
    assert [(h["action"], h["username"], h["channel"]) for h in history] == [
        ("insert", "nav", "api"),
        ("update", "nav", "api"),
    ]
    assert history[1]["changes"]["last_name"] == ["Lee", "Leigh"]


def test_people_known_only_to_contingency_management_are_out_of_scope(nav, superuser):
    cm_only = PersonFactory(last_name="Confidential")
    CanonicalPatientFactory(person=cm_only)
    both = PersonFactory()
    CanonicalPatientFactory(person=both)
    PersonContactTypeFactory(person=both)  # also a patient-navigation lead
    assert str(cm_only.pk) not in ids(nav.get(f"{API}/persons/", {"page_size": 500}))
    assert str(both.pk) in ids(nav.get(f"{API}/persons/", {"page_size": 500}))
    for url in (f"{API}/persons/{cm_only.pk}/", f"{API}/persons/{cm_only.pk}/history/"):
        assert_error(nav.get(url), 404, "not_found")
    assert_error(nav.patch(f"{API}/persons/{cm_only.pk}/", {"first_name": "X"}, format="json"), 404, "not_found")
    assert client_for(superuser).get(f"{API}/persons/{cm_only.pk}/").status_code == 200
    assert Person.objects.get(pk=cm_only.pk).first_name != "X"
