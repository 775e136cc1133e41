"""The patients and call-history endpoints: success and every error code, bodies asserted."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from common.audit import record_history
from patients.models import CallHistory, Patient, PatientStatus
from people.models import ContactType, Person, PersonContactType
from tests.conftest import make_user
from tests.factories.patients import CallHistoryFactory, MedicalConditionFactory, PatientFactory, seeded_condition
from tests.factories.people import NavigatorFactory, PersonFactory
from tests.navigation_api import API, assert_error, client_for, ids, results, written_rows

pytestmark = pytest.mark.django_db


@pytest.fixture
def nav(navigator_user) -> APIClient:
    return client_for(navigator_user)


@pytest.fixture
def sup(crm_supervisor_user) -> APIClient:
    return client_for(crm_supervisor_user)


@pytest.fixture
def navigator() -> Person:
    return NavigatorFactory(first_name="Nina", last_name="Navigator")


def ann(**overrides):
    return {"first_name": "Ann", "last_name": "Lee", "email": "ann.lee@example.org", **overrides}


# --- POST /patients/: the returning-patient rule -------------------------------------------------------------


def test_register_a_patient_with_the_person_sent_flat(nav, navigator):
    condition = seeded_condition("GBM")
    response = nav.post(
        f"{API}/patients/",
        ann(email=" Ann.Lee@Example.org ", phone="(801) 555-0123", date_of_birth="1980-02-29")
        | {"medical_condition": str(condition.pk), "navigator": str(navigator.pk), "first_contact_date": "2026-01-05"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    patient = Patient.objects.get(pk=body["id"])
    assert body["person"] == {
        "id": str(patient.person_id),
        "first_name": "Ann",
        "last_name": "Lee",
        "email": "ann.lee@example.org",
        "phone": "+18015550123",
        "date_of_birth": "1980-02-29",
        "is_active": True,
    }
    assert {k: body[k] for k in ("first_name", "last_name", "email", "phone", "date_of_birth")} == {
        "first_name": "Ann",
        "last_name": "Lee",
        "email": "ann.lee@example.org",
        "phone": "+18015550123",
        "date_of_birth": "1980-02-29",
    }
    assert body["medical_condition"] == str(condition.pk) and body["medical_condition_name"] == condition.name
    assert body["navigator"] == str(navigator.pk) and body["navigator_name"] == "Nina Navigator"
    assert body["status"] == "active" and body["first_contact_date"] == "2026-01-05"
    assert body["person_reused"] is False and body["conflicts"] == {}
    assert PersonContactType.objects.filter(person=patient.person, contact_type__code=ContactType.PATIENT).exists()


def test_a_returning_person_is_reused_and_differences_are_reported_not_applied(nav):
    stored = PersonFactory(first_name="Ann", last_name="Lee", email="ann.lee@example.org", phone="+18015550123")
    people = Person.all_objects.count()
    response = nav.post(
        f"{API}/patients",  # the original API's path, without the trailing slash
        ann(first_name="Anne", email="ANN.LEE@example.org", phone="+1 801 555 0199"),
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["person_reused"] is True
    assert body["person"]["id"] == str(stored.pk)
    assert body["conflicts"] == {
        "first_name": {"stored": "Ann", "given": "Anne"},
        "phone": {"stored": "+18015550123", "given": "+18015550199"},
    }
    assert body["first_name"] == "Ann" and body["phone"] == "+18015550123"
    assert Person.all_objects.count() == people


def test_registering_an_existing_patient_is_409_with_the_patient_id(nav):
    first = nav.post(f"{API}/patients/", ann(), format="json").json()
    before = written_rows()
    response = nav.post(f"{API}/patients/", ann(email=" ann.lee@EXAMPLE.org", phone="8015550123"), format="json")
    error = assert_error(response, 409, "conflict", fields=("email",))
    assert error["existing_id"] == first["id"]
    assert "already a patient" in error["message"]
    assert written_rows() == before


def test_the_person_may_also_be_nested(nav):
    response = nav.post(f"{API}/patients/", {"person": ann()}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["email"] == "ann.lee@example.org"
    clash = nav.post(f"{API}/patients/", {"person": ann(email="a@b.org"), **ann(email="c@d.org")}, format="json")
    assert_error(clash, 400, "invalid", fields=("email",))


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"first_name": ""}, "first_name"),
        ({"last_name": None}, "last_name"),
        ({"email": "not-an-email"}, "email"),
        ({"phone": "12"}, "phone"),
        ({"date_of_birth": "2999-01-01"}, "date_of_birth"),
        ({"date_of_birth": "31/01/1980"}, "date_of_birth"),
        ({"medical_condition": "00000000-0000-0000-0000-000000000000"}, "medical_condition"),
        ({"medical_condition": "not-a-uuid"}, "medical_condition"),
        ({"navigator": 12}, "navigator"),
        ({"first_contact_date": "2026-02-01", "initial_consult_date": "2026-01-01"}, "initial_consult_date"),
        ({"last_name": "x" * 100_000}, "last_name"),
        ({"first_name": ["Ann"]}, "first_name"),
        ({"first_name": "A\x00nn"}, "first_name"),
    ],
)
def test_bad_registrations_are_400_naming_the_field_and_write_nothing(nav, overrides, field):
    before = written_rows()
    response = nav.post(f"{API}/patients/", ann(**overrides), format="json")
    assert_error(response, 400, "invalid", fields=(field,))
    assert written_rows() == before


def test_a_retired_condition_and_a_navigator_without_the_role_are_refused(nav, crm_supervisor_user):
    retired = MedicalConditionFactory(is_active=False, deletion_reason="retired")
    not_a_navigator = PersonFactory()
    response = nav.post(
        f"{API}/patients/",
        ann(medical_condition=str(retired.pk), navigator=str(not_a_navigator.pk)),
        format="json",
    )
    error = assert_error(response, 400, "invalid", fields=("medical_condition", "navigator"))
    assert "no longer in use" in error["fields"]["medical_condition"][0]
    assert "not a patient navigator" in error["fields"]["navigator"][0]


# --- GET /patients/: filters, search, ordering, soft-deleted rows --------------------------------------------


def test_patient_list_filters(nav, navigator):
    gbm, dmd = seeded_condition("GBM"), seeded_condition("DMD")
    amy = PatientFactory(
        person__first_name="Amy",
        person__last_name="Zeta",
        person__email="amy@example.org",
        medical_condition=gbm,
        navigator=navigator,
    )
    bob = PatientFactory(
        person__first_name="Bob",
        person__last_name="Alpha",
        person__phone="+18015550777",
        medical_condition=dmd,
        status=PatientStatus.CLOSED,
    )
    Patient.objects.filter(pk=bob.pk).update(created_at=timezone.now() - dt.timedelta(days=10))
    CallHistoryFactory(patient=amy, reminder_date=timezone.localdate() - dt.timedelta(days=1))
    url = f"{API}/patients/"
    assert ids(nav.get(url)) == {str(amy.pk), str(bob.pk)}
    assert ids(nav.get(url, {"status": "closed"})) == {str(bob.pk)}
    assert ids(nav.get(url, {"medical_condition": str(gbm.pk)})) == {str(amy.pk)}
    assert ids(nav.get(url, {"navigator": str(navigator.pk)})) == {str(amy.pk)}
    assert ids(nav.get(url, {"email": "  AMY@example.ORG "})) == {str(amy.pk)}
    since = (timezone.localdate() - dt.timedelta(days=2)).isoformat()
    assert ids(nav.get(url, {"created_after": since})) == {str(amy.pk)}
    assert ids(nav.get(url, {"created_before": since})) == {str(bob.pk)}
    assert ids(nav.get(url, {"follow_up_due": "true"})) == {str(amy.pk)}
    assert ids(nav.get(url, {"follow_up_due": "false"})) == {str(bob.pk)}
    assert ids(nav.get(url, {"search": "zeta"})) == {str(amy.pk)}
    assert ids(nav.get(url, {"search": "555-0777"[4:]})) == {str(bob.pk)}
    assert [p["last_name"] for p in results(nav.get(url, {"ordering": "last_name"}))] == ["Alpha", "Zeta"]
    assert [p["last_name"] for p in results(nav.get(url, {"ordering": "-last_name"}))] == ["Zeta", "Alpha"]


def test_invalid_filter_values_are_400_naming_the_parameter(nav):
    response = nav.get(
        f"{API}/patients/",
        {
            "status": "zombie",
            "medical_condition": "abc",
            "navigator": "00000000-0000-0000-0000-000000000000",
            "created_after": "last week",
            "follow_up_due": "maybe",
            "is_active": "perhaps",
        },
    )
    assert_error(
        response,
        400,
        "invalid",
        fields=("status", "medical_condition", "navigator", "created_after", "follow_up_due", "is_active"),
    )


def test_pagination_of_patients(nav):
    PatientFactory.create_batch(3)
    first = nav.get(f"{API}/patients/", {"page_size": 2}).json()
    assert first["count"] == 3 and len(first["results"]) == 2 and first["previous"] is None
    second = nav.get(first["next"]).json()
    assert len(second["results"]) == 1 and second["next"] is None
    assert {p["id"] for p in first["results"] + second["results"]} == set(
        map(str, Patient.objects.values_list("pk", flat=True))
    )
    assert_error(nav.get(f"{API}/patients/", {"page": 9}), 404, "not_found")


def test_soft_delete_restore_and_who_sees_deleted_patients(nav, sup):
    patient = PatientFactory()
    url = f"{API}/patients/{patient.pk}/"
    assert sup.delete(url, {"reason": "Duplicate of another record"}, format="json").status_code == 204
    patient.refresh_from_db()
    assert patient.is_active is False and patient.deletion_reason == "Duplicate of another record"
    assert ids(sup.get(f"{API}/patients/")) == set()
    assert ids(sup.get(f"{API}/patients/", {"is_active": "false"})) == {str(patient.pk)}
    assert ids(sup.get(f"{API}/patients/", {"include_inactive": "true"})) == {str(patient.pk)}
    detail = sup.get(url).json()
    assert detail["is_active"] is False and detail["deletion_reason"] == "Duplicate of another record"
    # Navigators cannot restore, so for them the deleted patient is gone.
    assert_error(nav.get(url), 404, "not_found")
    assert ids(nav.get(f"{API}/patients/", {"is_active": "false"})) == set()
    restored = sup.post(f"{url}restore/")
    assert restored.status_code == 200 and restored.json()["is_active"] is True
    assert nav.get(url).status_code == 200


def test_delete_without_a_reason_records_a_default_naming_the_user(sup):
    patient = PatientFactory()
    assert sup.delete(f"{API}/patients/{patient.pk}?reason=").status_code == 204
    patient.refresh_from_db()
    assert patient.deletion_reason == "Deleted through the API by crmsup."


# --- PUT / PATCH /patients/{id}/ -----------------------------------------------------------------------------


def test_patch_changes_the_patient_and_its_person(nav, navigator):
    patient = PatientFactory(person__first_name="Ann", person__phone="+18015550123")
    response = nav.patch(
        f"{API}/patients/{patient.pk}",
        {"first_name": "Anne", "phone": "801-555-0199", "status": "inactive", "navigator": str(navigator.pk)},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["first_name"], body["phone"], body["status"], body["navigator"]) == (
        "Anne",
        "+18015550199",
        "inactive",
        str(navigator.pk),
    )
    patient.refresh_from_db()
    patient.person.refresh_from_db()
    assert (patient.person.first_name, patient.status, patient.navigator_id) == ("Anne", "inactive", navigator.pk)


def test_put_takes_a_partial_body_like_the_original_api_or_a_whole_get_body(nav):
    patient = PatientFactory(person__first_name="Ann", person__last_name="Lee", person__phone="+18015550123")
    partial = nav.put(f"{API}/patients/{patient.pk}", {"status": "closed"}, format="json")
    assert partial.status_code == 200, partial.content
    assert (partial.json()["status"], partial.json()["first_name"], partial.json()["phone"]) == (
        "closed",
        "Ann",
        "+18015550123",
    )
    body = nav.get(f"{API}/patients/{patient.pk}/").json()
    response = nav.put(f"{API}/patients/{patient.pk}/", body | {"status": "inactive"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "inactive" and response.json()["phone"] == "+18015550123"
    blank = nav.put(f"{API}/patients/{patient.pk}/", {"first_name": "", "last_name": None}, format="json")
    assert_error(blank, 400, "invalid", fields=("first_name", "last_name"))


def test_moving_to_another_persons_email_is_409_and_changes_nothing(nav):
    other = PersonFactory(email="taken@example.org")
    patient = PatientFactory(status=PatientStatus.ACTIVE)
    before = written_rows()
    response = nav.patch(
        f"{API}/patients/{patient.pk}/", {"email": "TAKEN@example.org", "status": "closed"}, format="json"
    )
    error = assert_error(response, 409, "conflict", fields=("email",))
    assert error["existing_id"] == str(other.pk)
    assert written_rows() == before
    patient.refresh_from_db()
    assert patient.status == PatientStatus.ACTIVE


def test_problems_of_the_person_and_of_the_patient_are_reported_together(nav):
    patient = PatientFactory()
    response = nav.patch(
        f"{API}/patients/{patient.pk}/",
        {"phone": "12", "first_contact_date": (timezone.localdate() + dt.timedelta(days=3)).isoformat()},
        format="json",
    )
    assert_error(response, 400, "invalid", fields=("phone", "first_contact_date"))


# --- GET /patients/{id}/calls/ -------------------------------------------------------------------------------


def test_a_patients_calls_newest_first_paginated(nav):
    patient = PatientFactory()
    now = timezone.now()
    old, mid, new = (CallHistoryFactory(patient=patient, call_date=now - dt.timedelta(days=d)) for d in (9, 5, 1))
    voided = CallHistoryFactory(
        patient=patient, call_date=now - dt.timedelta(days=3), is_active=False, deletion_reason="logged twice"
    )
    CallHistoryFactory()  # another patient's
    page = nav.get(f"{API}/patients/{patient.pk}/calls", {"page_size": 2}).json()
    assert page["count"] == 3 and [c["id"] for c in page["results"]] == [str(new.pk), str(mid.pk)]
    assert [c["id"] for c in nav.get(page["next"]).json()["results"]] == [str(old.pk)]
    with_void = results(nav.get(f"{API}/patients/{patient.pk}/calls/", {"include_inactive": "true"}))
    assert [c["id"] for c in with_void] == [str(new.pk), str(voided.pk), str(mid.pk), str(old.pk)]
    assert with_void[1]["is_void"] is True and with_void[1]["void_reason"] == "logged twice"
    assert_error(nav.get(f"{API}/patients/00000000-0000-0000-0000-000000000000/calls/"), 404, "not_found")


# --- /call-history/ ------------------------------------------------------------------------------------------


def test_log_a_call_the_navigator_defaults_to_the_callers_person():
    user = make_user("nina", "Patient Navigators")
    me = NavigatorFactory(user=user)
    patient = PatientFactory()
    response = client_for(user).post(
        f"{API}/call-history",
        {
            "patient": str(patient.pk),
            "direction": "outbound",
            "outcome": "voicemail",
            "reminder_date": (timezone.localdate() + dt.timedelta(days=2)).isoformat(),
            "call_duration_minutes": 3,
            "notes": "Left a message.",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    call = CallHistory.objects.get(pk=body["id"])
    assert body["navigator"] == str(me.pk) and body["patient"] == str(patient.pk)
    assert body["outcome"] == "voicemail" and body["call_duration_minutes"] == 3 and body["notes"] == "Left a message."
    assert body["created_by"] == str(user.pk) and body["is_void"] is False
    assert abs(call.call_date - timezone.now()) < dt.timedelta(minutes=1)
    second = client_for(user).post(
        f"{API}/call-history/",
        {"patient": str(patient.pk), "direction": "inbound", "outcome": "reached"},
        format="json",
    )
    assert second.status_code == 201 and CallHistory.objects.filter(patient=patient).count() == 2


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"direction": "sideways"}, "direction"),
        ({"outcome": "maybe"}, "outcome"),
        ({"call_date": "2999-01-01T10:00:00Z"}, "call_date"),
        ({"call_date": "yesterday"}, "call_date"),
        ({"call_duration_minutes": -5}, "call_duration_minutes"),
        ({"call_duration_minutes": "ten"}, "call_duration_minutes"),
        ({"reminder_date": "2000-01-01"}, "reminder_date"),
        ({"patient": "00000000-0000-0000-0000-000000000000"}, "patient"),
        ({"navigator": None}, "navigator"),
        ({"no_show": "perhaps"}, "no_show"),
        ({"notes": "x" * 100_000}, "notes"),
    ],
)
def test_bad_calls_are_400_naming_the_field_and_write_nothing(nav, navigator, overrides, field):
    patient = PatientFactory()
    body = {"patient": str(patient.pk), "navigator": str(navigator.pk), "direction": "outbound", "outcome": "reached"}
    before = written_rows()
    assert_error(nav.post(f"{API}/call-history/", body | overrides, format="json"), 400, "invalid", fields=(field,))
    assert written_rows() == before


def test_a_superuser_without_a_person_must_name_the_navigator(superuser):
    patient = PatientFactory()
    response = client_for(superuser).post(
        f"{API}/call-history/",
        {"patient": str(patient.pk), "direction": "outbound", "outcome": "reached"},
        format="json",
    )
    assert_error(response, 400, "invalid", fields=("navigator",))


def test_call_list_filters(nav, navigator):
    today = timezone.localdate()
    now = timezone.now()
    a = CallHistoryFactory(
        navigator=navigator,
        outcome="reached",
        direction="inbound",
        call_date=now - dt.timedelta(days=20),
        reminder_date=today - dt.timedelta(days=1),
    )
    b = CallHistoryFactory(
        outcome="no_answer", call_date=now - dt.timedelta(days=2), reminder_date=today + dt.timedelta(days=5)
    )
    c = CallHistoryFactory(outcome="voicemail", call_date=now - dt.timedelta(hours=1), no_show=True)
    url = f"{API}/call-history/"
    assert [r["id"] for r in results(nav.get(url))] == [str(c.pk), str(b.pk), str(a.pk)]
    assert ids(nav.get(url, {"patient": str(b.patient_id)})) == {str(b.pk)}
    assert ids(nav.get(url, {"navigator": str(navigator.pk)})) == {str(a.pk)}
    assert ids(nav.get(url, {"outcome": "no_answer"})) == {str(b.pk)}
    assert ids(nav.get(url, {"direction": "inbound"})) == {str(a.pk)}
    assert ids(nav.get(url, {"follow_up_due": "true"})) == {str(a.pk)}
    assert ids(nav.get(url, {"follow_up_due": "false"})) == {str(b.pk), str(c.pk)}
    assert ids(nav.get(url, {"no_show": "true"})) == {str(c.pk)}
    week_ago = (today - dt.timedelta(days=7)).isoformat()
    assert ids(nav.get(url, {"call_date_after": week_ago})) == {str(b.pk), str(c.pk)}
    assert ids(nav.get(url, {"call_date_before": week_ago})) == {str(a.pk)}
    assert ids(nav.get(url, {"call_date_after": (now - dt.timedelta(hours=2)).isoformat()})) == {str(c.pk)}
    assert ids(nav.get(url, {"search": a.patient.person.last_name})) >= {str(a.pk)}
    assert_error(
        nav.get(url, {"outcome": "nope", "call_date_before": "soon"}),
        400,
        "invalid",
        fields=("outcome", "call_date_before"),
    )


def test_edit_a_call_put_and_patch(nav, navigator):
    call = CallHistoryFactory(outcome="no_answer", notes="")
    patched = nav.patch(
        f"{API}/call-history/{call.pk}", {"outcome": "reached", "notes": "Reached on 2nd try."}, format="json"
    )
    assert patched.status_code == 200, patched.content
    assert patched.json()["outcome"] == "reached" and patched.json()["notes"] == "Reached on 2nd try."
    body = nav.get(f"{API}/call-history/{call.pk}/").json()
    put = nav.put(f"{API}/call-history/{call.pk}/", body | {"direction": "inbound"}, format="json")
    assert put.status_code == 200 and put.json()["direction"] == "inbound" and put.json()["outcome"] == "reached"
    notes_only = nav.put(f"{API}/call-history/{call.pk}/", {"notes": "only notes"}, format="json")
    assert notes_only.status_code == 200 and notes_only.json()["outcome"] == "reached"
    assert_error(
        nav.put(f"{API}/call-history/{call.pk}/", {"outcome": None}, format="json"), 400, "invalid", fields=("outcome",)
    )
    other = PatientFactory()
    moved = nav.patch(f"{API}/call-history/{call.pk}/", {"patient": str(other.pk)}, format="json")
    assert_error(moved, 400, "invalid", fields=("patient",))
    call.refresh_from_db()
    assert call.patient_id != other.pk
    # The previous values stay in the audit trail.
    outcomes = [entry.changes.get("outcome") for entry in record_history(call) if entry.action == "update"]
    assert ["no_answer", "reached"] in outcomes


def test_void_a_call_with_a_reason_then_restore_it(nav):
    call = CallHistoryFactory()
    url = f"{API}/call-history/{call.pk}/"
    assert nav.delete(url, {"reason": "Logged on the wrong patient"}, format="json").status_code == 204
    call.refresh_from_db()
    assert call.is_void and call.void_reason == "Logged on the wrong patient"
    assert CallHistory.all_objects.filter(pk=call.pk).exists()
    assert ids(nav.get(f"{API}/call-history/")) == set()
    assert ids(nav.get(f"{API}/call-history/", {"is_active": "false"})) == {str(call.pk)}
    voided = nav.get(url).json()
    assert voided["is_void"] is True and voided["void_reason"] == "Logged on the wrong patient"
    assert_error(nav.patch(url, {"notes": "x"}, format="json"), 400, "invalid", fields=("call",))
    restored = nav.post(f"{url}restore")
    assert restored.status_code == 200 and restored.json()["is_void"] is False and restored.json()["void_reason"] == ""


def test_void_without_a_reason_names_the_user(nav):
    call = CallHistoryFactory()
    assert nav.delete(f"{API}/call-history/{call.pk}").status_code == 204
    call.refresh_from_db()
    assert call.void_reason == "Voided through the API by nav."


# --- Audit trail ---------------------------------------------------------------------------------------------


def test_api_writes_are_in_the_audit_trail_with_the_api_user_and_channel(navigator_user):
    token = Token.objects.create(user=navigator_user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    created = client.post(f"{API}/patients/", ann(), format="json").json()
    patient = Patient.objects.get(pk=created["id"])
    assert client.patch(f"{API}/patients/{patient.pk}/", {"status": "inactive"}, format="json").status_code == 200
    entries = record_history(patient)
    assert [e.action for e in entries] == ["insert", "update"]
    assert {(e.username, e.channel) for e in entries} == {("nav", "api")}
    assert entries[1].changes["status"] == ["active", "inactive"]
    person_entries = record_history(patient.person)
    assert person_entries[0].username == "nav" and person_entries[0].channel == "api"
