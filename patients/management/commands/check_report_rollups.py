"""check_report_rollups: compare the navigation report's summary tables with the calls and patients."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import CommandError

from common.management.base import AuditedCommand
from patients.report_rollups import TABLES, rebuild_report_rollups, report_rollup_mismatches, rollup_time_zone


class Command(AuditedCommand):
    help = (
        "Check that the navigation report's summary tables (call_day_rollup, call_week_rollup, "
        "follow_up_overdue_span, the overdue deltas per day, week and block, and the cohorts lead_cohort and "
        "eap_cohort: docs/REPORTS.md, 'Summary tables'), which triggers keep up to date, equal "
        "what the calls, patients, leads and journeys say, computed from scratch, and that they count days in "
        "settings.TIME_ZONE. Prints each table that disagrees (rows stored but not computed, and the reverse) "
        "and exits with status 1 when any does. With --repair, rebuilds all of them from scratch in "
        "settings.TIME_ZONE (one transaction; writers of calls and patients wait meanwhile) and exits 0."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--repair", action="store_true", help="Rebuild the tables from the calls and patients if they disagree."
        )

    def handle(self, *args, **options):
        problems = []
        zone = rollup_time_zone()
        if zone != settings.TIME_ZONE:
            problems.append(
                f"the tables count days in {zone}, the report in {settings.TIME_ZONE} "
                "(the report computes from the calls meanwhile: slow)"
            )
        started = time.monotonic()
        for m in report_rollup_mismatches():
            problems.append(
                f"{m.table}: {m.stored_only} rows stored but not computed, {m.fresh_only} computed but not stored"
            )
        seconds = time.monotonic() - started
        for problem in problems:
            self.stdout.write(problem)
        if not problems:
            self.stdout.write(
                self.style.SUCCESS(
                    f"The {len(TABLES)} summary tables agree with the calls and patients "
                    f"(days in {zone}; checked in {seconds:.1f} s)."
                )
            )
            return
        if not options["repair"]:
            raise CommandError(f"{len(problems)} problem(s) found. Run with --repair to rebuild the tables.")
        started = time.monotonic()
        rebuild_report_rollups(time_zone=settings.TIME_ZONE)
        left = report_rollup_mismatches()
        if left:
            raise CommandError(f"Still disagreeing after the rebuild: {', '.join(m.table for m in left)}.")
        self.stdout.write(
            self.style.SUCCESS(
                f"Rebuilt the {len(TABLES)} summary tables in {settings.TIME_ZONE} "
                f"in {time.monotonic() - started:.1f} s; they now agree."
            )
        )
