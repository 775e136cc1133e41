"""Enrollments of canonical patients in CM programs, and their append-only status history."""

from __future__ import annotations

import uuid

import pghistory
from django.conf import settings
from django.contrib.postgres.functions import RandomUUID
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Now
from django.utils import timezone

from cm_program.models.base import CMModel, CMStatus, _in_list
from cm_program.models.identity import CanonicalPatient
from cm_program.models.profiles import CMPatient
from cm_program.models.programs import CMProgram
from cm_program.models.providers import CMProvider
from common.db import append_only_triggers


@pghistory.track()
class CMEnrollment(CMModel):
    """A canonical patient in a CM program with their CPSS: one per patient per program.

    ``total_points`` and ``current_streak`` are a cache of the points ledger, written only by the
    services that append to it (in the same transaction); ``cm_check_ledger`` verifies them.
    """

    canonical_patient = models.ForeignKey(
        CanonicalPatient, on_delete=models.PROTECT, related_name="enrollments", db_column="canonical_patient_id"
    )
    cm_patient = models.ForeignKey(
        CMPatient,
        on_delete=models.PROTECT,
        related_name="enrollments",
        db_column="cm_patient_id",
        verbose_name="CM patient",
    )
    cm_program = models.ForeignKey(
        CMProgram,
        on_delete=models.PROTECT,
        related_name="enrollments",
        db_column="cm_program_id",
        verbose_name="CM program",
    )
    # Nullable as in the document: an enrollment can wait for a CPSS (scenario 2 enrolls without one).
    cpss_provider = models.ForeignKey(
        CMProvider,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="enrollments",
        db_column="cpss_provider_id",
        verbose_name="CPSS",
    )
    total_points = models.IntegerField(default=0, db_default=0)
    current_streak = models.IntegerField(default=0, db_default=0)
    enrollment_date = models.DateTimeField(default=timezone.now, db_default=Now())
    status = models.TextField(choices=CMStatus.choices, default=CMStatus.ACTIVE, db_default=CMStatus.ACTIVE)
    medicaid_verification = models.JSONField(null=True, blank=True)
    pod_assignment = models.TextField(null=True, blank=True)
    notes = models.TextField(null=True, blank=True)

    class Meta:
        db_table = "cm_enrollments"
        ordering = ["-enrollment_date"]
        verbose_name = "CM enrollment"
        constraints = [
            models.UniqueConstraint(
                fields=["canonical_patient", "cm_program"],
                name="cm_enrollments_canonical_patient_id_cm_program_id_key",
                violation_error_message="This patient is already enrolled in this program.",
            ),
            models.CheckConstraint(
                condition=_in_list("status", CMStatus),
                name="cm_enrollments_status_check",
                violation_error_message="Unknown status.",
            ),
            models.CheckConstraint(
                condition=Q(total_points__gte=0, current_streak__gte=0),
                name="cm_enrollments_totals_not_negative",
                violation_error_message="Points and streak cannot be negative.",
            ),
        ]
        indexes = [
            models.Index(fields=["cpss_provider", "status"], name="cm_enrollments_caseload_idx"),
            models.Index(fields=["-enrollment_date", "id"], name="cm_enrollments_order_idx"),  # the list's order
            # The pod filter (admin and ?pod_assignment=), and its list of pods in the admin's sidebar.
            models.Index(fields=["pod_assignment"], name="cm_enrollments_pod_idx"),
            # The CM report's longest current streaks: the first active enrollments in this order.
            models.Index(
                fields=["-current_streak", "enrollment_date", "id"],
                name="cm_enrollments_streaks_idx",
                condition=Q(status=CMStatus.ACTIVE, current_streak__gt=0),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.canonical_patient} in {self.cm_program}"


class EnrollmentStatusChange(models.Model):
    """The status history of an enrollment: one row when it starts and one per status move, never edited.

    Written by the enrollment services (and the importers) in the transaction that moves the status, so
    that a report can tell an enrollment's status at any past date (retention at 4, 8 and 12 weeks, the
    billing pool's end dates) without reading the audit trail. The first row of an enrollment has no
    ``from_status`` and is dated at its ``enrollment_date``. Append-only like the points ledger: database
    triggers refuse UPDATE, DELETE and TRUNCATE. Not tracked by pghistory: the table is its own history.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, db_default=RandomUUID(), editable=False)
    enrollment = models.ForeignKey(CMEnrollment, on_delete=models.PROTECT, related_name="status_changes")
    from_status = models.TextField(
        null=True, blank=True, choices=CMStatus.choices, help_text="Empty on the enrollment's first row."
    )
    to_status = models.TextField(choices=CMStatus.choices)
    changed_at = models.DateTimeField(default=timezone.now, db_default=Now())
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.TextField(blank=True, default="", db_default="")
    created_at = models.DateTimeField(default=timezone.now, db_default=Now(), editable=False)

    class Meta:
        db_table = "cm_enrollment_status_changes"
        ordering = ["enrollment", "changed_at", "created_at"]
        verbose_name = "enrollment status change"
        constraints = [
            models.CheckConstraint(
                condition=_in_list("from_status", CMStatus, nullable=True) & _in_list("to_status", CMStatus),
                name="cm_enrollment_status_changes_status_check",
                violation_error_message="Unknown status.",
            ),
            models.CheckConstraint(
                condition=Q(from_status__isnull=True) | ~Q(from_status=F("to_status")),
                name="cm_enrollment_status_changes_is_a_change",
                violation_error_message="A status change goes to another status.",
            ),
        ]
        indexes = [
            # An enrollment's status at a date: its last row at or before it (the reports, the billing pool).
            models.Index(fields=["enrollment", "changed_at"], name="cm_status_changes_enr_time_idx"),
            # The same in the order the CM report reads it (latest first, ties by the later written), with the
            # status: each enrollment's status at an instant is the first row of its range, read from the index
            # alone, without sorting (retention probes; the statuses at the period's end in one ordered pass).
            models.Index(
                F("enrollment"),
                F("changed_at").desc(),
                F("created_at").desc(),
                name="cm_status_changes_latest_idx",
                include=["to_status"],
            ),
        ]
        triggers = append_only_triggers(
            update_message="cm_enrollment_status_changes is append-only: record a new status change instead",
            truncate_message="cm_enrollment_status_changes is append-only: it cannot be truncated",
        )

    def __str__(self) -> str:
        return f"{self.from_status or '-'} -> {self.to_status} at {self.changed_at:%Y-%m-%d %H:%M}"
