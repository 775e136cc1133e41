"""Drop the indexes and key constraints of the tables being loaded, and re-create them afterwards
exactly as they were (from PostgreSQL's own definitions: ``pg_get_indexdef``, ``pg_get_constraintdef``).

Measured on this machine (40,000 calls): with its indexes and foreign keys a row costs ~75 µs of
server time, without them ~22 µs; re-creating them afterwards sorts each index once and checks each
foreign key with one join. CHECK and NOT NULL constraints stay on during the load (they cost little),
and so do partial indexes (they hold few rows, and PostgreSQL would spell a re-created predicate
differently from the migration's, e.g. ``status IN (...)``, while the rest round-trips exactly) and
the role periods' exclusion constraint (its GiST index, person first, is cheap to keep up to date;
built afresh it must check every row against the others anyway).

Re-creating a primary key, unique index or foreign key checks every row, so a
load that broke one of them fails there, naming it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import connection


@dataclass
class Definitions:
    """What was dropped, in the order it must come back: per table, its key constraints and indexes;
    then every foreign key."""

    keys: dict[str, list[str]] = field(default_factory=dict)  # table -> ALTER TABLE / CREATE INDEX statements
    foreign_keys: list[str] = field(default_factory=list)
    drops: list[str] = field(default_factory=list)

    def statements(self) -> list[str]:
        return [s for table in self.keys.values() for s in table] + self.foreign_keys


def capture(tables: Iterable[str]) -> Definitions:
    """Read the definitions of the tables' primary keys, unique and exclusion constraints, indexes, and
    of every foreign key from or to them."""
    names = sorted(set(tables))
    found = Definitions()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
            FROM pg_constraint c
            WHERE c.contype = 'f' AND (c.conrelid::regclass::text = ANY(%s) OR c.confrelid::regclass::text = ANY(%s))
            ORDER BY 1, 2
            """,
            [names, names],
        )
        for table, name, definition in cursor.fetchall():
            found.foreign_keys.append(f"ALTER TABLE {table} ADD CONSTRAINT {_quote(name)} {definition}")
            found.drops.append(f"ALTER TABLE {table} DROP CONSTRAINT {_quote(name)}")
        cursor.execute(
            """
            SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
            FROM pg_constraint c
            WHERE c.contype IN ('p', 'u') AND c.conrelid::regclass::text = ANY(%s)
            ORDER BY 1, c.contype, 2
            """,
            [names],
        )
        for table, name, definition in cursor.fetchall():
            found.keys.setdefault(table, []).append(f"ALTER TABLE {table} ADD CONSTRAINT {_quote(name)} {definition}")
            found.drops.append(f"ALTER TABLE {table} DROP CONSTRAINT {_quote(name)}")
        cursor.execute(
            """
            SELECT i.indrelid::regclass::text, i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
            FROM pg_index i
            WHERE i.indrelid::regclass::text = ANY(%s)
              AND i.indpred IS NULL
              AND NOT EXISTS (
                SELECT 1 FROM pg_constraint c
                WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid AND c.contype IN ('p', 'u', 'x')
              )
            ORDER BY 1, 2
            """,
            [names],
        )
        for table, index, definition in cursor.fetchall():
            found.keys.setdefault(table, []).append(definition)
            found.drops.append(f"DROP INDEX {index}")
    return found


def drop(definitions: Definitions) -> None:
    with connection.cursor() as cursor:
        for statement in definitions.drops:
            cursor.execute(statement)


def recreate(definitions: Definitions) -> dict[str, float]:
    """Re-create everything ``capture`` read; returns seconds per table (and for the foreign keys)."""
    seconds: dict[str, float] = {}
    with connection.cursor() as cursor:
        # Sort in memory where the server allows it (a session setting: nothing changes for others).
        cursor.execute("SET maintenance_work_mem TO '512MB'")
        for table, statements in definitions.keys.items():
            started = time.perf_counter()
            for statement in statements:
                cursor.execute(statement)
            seconds[table] = time.perf_counter() - started
        started = time.perf_counter()
        for statement in definitions.foreign_keys:
            cursor.execute(statement)
        seconds["foreign keys"] = time.perf_counter() - started
    return seconds


def check_unchanged(before: set[tuple[str, ...]], tables: Iterable[str]) -> None:
    """Fail loudly if anything came back different from what the migrations made."""
    after = snapshot(tables)
    if after != before:
        raise RuntimeError(
            "Indexes or constraints differ after re-creation: missing "
            f"{sorted(before - after)}, unexpected {sorted(after - before)}"
        )


def snapshot(tables: Iterable[str]) -> set[tuple[str, ...]]:
    """Every index and constraint definition of the tables (for comparing before and after)."""
    names = sorted(set(tables))
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT 'index', i.indrelid::regclass::text, i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
            FROM pg_index i WHERE i.indrelid::regclass::text = ANY(%s)
            UNION ALL
            SELECT 'constraint', c.conrelid::regclass::text, c.conname,
                   pg_get_constraintdef(c.oid) || CASE WHEN c.convalidated THEN '' ELSE ' NOT VALID' END
            FROM pg_constraint c
            WHERE c.conrelid::regclass::text = ANY(%s) OR c.confrelid::regclass::text = ANY(%s)
            """,
            [names, names, names],
        )
        return set(cursor.fetchall())


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
