"""Selectors added for the admin screens: the patient worklist and a patient's physicians."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from patients import selectors, services
from patients.models import Patient
from tests.factories.patients import CallHistoryFactory, PatientFactory, PatientPhysicianRelationshipFactory

pytestmark = pytest.mark.django_db


def days_ago(n: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=n)


def today_plus(n: int) -> dt.date:
    return timezone.localdate() + dt.timedelta(days=n)


def test_patients_worklist_annotates_follow_up_and_last_call_in_one_query(django_assert_num_queries):
    called = PatientFactory()
    CallHistoryFactory(patient=called, call_date=days_ago(9), reminder_date=today_plus(-2))
    latest = CallHistoryFactory(patient=called, call_date=days_ago(1), reminder_date=today_plus(3))
    void = CallHistoryFactory(patient=called, call_date=days_ago(0.5), reminder_date=today_plus(30))
    services.call_void(call=void, reason="wrong patient")
    never_called = PatientFactory()
    deleted = PatientFactory()
    services.patient_soft_delete(patient=deleted, reason="duplicate")

    with django_assert_num_queries(1):
        rows = {p.pk: p for p in selectors.patients_worklist()}
        names = [p.person.last_name for p in rows.values()] + [str(p.navigator) for p in rows.values()]
    assert len(names) == 6 and set(rows) == {called.pk, never_called.pk, deleted.pk}
    assert (rows[called.pk].follow_up_date, rows[called.pk].last_call_at) == (today_plus(3), latest.call_date)
    assert (rows[never_called.pk].follow_up_date, rows[never_called.pk].last_call_at) == (None, None)
    assert {p.pk for p in selectors.patients_worklist(Patient.objects.all())} == {called.pk, never_called.pk}


def test_patient_physicians_current_primary_first_in_one_query(django_assert_num_queries):
    patient = PatientFactory()
    ended = PatientPhysicianRelationshipFactory(patient=patient, start_date=today_plus(-300))
    services.patient_physician_end(relationship=ended, end_date=today_plus(-10))
    treating = PatientPhysicianRelationshipFactory(patient=patient, start_date=today_plus(-5))
    primary = PatientPhysicianRelationshipFactory(patient=patient, is_primary=True, start_date=today_plus(-100))
    PatientPhysicianRelationshipFactory()  # someone else's physician

    with django_assert_num_queries(1):
        rows = list(selectors.patient_physicians(patient=patient))
        details = [(r.physician.person.last_name, r.physician.hospital.name, r.physician.specialization) for r in rows]
    assert rows == [primary, treating, ended] and len(details) == 3
