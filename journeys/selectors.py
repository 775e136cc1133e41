"""Reads about journeys: a patient's journeys with their timelines, and a journey's timeline."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery

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


def patient_journeys_summary(*, patient: Patient) -> PatientJourneys:
    """A patient's active journeys of both kinds for the patient page, each with ``last_step_at``: when its
    latest timeline step happened (None without one). Two queries: the step is a correlated subquery on
    ``journey_change_ct_idx`` / ``journey_change_eap_idx``, not a prefetch of every step."""

    def last_step_at(link: str) -> Subquery:
        steps = JourneyStatusChange.objects.filter(**{link: OuterRef("pk")}).order_by("-changed_at", "-created_at")
        return Subquery(steps.values("changed_at")[:1])

    return PatientJourneys(
        clinical_trials=list(
            ClinicalTrialJourney.objects.filter(patient=patient)
            .select_related("referring_physician__person")
            .annotate(last_step_at=last_step_at("ct_journey"))
        ),
        eap=list(
            EAPJourney.objects.filter(patient=patient)
            .select_related("physician__person")
            .annotate(last_step_at=last_step_at("eap_journey"))
        ),
    )
