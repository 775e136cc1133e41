"""check_open_journeys: compare every patient's stored open-journey count with their journeys."""

from __future__ import annotations

from django.core.management.base import CommandError

from common.management.base import AuditedCommand
from journeys.open_journeys import open_journeys_mismatches, repair_open_journeys


class Command(AuditedCommand):
    help = (
        "Check that each patient's open_journeys (stored on the patient, kept by triggers on the journey tables, "
        "so that the patients list's 'Any open journey' filter reads an index) equals a count from scratch of "
        "their clinical trial and EAP journeys that are not deleted and not in a final status. One statement "
        "(one snapshot). Prints up to --show disagreeing patients (stored vs journeys) and exits with status 1 "
        "when any disagrees. With --repair, rewrites the disagreeing patients in one transaction and exits 0."
    )

    def add_arguments(self, parser):
        parser.add_argument("--repair", action="store_true", help="Rewrite the disagreeing patients' counts.")
        parser.add_argument(
            "--show", type=int, default=20, metavar="N", help="Disagreeing patients to print (default 20)."
        )

    def handle(self, *args, **options):
        show = options["show"]
        if show < 0:
            raise CommandError("--show must be 0 or more.")
        total, found = open_journeys_mismatches(limit=show)
        for m in found:
            self.stdout.write(f"{m.patient_id}: stored {m.stored} open journeys, journeys say {m.fresh}")
        if total > len(found):
            self.stdout.write(f"... and {total - len(found)} more.")
        if not total:
            self.stdout.write(self.style.SUCCESS("Every patient's open journey count agrees with their journeys."))
            return
        if not options["repair"]:
            raise CommandError(
                f"{total} patients' open journey counts disagree with their journeys. Run with --repair to fix them."
            )
        repaired = repair_open_journeys()
        self.stdout.write(self.style.SUCCESS(f"Repaired {repaired} patients ({total} disagreed)."))
