"""backup_check: prove that a backup of the database restores (see common/backup.py)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from common.backup import BackupCheckError, backup_check


class Command(BaseCommand):
    help = (
        "Dump the database with the pg_dump of the server's own major version, restore the dump into a new "
        "database on the same server with the matching pg_restore, and compare the row count of every "
        "table (counted in the dump's own snapshot) and the CM points ledger against the enrollment "
        "totals in the restored copy. The copy is dropped afterwards. Exits with status 1 when anything "
        "differs or the check cannot run. With --output, keeps the verified dump (pg_dump custom format). "
        "See docs/OPERATIONS.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("--output", type=Path, metavar="FILE", help="keep the verified dump in FILE")
        parser.add_argument(
            "--keep-restored", action="store_true", help="keep the restored database (its name is printed)"
        )
        parser.add_argument(
            "--pg-bin-dir",
            type=Path,
            action="append",
            default=[],
            metavar="DIR",
            help="a directory holding pg_dump and pg_restore to try first (repeatable; also $PG_BIN_DIR)",
        )
        parser.add_argument("--database", default="default", help="the Django database alias (default: default)")

    def handle(self, *args, **options):
        try:
            report = backup_check(
                using=options["database"],
                output=options["output"],
                keep_restored=options["keep_restored"],
                tools_dirs=options["pg_bin_dir"],
            )
        except BackupCheckError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"PostgreSQL {report.server_version}; pg_dump and pg_restore from {report.tools_dir}; "
            f"dump of {report.dump_bytes} bytes" + (f" kept in {report.dump_path}" if report.dump_path else "")
        )
        restored = "kept" if report.restored_kept else "dropped"
        self.stdout.write(f"Restored into {report.restored_database} ({restored} afterwards).")
        for line in report.count_mismatches:
            self.stdout.write(f"  row count differs: {line}")
        for line in report.ledger_discrepancies:
            self.stdout.write(f"  ledger disagrees in the restored copy: {line}")
        rows = sum(report.source_counts.values())
        if not report.ok:
            raise CommandError(
                f"The restored copy differs: {len(report.count_mismatches)} table(s) with other row counts, "
                f"{len(report.ledger_discrepancies)} enrollment(s) disagreeing with their ledger."
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Restore verified: {len(report.source_counts)} tables, {rows} rows, equal row counts; "
                f"{report.enrollments_checked} enrollments agree with their points ledger."
            )
        )
