"""Benchmark: bulk writes with the audit trail on (statement-level history triggers).

    .venv/bin/python -m bench.bulk_audit --persons 50000 --calls 50000
    .venv/bin/python -m bench.bulk_audit --persons 20000 --modes statement    # skip the slow row-level run

Each write runs in one transaction inside an audit context (``channel=bench``), the way an importer
or a command does, and is rolled back afterwards, so every mode starts from the same tables:

* insert N persons (``bulk_create``), update the same N persons (one ``QuerySet.update()``),
  insert N calls (``bulk_create``) spread over a few patients, and delete the N persons;
* in three modes: ``none`` (the history triggers of the written tables disabled: the floor),
  ``row`` (pghistory's row-level triggers put back for the run: how the trail was written before
  issue 10) and ``statement`` (the triggers the migrations install now).

It prints rows/s per write and mode, and checks the trail of each audited run: one event per row,
each with the row's values and the run's context. Figures go to docs/PERFORMANCE.md, section
"Audited bulk writes". The data lives in a throw-away database (``bench_<name>``; bench/harness.py).
"""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from bench.harness import bench_database, setup_django

MODES = ("none", "row", "statement")


class _Rollback(Exception):
    pass


def history_triggers(model) -> list:
    """The pghistory triggers installed on ``model``'s table."""
    import pgtrigger
    from pghistory.trigger import Event

    return [trigger for m, trigger in pgtrigger.registry.registered() if m is model and isinstance(trigger, Event)]


@contextmanager
def trigger_mode(mode: str, models: list) -> Iterator[None]:
    """Inside the current transaction: the history triggers of ``models`` as ``mode`` says (the DDL is
    rolled back with the transaction)."""
    import pgtrigger
    from django.db import connection

    if mode == "statement":
        yield
        return
    for model in models:
        for trigger in history_triggers(model):
            if mode == "none":
                with connection.cursor() as cursor:
                    cursor.execute(f'ALTER TABLE "{model._meta.db_table}" DISABLE TRIGGER "{trigger.get_pgid(model)}"')
            else:  # row: the same event, condition and context, one trigger call per row
                row = copy.copy(trigger)
                row.level = pgtrigger.Row
                row.referencing = None
                trigger.uninstall(model)
                row.install(model)
    yield


def timed(label: str, rows: int, fn: Callable[[], object], results: dict) -> None:
    start = time.perf_counter()
    fn()
    seconds = time.perf_counter() - start
    results[label] = rows / seconds if seconds else float("inf")
    print(f"    {label:<28} {rows:>8,} rows in {seconds:7.2f} s   {results[label]:>10,.0f} rows/s", flush=True)


def run_mode(mode: str, persons: int, calls: int, batch: int, fixtures: dict) -> dict:
    import pghistory
    from django.db import transaction
    from django.db.models import Value
    from django.db.models.functions import Concat

    from patients.models import CallHistory
    from people.models import Person

    results: dict[str, float] = {}
    check: dict[str, object] = {}
    print(f"  mode {mode}:", flush=True)
    try:
        with (
            transaction.atomic(),
            pghistory.context(channel="bench", script="bench.bulk_audit"),
            trigger_mode(mode, [Person, CallHistory]),
        ):
            new = [
                Person(first_name=f"Bulk{i}", last_name=f"Audit{i:07d}", email=f"bulk{i}@bench.test")
                for i in range(persons)
            ]
            timed("insert persons", persons, lambda: Person.objects.bulk_create(new, batch_size=batch), results)
            ids = [p.pk for p in new]
            timed(
                "update persons (one UPDATE)",
                persons,
                lambda: Person.objects.filter(pk__in=ids).update(last_name=Concat("last_name", Value("-x"))),
                results,
            )
            patients = fixtures["patients"]
            navigator = fixtures["navigator"]
            new_calls = [
                CallHistory(
                    patient_id=patients[i % len(patients)],
                    navigator_id=navigator,
                    direction="outbound",
                    outcome="reached",
                    notes=f"bulk {i}",
                )
                for i in range(calls)
            ]
            timed("insert calls", calls, lambda: CallHistory.objects.bulk_create(new_calls, batch_size=batch), results)
            delete = Person.objects.filter(pk__in=ids).delete
            timed("delete persons (one DELETE)", persons, delete, results)
            if mode != "none":
                check = check_trail(ids, new_calls)
            raise _Rollback
    except _Rollback:
        pass
    if check:
        print(
            "    trail: {inserts:,} insert / {updates:,} update / {deletes:,} delete events for {persons:,} "
            "persons, {call_events:,} for {calls:,} calls; values match: {values_ok}; "
            "context on every event: {context_ok}".format(persons=persons, calls=calls, **check),
            flush=True,
        )
    return results


def check_trail(person_ids: list, calls: list) -> dict:
    """Count the events the run wrote and compare a sample of their values with the rows."""
    from django.db.models import Count, Q

    from patients.models import CallHistory
    from people.models import Person

    person_events = Person.pgh_event_models["insert"]
    call_events = CallHistory.pgh_event_models["insert"]
    counts = person_events.objects.filter(pgh_obj_id__in=person_ids).aggregate(
        inserts=Count("pk", filter=Q(pgh_label="insert")),
        updates=Count("pk", filter=Q(pgh_label="update")),
        deletes=Count("pk", filter=Q(pgh_label="delete")),
        without_context=Count("pk", filter=Q(pgh_context__isnull=True)),
    )
    sample = person_events.objects.filter(pgh_obj_id__in=person_ids[:100], pgh_label="update")
    values_ok = all(e.last_name == f"Audit{int(e.first_name[4:]):07d}-x" for e in sample) and sample.count() == min(
        100, len(person_ids)
    )
    call_ids = [c.pk for c in calls]
    call_count = call_events.objects.filter(pgh_obj_id__in=call_ids, pgh_label="insert").count()
    calls_without_context = call_events.objects.filter(pgh_obj_id__in=call_ids, pgh_context__isnull=True).count()
    return {
        "inserts": counts["inserts"],
        "updates": counts["updates"],
        "deletes": counts["deletes"],
        "call_events": call_count,
        "values_ok": values_ok,
        "context_ok": counts["without_context"] == 0 and calls_without_context == 0,
    }


def build_fixtures() -> dict:
    from patients.models import Patient
    from people.models import Person

    navigator = Person.objects.create(first_name="Nadia", last_name="Navigator", email="nav@bench.test")
    people = Person.objects.bulk_create(
        Person(first_name=f"Pat{i}", last_name="Fixture", email=f"pat{i}@bench.test") for i in range(100)
    )
    patients = Patient.objects.bulk_create(Patient(person=p, navigator=navigator) for p in people)
    return {"navigator": navigator.pk, "patients": [p.pk for p in patients]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bulk_audit",
        description=__doc__.split("\n\n")[0] + " Prints rows/s per write with the history triggers "
        "disabled, row-level (as before) and statement-level (now), in one transaction each, rolled back.",
    )
    parser.add_argument("--persons", type=int, default=50_000, help="persons inserted, updated, deleted (50,000)")
    parser.add_argument("--calls", type=int, default=50_000, help="calls inserted (50,000)")
    parser.add_argument("--batch-size", type=int, default=5_000, help="rows per INSERT statement (5,000)")
    parser.add_argument(
        "--modes",
        default=",".join(MODES),
        help="comma-separated, from none,row,statement (all three; row-level is the slow one)",
    )
    args = parser.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        parser.error(f"--modes: unknown mode(s) {', '.join(unknown)}; choose from {', '.join(MODES)}")

    setup_django()
    with bench_database():
        fixtures = build_fixtures()
        print(f"bulk writes, {args.persons:,} persons and {args.calls:,} calls, {args.batch_size:,} rows per INSERT")
        table = {mode: run_mode(mode, args.persons, args.calls, args.batch_size, fixtures) for mode in modes}
    labels = list(next(iter(table.values())))
    print("\n| write | " + " | ".join(f"{m} (rows/s)" for m in modes) + " |")
    print("| --- | " + " | ".join("---:" for _ in modes) + " |")
    for label in labels:
        print(f"| {label} | " + " | ".join(f"{table[m][label]:,.0f}" for m in modes) + " |")


if __name__ == "__main__":
    main()
