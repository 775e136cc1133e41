"""Progress of a queued run, written where the upload page can see it while the import still runs.

The import is one transaction: anything it writes, ``ImportRun.rows_done`` included, stays invisible
until it commits. So progress goes through a connection of its own in autocommit, and at most once per
``interval`` seconds (an import calls back once per batch; a page refreshes every few seconds).
"""

from __future__ import annotations

import time

from django.db import DEFAULT_DB_ALIAS, connections

# Seconds between two writes of the same run's progress (the first and the last are always written).
PROGRESS_INTERVAL = 1.0


class RunProgressWriter:
    """A ``ProgressCallback`` (``writer(done, total)``) that updates one ``ImportRun`` row.

    Use it as a context manager: the connection is opened on the first write and closed on exit.
    ``flush()`` writes the last figures; it must run before the import's own transaction touches the run
    row, or that transaction and this connection would wait for each other.
    """

    def __init__(self, run_id: int, *, interval: float | None = None, using: str = DEFAULT_DB_ALIAS) -> None:
        self.run_id = run_id
        self.interval = PROGRESS_INTERVAL if interval is None else interval
        self.using = using
        self._connection = None
        self._last_write = float("-inf")
        self._pending: tuple[int, int | None] | None = None
        self.writes = 0

    def __enter__(self) -> RunProgressWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __call__(self, done: int, total: int | None) -> None:
        self._pending = (int(done), None if total is None else int(total))
        if time.monotonic() - self._last_write >= self.interval:
            self.flush()

    def flush(self) -> None:
        if self._pending is None:
            return
        done, total = self._pending
        if self._connection is None:
            # A new connection, not the thread's: it is in autocommit, outside the import's transaction.
            self._connection = connections.create_connection(self.using)
        with self._connection.cursor() as cursor:
            cursor.execute(
                "UPDATE import_run SET rows_done = %s, rows_total = %s WHERE id = %s",
                [done, total, self.run_id],
            )
        self._pending = None
        self._last_write = time.monotonic()
        self.writes += 1

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
