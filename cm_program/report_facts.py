"""The SQL that keeps ``cm_enrollment_report_facts`` (``cm_program.models.CMEnrollmentReportFacts``) exact.

One row per enrollment, with the columns of the enrollment that the report filters on (``canonical_patient_id``,
``cm_program_id``, ``enrollment_date``) and its current ``status``, and:

* ``status_changed_at`` / ``status_to``: its status changes in order (``changed_at``, then ``created_at``, then
  ``id``), so its status at an instant ``T`` is ``status_to[width_bucket(T, status_changed_at)]`` (the last
  change at or before ``T``, as the report's ``DISTINCT ON`` read it; none before its first change);
* ``group_weeks``: the ISO week (Monday, in ``cm_report_time_zone()``, the weekly rollup's zone) of each group
  attendance that no reversal names, once per attendance, so "attended a group in these whole weeks" is one
  ``&&`` of arrays.

The CM report reads it for every enrollment in scope in one pass over this one table (query 1: the statuses at
the period's end and who attended), instead of reading the whole status history in order, hashing the period's
attendances and joining both to the enrollments.

Statement-level triggers keep it: an INSERT into ``cm_enrollments`` adds the new enrollments' rows (computed from
scratch), an UPDATE copies the changed columns, a DELETE removes the rows. The history and the ledger are
append-only (UPDATE, DELETE and TRUNCATE refused), so INSERT triggers suffice there: a new status change
recomputes its enrollment's status arrays from the history, and a new group attendance, or a new reversal of one,
recomputes its enrollment's weeks from the ledger. Each locks its enrollments' rows first and then recomputes in
a new statement, whose snapshot (READ COMMITTED) includes what a concurrent transaction committed meanwhile, so
concurrent writers for one enrollment cannot lose each other's rows. ``REBUILD`` recomputes the table from
scratch (``check_cm_report_rollups --repair``, the bench generator), ``differences`` compares it with a
from-scratch computation.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection, transaction

from common.db import drop_statement_triggers_sql, statement_triggers_sql

TABLE = "cm_enrollment_report_facts"
HISTORY = "cm_enrollment_status_changes"
LEDGER = "cm_points_transactions"
GROUP = "group_attendance"
WEEK_OF_ENTRY = "date_trunc('week', t.occurred_at AT TIME ZONE cm_report_time_zone())::date"

STATUS_ARRAYS = (
    "SELECT enrollment_id,"
    " array_agg(changed_at ORDER BY changed_at, created_at, id) AS status_changed_at,"
    " array_agg(to_status ORDER BY changed_at, created_at, id) AS status_to\n"
    f"FROM {HISTORY} {{where}} GROUP BY enrollment_id"
)
GROUP_WEEKS = (
    f"SELECT t.enrollment_id, array_agg({WEEK_OF_ENTRY} ORDER BY {WEEK_OF_ENTRY}) AS group_weeks\n"
    f"FROM {LEDGER} t WHERE t.event_type = '{GROUP}'"
    f" AND NOT EXISTS (SELECT 1 FROM {LEDGER} r WHERE r.reverses_id = t.id) {{where}}\n"
    "GROUP BY t.enrollment_id"
)


ENROLLMENT_COLUMNS = ("canonical_patient_id", "cm_program_id", "enrollment_date", "status")
ENROLLMENTS = "cm_enrollments"


def _lock_rows(ids: str) -> str:
    """Create the missing rows of the enrollments ``ids`` (a SELECT of enrollment ids; normally the enrollment's
    INSERT made its row) and lock them all, in key order (concurrent statements lock in one order)."""
    columns = ", ".join(ENROLLMENT_COLUMNS)
    return (
        f"INSERT INTO {TABLE} (enrollment_id, {columns}, status_changed_at, status_to, group_weeks)"
        f" SELECT id, {columns}, '{{}}', '{{}}', '{{}}' FROM {ENROLLMENTS} WHERE id IN ({ids}) ORDER BY id"
        " ON CONFLICT (enrollment_id) DO NOTHING;\n"
        f"PERFORM 1 FROM {TABLE} WHERE enrollment_id IN ({ids}) ORDER BY enrollment_id FOR UPDATE;\n"
    )


def _rows_of(enrollments: str, where_h: str, where_g: str) -> str:
    """Every column of the rows of ``enrollments`` (a FROM item ``e``), from the history and the ledger."""
    columns = ", ".join(f"e.{c}" for c in ENROLLMENT_COLUMNS)
    return (
        f"SELECT e.id, {columns}, coalesce(h.status_changed_at, '{{}}'), coalesce(h.status_to, '{{}}'),"
        " coalesce(g.group_weeks, '{}')\n"
        f"FROM {enrollments}\n"
        f"LEFT JOIN ({STATUS_ARRAYS.format(where=where_h)}) AS h ON h.enrollment_id = e.id\n"
        f"LEFT JOIN ({GROUP_WEEKS.format(where=where_g)}) AS g ON g.enrollment_id = e.id"
    )


ALL_COLUMNS = f"enrollment_id, {', '.join(ENROLLMENT_COLUMNS)}, status_changed_at, status_to, group_weeks"
NEW_IDS = "SELECT id FROM new_enrollments"
ENROLLMENT_INSERT = (
    f"INSERT INTO {TABLE} AS f ({ALL_COLUMNS})\n"
    + _rows_of("new_enrollments e", f"WHERE enrollment_id IN ({NEW_IDS})", f"AND t.enrollment_id IN ({NEW_IDS})")
    + "\nORDER BY 1\nON CONFLICT (enrollment_id) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in ALL_COLUMNS.split(", ")[1:])
)
ENROLLMENT_UPDATE = (
    f"UPDATE {TABLE} AS f SET "
    + ", ".join(f"{c} = n.{c}" for c in ENROLLMENT_COLUMNS)
    + "\nFROM new_enrollments n JOIN old_enrollments o ON o.id = n.id\n"
    "WHERE f.enrollment_id = n.id AND ("
    + ", ".join(f"o.{c}" for c in ENROLLMENT_COLUMNS)
    + ") IS DISTINCT FROM ("
    + ", ".join(f"n.{c}" for c in ENROLLMENT_COLUMNS)
    + ")"
)
ENROLLMENT_DELETE = f"DELETE FROM {TABLE} WHERE enrollment_id IN (SELECT id FROM old_enrollments)"


# The enrollments of a statement's new status changes.
CHANGED = "SELECT enrollment_id FROM new_changes"
HISTORY_INSERT = _lock_rows(CHANGED) + (
    f"UPDATE {TABLE} AS f SET status_changed_at = h.status_changed_at, status_to = h.status_to\n"
    f"FROM ({STATUS_ARRAYS.format(where=f'WHERE enrollment_id IN ({CHANGED})')}) AS h\n"
    "WHERE f.enrollment_id = h.enrollment_id"
)

# The enrollments whose group attendances a statement's new ledger entries change: a new group attendance, or a
# new reversal of one.
ATTENDED = (
    f"SELECT n.enrollment_id FROM new_entries n WHERE n.event_type = '{GROUP}'\n"
    f"UNION SELECT o.enrollment_id FROM new_entries n JOIN {LEDGER} o ON o.id = n.reverses_id"
    f" WHERE o.event_type = '{GROUP}'"
)
LEDGER_INSERT = (
    f"IF NOT EXISTS (SELECT 1 FROM new_entries WHERE event_type IN ('{GROUP}', 'reversal')) THEN RETURN NULL; END IF;\n"
    + _lock_rows(ATTENDED)
    + f"UPDATE {TABLE} AS f SET group_weeks = coalesce(g.group_weeks, '{{}}')\n"
    f"FROM (SELECT a.enrollment_id, g.group_weeks FROM ({ATTENDED}) AS a LEFT JOIN"
    f" ({GROUP_WEEKS.format(where=f'AND t.enrollment_id IN ({ATTENDED})')}) AS g"
    " ON g.enrollment_id = a.enrollment_id) AS g\n"
    "WHERE f.enrollment_id = g.enrollment_id"
)

TRIGGERS = (
    # (trigger, table, event and transition tables, body)
    (
        "cm_report_facts_enrollment_insert",
        ENROLLMENTS,
        f"AFTER INSERT ON {ENROLLMENTS} REFERENCING NEW TABLE AS new_enrollments",
        ENROLLMENT_INSERT,
    ),
    (
        "cm_report_facts_enrollment_update",
        ENROLLMENTS,
        f"AFTER UPDATE ON {ENROLLMENTS} REFERENCING OLD TABLE AS old_enrollments NEW TABLE AS new_enrollments",
        ENROLLMENT_UPDATE,
    ),
    (
        "cm_report_facts_enrollment_delete",
        ENROLLMENTS,
        f"AFTER DELETE ON {ENROLLMENTS} REFERENCING OLD TABLE AS old_enrollments",
        ENROLLMENT_DELETE,
    ),
    (
        "cm_report_facts_history_insert",
        HISTORY,
        f"AFTER INSERT ON {HISTORY} REFERENCING NEW TABLE AS new_changes",
        HISTORY_INSERT,
    ),
    (
        "cm_report_facts_ledger_insert",
        LEDGER,
        f"AFTER INSERT ON {LEDGER} REFERENCING NEW TABLE AS new_entries",
        LEDGER_INSERT,
    ),
)
TRIGGER_NAMES = tuple((name, table) for name, table, _, _ in TRIGGERS)

# What the table must hold, from scratch (the backfill, the rebuild and the check).
FROM_SCRATCH = _rows_of(f"{ENROLLMENTS} e", "", "")
REBUILD = (f"DELETE FROM {TABLE}", f"INSERT INTO {TABLE} ({ALL_COLUMNS})\n{FROM_SCRATCH}")


def install_sql() -> list[str]:
    """The trigger functions and triggers (``cm_report_time_zone()`` must exist: migration 0017)."""
    return statement_triggers_sql(TRIGGERS)


def uninstall_sql() -> list[str]:
    return drop_statement_triggers_sql(TRIGGER_NAMES)


@dataclass(frozen=True)
class FactsDifference:
    enrollment_id: object
    stored: tuple | None
    expected: tuple | None


def differences(cursor, limit: int | None = None) -> list[FactsDifference]:
    """The rows that differ from a from-scratch computation, in one statement (one snapshot)."""
    columns = ALL_COLUMNS.split(", ")[1:]
    differs = " OR ".join(f"s.{c} IS DISTINCT FROM x.{c}" for c in columns)
    sql = (
        f"WITH x ({ALL_COLUMNS}) AS ({FROM_SCRATCH}), s AS (SELECT {ALL_COLUMNS} FROM {TABLE})\n"
        "SELECT coalesce(s.enrollment_id, x.enrollment_id), s.enrollment_id IS NOT NULL, x.enrollment_id IS NOT NULL, "
        + ", ".join(f"s.{c}, x.{c}" for c in columns)
        + f"\nFROM s FULL JOIN x ON x.enrollment_id = s.enrollment_id\n"
        f"WHERE s.enrollment_id IS NULL OR x.enrollment_id IS NULL OR {differs}\nORDER BY 1"
    )
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    cursor.execute(sql)
    found = []
    for row in cursor.fetchall():
        values = row[3:]
        found.append(
            FactsDifference(row[0], tuple(values[0::2]) if row[1] else None, tuple(values[1::2]) if row[2] else None)
        )
    return found


def facts_differences(limit: int | None = None) -> list[FactsDifference]:
    with transaction.atomic(), connection.cursor() as cursor:
        return differences(cursor, limit)
