"""migrate_cm_patients DIR: the CM document's Phase 2, from CSV exports of the old Supabase tables."""

from __future__ import annotations

from django.core.management.base import CommandError

from common.imports.command import ImportCommand
from common.imports.files import ImportFiles
from common.imports.models import ImportKind
from people.models import User


class Command(ImportCommand):
    kind = ImportKind.CM_PATIENTS
    help = (
        "Migrate the CM patients of the old shared Supabase tables (CM document, Phase 2) from the CSV exports "
        "in DIR: patients.csv, providers.csv, cm_patients.csv, cm_points_transactions.csv and optionally "
        "contingency_management.csv. Creates canonical identities, CM profiles, CPSS providers, enrollments, "
        "ledger entries and IntakeQ links; totals come from the ledger. One transaction; a second run of the "
        "same files creates nothing. See docs/MIGRATION.md."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("directory", metavar="DIR", help="Folder holding the CSV exports.")
        parser.add_argument(
            "--program",
            metavar="NAME",
            help="The program of every old enrollment when there is no contingency_management.csv "
            "(created when missing). Default: the only active program.",
        )
        parser.add_argument(
            "--as",
            dest="as_user",
            metavar="USERNAME",
            help="Run as this staff login: only the Persons it may see are matched (default: the command "
            "line, which sees everyone).",
        )
        super().add_arguments(parser)

    def files_from(self, options) -> ImportFiles:
        return ImportFiles.from_folder(options["directory"], pattern="*.csv")

    def importer_options(self, options) -> dict:
        return {"program": options["program"]} if options.get("program") else {}

    def actor_from(self, options):
        username = options.get("as_user")
        if not username:
            return None
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"--as: no active login named {username!r}")
        return user
