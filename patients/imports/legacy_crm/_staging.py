"""TEMP staging tables, COPY into them, the mapping table in set-based SQL, and the report read back.

Each input file is streamed into its staging table (one ``COPY`` per batch of rows, after the cells
were checked in Python); everything else is set-based SQL over the staging tables, so Python never
holds more than one batch. Every staging row carries its own outcome columns:

* ``skip``: why the row was not imported (wins over everything else);
* ``reasons``: differences to look at (the row was imported: outcome ``conflict``);
* ``notes``: remarks that do not change the outcome (an unknown contact type, ...);
* ``matched``: why the row matched an existing record instead of creating one;
* ``created`` / ``mapped`` / ``updated``: it made a new record / an earlier run had imported it / this
  run changed a field that the import wrote and nobody edited since.

A row an earlier run imported is ``unchanged`` even when it still has reasons (they are listed again):
a second run of the same files reports nothing new.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection

from common.imports.report import ImportReport, Outcome

SOURCE = "legacy_crm"
BATCH = 5_000

OUTCOME_COLUMNS = """
    skip text,
    reasons text[] NOT NULL DEFAULT '{}',
    notes text[] NOT NULL DEFAULT '{}',
    matched text,
    created boolean NOT NULL DEFAULT false,
    mapped boolean NOT NULL DEFAULT false,
    updated boolean NOT NULL DEFAULT false,
    new_id uuid
"""


def sql(statement: str, params=None) -> int:
    """Run one statement; returns the rows it touched."""
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.rowcount


def fetch(statement: str, params=None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall()


def create_table(name: str, columns: str) -> None:
    """A TEMP table of this transaction (dropped first: a test may run two imports in one transaction)."""
    sql(f"DROP TABLE IF EXISTS {name}")
    sql(f"CREATE TEMP TABLE {name} ({columns})")


def copy_rows(table: str, columns: list[str], rows: Iterable[tuple]) -> None:
    """``COPY table (columns) FROM STDIN``: one statement for the batch."""
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def save_mappings(*, table: str, old_table: str, target: str, where: str, written: str = "'{}'::jsonb", run_id) -> int:
    """Map ``old_id`` -> ``new_id`` of the staging rows selected by ``where`` (one statement)."""
    return sql(
        f"""
        INSERT INTO import_mapping (source, old_table, old_id, target, new_id, written, run_id, created_at, updated_at)
        SELECT DISTINCT ON (s.old_id) %s, %s, s.old_id, %s, s.new_id::text, {written}, %s, now(), now()
        FROM {table} s
        WHERE s.new_id IS NOT NULL AND s.skip IS NULL AND ({where})
        ORDER BY s.old_id, s.line
        ON CONFLICT (source, old_table, old_id) DO UPDATE
           SET target = EXCLUDED.target, new_id = EXCLUDED.new_id, written = EXCLUDED.written,
               run_id = EXCLUDED.run_id, updated_at = now()
        """,
        [SOURCE, old_table, target, run_id],
    )


def mapped_join(alias: str, old_table: str, old_id: str) -> str:
    """``JOIN import_mapping <alias>`` on this importer's ``old_table`` and the given old-id expression."""
    return (
        f"JOIN import_mapping {alias} ON {alias}.source = '{SOURCE}' AND {alias}.old_table = '{old_table}' "
        f"AND {alias}.old_id = {old_id}"
    )


_OUTCOME = f"""
    CASE WHEN skip IS NOT NULL THEN '{Outcome.SKIPPED}'
         WHEN updated THEN '{Outcome.UPDATED}'
         WHEN mapped AND NOT created THEN '{Outcome.UNCHANGED}'
         WHEN cardinality(reasons) > 0 THEN '{Outcome.CONFLICT}'
         WHEN created THEN '{Outcome.CREATED}'
         ELSE '{Outcome.MATCHED}' END
"""
_REASON = """
    CASE WHEN skip IS NOT NULL THEN skip
         ELSE array_to_string(reasons || notes || CASE WHEN created OR mapped THEN NULL ELSE matched END, '; ') END
"""


def emit_report(report: ImportReport, *, file: str, table: str, progress) -> None:
    """Record every staging row's outcome, in line order, a batch at a time."""
    after = 0
    while True:
        rows = fetch(
            f"SELECT line, old_id, {_OUTCOME}, {_REASON}, coalesce(new_id::text, '') FROM {table} "
            "WHERE line > %s ORDER BY line LIMIT %s",
            [after, BATCH],
        )
        for line, old_id, outcome, reason, new_id in rows:
            report.record(file, outcome, row=line, old_id=old_id, reason=reason or "", new_id=new_id)
        progress(len(rows))
        if len(rows) < BATCH:
            return
        after = rows[-1][0]
