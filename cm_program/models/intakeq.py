"""The IntakeQ EMR's clients as CM sees them: the mirror, the confirmed links and the matching's candidates."""

from __future__ import annotations

from decimal import Decimal

import pghistory
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone

from cm_program.models.base import CMModel, _in_list, normalised_name
from cm_program.models.identity import CanonicalPatient
from common.search import search_indexes


# ``raw`` is left out of the audit trail: it repeats the tracked fields plus the EMR's own (insurance,
# address), and a copy of it in every event would double the table for nothing the trail needs.
@pghistory.track(exclude=["raw"])
class IntakeQPatient(CMModel):
    """Mirror of the IntakeQ EMR's clients (the document's existing ``patients`` table).

    Kept as the EMR exports it; CM never writes its own patients here (that was the problem the
    document solves). ``intakeq_client_id`` is the EMR's key; it is nullable only so that a row typed
    in before the next sync (or inserted by the document's SQL) is accepted.
    """

    intakeq_client_id = models.TextField(unique=True, null=True, blank=True, verbose_name="IntakeQ client id")
    first_name = models.TextField()
    last_name = models.TextField()
    date_of_birth = models.DateField(null=True, blank=True)
    email = models.TextField(null=True, blank=True)
    phone = models.TextField(null=True, blank=True)
    # Written by ``import_intakeq``: the client as the EMR's API last returned it (every field, not only
    # the mirrored ones: insurance, address, ...), and whether the EMR has archived it. Archived clients
    # stay: a link or an enrollment may point at them, and the EMR itself never deletes them.
    archived = models.BooleanField(default=False, db_default=False, help_text="Archived in IntakeQ.")
    raw = models.JSONField(
        null=True, blank=True, editable=False, help_text="The client object of IntakeQ's API, as last imported."
    )

    class Meta:
        db_table = "patients"
        ordering = ["last_name", "first_name"]
        verbose_name = "IntakeQ patient"
        indexes = [
            models.Index(normalised_name("last_name"), normalised_name("first_name"), name="patients_name_idx"),
            # The admin changelist's order (its admin puts the key last, ascending).
            models.Index(fields=["last_name", "first_name", "id"], name="patients_list_idx"),
            *search_indexes("intakeq", "first_name", "last_name"),  # the search box (common.search)
            # Email, phone and client id in the search box too (the mirror keeps the EMR's own formats, so the
            # phone is matched on what is typed, as text); the key's own unique index cannot serve a substring.
            *search_indexes("intakeq", "email", "phone"),
            *search_indexes("iq", "intakeq_client_id"),
        ]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name} (IntakeQ {self.intakeq_client_id or '-'})"


@pghistory.track()
class IntakeQLink(CMModel):
    """The confirmed match between a canonical patient and an IntakeQ client: at most one each way.

    ``linked_by`` is the staff login (``people.User``) that confirmed the match, not a ``providers_cm``
    row: supervisors and administrators who confirm matches need not be CPSS staff, every actor of the
    CRM is a User (the audit trail names Users too), and the column stays a UUID as in the document.
    """

    canonical_patient = models.OneToOneField(
        CanonicalPatient, on_delete=models.PROTECT, related_name="intakeq_link", db_column="canonical_patient_id"
    )
    intakeq_patient = models.OneToOneField(
        IntakeQPatient,
        on_delete=models.PROTECT,
        related_name="canonical_link",
        db_column="intakeq_patient_id",
        verbose_name="IntakeQ patient",
    )
    linked_date = models.DateTimeField(default=timezone.now, db_default=Now())
    linked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_column="linked_by",
        help_text="The staff member who confirmed the match.",
    )
    confidence_score = models.DecimalField(
        max_digits=3, decimal_places=2, default=Decimal("1.00"), db_default=Decimal("1.00")
    )
    notes = models.TextField(null=True, blank=True)

    class Meta:
        db_table = "patients_intakeq_link"
        ordering = ["-linked_date"]
        verbose_name = "IntakeQ link"
        constraints = [
            models.CheckConstraint(
                condition=Q(confidence_score__gte=Decimal("0.00"), confidence_score__lte=Decimal("1.00")),
                name="patients_intakeq_link_confidence_range",
                violation_error_message="The confidence score is between 0.00 and 1.00.",
            ),
        ]
        indexes = [models.Index(fields=["-linked_date", "id"], name="intakeq_link_order_idx")]  # list order

    def __str__(self) -> str:
        return f"{self.canonical_patient} = IntakeQ {self.intakeq_patient.intakeq_client_id or self.intakeq_patient_id}"


class MatchBand(models.TextChoices):
    """How sure the matching of IntakeQ clients to canonical patients is (docs/MIGRATION.md, section 3).

    Half-open bands of the score: certain >= 0.90, probable [0.65, 0.90), possible [0.40, 0.65)."""

    CERTAIN = "certain", "Certain"
    PROBABLE = "probable", "Probable"
    POSSIBLE = "possible", "Possible"


class MatchStatus(models.TextChoices):
    PROPOSED = "proposed", "Proposed"
    LINKED = "linked", "Linked"
    REJECTED = "rejected", "Not the same person"


# ``updated_at`` left out: pghistory then compares the tracked columns one by one; its whole-row
# comparison (``old.* IS DISTINCT FROM new.*``) made the statement trigger of the automatic links take
# 20 s for 3,800 rows instead of ~0.1 s.
@pghistory.track(exclude=["updated_at"])
class IntakeQMatchCandidate(CMModel):
    """A canonical patient and an IntakeQ client that may be the same human, graded by the matching.

    One row per pair (unique), so that a decision is kept with the pair: a rejected pair ("not the same
    person") is never proposed again by a later import, and a linked one stays as the record of how the
    link was made. ``components`` holds the parts of the score (name similarities, date of birth,
    email, phone) so that the reviewer sees why a pair was proposed.
    """

    canonical_patient = models.ForeignKey(
        CanonicalPatient, on_delete=models.CASCADE, related_name="intakeq_candidates", db_column="canonical_patient_id"
    )
    intakeq_patient = models.ForeignKey(
        IntakeQPatient,
        on_delete=models.CASCADE,
        related_name="match_candidates",
        db_column="intakeq_patient_id",
        verbose_name="IntakeQ patient",
    )
    score = models.DecimalField(max_digits=3, decimal_places=2)
    band = models.TextField(choices=MatchBand.choices)
    components = models.JSONField(default=dict, blank=True)
    status = models.TextField(
        choices=MatchStatus.choices, default=MatchStatus.PROPOSED, db_default=MatchStatus.PROPOSED
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Who linked or rejected the pair (empty for an automatic link).",
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "intakeq_match_candidate"
        ordering = ["-score", "id"]
        verbose_name = "IntakeQ match candidate"
        constraints = [
            models.UniqueConstraint(
                fields=["canonical_patient", "intakeq_patient"],
                name="intakeq_match_candidate_pair_uniq",
                violation_error_message="This pair is already a match candidate.",
            ),
            models.CheckConstraint(
                condition=Q(score__gte=Decimal("0.00"), score__lte=Decimal("1.00")),
                name="intakeq_match_candidate_score_range",
                violation_error_message="The score is between 0.00 and 1.00.",
            ),
            models.CheckConstraint(
                condition=_in_list("band", MatchBand),
                name="intakeq_match_candidate_band_check",
                violation_error_message="Band is certain, probable or possible.",
            ),
            models.CheckConstraint(
                condition=_in_list("status", MatchStatus),
                name="intakeq_match_candidate_status_check",
                violation_error_message="Status is proposed, linked or rejected.",
            ),
        ]
        indexes = [
            # The queue: proposed pairs of a band, best first (the list's order, the key last).
            models.Index(fields=["status", "band", "-score", "id"], name="intakeq_candidate_queue_idx"),
            models.Index(fields=["-score", "id"], name="intakeq_candidate_order_idx"),
            models.Index(fields=["intakeq_patient"], name="intakeq_candidate_client_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.canonical_patient} ~ {self.intakeq_patient} ({self.score}, {self.band})"


class IntakeQMatchingWatermark(models.Model):
    """Up to when the matching of ``import_intakeq`` has graded (one row).

    A run grades only the IntakeQ clients and canonical patients changed since (``updated_at`` of the
    mirror row, the canonical patient, its Person or its CM profile), not every unlinked client again.
    The time is the start of the oldest transaction open when the grading ran, so that a change committed
    by a transaction that was still running then is graded by the next run.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    graded_until = models.DateTimeField()

    class Meta:
        db_table = "intakeq_matching_watermark"
        constraints = [models.CheckConstraint(condition=Q(id=1), name="intakeq_matching_watermark_single_row")]

    def __str__(self) -> str:
        return f"matching graded until {self.graded_until:%Y-%m-%d %H:%M:%S}"
