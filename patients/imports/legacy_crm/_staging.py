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


# Staging rows are updated several times in the import's one transaction. Room on each page lets those
# updates be HOT (no new index entries, the row stays on its page): a dead row version cannot be pruned
# before the transaction ends, so at the default fill factor (100) every whole-table UPDATE moved every row
# to a new page and inserted into every index of the table. Measured on 100,000 staged rows with three
# indexes, five whole-table UPDATEs in one transaction: 2.0-3.4 s each at fill factor 100, 0.5-1.0 s each
# at 25 (one 2.3 s: that page was full), load ~5. The rows of contact.csv and patient.csv are rewritten
# most often (25); the tables with fewer whole-table UPDATEs take 50, so that the staging tables stay
# within the session's ``temp_buffers`` (``__init__._session_memory``).
FILL_FACTOR = 25


def create_table(name: str, columns: str, *, fill_factor: int = FILL_FACTOR) -> None:
    """A TEMP table of this transaction (dropped first: a test may run two imports in one transaction)."""
    sql(f"DROP TABLE IF EXISTS {name}")
    sql(f"CREATE TEMP TABLE {name} ({columns}) WITH (fillfactor = {fill_factor})")


def copy_rows(table: str, columns: list[str], rows: Iterable[tuple]) -> None:
    """``COPY table (columns) FROM STDIN``: one statement for the batch."""
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def save_mappings(
    *, table: str, old_table: str, target: str, where: str, written: str = "'{}'::jsonb", run_id, fresh: bool = False
) -> int:
    """Map ``old_id`` -> ``new_id`` of the staging rows selected by ``where`` (one statement).

    ``fresh``: no mapping of this source can exist yet (``__init__._save_mappings``): a plain ``INSERT``,
    without the ``ON CONFLICT`` clause's speculative insertion (the unique key still checks every row)."""
    on_conflict = (
        ""
        if fresh
        else """ON CONFLICT (source, old_table, old_id) DO UPDATE
           SET target = EXCLUDED.target, new_id = EXCLUDED.new_id, written = EXCLUDED.written,
               run_id = EXCLUDED.run_id, updated_at = now()"""
    )
    return sql(
        f"""
        INSERT INTO import_mapping (source, old_table, old_id, target, new_id, written, run_id, created_at, updated_at)
        SELECT DISTINCT ON (s.old_id) %s, %s, s.old_id, %s, s.new_id::text, {written}, %s, now(), now()
        FROM {table} s
        WHERE s.new_id IS NOT NULL AND s.skip IS NULL AND ({where})
        ORDER BY s.old_id, s.line
        {on_conflict}
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


def _json(expression: str) -> str:
    return f"coalesce(to_jsonb({expression}), 'null'::jsonb)"


def written_object(fields: dict[str, str], alias: str = "s") -> str:
    """``jsonb_build_object`` of the values an import writes (target column -> staged column)."""
    return "jsonb_build_object(" + ", ".join(f"'{c}', {alias}.{s}" for c, s in fields.items()) + ")"


def apply_updates(
    *,
    staged: str,
    key: str,
    target: str,
    old_table: str,
    old_id: str,
    fields: dict[str, str],
    mapped: str = "mapped",
    updated: str = "updated",
) -> None:
    """A later run's new values for fields the import wrote and nobody has edited since.

    ``staged`` rows whose ``mapped`` column is set and whose target row (``target.id = staged.key``)
    still holds, in a field, exactly what the mapping says the import wrote, get the file's new value
    there (one ``UPDATE ... FROM``: audited per row); those rows get their ``updated`` column set. A
    field edited in the CRM since keeps the CRM's value and the row says so (``notes``). The mapping
    then records what was written. Mappings written without values (``'{}'``: a record the import
    matched rather than made) are never updated.
    """
    was = {c: f"coalesce(m.written->'{c}', 'null'::jsonb)" for c in fields}
    untouched = {c: f"{_json(f't.{c}')} = {was[c]}" for c in fields}
    sets = ", ".join(f"{c} = CASE WHEN {untouched[c]} THEN s.{s} ELSE t.{c} END" for c, s in fields.items())
    changes = " OR ".join(f"({untouched[c]} AND {_json(f's.{s}')} <> {was[c]})" for c, s in fields.items())
    join = mapped_join("m", old_table, f"s.{old_id}")
    first = next(iter(fields))
    sql(
        f"""
        WITH changed AS (
            UPDATE {target} t SET {sets}, updated_at = now()
            FROM {staged} s {join}
            WHERE t.id = s.{key} AND s.{mapped} AND s.skip IS NULL AND m.written ? '{first}' AND ({changes})
            RETURNING t.id
        )
        UPDATE {staged} s SET {updated} = true FROM changed WHERE changed.id = s.{key} AND s.{mapped}
        """
    )
    edited = " OR ".join(f"(NOT {untouched[c]} AND {_json(f's.{s}')} <> {_json(f't.{c}')})" for c, s in fields.items())
    sql(
        f"""
        UPDATE {staged} s SET notes = s.notes || 'edited in the CRM since the last import: the CRM''s values kept'::text
        FROM {target} t, import_mapping m
        WHERE m.source = '{SOURCE}' AND m.old_table = '{old_table}' AND m.old_id = s.{old_id}
          AND t.id = s.{key} AND s.{mapped} AND s.skip IS NULL AND m.written ? '{first}' AND ({edited})
        """
    )
    now_written = ", ".join(
        f"'{c}', CASE WHEN {_json(f't.{c}')} = {_json(f's.{s}')} THEN {_json(f's.{s}')} ELSE {was[c]} END"
        for c, s in fields.items()
    )
    sql(
        f"""
        UPDATE import_mapping m SET written = jsonb_build_object({now_written}), updated_at = now()
        FROM {staged} s JOIN {target} t ON t.id = s.{key}
        WHERE m.source = '{SOURCE}' AND m.old_table = '{old_table}' AND m.old_id = s.{old_id} AND s.{updated}
          AND s.{mapped} AND m.written ? '{first}'
        """
    )
