"""Journeys: a patient's path towards a clinical trial (CT) or an expanded-access program (EAP).

A patient can have many journeys of each kind, each with its own status and its own timeline
(``JourneyStatusChange``). Statuses move only along ``journeys.transitions``; dates stay in order.
"""

from __future__ import annotations

import pghistory
from django.conf import settings
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Lower, Trim
from django.db.models.lookups import Exact
from django.utils import timezone

from common.models import BaseModel, SoftDeleteModel
from common.search import search_indexes
from journeys.transitions import CT_INITIAL, EAP_INITIAL, CTStatus, EAPStatus
from patients.models import Patient, Physician
from people.models import DELETION_HAS_REASON

# "NCT" + 8 digits is the ClinicalTrials.gov identifier; other registries' ids (EudraCT, ISRCTN...)
# are accepted as given, but anything that starts like an NCT id must be a well-formed one.
NCT_PATTERN = r"^NCT[0-9]{8}$"


def _after(later: str, earlier: str) -> Q:
    """``later >= earlier`` whenever both dates are known."""
    return Q(**{f"{later}__isnull": True}) | Q(**{f"{earlier}__isnull": True}) | Q(**{f"{later}__gte": F(earlier)})


class Eligibility(models.TextChoices):
    YES = "yes", "Yes"
    NO = "no", "No"
    UNKNOWN = "unknown", "Unknown"


@pghistory.track()
class ClinicalTrialJourney(SoftDeleteModel, BaseModel):
    """A patient's path towards one clinical trial, from referral to completion (or an exit)."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="ct_journeys")
    referring_physician = models.ForeignKey(
        Physician, null=True, blank=True, on_delete=models.PROTECT, related_name="referred_ct_journeys"
    )
    trial_id = models.CharField(
        max_length=50, blank=True, default="", help_text="Registry id; ClinicalTrials.gov ids are NCT + 8 digits."
    )
    trial_name = models.CharField(max_length=300, blank=True, default="")
    referral_date = models.DateField(default=timezone.localdate)
    eligible = models.CharField(max_length=10, choices=Eligibility.choices, default=Eligibility.UNKNOWN)
    eligibility_assessment_date = models.DateField(null=True, blank=True)
    ineligible_reason = models.TextField(blank=True, default="")
    status = models.CharField(max_length=20, choices=CTStatus.choices, default=CT_INITIAL)
    enrollment_date = models.DateField(null=True, blank=True)
    completion_date = models.DateField(null=True, blank=True)
    outcome = models.CharField(max_length=300, blank=True, default="", help_text="How the journey ended, in words.")
    notes = models.TextField(blank=True, default="")

    class Meta:
        db_table = "clinical_trial_journey"
        ordering = ["-referral_date", "-created_at"]
        verbose_name = "clinical trial journey"
        constraints = [
            models.CheckConstraint(condition=Q(status__in=CTStatus.values), name="clinical_trial_journey_status_valid"),
            models.CheckConstraint(
                condition=Q(eligible__in=Eligibility.values), name="clinical_trial_journey_eligible_valid"
            ),
            models.CheckConstraint(
                condition=~Q(eligible=Eligibility.NO) | ~Q(Exact(Trim("ineligible_reason"), Value(""))),
                name="clinical_trial_journey_ineligible_has_reason",
                violation_error_message="Say why the patient is not eligible.",
            ),
            models.CheckConstraint(
                condition=~Q(status=CTStatus.INELIGIBLE) | Q(eligible=Eligibility.NO),
                name="clinical_trial_journey_ineligible_status_matches",
                violation_error_message="An ineligible journey is marked not eligible.",
            ),
            models.CheckConstraint(
                condition=~Q(trial_id="") | ~Q(trial_name=""),
                name="clinical_trial_journey_names_trial",
                violation_error_message="Give the trial id or the trial name.",
            ),
            models.CheckConstraint(
                condition=~Q(trial_id__iregex=r"^NCT") | Q(trial_id__regex=NCT_PATTERN),
                name="clinical_trial_journey_nct_format",
                violation_error_message="An NCT id is NCT followed by 8 digits, e.g. NCT01234567.",
            ),
            models.CheckConstraint(
                condition=_after("enrollment_date", "referral_date")
                & _after("completion_date", "enrollment_date")
                & _after("completion_date", "referral_date")
                & _after("eligibility_assessment_date", "referral_date"),
                name="clinical_trial_journey_dates_in_order",
                violation_error_message="Dates must be in order: referral <= enrollment <= completion.",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=[CTStatus.ENROLLED, CTStatus.COMPLETED]) | Q(enrollment_date__isnull=False),
                name="clinical_trial_journey_enrolled_has_date",
            ),
            models.CheckConstraint(
                condition=~Q(status=CTStatus.COMPLETED) | Q(completion_date__isnull=False),
                name="clinical_trial_journey_completed_has_date",
            ),
            models.CheckConstraint(condition=DELETION_HAS_REASON, name="clinical_trial_journey_deletion_has_reason"),
        ]
        indexes = [
            models.Index(fields=["patient", "status"], name="ct_journey_patient_status_idx"),
            models.Index(fields=["trial_id"], name="ct_journey_trial_id_idx"),
            *search_indexes("ct_journey", "trial_id", "trial_name"),  # the search box (common.search)
            models.Index(fields=["-referral_date", "-created_at", "id"], name="ct_journey_order_idx"),  # list order
        ]

    kind = "clinical_trial"

    def __str__(self) -> str:
        return f"CT {self.trial_id or self.trial_name} — {self.patient}"


@pghistory.track()
class EAPJourney(SoftDeleteModel, BaseModel):
    """A patient's expanded-access request for one product, from preparation to the end of treatment."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="eap_journeys")
    physician = models.ForeignKey(
        Physician, null=True, blank=True, on_delete=models.PROTECT, related_name="eap_journeys"
    )
    eap_number = models.CharField(max_length=50, blank=True, default="", help_text="The EAP dossier number.")
    product = models.CharField(max_length=200)
    status = models.CharField(max_length=20, choices=EAPStatus.choices, default=EAP_INITIAL)
    approval_date = models.DateField(null=True, blank=True)
    enrollment_date = models.DateField(null=True, blank=True)
    completion_date = models.DateField(null=True, blank=True)
    notes = models.TextField(blank=True, default="")

    class Meta:
        db_table = "eap_journey"
        ordering = ["-created_at"]
        verbose_name = "EAP journey"
        constraints = [
            models.CheckConstraint(condition=Q(status__in=EAPStatus.values), name="eap_journey_status_valid"),
            models.CheckConstraint(condition=~Q(product=""), name="eap_journey_product_not_blank"),
            models.UniqueConstraint(
                Lower("eap_number"),
                condition=~Q(eap_number=""),
                name="eap_journey_eap_number_ci_uniq",
                violation_error_message="Another EAP journey already has this dossier number.",
            ),
            models.CheckConstraint(
                condition=_after("enrollment_date", "approval_date")
                & _after("completion_date", "enrollment_date")
                & _after("completion_date", "approval_date"),
                name="eap_journey_dates_in_order",
                violation_error_message="Dates must be in order: approval <= enrollment <= completion.",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=[EAPStatus.APPROVED, EAPStatus.ACTIVE, EAPStatus.COMPLETED])
                | Q(approval_date__isnull=False),
                name="eap_journey_approved_has_date",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=[EAPStatus.ACTIVE, EAPStatus.COMPLETED]) | Q(enrollment_date__isnull=False),
                name="eap_journey_active_has_date",
            ),
            models.CheckConstraint(
                condition=~Q(status=EAPStatus.COMPLETED) | Q(completion_date__isnull=False),
                name="eap_journey_completed_has_date",
            ),
            models.CheckConstraint(condition=DELETION_HAS_REASON, name="eap_journey_deletion_has_reason"),
        ]
        indexes = [
            models.Index(fields=["patient", "status"], name="eap_journey_patient_status_idx"),
            *search_indexes("eap_journey", "eap_number", "product"),  # the search box (common.search)
            models.Index(fields=["-created_at", "id"], name="eap_journey_order_idx"),  # the list's order
        ]

    kind = "eap"

    def __str__(self) -> str:
        return f"EAP {self.eap_number or self.product} — {self.patient}"


@pghistory.track()
class JourneyStatusChange(BaseModel):
    """One step of a journey's timeline: from which status to which, when, by whom, and why.

    Exactly one of the two journey links is set. The opening of a journey is a step with an empty
    ``from_status``. Rows are only ever added (by the journey services).
    """

    ct_journey = models.ForeignKey(
        ClinicalTrialJourney, null=True, blank=True, on_delete=models.PROTECT, related_name="status_changes"
    )
    eap_journey = models.ForeignKey(
        EAPJourney, null=True, blank=True, on_delete=models.PROTECT, related_name="status_changes"
    )
    from_status = models.CharField(max_length=20, blank=True, default="")
    to_status = models.CharField(max_length=20)
    changed_at = models.DateTimeField(default=timezone.now)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.TextField(blank=True, default="")

    class Meta:
        db_table = "journey_status_change"
        ordering = ["changed_at", "created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ct_journey__isnull=False, eap_journey__isnull=True)
                | Q(ct_journey__isnull=True, eap_journey__isnull=False),
                name="journey_status_change_one_journey",
                violation_error_message="A status change belongs to exactly one journey.",
            ),
            models.CheckConstraint(
                condition=(
                    Q(ct_journey__isnull=False, to_status__in=CTStatus.values)
                    & (Q(from_status="") | Q(from_status__in=CTStatus.values))
                )
                | (
                    Q(eap_journey__isnull=False, to_status__in=EAPStatus.values)
                    & (Q(from_status="") | Q(from_status__in=EAPStatus.values))
                ),
                name="journey_status_change_statuses_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["ct_journey", "changed_at"], name="journey_change_ct_idx"),
            models.Index(fields=["eap_journey", "changed_at"], name="journey_change_eap_idx"),
            # The admin changelist's default order (newest first, the primary key last): page 1 reads 50 index entries.
            models.Index(fields=["changed_at", "created_at", "id"], name="journey_change_list_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.from_status or '(opened)'} -> {self.to_status} at {self.changed_at:%Y-%m-%d %H:%M}"

    @property
    def journey(self):
        return self.ct_journey or self.eap_journey
