"""The SQL that keeps ``cm_points_weekly`` (``cm_program.models.CMPointsWeek``) exact, and its check.

The rollup is the report's ledger query done ahead of time: per ISO week of ``occurred_at`` in the report's
time zone, per the enrollment's CPSS and program now, of enrollments of live canonical patients:

* the entries per behaviour (group attendance, the three tests, check-ins, peer support) and the reversal
  entries, each counted when **no reversal names it** (the report's "reversed entries left out"; a reversal is
  written after the entry it cancels, so it is never dated before it);
* the points *earned* (positive entries other than reversals, reversed or not: an award later reversed was
  still earned in its week), *deducted* (minus the negative ones other than reversals) and *reversed* (minus
  the points of the reversal entries).

Three statement-level triggers with transition tables keep it (bulk statements cost one pass, not one per row):

* an INSERT into the ledger adds the new entries to their weeks (a new entry already reversed by an entry of
  an earlier statement, possible only with deferred keys, is added as reversed), and each new reversal of an
  older entry takes that entry out of its week's count;
* an UPDATE of ``cm_enrollments`` that changes an enrollment's CPSS, program or canonical patient moves the
  enrollment's whole ledger from its old row to its new one (a merge moves enrollments to the survivor);
* an UPDATE of ``patients_canonical`` that makes a patient live or not (soft delete, restore, merge) adds or
  takes away the ledger of its enrollments.

The ledger refuses UPDATE, DELETE and TRUNCATE, and an enrollment or canonical patient with ledger entries
cannot be deleted (foreign keys), so no other write can change what the rollup counts. The time zone is
``cm_report_time_zone()``, a constant SQL function written from ``settings.TIME_ZONE`` by the migration and by
``rebuild_cm_report_rollups``; the report reads the rollup only when it matches its own zone.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction

from cm_program import report_facts
from common.db import drop_statement_triggers_sql, statement_triggers_sql

TABLE = "cm_points_weekly"
FIGURES = (
    "group_attendance",
    "negative_tests",
    "positive_tests",
    "missed_tests",
    "weekly_checkins",
    "peer_support",
    "reversal_entries",
    "points_earned",
    "points_deducted",
    "points_reversed",
)
COUNTED_EVENTS = {
    "group_attendance": "group_attendance",
    "negative_tests": "test_negative",
    "positive_tests": "test_positive",
    "missed_tests": "test_missed",
    "weekly_checkins": "weekly_checkin",
    "peer_support": "peer_support",
    "reversal_entries": "reversal",
}
LIVE = "cp.is_active AND cp.merged_into_id IS NULL"


def week_of(column: str) -> str:
    return f"date_trunc('week', {column} AT TIME ZONE cm_report_time_zone())::date"


def _aggregates() -> str:
    """The figures of delta rows ``(week, cpss, program, event_type, points, s, c)``: ``s`` (+1 / -1) signs
    the points, ``c`` is what the row adds to its event's count of unreversed entries."""
    counts = [
        f"coalesce(sum(c) FILTER (WHERE event_type = '{event}'), 0) AS {name}" for name, event in COUNTED_EVENTS.items()
    ]
    points = [
        "coalesce(sum(s * points) FILTER (WHERE event_type <> 'reversal' AND points > 0), 0) AS points_earned",
        "coalesce(sum(-s * points) FILTER (WHERE event_type <> 'reversal' AND points < 0), 0) AS points_deducted",
        "coalesce(sum(-s * points) FILTER (WHERE event_type = 'reversal'), 0) AS points_reversed",
    ]
    return ",\n       ".join(counts + points)


def aggregate_sql(delta: str) -> str:
    """The rollup's rows of the delta rows that ``delta`` (a SELECT) yields, in key order."""
    return (
        f"SELECT week, cpss_provider_id, cm_program_id,\n       {_aggregates()}\n"
        f"FROM ({delta}) AS d\nGROUP BY week, cpss_provider_id, cm_program_id\n"
        "ORDER BY week, cpss_provider_id, cm_program_id"
    )


def upsert_sql(delta: str) -> str:
    """Add the delta rows to the rollup (in key order, so concurrent statements lock rows in one order)."""
    columns = ", ".join(FIGURES)
    updates = ", ".join(f"{name} = w.{name} + EXCLUDED.{name}" for name in FIGURES)
    return (
        f"INSERT INTO {TABLE} AS w (week, cpss_provider_id, cm_program_id, {columns})\n"
        f"{aggregate_sql(delta)}\n"
        f"ON CONFLICT (week, cpss_provider_id, cm_program_id) DO UPDATE SET {updates}"
    )


def entries_delta(entries: str, *, sign: str = "1", key: str = "e") -> str:
    """Delta rows of ledger entries ``t`` from ``entries`` (a FROM item that yields ``t`` joined to the
    enrollment key ``key`` and its canonical patient ``cp``), each counted unless a reversal names it."""
    return (
        f"SELECT {week_of('t.occurred_at')} AS week, {key}.cpss_provider_id, {key}.cm_program_id, t.event_type,"
        f" t.points, {sign} AS s, CASE WHEN r.id IS NULL THEN {sign} ELSE 0 END AS c\n"
        f"FROM {entries}\n"
        "LEFT JOIN cm_points_transactions r ON r.reverses_id = t.id\n"
        f"WHERE {LIVE}"
    )


# The trigger functions. Each runs once per statement over its transition tables.
LEDGER_INSERT = upsert_sql(
    entries_delta(
        "new_entries t JOIN cm_enrollments e ON e.id = t.enrollment_id"
        " JOIN patients_canonical cp ON cp.id = e.canonical_patient_id"
    )
    + "\nUNION ALL\n"
    # A new reversal of an entry written by an earlier statement: that entry is no longer counted.
    + f"SELECT {week_of('o.occurred_at')}, e.cpss_provider_id, e.cm_program_id, o.event_type, 0, 0, -1\n"
    "FROM new_entries t JOIN cm_points_transactions o ON o.id = t.reverses_id\n"
    "JOIN cm_enrollments e ON e.id = o.enrollment_id JOIN patients_canonical cp ON cp.id = e.canonical_patient_id\n"
    f"WHERE {LIVE} AND NOT EXISTS (SELECT 1 FROM new_entries n WHERE n.id = t.reverses_id)"
)

ENROLLMENT_UPDATE = (
    "WITH moved AS (\n"
    "    SELECT n.id, o.cpss_provider_id AS old_cpss, o.cm_program_id AS old_program,"
    " o.canonical_patient_id AS old_patient,\n"
    "           n.cpss_provider_id AS new_cpss, n.cm_program_id AS new_program, n.canonical_patient_id AS new_patient\n"
    "    FROM old_enrollments o JOIN new_enrollments n ON n.id = o.id\n"
    "    WHERE (o.cpss_provider_id, o.cm_program_id, o.canonical_patient_id)\n"
    "          IS DISTINCT FROM (n.cpss_provider_id, n.cm_program_id, n.canonical_patient_id)\n"
    ")\n"
    + upsert_sql(
        entries_delta(
            "moved m CROSS JOIN LATERAL (VALUES (m.old_cpss, m.old_program, m.old_patient, -1),"
            " (m.new_cpss, m.new_program, m.new_patient, 1)) AS k (cpss_provider_id, cm_program_id, patient_id, s)\n"
            "JOIN patients_canonical cp ON cp.id = k.patient_id\n"
            "JOIN cm_points_transactions t ON t.enrollment_id = m.id",
            sign="k.s",
            key="k",
        )
    )
)

CANONICAL_UPDATE = (
    "WITH changed AS (\n"
    "    SELECT n.id, CASE WHEN n.is_active AND n.merged_into_id IS NULL THEN 1 ELSE -1 END AS s\n"
    "    FROM old_patients o JOIN new_patients n ON n.id = o.id\n"
    "    WHERE (o.is_active AND o.merged_into_id IS NULL) IS DISTINCT FROM (n.is_active AND n.merged_into_id IS NULL)\n"
    ")\n"
    + upsert_sql(
        entries_delta(
            "changed ch JOIN patients_canonical cp ON cp.id = ch.id\n"
            "JOIN cm_enrollments e ON e.canonical_patient_id = ch.id\n"
            "JOIN cm_points_transactions t ON t.enrollment_id = e.id",
            sign="ch.s",
        ).replace(f"WHERE {LIVE}", "WHERE true")
    )
)

# What the rollup must hold: the whole ledger, from scratch (the backfill, the rebuild and the check).
FROM_SCRATCH = aggregate_sql(
    entries_delta(
        "cm_points_transactions t JOIN cm_enrollments e ON e.id = t.enrollment_id"
        " JOIN patients_canonical cp ON cp.id = e.canonical_patient_id"
    )
)

TRIGGERS = (
    # (trigger, table, event and transition tables, function, body)
    (
        "cm_points_weekly_ledger_insert",
        "cm_points_transactions",
        "AFTER INSERT ON cm_points_transactions REFERENCING NEW TABLE AS new_entries",
        LEDGER_INSERT,
    ),
    (
        "cm_points_weekly_enrollment_update",
        "cm_enrollments",
        "AFTER UPDATE ON cm_enrollments REFERENCING OLD TABLE AS old_enrollments NEW TABLE AS new_enrollments",
        ENROLLMENT_UPDATE,
    ),
    (
        "cm_points_weekly_canonical_update",
        "patients_canonical",
        "AFTER UPDATE ON patients_canonical REFERENCING OLD TABLE AS old_patients NEW TABLE AS new_patients",
        CANONICAL_UPDATE,
    ),
)
TRIGGER_NAMES = tuple((name, table) for name, table, _, _ in TRIGGERS)


def time_zone_sql(time_zone: str) -> str:
    """``cm_report_time_zone()``: the zone of the rollup's weeks (a checked zone name, so quoting is safe)."""
    zoneinfo.ZoneInfo(time_zone)  # refuses anything that is not a zone name
    quoted = time_zone.replace("'", "''")
    return (
        "CREATE OR REPLACE FUNCTION cm_report_time_zone() RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE"
        f" AS $$ SELECT '{quoted}'::text $$"
    )


def install_sql() -> list[str]:
    """The trigger functions and triggers (the zone function must exist: ``time_zone_sql``)."""
    return statement_triggers_sql(TRIGGERS)


def uninstall_sql() -> list[str]:
    return [*drop_statement_triggers_sql(TRIGGER_NAMES), "DROP FUNCTION IF EXISTS cm_report_time_zone()"]


# ---------------------------------------------------------------------------------------------------
# Reading the zone, checking, rebuilding


def rollup_time_zone(cursor) -> str | None:
    """The zone the rollup's weeks are in (None before the migration)."""
    cursor.execute("SELECT to_regproc('cm_report_time_zone') IS NOT NULL")
    if not cursor.fetchone()[0]:
        return None
    cursor.execute("SELECT cm_report_time_zone()")
    return cursor.fetchone()[0]


@dataclass(frozen=True)
class RollupDifference:
    week: object
    cpss_provider_id: object
    cm_program_id: object
    stored: tuple | None
    expected: tuple | None


def rollup_differences(limit: int | None = None) -> tuple[str | None, list[RollupDifference]]:
    """``(zone, differences)``: the rollup's rows that differ from a from-scratch computation over the ledger
    (rows of zeros count as absent), and the zone it is kept in. One statement, so one snapshot: writes
    meanwhile do not show as differences."""
    figures = ", ".join(f"coalesce(s.{n}, 0), coalesce(x.{n}, 0)" for n in FIGURES)
    differs = " OR ".join(f"coalesce(s.{n}, 0) <> coalesce(x.{n}, 0)" for n in FIGURES)
    nonzero = " OR ".join(f"{n} <> 0" for n in FIGURES)
    sql = (
        f"WITH x AS ({FROM_SCRATCH}), s AS (SELECT * FROM {TABLE} WHERE {nonzero})\n"
        "SELECT coalesce(s.week, x.week), coalesce(s.cpss_provider_id, x.cpss_provider_id),"
        f" coalesce(s.cm_program_id, x.cm_program_id), s.week IS NOT NULL, x.week IS NOT NULL, {figures}\n"
        "FROM s FULL JOIN x ON x.week = s.week AND x.cpss_provider_id IS NOT DISTINCT FROM s.cpss_provider_id"
        " AND x.cm_program_id = s.cm_program_id\n"
        f"WHERE {differs}\nORDER BY 1, 2, 3"
    )
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    with transaction.atomic(), connection.cursor() as cursor:
        zone = rollup_time_zone(cursor)
        if zone is None:
            return None, []
        cursor.execute(sql)
        rows = cursor.fetchall()
    differences = []
    for row in rows:
        values = row[5:]
        stored = tuple(values[0::2]) if row[3] else None
        expected = tuple(values[1::2]) if row[4] else None
        differences.append(RollupDifference(row[0], row[1], row[2], stored, expected))
    return zone, differences


def rebuild_cm_report_rollups(time_zone: str | None = None) -> int:
    """Set the rollup's zone (``settings.TIME_ZONE`` by default) and recompute it from the ledger, and the
    per-enrollment facts (``cm_program.report_facts``) from the status history and the ledger; returns the
    rollup's row count. Locks the ledger, enrollments and canonical patients against writes meanwhile (SHARE: reads go
    on), so that nothing is written between the recomputation and its replacing the table."""
    time_zone = time_zone or settings.TIME_ZONE
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "LOCK TABLE cm_points_transactions, cm_enrollments, patients_canonical, cm_enrollment_status_changes"
            " IN SHARE MODE"
        )
        cursor.execute(time_zone_sql(time_zone))
        cursor.execute(f"DELETE FROM {TABLE}")
        columns = ", ".join(FIGURES)
        cursor.execute(f"INSERT INTO {TABLE} (week, cpss_provider_id, cm_program_id, {columns}) {FROM_SCRATCH}")
        rows = cursor.rowcount
        # The per-enrollment facts (status history, group weeks in the zone): cm_program.report_facts.
        for statement in report_facts.REBUILD:
            cursor.execute(statement)
        return rows
