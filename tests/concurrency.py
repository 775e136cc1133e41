"""Helpers of the race tests: real threads, each with its own database connection."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from django.db import connection


def post_concurrently(count: int, post: Callable[[int], object]) -> list[tuple]:
    """Call ``post(i)`` in ``count`` threads (each its own client and connection), released together by
    a barrier. Returns (status code, JSON body) per request, or ("error", repr) when the request raised
    (a 500 in a test client)."""
    barrier = threading.Barrier(count)
    outcomes: list = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            response = post(index)
            outcomes[index] = (response.status_code, response.json())
        except Exception as exc:  # a server error: the test's assertion shows it
            outcomes[index] = ("error", repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return outcomes


def wait_until_a_session_waits_for_a_lock(deadline_seconds: float = 30) -> None:
    """Block until another session of this database waits for a lock (a row lock, or a unique index
    entry that an uncommitted transaction holds): that session's statement has started."""
    deadline = time.monotonic() + deadline_seconds
    with connection.cursor() as cursor:
        while True:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0]:
                return
            if time.monotonic() > deadline:
                raise AssertionError("no session started waiting for the lock")
            time.sleep(0.01)
