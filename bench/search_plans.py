"""EXPLAIN ANALYZE of a searched list's queries: the capped count, page 1 with the matches sorted, and page 1 by
the order-index walk, plus the planner's estimate of the matches (docs/PERFORMANCE.md, "Search", "Round 3").

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<a bench.generate database> \\
        .venv/bin/python bench/search_plans.py smith jo --lists persons patients

Each figure is the best of --repeat runs of ``EXPLAIN (ANALYZE, BUFFERS)``, in milliseconds of execution. The
queries are built by ``common.search`` exactly as the persons list (``Person.objects``) and the patients list
(``Patient.objects.select_related("person")``) build them. ``CRM_ROOT=<an export of main>`` measures that
checkout's code instead (the "before" figures). It only reads.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

# CRM_ROOT: measure another checkout (e.g. an export of main, for "before" figures).
ROOT = Path(os.environ.get("CRM_ROOT") or Path(__file__).resolve().parent.parent)
FIELDS = ("first_name", "last_name", "email", "phone")


def _setup() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm_project.settings.local")
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    if "DATABASE_URL" not in os.environ:
        sys.exit("Set DATABASE_URL to a database filled by `python -m bench.generate`.")
    import django

    django.setup()


def _best_ms(queryset, repeat: int, show: bool) -> float:
    from django.db import connection

    sql, params = queryset.query.sql_with_params()
    best, plan = None, ""
    with connection.cursor() as cursor:
        for _ in range(repeat):
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            ms = float(re.search(r"Execution Time: ([\d.]+)", plan).group(1))
            best = ms if best is None else min(best, ms)
    if show:
        print(plan)
    return best


def _table_figures(queryset, repeat: int, show: bool) -> dict[str, float]:
    """page 1 of 50 read through person_search: the first batch of candidates (EXPLAIN ANALYZE, as page_rows
    asks for it), and the whole page_rows call (wall ms, best of ``repeat``; its SQL queries printed)."""
    import time

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from people import search_table

    plan = search_table.eligible(queryset)
    if plan is None:
        return {}
    candidates = search_table._Candidates(plan[1], queryset.db)
    with CaptureQueriesContext(connection) as captured:
        candidates.next(2 * 50 + search_table.FIRST_BATCH_EXTRA)
    best_sql = None
    with connection.cursor() as cursor:
        for _ in range(repeat):
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + captured.captured_queries[-1]["sql"])
            text = "\n".join(row[0] for row in cursor.fetchall())
            ms = float(re.search(r"Execution Time: ([\d.]+)", text).group(1))
            best_sql = ms if best_sql is None else min(best_sql, ms)
    if show:
        print(text)
    best_wall, queries = None, 0
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            rows = search_table.page_rows(queryset, 0, 50)
            wall = (time.perf_counter() - started) * 1000
        assert rows is not None
        queries = len(captured.captured_queries)
        best_wall = wall if best_wall is None else min(best_wall, wall)
    return {"table candidates": best_sql, f"table page ({queries} q, wall)": best_wall}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("terms", nargs="+", help="search terms, e.g. smith jo")
    parser.add_argument("--lists", nargs="+", choices=("persons", "patients"), default=["persons", "patients"])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each EXPLAIN ANALYZE (default 3)")
    parser.add_argument("--walk", action="store_true", help="also page 1 by the order-index walk (slow at 1M)")
    parser.add_argument("--plans", action="store_true", help="print the last plan of each query")
    parser.add_argument(
        "--table",
        action="store_true",
        help="also page 1 through person_search (people.search_table.page_rows): EXPLAIN ANALYZE of its first "
        "batch of candidates, and the wall time and queries of the whole page (keys, check, rows)",
    )
    args = parser.parse_args(argv)
    _setup()
    from common.search import planner_rows, search, sort_matches
    from patients.models import Patient
    from people.models import Person

    for name in args.lists:
        for term in args.terms:
            if name == "persons":
                queryset = search(Person.objects.all(), FIELDS, term).order_by("last_name", "first_name", "id")
            else:
                queryset = search(
                    Patient.objects.select_related("person"), [f"person__{f}" for f in FIELDS], term
                ).order_by("person__last_name", "person__first_name", "id")
            figures = {
                "count<=1001": _best_ms(queryset.order_by().values("pk")[:1001], args.repeat, args.plans),
                "sorted page": _best_ms(sort_matches(queryset)[:50], args.repeat, args.plans),
            }
            if args.walk:
                figures["walked page"] = _best_ms(queryset[:50], args.repeat, args.plans)
            if args.table:
                figures.update(_table_figures(queryset, args.repeat, args.plans))
            line = ", ".join(f"{label} {ms:.1f} ms" for label, ms in figures.items())
            print(f"{name} '{term}': {line}; estimate {planner_rows(queryset)}, matches {queryset.count()}")


if __name__ == "__main__":
    main()
