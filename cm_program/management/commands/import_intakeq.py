"""``manage.py import_intakeq FILE...``: IntakeQ clients into the mirror, then matching (docs/MIGRATION.md)."""

from __future__ import annotations

from common.imports.command import ImportCommand
from common.imports.files import ImportFiles
from common.imports.models import ImportKind


class Command(ImportCommand):
    help = (
        "Upsert IntakeQ clients (the JSON of GET /clients?includeProfile=true: one page per file, or pages "
        "concatenated) into the IntakeQ mirror by ClientId, then grade the unlinked clients and canonical "
        "patients new or changed since the last grading, or whose link was removed since: certain pairs are "
        "linked, probable ones wait in the review queue."
    )
    kind = ImportKind.INTAKEQ

    def add_arguments(self, parser) -> None:
        parser.add_argument("files", nargs="+", metavar="FILE", help="JSON files of IntakeQ's Client API.")
        parser.add_argument(
            "--no-match", action="store_true", help="Only upsert the clients; do not grade or link them."
        )
        parser.add_argument(
            "--rematch-all",
            action="store_true",
            help="Grade every unlinked client again, not only the clients and canonical patients new or changed "
            "since the last grading (after a change of the scoring). Rejected pairs stay rejected.",
        )
        super().add_arguments(parser)

    def files_from(self, options) -> ImportFiles:
        return ImportFiles.from_paths(options["files"])

    def importer_options(self, options) -> dict:
        return {"match": not options["no_match"], "rematch_all": options["rematch_all"]}
