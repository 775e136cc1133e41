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
