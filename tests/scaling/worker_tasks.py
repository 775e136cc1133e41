"""A test-only task for tests/scaling/test_workers.py, registered in the test settings only
(``PROCRASTINATE_IMPORT_PATHS``), as tests/merge_app is installed only there.

Each delivery writes one row (no unique constraint: a job run twice would leave two rows) naming the
worker process that ran it, in the job's own transaction, and holds it a moment as real work would.
"""

from __future__ import annotations

import os

from django.db import connection, transaction
from procrastinate.contrib.django import app

DELIVERY_TABLE = "scaling_task_delivery"


@app.task(name="scaling.record_delivery", queue="imports")
def record_delivery(n: int) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {DELIVERY_TABLE} (n, worker_pid, started_at) VALUES (%s, %s, clock_timestamp())",
            [n, os.getpid()],
        )
        cursor.execute("SELECT pg_sleep(0.1)")
        cursor.execute(f"UPDATE {DELIVERY_TABLE} SET finished_at = clock_timestamp() WHERE n = %s", [n])
