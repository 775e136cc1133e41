"""Benchmark: merging Persons with many linked rows, and undoing it, on a copy of a generated database.

    createdb -h 127.0.0.1 -U postgres -T crm_bench crm_dup_merge_bench     # a copy: the merge writes
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm_dup_merge_bench .venv/bin/python manage.py migrate
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm_dup_merge_bench .venv/bin/python -m bench.merge

It refuses to run on ``crm_bench`` itself (or any database whose name does not end in ``_bench``). Each case
merges, then undoes, the busiest records it finds: the navigator with the most calls (every call they made
moves), and the patient with the most calls merged into another patient's Person (a second-level merge:
the calls move to the survivor's patient). Prints rows moved, wall time and SQL statements of the merge and
of the undo; never asserts on time.
"""

from __future__ import annotations

import argparse
import time

from bench.harness import setup_django


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args(argv)
    setup_django()
    from django.conf import settings
    from django.db import connection
    from django.db.models import Count
    from django.test.utils import CaptureQueriesContext

    from common.merge.engine import describe_counts
    from patients.models import CallHistory, Patient
    from people.models import Person
    from people.services import person_merge, person_unmerge

    name = settings.DATABASES["default"]["NAME"]
    if name == "crm_bench" or not name.endswith("_bench"):
        raise SystemExit(f"refusing to write to {name!r}: run on a copy whose name ends in _bench")

    def busiest(field: str):
        row = CallHistory.all_objects.values(field).annotate(n=Count("id")).order_by("-n").first()
        return row[field], row["n"]

    navigator_id, navigator_calls = busiest("navigator_id")
    patient_id, patient_calls = busiest("patient_id")
    patient = Patient.all_objects.select_related("person").get(pk=patient_id)
    other = Patient.all_objects.exclude(pk=patient_id).select_related("person").filter(is_active=True).first()
    cases = [
        (
            "navigator with the most calls into a new person",
            Person.objects.create(first_name="Bench", last_name="Survivor"),
            Person.all_objects.get(pk=navigator_id),
            navigator_calls,
        ),
        (
            "patient with the most calls into another patient (second level)",
            other.person,
            patient.person,
            patient_calls,
        ),
    ]
    print(f"database {name}: {Person.all_objects.count():,} persons, {CallHistory.all_objects.count():,} calls")
    for label, survivor, duplicate, calls in cases:
        print(f"\n{label}: {calls:,} calls")
        with CaptureQueriesContext(connection) as merge_queries:
            start = time.perf_counter()
            log = person_merge(survivor=survivor, duplicate=duplicate, reason="bench")
            merge_time = time.perf_counter() - start
        moved = sum(log.summary.values())
        print(
            f"  merge: {merge_time * 1000:,.0f} ms, {len(merge_queries)} SQL statements, "
            f"moved {moved:,} rows ({describe_counts(log.summary)})"
        )
        with CaptureQueriesContext(connection) as undo_queries:
            start = time.perf_counter()
            person_unmerge(merge=log)
            undo_time = time.perf_counter() - start
        print(f"  undo:  {undo_time * 1000:,.0f} ms, {len(undo_queries)} SQL statements")


if __name__ == "__main__":
    main()
