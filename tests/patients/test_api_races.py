"""Concurrent requests through the API, each thread with its own client and database connection."""

from __future__ import annotations

import pytest

from common import roles
from patients import services
from patients.models import LeadStatus, Patient, PatientLead
from people.models import ContactType, PersonContactType
from tests.concurrency import post_concurrently
from tests.conftest import make_user
from tests.navigation_api import API, client_for


@pytest.mark.django_db(transaction=True)
def test_25_concurrent_conversions_of_one_lead_make_one_patient_and_answer_it_every_time():
    user = make_user("racer", roles.PATIENT_NAVIGATORS)
    lead = services.lead_create(first_name="Lia", last_name="Race", email="lia.race@example.org").lead
    url = f"{API}/leads/{lead.pk}/convert/"

    outcomes = post_concurrently(25, lambda i: client_for(user).post(url, {}, format="json"))

    assert [o for o in outcomes if o[0] not in (200, 201)] == []
    patient = Patient.objects.get()
    assert sorted(status for status, _ in outcomes) == [200] * 24 + [201]
    for status, body in outcomes:
        assert body["id"] == str(patient.pk) and body["person"]["id"] == str(lead.person_id)
        assert body["patient_created"] is (status == 201)
        assert body["lead"]["status"] == "converted" and body["lead"]["converted_patient"] == str(patient.pk)
    assert Patient.all_objects.count() == 1 and patient.person_id == lead.person_id
    assert list(PatientLead.objects.values_list("status", "converted_patient")) == [(LeadStatus.CONVERTED, patient.pk)]
    periods = PersonContactType.objects.filter(person=lead.person)
    assert periods.filter(contact_type__code=ContactType.PATIENT).count() == 1
    assert periods.filter(contact_type__code=ContactType.PATIENT, valid_to__isnull=True).count() == 1
    lead_periods = periods.filter(contact_type__code=ContactType.PATIENT_LEAD)
    assert lead_periods.count() == 1 and lead_periods.get().valid_to is not None


@pytest.mark.django_db(transaction=True)
def test_8_concurrent_calls_for_one_patient_are_all_logged_and_the_follow_up_is_the_latest():
    """Each call locks its patient before inserting (the follow-up moves with it): the calls queue on that
    lock, none fails, and the stored follow-up is the latest call's. (Inserting first and locking after, as
    before, could deadlock by PostgreSQL's lock rules; this test did not catch that order in the act.)"""
    import datetime as dt

    from django.utils import timezone

    from patients.models import CallHistory
    from tests.factories.patients import PatientFactory
    from tests.factories.people import NavigatorFactory

    user = make_user("caller", roles.PATIENT_NAVIGATORS)
    NavigatorFactory(user=user)
    patient = PatientFactory()
    start = timezone.now() - dt.timedelta(hours=1)

    def post(i: int):
        body = {
            "patient": str(patient.pk),
            "outcome": "reached",
            "call_date": (start + dt.timedelta(minutes=i)).isoformat(),
            "reminder_date": (timezone.localdate() + dt.timedelta(days=i + 1)).isoformat(),
        }
        return client_for(user).post(f"{API}/call-history/", body, format="json")

    outcomes = post_concurrently(8, post)

    assert [o for o in outcomes if o[0] != 201] == []
    assert CallHistory.objects.filter(patient=patient).count() == 8
    patient.refresh_from_db()
    latest = CallHistory.objects.filter(patient=patient).order_by("-call_date").first()
    assert patient.last_call_at == latest.call_date == start + dt.timedelta(minutes=7)
    assert patient.follow_up_date == timezone.localdate() + dt.timedelta(days=8)
