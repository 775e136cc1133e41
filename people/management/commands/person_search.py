"""person_search: compare the narrow search table with person; rebuild it in name order."""

from __future__ import annotations

import time

from django.core.management.base import CommandError

from common.management.base import AuditedCommand
from people.search_table import mismatches, rebuild


class Command(AuditedCommand):
    help = (
        "Check that person_search (one row per person: its name and search keys, which triggers on person keep; "
        "docs/PERFORMANCE.md, 'Search', 'Round 4') equals what person says. Prints the rows that disagree and "
        "exits with status 1 when any do. With --repair, rebuilds the table from person when they disagree; with "
        "--rebuild, rebuilds it anyway, which also puts its rows back in name order (rows written since the last "
        "rebuild sit at its end: a search reads more pages). Either rebuild is one transaction that makes writers "
        "of person wait (about a minute at 1M persons)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--repair", action="store_true", help="Rebuild the table if it disagrees with person.")
        parser.add_argument("--rebuild", action="store_true", help="Rebuild the table (in name order) in any case.")

    def handle(self, *args, **options):
        started = time.monotonic()
        stored_only, fresh_only = mismatches()
        seconds = time.monotonic() - started
        agree = not stored_only and not fresh_only
        if agree:
            self.stdout.write(self.style.SUCCESS(f"person_search agrees with person (checked in {seconds:.1f} s)."))
        else:
            self.stdout.write(
                f"person_search: {stored_only} rows stored that person does not have, "
                f"{fresh_only} rows of person missing or different"
            )
        if agree and not options["rebuild"]:
            return
        if not agree and not (options["repair"] or options["rebuild"]):
            raise CommandError("person_search disagrees with person. Run with --repair to rebuild it.")
        started = time.monotonic()
        written = rebuild()
        if mismatches() != (0, 0):
            raise CommandError("person_search still disagrees with person after the rebuild.")
        self.stdout.write(
            self.style.SUCCESS(
                f"Rebuilt person_search: {written} rows in name order in {time.monotonic() - started:.1f} s."
            )
        )
