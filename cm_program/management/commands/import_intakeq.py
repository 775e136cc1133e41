"""``manage.py import_intakeq FILE...``: IntakeQ clients into the mirror, then matching (docs/MIGRATION.md)."""

from __future__ import annotations

from common.imports.command import ImportCommand
from common.imports.files import ImportFiles
from common.imports.models import ImportKind


class Command(ImportCommand):
    help = (
        "Upsert IntakeQ clients (the JSON of GET /clients?includeProfile=true: one page per file, or pages "
        "concatenated) into the IntakeQ mirror by ClientId, then grade every unlinked client against the "
        "canonical patients: certain pairs are linked, probable ones wait in the review queue."
    )
    kind = ImportKind.INTAKEQ

    def add_arguments(self, parser) -> None:
        parser.add_argument("files", nargs="+", metavar="FILE", help="JSON files of IntakeQ's Client API.")
        parser.add_argument(
            "--no-match", action="store_true", help="Only upsert the clients; do not grade or link them."
        )
        super().add_arguments(parser)

    def files_from(self, options) -> ImportFiles:
        return ImportFiles.from_paths(options["files"])

    def importer_options(self, options) -> dict:
        return {"match": not options["no_match"]}
