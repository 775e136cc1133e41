"""Reads about journeys: a patient's journeys with their timelines, and a journey's timeline."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Prefetch, QuerySet

from common.audit import AuditTrail, record_history
from journeys.models import ClinicalTrialJourney, EAPJourney, JourneyStatusChange
from patients.models import Patient

Journey = ClinicalTrialJourney | EAPJourney


def journey_timeline(*, journey: Journey) -> QuerySet[JourneyStatusChange]:
    """The steps of one journey in the order they happened (the opening first)."""
    return journey.status_changes.select_related("changed_by").order_by("changed_at", "created_at")


@dataclass(frozen=True)
class PatientJourneys:
    clinical_trials: list[ClinicalTrialJourney]
    eap: list[EAPJourney]


def patient_journeys(*, patient: Patient) -> PatientJourneys:
    """A patient's active journeys of both kinds, each with its timeline prefetched (four queries)."""
    steps = Prefetch(
        "status_changes",
        queryset=JourneyStatusChange.objects.select_related("changed_by").order_by("changed_at", "created_at"),
    )
    return PatientJourneys(
        clinical_trials=list(
            ClinicalTrialJourney.objects.filter(patient=patient)
            .select_related("referring_physician__person")
            .prefetch_related(steps)
        ),
        eap=list(
            EAPJourney.objects.filter(patient=patient).select_related("physician__person").prefetch_related(steps)
        ),
    )


def journey_history(*, journey: Journey) -> AuditTrail:
    """Every recorded change of the journey row itself (status and corrections), oldest first."""
    return record_history(journey)
