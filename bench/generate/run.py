"""Fill the connected database: every table in foreign-key order, through the ``Loader``."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import TextIO

from django.contrib.auth.hashers import make_password
from django.db import connection

from bench.generate import cm, indexes, journeys, navigation
from bench.generate.loader import Loader, TableStats, event_model
from bench.generate.plan import Plan
from bench.generate.sizes import Sizes

BENCH_PASSWORD = "bench-pass-2026"


def _read_lookups(plan: Plan) -> dict[str, str]:
    """Ids of what the migrations ship; returns the existing medical conditions (lower name -> id)."""
    from django.contrib.auth.models import Group

    from patients.models import MedicalCondition
    from people.models import ContactType

    plan.lookups.contact_types = {code: str(pk) for code, pk in ContactType.objects.values_list("code", "id")}
    plan.lookups.groups = dict(Group.objects.values_list("name", "id"))
    existing = {}
    for pk, name in MedicalCondition.all_objects.order_by("created_at", "name").values_list("id", "name"):
        existing[name.lower()] = str(pk)
        plan.lookups.conditions.append(str(pk))
    return existing


def tables(plan: Plan, existing_conditions: dict[str, str], password_hash: str) -> list[Callable[[], navigation.Table]]:
    """The tables in the order their foreign keys need (the keys are dropped during the load and
    checked when re-created, so only the ledger / enrollments order differs, for a reason given there)."""
    return [
        lambda: navigation.medical_conditions(plan, existing_conditions),
        lambda: navigation.specializations(plan),
        lambda: navigation.hospitals(plan),
        lambda: navigation.users(plan, password_hash),
        lambda: navigation.user_groups(plan),
        lambda: navigation.persons(plan),
        lambda: navigation.role_periods(plan),
        lambda: navigation.physicians(plan),
        lambda: navigation.patients(plan),
        lambda: navigation.leads(plan),
        lambda: navigation.relationships(plan),
        lambda: navigation.calls(plan),
        lambda: journeys.ct_journeys(plan),
        lambda: journeys.eap_journeys(plan),
        lambda: journeys.status_changes(plan),
        lambda: cm.programs(plan),
        lambda: cm.providers(plan),
        lambda: cm.canonical_patients(plan),
        lambda: cm.intakeq_patients(plan),
        lambda: cm.intakeq_links(plan),
        lambda: cm.cm_profiles(plan),
        lambda: cm.ledger(plan),  # first: it records the totals the enrollments cache
        lambda: cm.enrollments(plan),
        lambda: cm.status_changes(plan),
    ]


def tracked_models() -> list:
    from django.apps import apps

    return [m for m in apps.get_models() if event_model(m) is not None]


def generate(
    *,
    sizes: Sizes,
    seed: int = 1,
    as_of: dt.date | None = None,
    stream: TextIO | None = None,
    show_progress: bool = True,
    batch_rows: int | None = None,
    password_hash: str | None = None,
) -> list[TableStats]:
    """Generate the data set into Django's default database (which must hold no generated data yet).

    Each batch is committed on its own (in autocommit mode); inside an enclosing ``atomic`` block,
    as in the tests, everything stays in that transaction.
    """
    plan = Plan(sizes=sizes, seed=seed, as_of=as_of or dt.date.today())
    kwargs = {"batch_rows": batch_rows} if batch_rows else {}
    loader = Loader(context_id=plan.context_id, seed=seed, stream=stream, show_progress=show_progress, **kwargs)
    existing = _read_lookups(plan)
    # A fixed salt, so that the same seed gives the same rows (this is a benchmark login, not a secret).
    password_hash = password_hash or make_password(BENCH_PASSWORD, salt=f"benchgenerate{seed}")
    # Made in order (later tables read lookups that earlier ones fill in); their rows are made lazily.
    made = [make() for make in tables(plan, existing, password_hash)]
    loaded = {table_name(t.model): t for t in made}
    with_events = {name: events._meta.db_table for name, t in loaded.items() if (events := _events_of(t.model))}
    affected = [*loaded, *with_events.values()]
    before = indexes.snapshot(affected)
    definitions = indexes.capture(affected)
    indexes.drop(definitions)
    loader.write_context()
    loader.disable_history_triggers(tracked_models())
    # The reports' rollup triggers too: each COPY batch would re-read the ledger for reversals (its indexes
    # are dropped meanwhile) and replay calls; both rollups are rebuilt in one set-based pass at the end instead.
    from cm_program import report_facts, report_rollup
    from people import search_table

    # And person_search's (people/search_table.py): filled once, in name order, after the load (``rebuild``).
    rollup_triggers = (
        *report_rollup.TRIGGER_NAMES,
        *report_facts.TRIGGER_NAMES,
        *NAVIGATION_ROLLUP_TRIGGERS,
        *OPEN_JOURNEYS_TRIGGERS,
        *search_table.TRIGGERS,
    )
    _switch_triggers(rollup_triggers, "DISABLE")
    try:
        for table in made:
            loader.load(table.model, table.columns, table.rows, total=table.total, label=table.label)
    finally:
        loader.enable_history_triggers()
        _switch_triggers(rollup_triggers, "ENABLE")
    # The patients' maintained follow-up columns, as every path that writes calls must keep them: one
    # set-based pass over the calls (before the indexes come back, so it does not maintain them row by row).
    from patients.follow_up import refresh_follow_up

    if stream is not None and show_progress:
        stream.write("filling the patients' follow-up dates from their calls ...\n")
        stream.flush()
    refresh_follow_up()
    # The navigation report's summary tables (patients/report_rollups.py): their triggers were off during the
    # load (each batch of calls would recompute its patients' spans); one set-based rebuild instead.
    from patients.report_rollups import rebuild_report_rollups

    if stream is not None and show_progress:
        stream.write("filling the navigation report's summary tables ...\n")
        stream.flush()
    rebuild_report_rollups()
    # patient.open_journeys (journeys/open_journeys.py): its triggers were off during the load too; one pass.
    from journeys.open_journeys import repair_open_journeys

    repair_open_journeys()
    if stream is not None and show_progress:
        stream.write("re-creating indexes, keys and foreign keys ...\n")
        stream.flush()
    seconds = indexes.recreate(definitions)
    indexes.check_unchanged(before, affected)
    # The CM report's weekly rollup of the ledger and its per-enrollment facts, as their triggers would have kept
    # them (check_cm_report_rollups).
    if stream is not None and show_progress:
        stream.write("rolling the points ledger up by week for the CM report ...\n")
        stream.flush()
    report_rollup.rebuild_cm_report_rollups()
    # The name search's narrow table, filled in the lists' name order (its triggers were off during the load).
    if stream is not None and show_progress:
        stream.write("filling person_search in name order ...\n")
        stream.flush()
    search_table.rebuild()
    for stats in loader.stats:
        stats.index_seconds = seconds.get(stats.table, 0.0) + seconds.get(with_events.get(stats.table, ""), 0.0)
    foreign_keys = TableStats("foreign keys (all)")
    foreign_keys.index_seconds = seconds["foreign keys"]
    return [*loader.stats, foreign_keys]


# The triggers that keep the navigation report's summary tables (patients/migrations/0011_navigation_report_rollups),
# as (trigger, table) like ``cm_program.report_rollup.TRIGGER_NAMES``.
OPEN_JOURNEYS_TRIGGERS = tuple(
    (f"{table}_open_journeys_{op}", table)
    for table in ("clinical_trial_journey", "eap_journey")
    for op in ("insert", "update", "delete", "truncate")
)
NAVIGATION_ROLLUP_TRIGGERS = (
    ("call_history_report_rollups_insert", "call_history"),
    ("call_history_report_rollups_update", "call_history"),
    ("call_history_report_rollups_delete", "call_history"),
    ("patient_report_rollups_update", "patient"),
    # The cohort tables' (0015): on leads, journeys, journey steps and patients.
    *(
        (f"{table}_report_cohorts_{op}", table)
        for table in ("patient_lead", "clinical_trial_journey", "eap_journey", "journey_status_change")
        for op in ("insert", "update", "delete")
    ),
    ("patient_report_cohorts_update", "patient"),
)


def _switch_triggers(triggers, action: str) -> None:
    with connection.cursor() as cursor:
        for trigger, table in triggers:
            cursor.execute(f'ALTER TABLE "{table}" {action} TRIGGER "{trigger}"')


def table_name(model) -> str:
    return model if isinstance(model, str) else model._meta.db_table


def _events_of(model):
    return None if isinstance(model, str) else event_model(model)


def analyze(stream: TextIO) -> float:
    """``VACUUM (ANALYZE)``: planner statistics, and the visibility map that a production database's
    autovacuum keeps set — without it every index-only scan of the freshly loaded tables fetches heap
    pages and the benchmarks would measure a state no running system is in."""
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
    return time.perf_counter() - started


def report(stats: list[TableStats], *, total_seconds: float, extra: dict[str, float], stream: TextIO) -> None:
    """Rows, events, seconds and rows per second of each table, then the totals and the database size."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_database_size(current_database()), pg_size_pretty(pg_database_size(current_database()))"
        )
        size_bytes, size = cursor.fetchone()
    width = max(len(s.table) for s in stats) if stats else 10
    header = f"{'table':<{width}}  {'rows':>11}  {'audit events':>12}  {'load s':>7}  {'rows/s':>8}  {'index s':>7}"
    stream.write("\n" + header + "\n")
    for s in stats:
        stream.write(
            f"{s.table:<{width}}  {s.rows:>11,}  {s.events:>12,}  {s.seconds:>7.1f}  {s.rows_per_second:>8,.0f}"
            f"  {s.index_seconds:>7.1f}\n"
        )
    rows = sum(s.rows for s in stats)
    events = sum(s.events for s in stats)
    load = sum(s.seconds for s in stats)
    rebuild = sum(s.index_seconds for s in stats)
    rate = (rows + events) / load if load else 0
    stream.write(f"{'all tables':<{width}}  {rows:>11,}  {events:>12,}  {load:>7.1f}  {rate:>8,.0f}  {rebuild:>7.1f}\n")
    for label, seconds in extra.items():
        stream.write(f"{label}: {seconds:.1f} s\n")
    stream.write(
        f"\nTotal {total_seconds / 60:.1f} min ({total_seconds:.0f} s); database size {size} ({size_bytes:,} bytes).\n"
    )
