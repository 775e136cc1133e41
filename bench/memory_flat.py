"""Benchmark: peak memory of the ledger check and the caseload CSV exports at several table sizes.

    .venv/bin/python -m bench.generate --persons 10000 --cm-identities 5000 --ledger 100000 --database crm_mem_small
    .venv/bin/python -m bench.generate --persons 120000 --patients 100000 --cm-identities 50000 \\
        --ledger 1000000 --database crm_mem_large
    .venv/bin/python -m bench.memory_flat crm_mem_small crm_mem_large

For each database made by ``bench.generate`` (on the server ``DATABASE_URL`` names, or the embedded
one), it prints the table sizes and, for each job, the peak Python memory (tracemalloc), the growth of
the process's peak RSS (ru_maxrss) and the wall time:

* ``cm_check_ledger`` (SQL in keyset batches) and, for comparison, the check as it was before issue 10
  (both tables loaded and replayed in Python);
* the navigators' and the CPSS caseload CSVs, read to the last byte (streamed), with their query count.

Read-only, apart from one superuser ``bench_memory`` and the PHI access-log entries of the exports.
Each database is measured in a process of its own (so ru_maxrss starts afresh).
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable

from bench.harness import ROOT, setup_django


def legacy_ledger_check() -> int:
    """The check before issue 10: every enrollment and every ledger row in memory, replayed in Python."""
    from cm_program.models import CMEnrollment, CMPointsTransaction
    from cm_program.selectors import streak_from_ledger

    enrollments = list(CMEnrollment.objects.select_related("canonical_patient", "cm_program").order_by("pk"))
    rows: dict = {e.pk: [] for e in enrollments}
    ledger = CMPointsTransaction.objects.only("id", "enrollment_id", "sequence", "event_type", "points", "reverses_id")
    for entry in ledger.order_by("enrollment_id", "sequence"):
        rows[entry.enrollment_id].append(entry)
    found = 0
    for enrollment in enrollments:
        entries = rows[enrollment.pk]
        if (sum(e.points for e in entries), streak_from_ledger(entries)) != (
            enrollment.total_points,
            enrollment.current_streak,
        ):
            found += 1
    return found


def measure(label: str, fn: Callable[[], object]) -> None:
    from django.db import connection, reset_queries

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    connection.force_debug_cursor = True
    reset_queries()
    tracemalloc.start()
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    queries = len(connection.queries)
    connection.force_debug_cursor = False
    rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    print(
        f"  {label:<44} peak {peak / 2**20:8.1f} MiB   RSS +{rss_growth / 1024:7.1f} MiB   "
        f"{seconds * 1000:9.0f} ms   {queries:3d} queries   {result}",
        flush=True,
    )


def streamed_csv(view) -> Callable[[], str]:
    def run() -> str:
        from django.contrib.auth import get_user_model
        from django.test import RequestFactory

        user, _ = get_user_model().objects.get_or_create(
            username="bench_memory", defaults={"is_superuser": True, "is_staff": True}
        )
        request = RequestFactory().get("/admin/bench-memory.csv")
        request.user = user
        response = view(None, request)
        size = lines = 0
        for chunk in response.streaming_content:
            size += len(chunk)
            lines += chunk.count(b"\n")
        return f"{lines - 1:,} rows, {size / 1024:,.0f} KiB"

    return run


def measure_database(name: str) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "crm_project.settings.local"
    setup_django()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    settings.DATABASES["default"]["NAME"] = name
    connection.settings_dict["NAME"] = name
    from cm_program.admin_views import caseloads_csv
    from patients.admin_views import caseload_csv_view

    with connection.cursor() as cursor:
        sizes = {}
        for table in ("cm_enrollments", "cm_points_transactions", "person", "patient", "providers_cm"):
            cursor.execute(f"SELECT COUNT(*) FROM {table}")
            sizes[table] = cursor.fetchone()[0]
    print(f"{name}: " + ", ".join(f"{table} {count:,}" for table, count in sizes.items()), flush=True)

    def check_ledger() -> str:
        out = io.StringIO()
        try:
            call_command("cm_check_ledger", stdout=out)
        except Exception as exc:  # a disagreement is reported as a CommandError: still a finished check
            return f"{type(exc).__name__}: {str(exc)[:60]}"
        return out.getvalue().strip()[:60]

    measure("cm_check_ledger (SQL, keyset batches)", check_ledger)
    measure("navigator caseloads CSV (streamed)", streamed_csv(caseload_csv_view))
    measure("CPSS caseloads CSV (streamed)", streamed_csv(caseloads_csv))
    # Last: its peak RSS would hide the others' (ru_maxrss only grows).
    measure("ledger check as before (all in memory)", lambda: f"{legacy_ledger_check()} discrepancies")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.memory_flat",
        description="Peak memory of cm_check_ledger and the caseload CSV exports on databases of different "
        "sizes made by bench.generate (see the module docstring for the commands that make them).",
    )
    parser.add_argument("databases", nargs="+", metavar="DATABASE", help="databases made by bench.generate")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # internal: measure in this process
    args = parser.parse_args(argv)
    if args.one:
        measure_database(args.databases[0])
        return
    for name in args.databases:
        subprocess.run([sys.executable, "-m", "bench.memory_flat", "--one", name], cwd=ROOT, check=True)


if __name__ == "__main__":
    main()
