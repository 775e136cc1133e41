"""The points ledger (``cm_points_transactions``): append-only, one row per award, deduction or correction."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.functions import RandomUUID
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone

from cm_program.models.base import _in_list, _not_blank
from cm_program.models.enrollment import CMEnrollment
from cm_program.models.identity import CanonicalPatient
from common.db import append_only_triggers


class PointsEvent(models.TextChoices):
    GROUP_ATTENDANCE = "group_attendance", "Group attendance"
    TEST_NEGATIVE = "test_negative", "Drug test: negative"
    TEST_POSITIVE = "test_positive", "Drug test: positive"
    TEST_MISSED = "test_missed", "Drug test: missed"
    WEEKLY_CHECKIN = "weekly_checkin", "Weekly check-in"
    PEER_SUPPORT = "peer_support", "Peer support"
    ENROLLMENT_BONUS = "enrollment_bonus", "Enrollment bonus"
    MANUAL_ADJUSTMENT = "manual_adjustment", "Manual adjustment"
    REVERSAL = "reversal", "Reversal"


REASON_REQUIRED_EVENTS = (PointsEvent.MANUAL_ADJUSTMENT, PointsEvent.REVERSAL)
# What the patient did (as opposed to bonuses and corrections): contact the caseload view looks for.
BEHAVIOUR_EVENTS = (
    PointsEvent.GROUP_ATTENDANCE,
    PointsEvent.TEST_NEGATIVE,
    PointsEvent.TEST_POSITIVE,
    PointsEvent.TEST_MISSED,
    PointsEvent.WEEKLY_CHECKIN,
    PointsEvent.PEER_SUPPORT,
)


class CMPointsTransaction(models.Model):
    """The points ledger: every award, deduction and correction is a new row, never an edit.

    Append-only by construction: database triggers refuse UPDATE, DELETE and TRUNCATE, so even SQL
    typed by hand cannot rewrite history (corrections are reversing entries, ``reverses``). ``sequence``
    numbers the entries of one enrollment in the order the schedule was applied; ``streak_after`` is
    the negative-test streak after the entry, so the streak can be replayed from the ledger alone.
    Not tracked by pghistory: the table is its own history.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, db_default=RandomUUID(), editable=False)
    enrollment = models.ForeignKey(CMEnrollment, on_delete=models.PROTECT, related_name="points_transactions")
    canonical_patient = models.ForeignKey(
        CanonicalPatient,
        on_delete=models.PROTECT,
        related_name="points_transactions",
        db_column="canonical_patient_id",
    )
    sequence = models.PositiveIntegerField(editable=False)
    event_type = models.TextField(choices=PointsEvent.choices)
    points = models.IntegerField(help_text="Signed: awards are positive, deductions and reversals negative.")
    reason = models.TextField(blank=True, default="", db_default="")
    reverses = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reversed_by",
        help_text="The entry this one cancels (reversal entries only).",
    )
    streak_after = models.IntegerField(editable=False)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    occurred_at = models.DateTimeField(
        default=timezone.now, db_default=Now(), help_text="When the behaviour took place."
    )
    created_at = models.DateTimeField(default=timezone.now, db_default=Now(), editable=False)

    class Meta:
        db_table = "cm_points_transactions"
        ordering = ["enrollment", "sequence"]
        verbose_name = "points transaction"
        constraints = [
            models.UniqueConstraint(fields=["enrollment", "sequence"], name="cm_points_transactions_sequence_uniq"),
            models.CheckConstraint(
                condition=_in_list("event_type", PointsEvent),
                name="cm_points_transactions_event_type_check",
                violation_error_message="Unknown event type.",
            ),
            models.CheckConstraint(
                condition=~Q(event_type__in=REASON_REQUIRED_EVENTS) | _not_blank("reason"),
                name="cm_points_transactions_reason_required",
                violation_error_message="A manual adjustment or reversal needs a reason.",
            ),
            models.CheckConstraint(
                condition=Q(event_type=PointsEvent.REVERSAL, reverses__isnull=False)
                | (~Q(event_type=PointsEvent.REVERSAL) & Q(reverses__isnull=True)),
                name="cm_points_transactions_reversal_names_entry",
                violation_error_message="A reversal names the entry it cancels, and only a reversal does.",
            ),
            models.CheckConstraint(
                condition=~Q(event_type=PointsEvent.MANUAL_ADJUSTMENT) | ~Q(points=0),
                name="cm_points_transactions_adjustment_not_zero",
                violation_error_message="A manual adjustment of zero points changes nothing.",
            ),
            models.CheckConstraint(
                condition=Q(sequence__gte=1, streak_after__gte=0),
                name="cm_points_transactions_sequence_streak_range",
            ),
        ]
        indexes = [
            models.Index(fields=["canonical_patient", "occurred_at"], name="cm_points_patient_time_idx"),
            # It carries what the CPSS caseloads read of the week's entries (enrollment, event type, points):
            # that read is index-only instead of fetching ~16,000 scattered heap pages at full size.
            models.Index(
                fields=["occurred_at"],
                name="cm_points_occurred_at_idx",
                include=["enrollment", "event_type", "points"],
            ),
            # "No behaviour recorded in 7 days" on the CPSS caseload page probes each active enrollment's
            # recent entries: without it each probe intersected the whole week's entries (15 s at 400 CPSS).
            models.Index(fields=["enrollment", "occurred_at"], name="cm_points_enrollment_time_idx"),
            # The ledger list filtered by event type, in its order (newest first): page and capped count.
            models.Index(fields=["event_type", "-occurred_at", "-id"], name="cm_points_event_time_idx"),
            # The CM report's "active enrollments that attended a group in the period": the period's group
            # attendances read from this small index alone (with the id, to leave the reversed ones out), not
            # from a scan of the whole ledger.
            models.Index(
                fields=["occurred_at", "id"],
                name="cm_points_group_time_idx",
                include=["enrollment"],
                condition=Q(event_type=PointsEvent.GROUP_ATTENDANCE),
            ),
        ]
        triggers = append_only_triggers(
            update_message="cm_points_transactions is append-only: record a reversing entry instead",
            truncate_message="cm_points_transactions is append-only: it cannot be truncated",
        )

    def __str__(self) -> str:
        return f"#{self.sequence} {self.get_event_type_display()} {self.points:+d}"
