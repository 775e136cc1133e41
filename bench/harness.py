"""Shared set-up for the benchmarks: Django on a throw-away database, timing and query counting.

Benchmarks print figures; they never assert on time. They run on whichever PostgreSQL the project
uses (the embedded server, or ``DATABASE_URL``), in a database named ``bench_<name>`` that is created
for the run and dropped afterwards, so they never touch your data or the test database.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm_project.settings.local")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


# The COMMENT on the throw-away databases the benchmarks create: only a database carrying it (one an interrupted
# run left behind) may be dropped and created again under the same name.
THROWAWAY_MARKER = "bench throw-away"


def server_connection(settings_dict: dict):
    """An autocommit connection to the server's ``postgres`` database (CREATE, DROP and COMMENT ON DATABASE)."""
    import psycopg

    return psycopg.connect(
        dbname="postgres",
        user=settings_dict.get("USER") or None,
        password=settings_dict.get("PASSWORD") or None,
        host=settings_dict.get("HOST") or None,
        port=settings_dict.get("PORT") or None,
        autocommit=True,
    )


def database_comment(conn, name: str) -> tuple[bool, str | None]:
    """(whether database ``name`` exists, its COMMENT), read through ``conn`` (``server_connection``)."""
    row = conn.execute(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", [name]
    ).fetchone()
    return row is not None, row[0] if row is not None else None


def refuse_foreign_database(name: str, settings_dict: dict) -> None:
    """Stop (SystemExit, naming the database) when ``name`` exists and is not a benchmark's throw-away database.

    Why: Django's ``setup_databases(interactive=False)`` drops a database of the test name without asking. A
    benchmark named ``crm_bench`` after ``DATABASE_URL``'s ``crm`` once dropped the 9 GB database that
    ``bench.generate`` had made under that name (its default)."""
    with server_connection(settings_dict) as conn:
        exists, comment = database_comment(conn, name)
    if exists and comment != THROWAWAY_MARKER:
        made_by = f" (its comment: {comment!r})" if comment else ""
        raise SystemExit(
            f"Database '{name}' exists and is not a benchmark's throw-away database{made_by}: refusing to drop it. "
            "Drop it yourself, or point DATABASE_URL at another database name."
        )


@contextlib.contextmanager
def throwaway_database(name: str) -> Iterator[None]:
    """Django on a database ``name`` created and migrated for the run and dropped after it; refuses to replace a
    database of that name that it did not create (``refuse_foreign_database``)."""
    from django.conf import settings
    from django.test.utils import setup_databases, teardown_databases
    from psycopg import sql

    db = settings.DATABASES["default"]
    refuse_foreign_database(name, db)
    db["TEST"]["NAME"] = name
    old = setup_databases(verbosity=0, interactive=False, keepdb=False)
    with server_connection(db) as conn:
        comment = sql.SQL("COMMENT ON DATABASE {} IS {}")
        conn.execute(comment.format(sql.Identifier(name), sql.Literal(THROWAWAY_MARKER)))
    try:
        yield
    finally:
        teardown_databases(old, verbosity=0)


def bench_database() -> contextlib.AbstractContextManager[None]:
    """The benchmarks' throw-away database, ``bench_<DATABASE_URL's name>``."""
    from django.conf import settings

    return throwaway_database(f"bench_{settings.DATABASES['default']['NAME']}")


def measure(label: str, fn: Callable[[], object], *, repeat: int = 5) -> dict:
    """Run ``fn`` ``repeat`` times; print median and best wall time, SQL queries and peak Python memory."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times = []
    queries = 0
    for i in range(repeat):
        with CaptureQueriesContext(connection) as ctx:
            if i == 0:
                tracemalloc.start()
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
            if i == 0:
                peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
        queries = len(ctx.captured_queries)
    row = {
        "label": label,
        "median_ms": statistics.median(times) * 1000,
        "best_ms": min(times) * 1000,
        "queries": queries,
        "peak_kib": peak / 1024,
    }
    print(
        f"  {label:<52} median {row['median_ms']:9.1f} ms   best {row['best_ms']:9.1f} ms   "
        f"{row['queries']:4d} queries   peak {row['peak_kib']:9.0f} KiB"
    )
    return row
