"""The CM program report's weekly rollup of the points ledger (issue 14, point 5).

``cm_points_weekly`` holds, per ISO week (local, ``settings.TIME_ZONE``), per CPSS and per program of the
enrollment *now*, the figures the report adds up: entries per behaviour that no reversal cancels, and the
points earned, deducted and reversed. Only entries of enrollments of live canonical patients (not deleted,
not merged) are in it, as only those are in the report. It is kept exact by PostgreSQL itself (triggers of
``cm_program.report_rollup``, created by migration 0017): every path that writes the ledger (services,
admin, API, importers, the bench generator) or moves an enrollment to another CPSS, program or canonical
patient, or deletes, restores or merges a canonical patient, keeps it right in the same statement. Nothing
in Python writes it; ``check_cm_report_rollups`` compares it with the ledger and ``--repair`` rebuilds it.
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models


class CMPointsWeek(models.Model):
    """One ISO week of one CPSS's (or no CPSS's) enrollments in one program: what the CM report sums.

    No foreign keys: the rows are figures, written by triggers, and must never stand in the way of
    deleting or merging what they count (a week's row of a CPSS no one is assigned to any more is zeros).
    """

    week = models.DateField(help_text="The Monday of the ISO week, in settings.TIME_ZONE.")
    cpss_provider_id = models.UUIDField(null=True, help_text="The enrollment's CPSS now (none: no CPSS).")
    cm_program_id = models.UUIDField()
    group_attendance = models.IntegerField(default=0)
    negative_tests = models.IntegerField(default=0)
    positive_tests = models.IntegerField(default=0)
    missed_tests = models.IntegerField(default=0)
    weekly_checkins = models.IntegerField(default=0)
    peer_support = models.IntegerField(default=0)
    reversal_entries = models.IntegerField(default=0)
    points_earned = models.BigIntegerField(default=0)
    points_deducted = models.BigIntegerField(default=0)
    points_reversed = models.BigIntegerField(default=0)

    class Meta:
        db_table = "cm_points_weekly"
        verbose_name = "CM points week (report rollup)"
        constraints = [
            # NULLS NOT DISTINCT: the enrollments without a CPSS share one row per week and program (the
            # triggers' ON CONFLICT needs exactly one).
            models.UniqueConstraint(
                fields=["week", "cpss_provider_id", "cm_program_id"],
                name="cm_points_weekly_key",
                nulls_distinct=False,
            ),
        ]

    def __str__(self) -> str:
        return f"week of {self.week}"


class CMEnrollmentReportFacts(models.Model):
    """One enrollment's report columns, status history and group-attendance weeks as arrays, for the CM report's
    statuses and attendance (``cm_program.report_facts``): its status at any instant is one ``width_bucket``
    search of ``status_changed_at``, and whether it attended a group in whole weeks one ``&&`` of
    ``group_weeks``, on one row per enrollment instead of a pass over the history and the period's attendances
    joined to the enrollments.

    Written only by triggers on the tables it mirrors (the enrollments, the status history, the ledger); no
    foreign key, like the weekly rollup.
    """

    enrollment_id = models.UUIDField(primary_key=True)
    # The enrollment's columns the report filters on, copied by the triggers (null only for a row written before its
    # enrollment, within one transaction of deferred keys).
    canonical_patient_id = models.UUIDField(null=True)
    cm_program_id = models.UUIDField(null=True)
    enrollment_date = models.DateTimeField(null=True)
    status = models.TextField(null=True, help_text="The enrollment's status now.")
    status_changed_at = ArrayField(
        models.DateTimeField(),
        default=list,
        help_text="changed_at of the enrollment's status changes, ascending (ties by created_at, then id).",
    )
    status_to = ArrayField(
        models.TextField(), default=list, help_text="to_status of the same changes, in the same order."
    )
    group_weeks = ArrayField(
        models.DateField(),
        default=list,
        help_text="The Monday (report's zone) of each group attendance that no reversal cancels, ascending, repeated "
        "per attendance.",
    )

    class Meta:
        db_table = "cm_enrollment_report_facts"
        verbose_name = "CM enrollment report facts"
        verbose_name_plural = "CM enrollment report facts"

    def __str__(self) -> str:
        return f"report facts of {self.enrollment_id}"
