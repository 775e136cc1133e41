"""What the import commands share: --dry-run, --report FILE, --quiet, progress, the printed report."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError

from common.imports.files import ImportFileError, ImportFiles
from common.imports.report import ImportReport
from common.imports.runner import execute
from common.progress import Progress


class ImportCommand(BaseCommand):
    """Base of ``import_legacy_crm``, ``migrate_cm_patients`` and ``import_intakeq``.

    Subclasses set ``kind`` and implement ``files_from`` (the positional arguments -> ``ImportFiles``)
    and ``importer_options`` (the command's own options -> the importer's ``options``).
    """

    kind: str = ""
    # Each input file opens its own audit context (common.imports.context): no process-wide one.
    audit_channel = None

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Do everything, print the report, then roll back.")
        parser.add_argument("--report", metavar="FILE", help="Also write every input row's outcome to this CSV file.")
        parser.add_argument("--quiet", action="store_true", help="No progress output, only the final report.")

    def files_from(self, options) -> ImportFiles:
        raise NotImplementedError

    def importer_options(self, options) -> dict:
        return {}

    def actor_from(self, options):
        """The User the import runs as (``None``: the command line, which sees everyone)."""
        return None

    def handle(self, *args, **options):
        try:
            files = self.files_from(options)
            actor = self.actor_from(options)
        except ImportFileError as exc:
            raise CommandError(str(exc)) from None
        progress = Progress(self.kind, None, stream=sys.stderr, enabled=not options["quiet"])

        def on_progress(done: int, total: int | None) -> None:
            progress.total = total
            progress.advance(done - progress.count)

        report_file = open(options["report"], "w", newline="", encoding="utf-8") if options["report"] else None  # noqa: SIM115
        try:
            report = ImportReport(csv_stream=report_file)
            try:
                execute(
                    kind=self.kind,
                    files=files,
                    options=self.importer_options(options),
                    dry_run=options["dry_run"],
                    actor=actor,
                    report=report,
                    progress=on_progress,
                )
            except ImportFileError as exc:
                raise CommandError(str(exc)) from None
        finally:
            if report_file is not None:
                report_file.close()
        progress.done()
        self.stdout.write(report.render())
        if options["report"]:
            self.stdout.write(f"Every row's outcome: {options['report']}")
