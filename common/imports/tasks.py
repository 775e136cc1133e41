"""The task queue's jobs (procrastinate, in the same PostgreSQL; a worker: ``manage.py procrastinate
worker``, on this machine or another one that reaches the database).

Why procrastinate rather than django-tasks with django-tasks-db: a job whose worker dies mid-run is
delivered again (workers send heartbeats; ``retry_stalled_jobs`` requeues the jobs of a worker that
stopped sending them), jobs are retried on a lost database connection, and workers wake on
LISTEN/NOTIFY instead of polling. django-tasks-db claims a job by marking it running in its own commit,
so a worker killed mid-import leaves it running for ever (at most once), and it has no retries.
"""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError, close_old_connections, connection
from procrastinate import RetryStrategy
from procrastinate.contrib.django import app

from common.imports.services import import_run_execute

logger = logging.getLogger(__name__)

# A worker whose heartbeat (every 10 s) is older than this is taken for dead and its job requeued.
STALLED_AFTER_SECONDS = 60


def _close_stale_connection() -> None:
    """As Django does around a request: a worker thread's connection may have outlived CONN_MAX_AGE or
    the server (not inside a transaction: a test calling the job directly, or a caller's atomic block)."""
    if not connection.in_atomic_block:
        close_old_connections()


@app.task(
    name="imports.run_import",
    queue="imports",
    # Only a lost database connection is worth another try: an import's own errors mark the run failed.
    retry=RetryStrategy(max_attempts=5, wait=30, retry_exceptions={OperationalError, InterfaceError}),
)
def run_import(run_id: int) -> str:
    """Execute one ``ImportRun`` (``common.imports.services.import_run_execute``: safe to run twice)."""
    _close_stale_connection()
    try:
        outcome = import_run_execute(run_id=run_id)
    finally:
        _close_stale_connection()
    logger.info("import run %s: %s", run_id, outcome)
    return outcome


@app.periodic(cron="* * * * *", periodic_id="retry_stalled_jobs")
@app.task(name="imports.retry_stalled_jobs", queue="imports", queueing_lock="retry_stalled_jobs", pass_context=True)
async def retry_stalled_jobs(context, timestamp: int) -> None:
    """Requeue the jobs of workers that stopped sending heartbeats (killed, machine lost): at least once."""
    stalled = await context.app.job_manager.get_stalled_jobs(seconds_since_heartbeat=STALLED_AFTER_SECONDS)
    for job in stalled:
        logger.warning("requeueing job %s (%s): its worker stopped", job.id, job.task_name)
        await context.app.job_manager.retry_job(job)
