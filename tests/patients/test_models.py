"""The patient-navigation tables refuse bad rows by themselves (plain SQL, no Python check in the way)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from patients.models import (
    CallHistory,
    LeadStatus,
    MedicalCondition,
    Patient,
    PatientLead,
    PatientPhysicianRelationship,
    Physician,
    Specialization,
)
from tests.db import assert_refused, raw_insert, raw_update
from tests.factories.patients import (
    CallHistoryFactory,
    PatientFactory,
    PatientLeadFactory,
    PhysicianFactory,
    seeded_condition,
)
from tests.factories.people import NavigatorFactory, PersonFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2025, 3, 1, 10, 0, tzinfo=dt.UTC)

TABLES = (
    "person",
    "contact_type",
    "person_contact_type",
    "medical_condition",
    "hospital",
    "specialization",
    "patient_lead",
    "patient",
    "physician",
    "patient_physician_relationship",
    "call_history",
    "clinical_trial_journey",
    "eap_journey",
)


def test_every_table_of_the_document_exists_under_its_name():
    with connection.cursor() as cursor:
        existing = set(connection.introspection.table_names(cursor))
    assert set(TABLES) <= existing


def test_the_three_conditions_are_shipped():
    rows = MedicalCondition.objects.order_by("abbreviation").values_list("abbreviation", "name")
    assert list(rows) == [
        ("DMD", "Duchenne Muscular Dystrophy"),
        ("GBM", "Glioblastoma"),
        ("IPF", "Idiopathic Pulmonary Fibrosis"),
    ]


def test_condition_names_are_unique_ignoring_case():
    assert_refused("medical_condition_name_ci_uniq", raw_insert, MedicalCondition, name="glioblastoma")
    assert_refused("medical_condition_name_ci_uniq", raw_insert, MedicalCondition, name="GLIOBLASTOMA", abbreviation="")
    raw_insert(MedicalCondition, name="Glioblastoma multiforme, recurrent")


def test_specialization_names_are_unique_ignoring_case():
    raw_insert(Specialization, name="Neurology")
    assert_refused("specialization_name_ci_uniq", raw_insert, Specialization, name="NEUROLOGY")


def test_one_patient_per_person():
    person = PersonFactory()
    raw_insert(Patient, person_id=person.pk, status="active")
    assert_refused("patient_person_id_key", raw_insert, Patient, person_id=person.pk, status="active")


def test_one_physician_per_person():
    person = PersonFactory()
    raw_insert(Physician, person_id=person.pk)
    assert_refused("physician_person_id_key", raw_insert, Physician, person_id=person.pk)


def test_at_most_one_primary_physician_per_patient():
    patient = PatientFactory()
    first, second = PhysicianFactory(), PhysicianFactory()
    values = {"patient_id": patient.pk, "relationship_type": "treating", "start_date": dt.date(2025, 1, 1)}
    raw_insert(PatientPhysicianRelationship, physician_id=first.pk, is_primary=True, **values)
    assert_refused(
        "patient_physician_one_primary",
        raw_insert,
        PatientPhysicianRelationship,
        physician_id=second.pk,
        is_primary=True,
        **values,
    )
    raw_insert(PatientPhysicianRelationship, physician_id=second.pk, is_primary=False, **values)
    # Another patient may have their own primary physician.
    raw_insert(
        PatientPhysicianRelationship,
        **{**values, "patient_id": PatientFactory().pk},
        physician_id=first.pk,
        is_primary=True,
    )


def test_relationship_type_and_dates():
    patient, physician = PatientFactory(), PhysicianFactory()
    values = {"patient_id": patient.pk, "physician_id": physician.pk, "start_date": dt.date(2025, 1, 10)}
    assert_refused(
        "patient_physician_relationship_type_valid",
        raw_insert,
        PatientPhysicianRelationship,
        relationship_type="cousin",
        **values,
    )
    assert_refused(
        "patient_physician_dates_in_order",
        raw_insert,
        PatientPhysicianRelationship,
        relationship_type="treating",
        end_date=dt.date(2025, 1, 9),
        **values,
    )


@pytest.mark.parametrize(
    ("column", "value", "constraint"),
    [
        ("status", "archived", "patient_status_valid"),
        ("status", "", "patient_status_valid"),
    ],
)
def test_patient_status_is_limited_to_its_list(column, value, constraint):
    assert_refused(constraint, raw_insert, Patient, person_id=PersonFactory().pk, **{column: value})


def test_patient_dates_in_order_and_not_own_navigator():
    person = PersonFactory()
    assert_refused(
        "patient_consult_after_first_contact",
        raw_insert,
        Patient,
        person_id=person.pk,
        first_contact_date=dt.date(2025, 2, 1),
        initial_consult_date=dt.date(2025, 1, 31),
    )
    assert_refused("patient_not_own_navigator", raw_insert, Patient, person_id=person.pk, navigator_id=person.pk)


def _call(**overrides):
    patient = PatientFactory()
    values = {
        "patient_id": patient.pk,
        "navigator_id": patient.navigator_id,
        "direction": "outbound",
        "outcome": "reached",
        "call_date": NOW,
        **overrides,
    }
    return raw_insert(CallHistory, **values)


@pytest.mark.parametrize(
    ("overrides", "constraint"),
    [
        ({"direction": "sideways"}, "call_history_direction_valid"),
        ({"outcome": "hung up angrily"}, "call_history_outcome_valid"),
        ({"call_duration_minutes": -1}, "call_history_duration_non_negative"),
        ({"is_active": False, "deletion_reason": ""}, "call_history_void_has_reason"),
    ],
)
def test_call_history_refuses(overrides, constraint):
    assert_refused(constraint, _call, **overrides)


def test_call_history_accepts_a_zero_minute_call_and_stores_the_navigator_in_pn_id():
    call_id = _call(call_duration_minutes=0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pn_id, call_duration_minutes FROM call_history WHERE id = %s", [call_id])
        pn_id, minutes = cursor.fetchone()
    assert minutes == 0
    assert pn_id == CallHistory.objects.get(pk=call_id).navigator_id


@pytest.mark.parametrize(
    ("column", "value", "constraint"),
    [("status", "maybe", "patient_lead_status_valid"), ("source", "carrier pigeon", "patient_lead_source_valid")],
)
def test_lead_status_and_source_are_limited_to_their_lists(column, value, constraint):
    assert_refused(constraint, raw_insert, PatientLead, person_id=PersonFactory().pk, **{column: value})


def test_a_converted_lead_names_its_patient():
    person = PersonFactory()
    assert_refused(
        "patient_lead_converted_names_patient",
        raw_insert,
        PatientLead,
        person_id=person.pk,
        status=LeadStatus.CONVERTED,
        converted_at=NOW,
    )
    patient = PatientFactory(person=person)
    # ...and only a converted lead does.
    assert_refused(
        "patient_lead_converted_names_patient",
        raw_insert,
        PatientLead,
        person_id=person.pk,
        status=LeadStatus.QUALIFIED,
        converted_patient_id=patient.pk,
        converted_at=NOW,
    )
    raw_insert(PatientLead, person_id=person.pk, status="converted", converted_patient_id=patient.pk, converted_at=NOW)


def test_one_open_lead_per_person():
    lead = PatientLeadFactory(status=LeadStatus.CONTACTED)
    assert_refused("patient_lead_one_open_per_person", raw_insert, PatientLead, person_id=lead.person_id, status="new")
    raw_insert(PatientLead, person_id=lead.person_id, status="lost")


def test_soft_deleted_patient_needs_a_reason():
    patient = PatientFactory()
    assert_refused("patient_deletion_has_reason", raw_update, Patient, patient.pk, is_active=False)


def test_void_marker_vocabulary():
    call = CallHistoryFactory()
    call.mark_deleted(reason="wrong patient")
    assert call.is_void and call.void_reason == "wrong patient" and call.voided_at <= timezone.now()
    assert NavigatorFactory().navigated_patients.count() == 0
    assert seeded_condition("GBM").name == "Glioblastoma"


def test_every_navigation_table_has_audit_triggers_for_insert_update_delete():
    from common.erd import erd_models

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE t.tgname LIKE 'pgtrigger_%%' GROUP BY c.relname"
        )
        triggers = dict(cursor.fetchall())
    # find_duplicates' watermark (``duplicate_scan``) is a command's bookkeeping, not a record of anyone's;
    # ``person_search`` is a copy of the persons' names kept by triggers (their history is the person's).
    audited = [m for m in erd_models() if m._meta.db_table not in ("duplicate_scan", "person_search")]
    assert {m._meta.db_table: triggers.get(m._meta.db_table) for m in audited} == {m._meta.db_table: 3 for m in audited}


def test_bulk_create_is_recorded_too(crm_supervisor_user):
    from common.audit import audit_context, record_history

    patient = PatientFactory()
    with audit_context(actor=crm_supervisor_user, channel="command"):
        calls = CallHistory.objects.bulk_create(
            [
                CallHistory(
                    patient=patient, navigator=patient.navigator, direction="inbound", outcome="reached", call_date=NOW
                )
                for _ in range(3)
            ]
        )
    for call in calls:
        [entry] = record_history(call)
        assert (entry.action, entry.username, entry.channel) == ("insert", "crmsup", "command")
