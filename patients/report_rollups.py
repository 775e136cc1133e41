"""The navigation report's summary tables (docs/REPORTS.md, "Navigation report", "Summary tables").

Six tables, kept exact by PostgreSQL itself: statement-level triggers on ``call_history`` (insert,
update, delete, truncate) and on ``patient`` (update) with transition tables, so every path that writes
calls or patients — the services, the admin, the API, the importers, merges, bulk ``QuerySet.update()``,
raw SQL — keeps them right, one statement at a time (a bulk statement costs one set-based pass, not a
trigger call per row). The migration ``patients/0011_navigation_report_rollups`` defines them, the
triggers and the from-scratch computations (the ``*_fresh`` views, ``report_rollups_rebuild``).

* ``call_day_rollup`` and ``call_week_rollup``: the non-void calls per local day
  (``report_rollup_time_zone()``), or ISO week, and navigator (``pn_id``): count, outbound, reached
  outbound, timed calls, summed minutes and one count per outcome. A report reads the weeks that lie whole
  in its period from the week table (a row per navigator and week instead of ~200 calls) and the days of
  a cut first or last week from the day table.
* ``follow_up_overdue_span``: per patient, the local days ``[from_day, to_day]`` (``to_day`` NULL: open)
  on whose evening the patient's latest non-void call made by then has a reminder on or before that day —
  the replay of the report's definition, once, when the patient's calls change.
* ``follow_up_overdue_delta``, ``_week_delta``, ``_block_delta``: those spans of the patients who count
  (active, not deleted, with a navigator), as +1 on ``from_day`` and -1 on ``to_day + 1``, per navigator
  and day, ISO week and block of 16 weeks. The overdue follow-ups of a navigator at the end of day D are
  the sum of their changes up to D: the blocks before the first week's block, then weeks, then the days
  of a cut last week — a few dozen rows per navigator whatever the number of calls. A patient who changes
  navigator or stops counting moves their spans' changes (the ``patient`` trigger), so "the navigator
  now" holds.

The days are local days of the time zone the tables were last rebuilt in. When ``settings.TIME_ZONE``
differs (it was changed after the migration), the report computes its figures from the calls instead
(slow but right) and ``check_report_rollups`` says so; ``check_report_rollups --repair`` rebuilds the
tables in the current time zone.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from patients.models import CallOutcome

# The counts of the call rollups, per day or week and navigator. The triggers add and subtract, so rows that
# fell back to zero may stay: they count for nothing (the checks leave them out).
COUNTS = (
    "calls",
    "outbound_calls",
    "reached_outbound_calls",
    "timed_calls",
    "minutes",
    *(f"outcome_{outcome}" for outcome in CallOutcome.values),
)


def _call_columns(key: str) -> str:
    return ", ".join([key, "navigator_id", *COUNTS])


# table -> its columns and the rows that carry something; ``<table>_fresh`` is the view that computes it.
TABLES = {
    "call_day_rollup": (_call_columns("day"), "calls <> 0 OR minutes <> 0"),
    "call_week_rollup": (_call_columns("week"), "calls <> 0 OR minutes <> 0"),
    "follow_up_overdue_span": ("patient_id, from_day, to_day", "true"),
    "follow_up_overdue_delta": ("navigator_id, day, delta", "delta <> 0"),
    "follow_up_overdue_week_delta": ("navigator_id, week, delta", "delta <> 0"),
    "follow_up_overdue_block_delta": ("navigator_id, block, delta", "delta <> 0"),
    # The period's cohorts (migration 0015): a row per lead and per EAP journey (not deleted) with its steps.
    "lead_cohort": ("lead_id, created_at, navigator_id, converted, ct_referred, ct_enrolled", "true"),
    "eap_cohort": ("journey_id, created_at, navigator_id, submitted, approved", "true"),
}
# ---------------------------------------------------------------------------------------------------
# The SQL of the day and week tables, written once (migration 0011 builds its DDL and trigger bodies from it).
# Changing a text here changes what 0011 creates in a new database, not in one already migrated: a test pins
# its text (tests/patients/test_report_rollups.py); change them in a new migration instead.

# The call rollups: (table, key column, the key from a local day ``{day}``).
CALL_ROLLUPS = (("call_day_rollup", "day", "{day}"), ("call_week_rollup", "week", "report_week({day})"))
# The overdue deltas: (table, key column, the key from the day column ``day``).
DELTA_TABLES = (
    ("follow_up_overdue_delta", "day", "day"),
    ("follow_up_overdue_week_delta", "week", "report_week(day)"),
    ("follow_up_overdue_block_delta", "block", "report_block(day)"),
)


def call_rollup_tables_sql(count_columns: str) -> str:
    """The day and week call rollups and their navigator indexes."""
    tables = [
        f"CREATE TABLE {table} (\n    {key} date NOT NULL,\n    navigator_id uuid NOT NULL,\n    {count_columns},\n"
        f"    PRIMARY KEY ({key}, navigator_id)\n);"
        for table, key, _ in CALL_ROLLUPS
    ]
    indexes = [
        f"CREATE INDEX {table}_navigator_idx ON {table} (navigator_id, {key});" for table, key, _ in CALL_ROLLUPS
    ]
    return "\n".join([*tables, *indexes])


def call_rollup_fresh_views_sql(fresh_sums: str) -> str:
    """``<table>_fresh``: each call rollup computed from the calls."""
    day = "(c.call_date AT TIME ZONE report_rollup_time_zone())::date"
    return "\n\n".join(
        f"CREATE VIEW {table}_fresh AS\nSELECT {expression.format(day=day)} AS {key}, c.pn_id AS navigator_id,\n"
        f"       {fresh_sums}\nFROM call_history c WHERE c.is_active\nGROUP BY 1, 2;"
        for table, key, expression in CALL_ROLLUPS
    )


def call_rollup_upserts_sql(sums: str, increments: str) -> str:
    """The trigger's statement that adds the signed counts ``by_day`` (a CTE: day, navigator, sums) to both
    rollups: the days as they are, the weeks summed."""
    day, week = CALL_ROLLUPS
    return (
        f"{day[1]}s AS (\n"
        f"            INSERT INTO {day[0]} AS r SELECT * FROM by_day ORDER BY 1, 2\n"
        f"            ON CONFLICT ({day[1]}, navigator_id) DO UPDATE SET {increments}\n"
        f"        )\n"
        f"        INSERT INTO {week[0]} AS r\n"
        f"        SELECT {week[2].format(day='day')}, navigator_id, {sums} FROM by_day GROUP BY 1, 2 ORDER BY 1, 2\n"
        f"        ON CONFLICT ({week[1]}, navigator_id) DO UPDATE SET {increments};"
    )


def delta_tables_sql() -> str:
    """The overdue deltas per day, week and block."""
    return "\n".join(
        f"CREATE TABLE {table} (\n    navigator_id uuid NOT NULL,\n    {key} date NOT NULL,\n"
        f"    delta integer NOT NULL,\n    PRIMARY KEY ({key}, navigator_id)\n);"
        for table, key, _ in DELTA_TABLES
    )


def delta_fresh_views_sql() -> str:
    """The week and block deltas computed from the day deltas' view."""
    return "\n\n".join(
        f"CREATE VIEW {table}_fresh AS\nSELECT d.navigator_id, {expression.replace('day', 'd.day')} AS {key}, "
        f"sum(d.delta)::integer AS delta\nFROM follow_up_overdue_delta_fresh d\nGROUP BY 1, 2 HAVING sum(d.delta) <> 0;"
        for table, key, expression in DELTA_TABLES[1:]
    )


def delta_upserts_sql() -> str:
    """The end of a statement whose CTE ``deltas`` (navigator_id, day, delta) moves the deltas: added to the
    day, week and block tables (CTEs ``by_day``, ``by_week``, then the final INSERT)."""
    parts = []
    for i, (table, key, expression) in enumerate(DELTA_TABLES):
        if i == 0:
            select = "SELECT * FROM deltas ORDER BY 2, 1"
        else:
            select = (
                f"SELECT navigator_id, {expression}, sum(delta) FROM deltas GROUP BY 1, 2 HAVING sum(delta) <> 0 "
                "ORDER BY 2, 1"
            )
        statement = (
            f"INSERT INTO {table} AS r (navigator_id, {key}, delta)\n    {select}\n"
            f"    ON CONFLICT ({key}, navigator_id) DO UPDATE SET delta = r.delta + EXCLUDED.delta"
        )
        if i < len(DELTA_TABLES) - 1:
            parts.append(f"), by_{key} AS (\n        " + statement.replace("\n", "\n    ") + "\n    ")
        else:
            parts.append(")\n    " + statement + ";")
    return "".join(parts)


BLOCK_EPOCH = dt.date(2000, 1, 3)  # a Monday: blocks of 16 ISO weeks are counted from it
BLOCK_DAYS = 16 * 7


def report_block(day: dt.date) -> dt.date:
    """The first Monday of the day's block of 16 weeks (the SQL function ``report_block``)."""
    return BLOCK_EPOCH + dt.timedelta(days=(day - BLOCK_EPOCH).days // BLOCK_DAYS * BLOCK_DAYS)


def rollup_time_zone() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT report_rollup_time_zone()")
        return cursor.fetchone()[0]


def rebuild_report_rollups(*, time_zone: str | None = None) -> None:
    """Empty the summary tables and fill them from the calls and patients, in ``time_zone`` (by default
    ``settings.TIME_ZONE``). Writers of calls and patients wait meanwhile (a table lock)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT report_rollups_rebuild(%s)", [time_zone or settings.TIME_ZONE])
        cursor.execute("SELECT report_cohorts_rebuild()")


@dataclass(frozen=True)
class RollupMismatch:
    table: str
    stored_only: int  # rows stored that the from-scratch computation does not give
    fresh_only: int  # rows the from-scratch computation gives that are not stored


def report_rollup_mismatches() -> list[RollupMismatch]:
    """Each table against its from-scratch computation (multisets: a duplicated span counts); the tables
    that disagree. The spans are checked against the calls, the deltas against the stored spans and the
    patients, so that both together prove the report's figures."""
    # One statement, so one snapshot for every comparison, whatever writes meanwhile.
    parts = []
    for table, (columns, carries) in TABLES.items():
        stored = f"SELECT {columns} FROM {table} WHERE {carries}"
        computed = f"SELECT {columns} FROM {table}_fresh"
        parts.append(f"(SELECT count(*) FROM ({stored} EXCEPT ALL {computed}) a)")
        parts.append(f"(SELECT count(*) FROM ({computed} EXCEPT ALL {stored}) b)")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(parts)}")
        counts = cursor.fetchone()
    found = []
    for i, table in enumerate(TABLES):
        stored_only, fresh_only = counts[2 * i], counts[2 * i + 1]
        if stored_only or fresh_only:
            found.append(RollupMismatch(table, stored_only, fresh_only))
    return found


# ---------------------------------------------------------------------------------------------------
# The report's two figures read from the tables (patients/reports.py chooses them over the calls when the
# tables' time zone is the report's).


def calls_by_week_and_navigator(cursor, params: dict, navigator_filter: str, weeks: list) -> list:
    """The rows of ``patients.reports._calls``: grouping (0: a week and navigator, 1: a week, 2: a navigator,
    3: the total), week, navigator, calls, outbound, reached outbound, timed, summed minutes, then the calls per
    outcome (``CallOutcome``'s order), summed by ``GROUPING SETS`` — the weeks that lie whole in the
    period from ``call_week_rollup``, the days of the others (the first and last, when cut) from
    ``call_day_rollup``."""
    whole = [w.monday for w in weeks if (w.last_day - w.first_day).days == 6]
    cut_days = [
        w.first_day + dt.timedelta(days=i)
        for w in weeks
        if (w.last_day - w.first_day).days != 6
        for i in range((w.last_day - w.first_day).days + 1)
    ]
    counts = ", ".join(COUNTS)
    sums = ", ".join(f"sum({c})::bigint" for c in COUNTS)
    cursor.execute(
        f"""
        SELECT GROUPING(week, navigator_id), week, navigator_id::text, {sums}
        FROM (
            SELECT week, navigator_id, {counts} FROM call_week_rollup r
            WHERE week = ANY(%(whole_weeks)s::date[]) AND calls <> 0 {navigator_filter}
            UNION ALL
            SELECT report_week(day), navigator_id, {counts} FROM call_day_rollup r
            WHERE day = ANY(%(cut_days)s::date[]) AND calls <> 0 {navigator_filter}
        ) r
        GROUP BY GROUPING SETS ((week, navigator_id), (week), (navigator_id), ())
        HAVING sum(calls) <> 0
        """,
        {**params, "whole_weeks": whole, "cut_days": cut_days},
    )
    return cursor.fetchall()


def overdue_at_week_ends(cursor, params: dict, navigator_filter: str, weeks: list) -> dict[Any, list[int]]:
    """navigator id (text) -> the overdue follow-ups at the end of each of ``weeks`` (consecutive ISO weeks; only the
    last may end before its Sunday): the changes summed up to each end, grouped by the first end they count
    at — the 16-week blocks before the first week's block, the weeks from that block up to the last whole
    week, the days of a cut last week. Navigators with none at every end are left out."""
    last = weeks[-1]
    cut = (last.last_day - last.monday).days != 6
    m0 = weeks[0].monday
    cursor.execute(
        f"""
        SELECT navigator_id::text, 0, sum(delta) FROM follow_up_overdue_block_delta r
        WHERE block < %(m0_block)s {navigator_filter}
        GROUP BY navigator_id
        UNION ALL
        SELECT navigator_id::text, GREATEST(0, (week - %(m0)s) / 7), sum(delta) FROM follow_up_overdue_week_delta r
        WHERE week >= %(m0_block)s AND week <= %(last_whole)s {navigator_filter}
        GROUP BY navigator_id, 2
        UNION ALL
        SELECT navigator_id::text, %(k_last)s, sum(delta) FROM follow_up_overdue_delta r
        WHERE day >= %(cut_from)s AND day <= %(dmax)s {navigator_filter}
        GROUP BY navigator_id
        """,
        {
            **params,
            "m0": m0,
            "m0_block": report_block(m0),
            "last_whole": last.monday - dt.timedelta(days=7) if cut else last.monday,
            "k_last": len(weeks) - 1,
            "cut_from": last.monday if cut else last.last_day + dt.timedelta(days=1),  # none when whole
            "dmax": last.last_day,
        },
    )
    changes: dict[Any, list[int]] = defaultdict(lambda: [0] * len(weeks))
    for nav, k, delta in cursor.fetchall():
        changes[nav][k] += delta
    counts = {}
    for nav, per_end in changes.items():
        running, stock = 0, []
        for delta in per_end:
            running += delta
            stock.append(running)
        if any(stock):
            counts[nav] = stock
    return counts
