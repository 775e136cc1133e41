"""Benchmark: ``import_legacy_crm`` end to end — input rows per second and peak memory.

    .venv/bin/python -m bench.import_legacy --contacts 100000 --patients 60000
    .venv/bin/python -m bench.import_legacy --dir /tmp/legacy   # files made by bench.legacy_csv

Generates the files with ``bench.legacy_csv`` (unless ``--dir`` is given), creates a throw-away
database ``<name>_legacy_bench`` on the server the project uses, adds a navigator (so bookings become calls)
and runs the importer through ``common.imports.runner.execute`` exactly as the command does: once on
the empty database, then again on the same files (the idempotent second run: everything is
``unchanged``). For each run it prints the rows read, the wall time, rows per second, the SQL
statements, the growth of the process's peak RSS and the report's counts. ``--tracemalloc`` also
prints the peak of Python's own allocations (it slows Python down by about a third). Run it at two
sizes to see that memory does not grow with the input.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

from bench.harness import setup_django, throwaway_database


def _run(label: str, folder: Path, *, navigator: str, trace: bool, slowest: int, bulk_load: bool = False) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from common.imports.files import ImportFiles
    from common.imports.models import ImportKind
    from common.imports.report import ImportReport, Outcome
    from common.imports.runner import execute

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if trace:
        tracemalloc.start()
    start = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        report = execute(
            kind=ImportKind.LEGACY_CRM,
            files=ImportFiles.from_folder(folder, pattern="*.csv"),
            options={"navigator": navigator, "phone_region": "US", "as": "", "bulk_load": bulk_load},
            report=ImportReport(),
        )
    seconds = time.perf_counter() - start
    peak = f"   Python peak {tracemalloc.get_traced_memory()[1] / 2**20:6.1f} MiB" if trace else ""
    if trace:
        tracemalloc.stop()
    rss = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    rows = report.count()
    in_sql = sum(float(q["time"]) for q in queries.captured_queries)
    print(
        f"{label:<12} {rows:>9,} rows  {seconds:7.2f} s  {rows / seconds:>9,.0f} rows/s  "
        f"{len(queries):4d} statements   peak RSS +{rss:6.1f} MiB{peak}",
        flush=True,
    )
    print(f"             in SQL {in_sql:.2f} s, in Python (reading, checking, the report) {seconds - in_sql:.2f} s")
    print(
        "             " + ", ".join(f"{o} {report.count(outcome=o):,}" for o in Outcome.ALL if report.count(outcome=o))
    )
    for query in sorted(queries.captured_queries, key=lambda q: -float(q["time"]))[:slowest]:
        print(f"             {float(query['time']):7.3f} s  {_statement(query['sql'])[:150]}", flush=True)


def _statement(text: str) -> str:
    """The statement on one line, without the audit context pghistory puts in front of it."""
    text = " ".join(text.split())
    if text.startswith("SELECT set_config('pghistory.context_id'"):
        return "[audit context] " + _CONTEXT_PREFIX.sub("", text, count=1)
    return text


_CONTEXT_PREFIX = re.compile(r"^SELECT set_config\('pghistory\.context_id'.*?\); ")


def scratch_database_name(database: str) -> str:
    """``<DATABASE_URL's name>_legacy_bench``: inside the name space the database's user was given, and not
    ``<name>_bench``, which is bench.generate's default database when the project's is ``crm``."""
    return f"{database}_legacy_bench"


def _scratch_database() -> contextlib.AbstractContextManager[None]:
    """A throw-away database (created, migrated, dropped; ``bench.harness.throwaway_database``), named after the
    project's database (``scratch_database_name``)."""
    from django.conf import settings

    return throwaway_database(scratch_database_name(settings.DATABASES["default"]["NAME"]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.import_legacy",
        description="Rows per second and peak memory of import_legacy_crm on generated legacy CSVs, in a "
        "throw-away database <name>_legacy_bench: a first run and the idempotent second run.",
    )
    parser.add_argument("--contacts", type=int, default=100_000, help="contact.csv rows (default 100,000)")
    parser.add_argument("--patients", type=int, default=60_000, help="patient.csv rows (default 60,000)")
    parser.add_argument("--dir", type=Path, help="use the files in this folder instead of generating them")
    parser.add_argument("--tracemalloc", action="store_true", help="also print Python's peak allocations (slower)")
    parser.add_argument(
        "--bulk-load", action="store_true", help="the first run with --bulk-load (the idempotent second run without it)"
    )
    parser.add_argument("--slowest", type=int, default=0, metavar="N", help="also print the N slowest statements")
    args = parser.parse_args(argv)

    setup_django()
    from bench.legacy_csv import generate

    with tempfile.TemporaryDirectory() as scratch:
        folder = args.dir or Path(scratch)
        if args.dir is None:
            counts = generate(folder, contacts=args.contacts, patients=args.patients)
            print(", ".join(f"{name} {rows:,}" for name, rows in counts.items()), flush=True)
        with _scratch_database():
            from tests.factories.people import NavigatorFactory

            navigator = NavigatorFactory(email="bench.navigator@example.org")
            _run(
                "first run",
                folder,
                navigator=navigator.email,
                trace=args.tracemalloc,
                slowest=args.slowest,
                bulk_load=args.bulk_load,
            )
            _run("second run", folder, navigator=navigator.email, trace=args.tracemalloc, slowest=args.slowest)


if __name__ == "__main__":
    main()
