"""Time the navigation report's selector in process, and EXPLAIN ANALYZE its queries.

Runs against a database filled by ``python -m bench.generate`` (or a copy of ``crm_bench``), never the
development database; it only reads. Cases: every navigator over the default period (the last 12 full weeks),
the busiest navigator alone over the same weeks, and every navigator over two years.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm_x_full .venv/bin/python -m bench.navigation_report
    ... -m bench.navigation_report --n 5 --explain     # also each query's EXPLAIN (ANALYZE, BUFFERS) time
    CRM_ROOT=/tmp/main_export ... -m bench.navigation_report   # another checkout's selector ("before" figures)

Figures: median and best wall time of ``--n`` runs, the queries of one run, and (``--explain``) the server's
execution time of each query. Say the load average next to them: the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(os.environ.get("CRM_ROOT") or Path(__file__).resolve().parent.parent)


def _setup() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm_project.settings.local")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    if "DATABASE_URL" not in os.environ:
        sys.exit("Set DATABASE_URL to a database filled by `python -m bench.generate` (or a copy of crm_bench).")
    import django

    django.setup()


def _cases():
    import datetime as dt

    from django.db.models import Count

    from patients.models import CallHistory
    from patients.reports import ReportPeriod
    from people.models import Person

    default = ReportPeriod.last_full_weeks()
    busiest = (
        CallHistory.objects.filter(call_date__gte=default.start, call_date__lt=default.end)
        .values("navigator_id")
        .annotate(n=Count("id"))
        .order_by("-n")
        .values_list("navigator_id", flat=True)
        .first()
    )
    two_years = ReportPeriod(default.last_day - dt.timedelta(days=729), default.last_day)
    cases = [("every navigator, the last 12 full weeks", default, None)]
    if busiest is not None:
        cases.append(("the busiest navigator, the last 12 full weeks", default, Person.all_objects.get(pk=busiest)))
    cases.append(("every navigator, two years", two_years, None))
    return cases


def _explain(queries: list[str]) -> list[tuple[float, str]]:
    """Each captured query's server execution time, in one transaction that first applies the report's
    transaction settings (the first query, a ``set_config``)."""
    from django.db import connection, transaction

    found = []
    with transaction.atomic(), connection.cursor() as cursor:
        for sql in queries:
            if "set_config" in sql:
                cursor.execute(sql)
                continue
            if not sql.lstrip().upper().startswith(("SELECT", "WITH")):
                continue  # BEGIN, COMMIT
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT) {sql}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
            ms = float(re.search(r"Execution Time: ([\d.]+) ms", plan).group(1))
            found.append((ms, " ".join(sql.split())[:90]))
    return found


def _count(queries: list[dict]) -> int:
    """The queries of one run, the transaction's BEGIN and COMMIT left out (as the tests count them)."""
    return sum(1 for q in queries if q["sql"].strip().upper() not in ("BEGIN", "COMMIT"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5, help="runs per case (default 5)")
    parser.add_argument("--explain", action="store_true", help="also print each query's EXPLAIN ANALYZE time")
    parser.add_argument("--filter", metavar="TEXT", help="only the cases whose label contains TEXT")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be 1 or more")
    _setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from patients.reports import navigation_report

    print(f"database {connection.settings_dict['NAME']}, code {ROOT}, load average {os.getloadavg()}")
    for label, period, navigator in _cases():
        if args.filter and args.filter not in label:
            continue
        times = []
        for _ in range(args.n):
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                navigation_report(period=period, navigator=navigator)
                times.append(time.perf_counter() - started)
        print(
            f"{label} ({period.first_day} to {period.last_day}): median {statistics.median(times) * 1000:.0f} ms, "
            f"best {min(times) * 1000:.0f} ms, {_count(captured.captured_queries)} queries"
        )
        if args.explain:
            for ms, sql in _explain([q["sql"] for q in captured.captured_queries]):
                print(f"    {ms:9.1f} ms  {sql}")
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
