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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("terms", nargs="+", help="search terms, e.g. smith jo")
    parser.add_argument("--lists", nargs="+", choices=("persons", "patients"), default=["persons", "patients"])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each EXPLAIN ANALYZE (default 3)")
    parser.add_argument("--walk", action="store_true", help="also page 1 by the order-index walk (slow at 1M)")
    parser.add_argument("--plans", action="store_true", help="print the last plan of each query")
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
            line = ", ".join(f"{label} {ms:.1f} ms" for label, ms in figures.items())
            print(f"{name} '{term}': {line}; estimate {planner_rows(queryset)}, matches {queryset.count()}")


if __name__ == "__main__":
    main()
