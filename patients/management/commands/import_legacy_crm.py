"""import_legacy_crm DIR: the legacy CRM's CSV exports into the new model (docs/MIGRATION.md, section 1)."""

from __future__ import annotations

from common.imports.command import ImportCommand
from common.imports.files import ImportFiles
from common.imports.models import ImportKind


class Command(ImportCommand):
    kind = ImportKind.LEGACY_CRM
    help = (
        "Import the legacy CRM's CSV exports from DIR: medical_condition.csv, contact.csv, patient.csv and "
        "(optionally) eap_dossier.csv. One Person per human (normalised email across both files), leads, "
        "physicians, patients, bookings as calls, CT and EAP journeys. Idempotent (a second run creates "
        "nothing); every input row is accounted for in the printed report. See docs/MIGRATION.md."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("folder", metavar="DIR", help="The folder holding the CSV files.")
        parser.add_argument(
            "--navigator",
            metavar="EMAIL",
            help="The patient navigator the imported bookings (calls) are logged for. Without it, the bookings "
            "of contacts who are patients are reported and not imported.",
        )
        parser.add_argument(
            "--phone-region",
            metavar="CC",
            help="Region for phone numbers without a country code (default: the PHONE_DEFAULT_REGION setting).",
        )
        parser.add_argument(
            "--as",
            dest="as_user",
            metavar="USERNAME",
            help="Match Persons within this user's program only (default: everyone, as a superuser); others are "
            "reported as 'matches a record you cannot see'.",
        )
        parser.add_argument(
            "--bulk-load",
            action="store_true",
            help="First migration into an (almost) empty CRM: drop the secondary indexes and the foreign keys "
            "between the tables it fills, insert, then rebuild the indexes in one pass each and check the keys "
            "set-wise. Locks persons, patients, leads, physicians, calls and journeys until the import ends; "
            "refused when those tables already hold more rows than the files. See docs/MIGRATION.md.",
        )
        parser.add_argument(
            "--force-bulk-load",
            action="store_true",
            help="--bulk-load even where the tables already hold more rows than the files (nobody may use the "
            "CRM meanwhile).",
        )
        super().add_arguments(parser)

    def files_from(self, options) -> ImportFiles:
        return ImportFiles.from_folder(options["folder"], pattern="*.csv")

    def importer_options(self, options) -> dict:
        return {
            "navigator": options["navigator"] or "",
            "phone_region": options["phone_region"] or "",
            "as": options["as_user"] or "",
            "bulk_load": options["bulk_load"],
            "force_bulk_load": options["force_bulk_load"],
        }
