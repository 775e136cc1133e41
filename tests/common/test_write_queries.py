"""The three hot API writes run a fixed, small number of queries (issue 10, "API writes" in
docs/PERFORMANCE.md): each row is read once, locks only where a rule needs them, no re-read for the
response. The counts include the test's own transaction: every ``transaction.atomic`` inside it is a
SAVEPOINT / RELEASE pair, as it is inside the request's transaction in production."""

from __future__ import annotations

import uuid

import pytest

from cm_program.models import CMEnrollment
from patients.models import CallHistory, Patient
from patients.services import patient_soft_delete
from people.models import ContactType, PersonContactType
from tests.cm_program.api_support import world
from tests.conftest import make_user
from tests.factories.patients import PatientFactory, seeded_condition
from tests.factories.people import NavigatorFactory, PersonFactory
from tests.navigation_api import API, client_for
from tests.person_scope import scope_world

__all__ = ["scope_world", "world"]

pytestmark = pytest.mark.django_db


def test_registering_a_new_patient_runs_16_queries(navigator_user, django_assert_num_queries):
    nav = client_for(navigator_user)
    navigator = NavigatorFactory(first_name="Nina", last_name="Navigator")
    condition = seeded_condition("GBM")
    body = {
        "first_name": "Ann",
        "last_name": "Lee",
        "email": "ann.lee@example.org",
        "medical_condition": str(condition.pk),
        "navigator": str(navigator.pk),
    }
    # The request's savepoint, the caller's permissions (two), the condition and the navigator (the body's
    # ids), the service's savepoint,
    # the navigator's role, the email look-up, the Person's insert in its savepoint (the one-per-email
    # race), the patient's insert, the patient role's type and insert, the two releases.
    with django_assert_num_queries(16):
        response = nav.post(f"{API}/patients/", body, format="json")
    assert response.status_code == 201, response.content
    answer = response.json()
    patient = Patient.objects.select_related("person").get(pk=answer["id"])
    assert (answer["first_name"], answer["email"], answer["person_reused"]) == ("Ann", "ann.lee@example.org", False)
    assert answer["person"]["id"] == str(patient.person_id) and answer["medical_condition_name"] == condition.name
    assert answer["navigator_name"] == "Nina Navigator" and answer["status"] == "active"
    assert answer["created_at"] is not None and answer["conflicts"] == {}
    assert PersonContactType.objects.filter(person=patient.person, contact_type__code=ContactType.PATIENT).count() == 1


def test_registering_a_returning_person_reads_and_locks_them(navigator_user, django_assert_num_queries):
    nav = client_for(navigator_user)
    stored = PersonFactory(first_name="Ann", last_name="Lee", email="ann.lee@example.org")
    # As above without condition and navigator, plus the Person's row lock, whether they are a patient
    # already, the patient's insert in a savepoint, whether they hold the role, its insert in a savepoint.
    with django_assert_num_queries(19):
        response = nav.post(
            f"{API}/patients/", {"first_name": "Ann", "last_name": "Lee", "email": "ann.lee@example.org"}, format="json"
        )
    assert response.status_code == 201, response.content
    assert response.json()["person_reused"] is True and response.json()["person"]["id"] == str(stored.pk)
    assert Patient.objects.filter(person=stored).count() == 1


def test_logging_a_call_runs_11_queries(django_assert_num_queries):
    user = make_user("nina", "Patient Navigators")
    me = NavigatorFactory(user=user, first_name="Nina", last_name="Navigator")
    patient = PatientFactory()
    nav = client_for(user)
    body = {"patient": str(patient.pk), "direction": "outbound", "outcome": "voicemail", "reminder_date": None}
    # The request's savepoint, the caller's permissions (two: this client skips the token, which reads them
    # with it), the service's savepoint, the patient's row lock (the body's id, read once: the serializer does
    # not read it; alone: tests/common/test_locking.py), its Person read after the lock, the caller's Person
    # (the default navigator) with their role, the insert, the follow-up update, the two releases.
    with django_assert_num_queries(11) as captured:
        response = nav.post(f"{API}/call-history/", body, format="json")
    assert response.status_code == 201, response.content
    patient_reads = [q["sql"] for q in captured.captured_queries if q["sql"].startswith('SELECT "patient"')]
    assert len(patient_reads) == 1 and patient_reads[0].rstrip().endswith("FOR NO KEY UPDATE"), patient_reads
    answer = response.json()
    call = CallHistory.objects.get(pk=answer["id"])
    assert answer["patient_name"] == patient.person.full_name and answer["navigator"] == str(me.pk)
    assert answer["navigator_name"] == "Nina Navigator" and answer["created_by"] == str(user.pk)
    assert (call.outcome, call.patient_id) == ("voicemail", patient.pk)
    patient.refresh_from_db()
    assert patient.last_call_at == call.call_date  # the follow-up columns moved with the call


def test_recording_a_cm_event_runs_10_queries(world, django_assert_num_queries):
    cpss = world.client("cpss")
    enrollment = world.own.enrollment
    before = CMEnrollment.objects.get(pk=enrollment.pk)
    # The request's savepoint, the token with its user, their group names (the CM scope) and permissions (one
    # query: accounts.authentication.token_with_user), the enrollment (the URL) with its row lock (read once:
    # the service trusts it), the service's savepoint, its program, the last sequence number, the
    # entry's insert, the totals' update, the two releases: no re-read of the totals or of the entry.
    with django_assert_num_queries(10) as captured:
        response = cpss.post(f"/api/v1/cm/enrollments/{enrollment.pk}/events/", {"event_type": "test_negative"})
    reads = [q["sql"] for q in captured.captured_queries if 'FROM "cm_enrollments"' in q["sql"]]
    assert len(reads) == 1 and reads[0].rstrip().endswith('FOR UPDATE OF "cm_enrollments"'), reads
    assert response.status_code == 201, response.content
    answer = response.json()
    after = CMEnrollment.objects.get(pk=enrollment.pk)
    assert answer["total_points"] == after.total_points == before.total_points + answer["points_awarded"]
    assert answer["current_streak"] == after.current_streak == before.current_streak + 1
    assert answer["entry"]["reversed_by"] is None and answer["entry"]["recorded_by_username"] == "cpss"


def test_logging_a_call_naming_its_navigator_reads_them_once_with_their_role(django_assert_num_queries):
    user = make_user("nina", "Patient Navigators")
    navigator = NavigatorFactory(first_name="Nora", last_name="Named")
    patient = PatientFactory()
    body = {"patient": str(patient.pk), "navigator": str(navigator.pk), "outcome": "reached"}
    # As above: the named navigator is read once, with their role (the serializer reads neither id).
    with django_assert_num_queries(11) as captured:
        response = client_for(user).post(f"{API}/call-history/", body, format="json")
    assert response.status_code == 201, response.content
    person_reads = [q["sql"] for q in captured.captured_queries if q["sql"].startswith('SELECT "person"')]
    assert len(person_reads) == 2, person_reads  # the navigator (with the role), the patient's Person
    assert response.json()["navigator_name"] == "Nora Named"


def test_a_call_s_ids_that_name_no_one_are_400s_naming_the_field(scope_world):
    api = client_for(scope_world.users["navigator"])
    patient = PatientFactory()
    navigator = NavigatorFactory()
    cases = [
        ({"patient": "not-a-uuid"}, "patient"),
        ({"patient": 12}, "patient"),
        ({"patient": str(uuid.uuid4())}, "patient"),
        ({"navigator": str(uuid.uuid4())}, "navigator"),
        ({"navigator": "nope"}, "navigator"),
        # A Person known only to contingency management is not disclosed: the answer of an unknown id.
        ({"navigator": str(scope_world.cm_only.pk)}, "navigator"),
        ({"navigator": str(PersonFactory(first_name="Plain").pk)}, "navigator"),
    ]
    for change, field in cases:
        body = {"patient": str(patient.pk), "navigator": str(navigator.pk), "outcome": "reached", **change}
        response = api.post(f"{API}/call-history/", body, format="json")
        assert response.status_code == 400, (change, response.content)
        error = response.json()["error"]
        assert list(error["fields"]) == [field], (change, error)
        assert len(error["fields"][field]) == 1 and "Confidential" not in response.content.decode(), error
    assert not CallHistory.objects.exists()
    deleted = patient_soft_delete(patient=PatientFactory(), reason="made in error")
    response = api.post(
        f"{API}/call-history/",
        {"patient": str(deleted.pk), "navigator": str(navigator.pk), "outcome": "reached"},
        format="json",
    )
    assert response.status_code == 400 and list(response.json()["error"]["fields"]) == ["patient"]
