"""Stream generated rows into the real tables with COPY, and write each row's audit event ourselves.

The history triggers of django-pghistory fire once per row; at millions of rows they would dominate
the load (the issue measured 62.8 s for 50,000 persons with them, 1.0 s without). During the load
the insert triggers of the loaded tables are disabled (``ALTER TABLE ... DISABLE TRIGGER``; the
database is the generator's own, so no other session's inserts go unrecorded), which leaves the
other triggers — the ledger's append-only guard — and the CHECK constraints in force. In their
place the loader COPYs one ``insert`` event per row into the model's event table with exactly the
values the trigger would have written: the row's columns, ``pgh_obj_id`` = the row's id,
``pgh_label`` = ``'insert'``, ``pgh_created_at`` = ``NOW()`` of the loading transaction, and
``pgh_context_id`` = the run's context row (what ``_pgh_attach_context()`` returns inside
``pghistory.context``). The test suite compares such an event field by field with one the real
trigger writes.

Rows arrive as tuples of COPY text fields (``NULL`` for SQL NULL; generated values contain no tab,
newline or backslash). They are sent in batches, one transaction each, so memory stays flat and the
foreign-key checks queued by a statement stay bounded.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import TextIO

import pgtrigger
from django.db import connection, models, transaction

from common.progress import Progress

BATCH_ROWS = 50_000
CHUNK_ROWS = 2_000


@dataclass
class TableStats:
    table: str
    rows: int = 0
    events: int = 0
    seconds: float = 0.0
    index_seconds: float = 0.0  # re-creating its (and its event table's) indexes and keys

    @property
    def rows_per_second(self) -> float:
        return (self.rows + self.events) / self.seconds if self.seconds else 0.0


def event_model(model: type[models.Model]) -> type[models.Model] | None:
    """The pghistory event model that records inserts into ``model`` (None when it is not tracked)."""
    trackers = getattr(model, "pgh_event_models", None) or {}
    return trackers.get("insert")


def insert_triggers(models_: Iterable[type[models.Model]]) -> list[tuple[str, str]]:
    """(table, trigger) of the pgtrigger-managed triggers that fire on INSERT into these models: the
    history triggers (no other trigger of the project fires on insert)."""
    wanted = set(models_)
    return sorted(
        (model._meta.db_table, trigger.get_pgid(model))
        for model, trigger in pgtrigger.registered()
        if model in wanted and "INSERT" in str(trigger.operation).upper()
    )


def context_metadata(seed: int) -> dict:
    return {"channel": "command", "command": "bench.generate", "seed": seed}


class Loader:
    """COPY rows (and their insert events) into tables, batch by batch, keeping per-table figures."""

    def __init__(
        self,
        *,
        context_id: str,
        seed: int,
        stream: TextIO | None = None,
        show_progress: bool = True,
        batch_rows: int = BATCH_ROWS,
    ) -> None:
        self.context_id = context_id
        self.seed = seed
        self.stream = stream
        self.show_progress = show_progress
        self.batch_rows = batch_rows
        self.stats: list[TableStats] = []

    # Set-up --------------------------------------------------------------------------------------

    def write_context(self) -> None:
        """The run's audit context: what ``pghistory.context(channel=..., command=...)`` would store."""
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO pghistory_context (id, metadata, created_at, updated_at) VALUES (%s, %s, NOW(), NOW()) "
                "ON CONFLICT (id) DO NOTHING",
                [self.context_id, json.dumps(context_metadata(self.seed))],
            )

    def disable_history_triggers(self, models_: Iterable[type[models.Model]]) -> None:
        """Switch the insert history triggers of these tables off until ``enable_history_triggers``.

        ``ALTER TABLE ... DISABLE TRIGGER`` rather than ``pgtrigger.ignore``: an ignored trigger still
        runs its PL/pgSQL check (with an exception block) per row, about 8 µs of a row's ~60 µs here;
        a disabled one costs nothing. The load runs in a database of its own, so no other session's
        inserts go unrecorded meanwhile; foreign-key triggers are not touched.
        """
        self._disabled = insert_triggers(models_)
        with connection.cursor() as cursor:
            for table, pgid in self._disabled:
                cursor.execute(f"ALTER TABLE {_quote(table)} DISABLE TRIGGER {_quote(pgid)}")

    def enable_history_triggers(self) -> None:
        with connection.cursor() as cursor:
            for table, pgid in getattr(self, "_disabled", ()):
                cursor.execute(f"ALTER TABLE {_quote(table)} ENABLE TRIGGER {_quote(pgid)}")
        self._disabled = []

    # Loading -------------------------------------------------------------------------------------

    def load(
        self,
        model: type[models.Model] | str,
        columns: Sequence[str],
        rows: Iterable[Sequence[str]],
        *,
        total: int | None = None,
        label: str | None = None,
    ) -> TableStats:
        """COPY ``rows`` (tuples ordered as ``columns``) into ``model``'s table, with one insert event per
        row when the model is tracked. ``model`` may be a bare table name (no events)."""
        if isinstance(model, str):
            table, events = model, None
        else:
            table = model._meta.db_table
            _check_columns(model, columns)
            events = event_model(model)
        stats = TableStats(label or table)
        progress = Progress(stats.table, total, stream=self.stream, enabled=self.show_progress)
        copy_sql = f"COPY {_quote(table)} ({', '.join(map(_quote, columns))}) FROM STDIN"
        event_sql = event_getter = None
        if events is not None:
            event_columns, event_getter = _event_plan(events, columns)
            event_sql = f"COPY {_quote(events._meta.db_table)} ({', '.join(map(_quote, event_columns))}) FROM STDIN"
        started = time.perf_counter()
        iterator = iter(rows)
        while True:
            batch_events: list[str] = []
            with transaction.atomic():
                raw = connection.connection
                with raw.cursor() as cursor:
                    now = cursor.execute("SELECT NOW()::text").fetchone()[0] if events is not None else ""
                    prefix = f"{now}\tinsert\t{self.context_id}\t"
                    written = 0
                    with cursor.copy(copy_sql) as copy:
                        chunk: list[str] = []
                        for row in iterator:
                            chunk.append("\t".join(row))
                            if event_getter is not None:
                                batch_events.append(prefix + "\t".join(event_getter(row)))
                            written += 1
                            if len(chunk) >= CHUNK_ROWS:
                                copy.write("\n".join(chunk) + "\n")
                                chunk.clear()
                                progress.advance(CHUNK_ROWS)
                            if written >= self.batch_rows:
                                break
                        if chunk:
                            copy.write("\n".join(chunk) + "\n")
                            progress.advance(len(chunk))
                    if batch_events:
                        with cursor.copy(event_sql) as copy:
                            for start in range(0, len(batch_events), CHUNK_ROWS):
                                copy.write("\n".join(batch_events[start : start + CHUNK_ROWS]) + "\n")
            stats.rows += written
            stats.events += len(batch_events)
            if written < self.batch_rows:
                break
        stats.seconds = time.perf_counter() - started
        progress.done()
        self.stats.append(stats)
        return stats


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _check_columns(model: type[models.Model], columns: Sequence[str]) -> None:
    """The generator must give every column: the event copies them all, so a column left to its
    database default would be a value the event does not know. Columns PostgreSQL computes (a person's search
    keys) cannot be given and are not in the events."""
    expected = {f.column for f in model._meta.concrete_fields if not f.generated}
    if isinstance(model._meta.pk, models.AutoField | models.BigAutoField):
        expected.discard(model._meta.pk.column)
    given = list(columns)
    missing, unknown = expected - set(given), set(given) - expected
    if missing or unknown or len(given) != len(set(given)):
        raise RuntimeError(
            f"bench.generate is out of step with {model.__name__}: missing columns {sorted(missing)}, "
            f"unknown columns {sorted(unknown)}. Update its generator."
        )


def _event_plan(events: type[models.Model], columns: Sequence[str]):
    """Column order of the event COPY and a getter that picks the row's values for it (after the fixed
    ``pgh_created_at, pgh_label, pgh_context_id`` prefix and ``pgh_obj_id``)."""
    position = {column: i for i, column in enumerate(columns)}
    copied = []
    for f in events._meta.concrete_fields:
        if f.column in ("pgh_id", "pgh_created_at", "pgh_label", "pgh_context_id", "pgh_obj_id"):
            continue
        if f.column not in position:
            raise RuntimeError(f"{events.__name__}.{f.column} has no counterpart among the generated columns.")
        copied.append(f.column)
    names = ["pgh_created_at", "pgh_label", "pgh_context_id", "pgh_obj_id", *copied]
    indexes = [position["id"], *(position[c] for c in copied)]
    return names, itemgetter(*indexes)
