"""The navigation report's summary tables (docs/REPORTS.md, "Navigation report", "Summary tables").

Three tables, kept exact by PostgreSQL itself: statement-level triggers on ``call_history`` (insert,
update, delete, truncate) and on ``patient`` (update) with transition tables, so every path that writes
calls or patients — the services, the admin, the API, the importers, merges, bulk ``QuerySet.update()``,
raw SQL — keeps them right, one statement at a time (a bulk statement costs one set-based pass, not a
trigger call per row). The migration ``patients/0011_navigation_report_rollups`` defines them, the
triggers and the from-scratch computations (the ``*_fresh`` views, ``report_rollups_rebuild``).

* ``call_day_rollup``: the non-void calls per local day (``report_rollup_time_zone()``), navigator
  (``pn_id``), direction and outcome: count, timed calls, summed minutes. The report's calls figures of a
  period are sums of its days' rows (about 10 rows per navigator and day instead of 45 calls).
* ``follow_up_overdue_span``: per patient, the local days ``[from_day, to_day]`` (``to_day`` NULL: open)
  on whose evening the patient's latest non-void call made by then has a reminder on or before that day —
  the replay of the report's definition, once, when the patient's calls change.
* ``follow_up_overdue_delta``: those spans of the patients who count (active, not deleted, with a
  navigator), as +1 on ``from_day`` and -1 on ``to_day + 1`` per navigator and day. The overdue
  follow-ups of a navigator at the end of day D are the sum of their deltas up to D: one pass over a
  table of navigators x days, whatever the number of calls. A patient who changes navigator or stops
  counting moves their spans' deltas (the ``patient`` trigger), so "the navigator now" holds.

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

# Each stored table, the view that computes it from scratch, and the rows that carry something (the
# triggers add and subtract, so rows that fell back to zero may stay: they count for nothing).
TABLES = {
    "call_day_rollup": (
        "call_day_rollup_fresh",
        "day, navigator_id, direction, outcome, calls, timed_calls, minutes",
        "calls <> 0 OR timed_calls <> 0 OR minutes <> 0",
    ),
    "follow_up_overdue_span": ("follow_up_overdue_span_fresh", "patient_id, from_day, to_day", "true"),
    "follow_up_overdue_delta": ("follow_up_overdue_delta_fresh", "navigator_id, day, delta", "delta <> 0"),
}


def rollup_time_zone() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT report_rollup_time_zone()")
        return cursor.fetchone()[0]


def rebuild_report_rollups(*, time_zone: str | None = None) -> None:
    """Empty the summary tables and fill them from the calls and patients, in ``time_zone`` (by default
    ``settings.TIME_ZONE``). Writers of calls and patients wait meanwhile (a table lock)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT report_rollups_rebuild(%s)", [time_zone or settings.TIME_ZONE])


@dataclass(frozen=True)
class RollupMismatch:
    table: str
    stored_only: int  # rows stored that the from-scratch computation does not give
    fresh_only: int  # rows the from-scratch computation gives that are not stored


def report_rollup_mismatches() -> list[RollupMismatch]:
    """Each table against its from-scratch computation (multisets: a duplicated span counts); the tables
    that disagree. The spans are checked against the calls, the deltas against the stored spans and the
    patients, so that both together prove the report's figures."""
    # One statement, so one snapshot for the three comparisons, whatever writes meanwhile.
    parts = []
    for table, (fresh, columns, carries) in TABLES.items():
        stored = f"SELECT {columns} FROM {table} WHERE {carries}"
        computed = f"SELECT {columns} FROM {fresh}"
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


def calls_by_week_and_navigator(cursor, params: dict, navigator_filter: str, outcomes: tuple[str, ...]) -> list:
    """The rows of ``patients.reports._calls``: week, navigator, calls, outbound, reached outbound, timed,
    summed minutes, then the calls per outcome — from the days of the period."""
    outcome_columns = ", ".join(
        f"coalesce(sum(r.calls) FILTER (WHERE r.outcome = %(outcome_{i})s), 0)" for i in range(len(outcomes))
    )
    cursor.execute(
        f"""
        SELECT date_trunc('week', r.day)::date AS week, r.navigator_id, sum(r.calls),
               coalesce(sum(r.calls) FILTER (WHERE r.direction = %(outbound)s), 0),
               coalesce(sum(r.calls) FILTER (WHERE r.direction = %(outbound)s AND r.outcome = %(reached)s), 0),
               sum(r.timed_calls), sum(r.minutes)::bigint, {outcome_columns}
        FROM call_day_rollup r
        WHERE r.day >= %(first_day)s AND r.day <= %(last_day)s {navigator_filter}
        GROUP BY 1, 2
        HAVING sum(r.calls) <> 0
        """,
        params,
    )
    return cursor.fetchall()


def overdue_at_week_ends(cursor, params: dict, navigator_filter: str, ends: list[dt.date]) -> dict[Any, list[int]]:
    """navigator id -> the overdue follow-ups at the end of each of ``ends`` (consecutive week ends: each
    a week after the one before, only the last may be earlier): the deltas summed up to each end, in one
    pass grouped by the first end on or after their day. Navigators with none at every end are left out."""
    cursor.execute(
        f"""
        SELECT r.navigator_id, GREATEST(0, CEIL((r.day - %(d0)s) / 7.0))::int AS k, sum(r.delta)
        FROM follow_up_overdue_delta r
        WHERE r.day <= %(dmax)s {navigator_filter}
        GROUP BY 1, 2
        """,
        {**params, "d0": ends[0], "dmax": ends[-1]},
    )
    changes: dict[Any, list[int]] = defaultdict(lambda: [0] * len(ends))
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
