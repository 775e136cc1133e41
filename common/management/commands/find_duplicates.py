"""Fill the review queues of possible duplicates (persons, canonical patients): docs/DUPLICATES.md."""

from __future__ import annotations

import importlib

from django.core.management.base import CommandError

from common.duplicates import scan
from common.management.base import AuditedCommand

# program -> (module, source): the apps own their sources; common only runs them.
PROGRAMS = {
    "crm": ("people.duplicates", "PERSONS"),
    "cm": ("cm_program.duplicates", "CANONICAL_PATIENTS"),
}


class Command(AuditedCommand):
    help = (
        "Grade possible duplicates and fill the review queues: persons (--program crm), canonical patients "
        "(--program cm) or both (all, the default). Incremental: only the records changed since the previous "
        "run are graded (against every record sharing a date of birth, a swapped one, a phone or an email local "
        "part); --full grades them all. Pairs decided 'not the same person' are never reopened; open pairs are "
        "rescored, and closed when a record was deleted or no longer matches. Shows progress, ends with a report."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--program", choices=("crm", "cm", "all"), default="all")
        parser.add_argument("--full", action="store_true", help="Grade every record, not only the changed ones.")
        parser.add_argument("--no-progress", action="store_true", help="No progress lines (the report only).")

    def handle(self, *args, **options) -> None:
        programs = list(PROGRAMS) if options["program"] == "all" else [options["program"]]
        for program in programs:
            module, name = PROGRAMS[program]
            source = getattr(importlib.import_module(module), name)
            try:
                report = scan(source, full=options["full"], progress=not options["no_progress"], stream=self.stderr)
            except KeyboardInterrupt:  # pragma: no cover - a person pressing Ctrl-C
                raise CommandError("Interrupted: the batches written are kept; the next run starts over.") from None
            for line in report.lines():
                self.stdout.write(line)
