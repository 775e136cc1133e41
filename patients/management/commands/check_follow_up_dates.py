"""check_follow_up_dates: compare every patient's stored follow-up and last call with their calls."""

from __future__ import annotations

from django.core.management.base import CommandError

from common.management.base import AuditedCommand
from common.progress import Progress
from patients.follow_up import follow_up_mismatches, refresh_follow_up
from patients.models import Patient


class Command(AuditedCommand):
    help = (
        "Check that each patient's follow_up_date and last_call_at (stored on the patient so that the "
        "follow-up filters, the hub and the caseload pages read an indexed column) equal what their calls "
        "say: the reminder and the date of their latest non-void call. Walks the patients in keyed batches "
        "(memory stays flat whatever the table size), prints each patient that disagrees (stored vs calls) "
        "and exits with status 1 when any does. With --repair, recomputes the disagreeing patients from "
        "their calls (each batch in its own transaction) and exits 0."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--repair", action="store_true", help="Rewrite the disagreeing patients' columns from their calls."
        )
        parser.add_argument(
            "--batch-size", type=int, default=10_000, metavar="N", help="Patients per batch (default 10,000)."
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress lines on stderr.")

    def handle(self, *args, **options):
        batch_size = options["batch_size"]
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        repair = options["repair"]
        progress = Progress(
            "patients checked",
            total=Patient.all_objects.count(),
            stream=self.stderr,
            enabled=not options["no_progress"],
        )
        checked = disagreeing = repaired = 0
        for count, found in follow_up_mismatches(batch_size=batch_size):
            checked += count
            disagreeing += len(found)
            for m in found:
                self.stdout.write(
                    f"{m.patient_id}: follow-up stored {_show(m.stored_follow_up)}, calls say {_show(m.follow_up)}; "
                    f"last call stored {_show(m.stored_last_call)}, calls say {_show(m.last_call)}"
                )
            if repair and found:
                repaired += refresh_follow_up(patient_ids=[m.patient_id for m in found])
            progress.advance(count)
        progress.done()
        if not disagreeing:
            self.stdout.write(self.style.SUCCESS(f"All {checked} patients agree with their calls."))
            return
        if not repair:
            raise CommandError(
                f"{disagreeing} of {checked} patients disagree with their calls. Run with --repair to fix them."
            )
        self.stdout.write(self.style.SUCCESS(f"Repaired {repaired} of {checked} patients ({disagreeing} disagreed)."))


def _show(value) -> str:
    return "none" if value is None else value.isoformat()
