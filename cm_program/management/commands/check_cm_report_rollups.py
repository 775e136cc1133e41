"""check_cm_report_rollups: compare the CM report's weekly rollup of the ledger with the ledger itself."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from cm_program.report_facts import facts_differences
from cm_program.report_rollup import FIGURES, rebuild_cm_report_rollups, rollup_differences

SHOWN = 20


class Command(BaseCommand):
    help = (
        "Check that cm_points_weekly, the CM program report's weekly rollup of the points ledger (kept by "
        "database triggers), equals a computation from scratch over cm_points_transactions, and that its weeks "
        "are in settings.TIME_ZONE. Prints the first differing rows (week, CPSS, program: stored vs ledger) and "
        "exits with status 1 when any differs; likewise cm_enrollment_report_facts, each enrollment's status history "
        "and group-attendance weeks as arrays (the report's statuses and attendees), against the status history and "
        "the ledger. With --repair, rebuilds both in the current TIME_ZONE (writes to the ledger, status history, "
        "enrollments and canonical patients wait meanwhile; reads go on)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--repair", action="store_true", help="Rebuild the rollup from the ledger.")

    def handle(self, *args, **options):
        if options["repair"]:
            rows = rebuild_cm_report_rollups()
            self.stdout.write(
                self.style.SUCCESS(
                    f"Rollup rebuilt from the ledger: {rows} rows, {settings.TIME_ZONE}; enrollments' report facts too."
                )
            )
            return
        zone, differences = rollup_differences(limit=SHOWN + 1)
        if zone is None:
            raise CommandError("The rollup is not installed: run migrate.")
        problems = []
        if zone != settings.TIME_ZONE:
            problems.append(
                f"its weeks are in {zone}, TIME_ZONE is {settings.TIME_ZONE} (the report reads the ledger meanwhile)"
            )
        for d in differences[:SHOWN]:
            stored = dict(zip(FIGURES, d.stored, strict=True)) if d.stored else "no row"
            expected = dict(zip(FIGURES, d.expected, strict=True)) if d.expected else "no row"
            self.stdout.write(
                f"week {d.week}, CPSS {d.cpss_provider_id or '-'}, program {d.cm_program_id}: "
                f"stored {stored}; ledger {expected}"
            )
        if differences:
            more = "more than " if len(differences) > SHOWN else ""
            problems.append(f"{more}{min(len(differences), SHOWN)} rows differ from the ledger")
        facts = facts_differences(limit=SHOWN + 1)
        for d in facts[:SHOWN]:
            self.stdout.write(
                f"enrollment {d.enrollment_id}: stored {d.stored or 'no row'};"
                f" history and ledger {d.expected or 'no row'}"
            )
        if facts:
            more = "more than " if len(facts) > SHOWN else ""
            problems.append(
                f"{more}{min(len(facts), SHOWN)} enrollments' report facts differ from the history and ledger"
            )
        if problems:
            raise CommandError(
                f"cm_points_weekly / cm_enrollment_report_facts: {'; '.join(problems)}. Run with --repair to rebuild."
            )
        self.stdout.write(
            self.style.SUCCESS(f"cm_points_weekly and cm_enrollment_report_facts are exact (weeks in {zone}).")
        )
