"""cm_check_ledger: compare every enrollment's points and streak with its ledger."""

from __future__ import annotations

import uuid

from django.core.management.base import CommandError

from cm_program.models import CMEnrollment
from cm_program.selectors import LEDGER_CHECK_BATCH, iter_ledger_discrepancies
from cm_program.services import cm_enrollment_totals_repair
from common.management.base import AuditedCommand
from common.validation import printable


class Command(AuditedCommand):
    help = (
        "Check that each CM enrollment's total_points and current_streak equal what its points ledger "
        "(cm_points_transactions) says: the sum of its entries, and the negative-test streak replayed from "
        "them. Prints every enrollment that disagrees (stored vs ledger) and exits with status 1 when any "
        "does. With --fix, sets the totals to the ledger's values (the ledger is the truth; it is never "
        "changed), reports each repair and exits 0."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--fix",
            action="store_true",
            help="Repair disagreeing enrollments by writing the ledger's totals onto them (audited).",
        )
        parser.add_argument(
            "--enrollment",
            action="append",
            metavar="UUID",
            help="Check only this enrollment (repeatable). Default: every enrollment.",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=LEDGER_CHECK_BATCH,
            help=f"Enrollments checked per query (default {LEDGER_CHECK_BATCH}). The check runs in SQL in "
            "batches, so memory stays flat however large the ledger.",
        )

    def handle(self, *args, **options):
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be a positive number of enrollments.")
        enrollments = CMEnrollment.objects.all()
        ids = None
        if options["enrollment"]:
            try:
                ids = [uuid.UUID(value) for value in options["enrollment"]]
            except ValueError:
                raise CommandError("--enrollment takes enrollment ids (UUIDs).") from None
            enrollments = enrollments.filter(pk__in=ids)
        checked = enrollments.count()
        # Only the disagreeing enrollments are kept (to repair them): memory does not grow with the tables.
        found = []
        for d in iter_ledger_discrepancies(enrollment_ids=ids, batch_size=options["batch_size"]):
            found.append(d)
            self.stdout.write(
                # Names are printed escaped: rows stored before control characters were refused may hold
                # an ESC sequence that would otherwise rewrite the terminal of whoever runs the check.
                f"{d.enrollment.pk}  {printable(d.enrollment)}: points stored {d.stored_points}, "
                f"ledger {d.ledger_points}; streak stored {d.stored_streak}, ledger {d.ledger_streak}"
            )
        if not found:
            self.stdout.write(self.style.SUCCESS(f"All {checked} enrollments agree with their ledger."))
            return
        if not options["fix"]:
            raise CommandError(
                f"{len(found)} of {checked} enrollments disagree with their ledger. Run with --fix to repair them."
            )
        for d in found:
            points, streak = cm_enrollment_totals_repair(enrollment=d.enrollment)
            self.stdout.write(f"fixed {d.enrollment.pk}: total_points={points}, current_streak={streak}")
        self.stdout.write(self.style.SUCCESS(f"Repaired {len(found)} of {checked} enrollments."))
