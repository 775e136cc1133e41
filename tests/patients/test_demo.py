"""seed_demo loads a believable patient-navigation data set, through the services, idempotently."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db.models import Count

from journeys.models import ClinicalTrialJourney, EAPJourney, JourneyStatusChange
from patients.models import CallHistory, Hospital, LeadStatus, MedicalCondition, Patient, PatientLead, Physician
from patients.selectors import navigator_caseloads
from people.models import Person, PersonContactType, User


def _counts() -> dict[str, int]:
    return {
        "person": Person.all_objects.count(),
        "patient": Patient.all_objects.count(),
        "lead": PatientLead.objects.count(),
        "call": CallHistory.all_objects.count(),
        "ct": ClinicalTrialJourney.all_objects.count(),
        "eap": EAPJourney.all_objects.count(),
        "steps": JourneyStatusChange.objects.count(),
        "roles": PersonContactType.objects.count(),
        "hospital": Hospital.all_objects.count(),
        "physician": Physician.all_objects.count(),
    }


@pytest.mark.django_db
def test_seed_demo_loads_patient_navigation_data_once(capsys):
    call_command("seed_demo")
    first = _counts()
    call_command("seed_demo")
    assert _counts() == first  # idempotent

    assert 180 <= first["person"] <= 220
    assert first["hospital"] >= 5 and first["physician"] >= 10
    assert set(MedicalCondition.objects.values_list("abbreviation", flat=True)) == {"DMD", "GBM", "IPF"}
    lead_statuses = dict(PatientLead.objects.values_list("status").annotate(n=Count("id")))
    assert set(lead_statuses) == set(LeadStatus.values)
    assert all(lead.converted_patient_id for lead in PatientLead.objects.filter(status=LeadStatus.CONVERTED))
    assert first["patient"] >= 100 and first["call"] >= 200
    assert len(set(ClinicalTrialJourney.objects.values_list("status", flat=True))) >= 5
    assert len(set(EAPJourney.objects.values_list("status", flat=True))) >= 4
    assert first["steps"] > first["ct"] + first["eap"]  # journeys moved beyond their opening step

    nina = Person.objects.get(user=User.objects.get(username="navigator"))
    caseloads = {p.pk: p for p in navigator_caseloads()}
    assert len(caseloads) >= 5
    assert caseloads[nina.pk].active_patients > 0 and caseloads[nina.pk].calls_last_30_days > 0
    assert sum(p.overdue_follow_ups for p in caseloads.values()) > 0

    out = capsys.readouterr().out
    assert "nothing to do" in out
