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


@contextlib.contextmanager
def bench_database() -> Iterator[None]:
    from django.conf import settings
    from django.test.utils import setup_databases, teardown_databases

    db = settings.DATABASES["default"]
    db["TEST"]["NAME"] = f"bench_{db['NAME']}"
    old = setup_databases(verbosity=0, interactive=False, keepdb=False)
    try:
        yield
    finally:
        teardown_databases(old, verbosity=0)


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
