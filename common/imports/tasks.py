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

from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, connection
from procrastinate import BaseRetryStrategy, RetryDecision
from procrastinate.contrib.django import app

from common.imports.services import import_run_execute

logger = logging.getLogger(__name__)

# A lost database connection: this many attempts in all, this far apart.
LOST_CONNECTION_ATTEMPTS = 5
LOST_CONNECTION_WAIT_SECONDS = 30
# A run still held by an earlier delivery (``ImportRunBusy``): tried again this often, for up to an hour.
BUSY_WAIT_SECONDS = 10
BUSY_ATTEMPTS = 360


class ImportRunBusy(Exception):
    """The run's lock is held by an earlier delivery: a worker still running it, or the session of a
    worker that died and that PostgreSQL has not closed yet. Retried later: the first ends ``done``
    (the retry then does nothing) or its session goes and the retry executes the run."""


class ImportRetryStrategy(BaseRetryStrategy):
    """Only what another try can cure: a lost database connection, a run still held by a dead worker's
    session. An import's own errors mark the run failed and are not raised."""

    def get_retry_decision(self, *, exception: BaseException, job) -> RetryDecision | None:
        if isinstance(exception, ImportRunBusy):
            limit, wait = BUSY_ATTEMPTS, BUSY_WAIT_SECONDS
        elif isinstance(exception, OperationalError | InterfaceError):
            limit, wait = LOST_CONNECTION_ATTEMPTS, LOST_CONNECTION_WAIT_SECONDS
        else:
            return None
        if job.attempts + 1 >= limit:
            return None
        return RetryDecision(retry_in={"seconds": wait})


def _close_stale_connection() -> None:
    """As Django does around a request: a worker thread's connection may have outlived CONN_MAX_AGE or
    the server (not inside a transaction: a test calling the job directly, or a caller's atomic block)."""
    if not connection.in_atomic_block:
        close_old_connections()


def _watch_for_a_dead_worker() -> None:
    """Have PostgreSQL check every few seconds that this worker is still connected, even while one of
    its statements runs or waits for a lock: a worker killed mid-import then loses its transaction and
    its locks within seconds, not when the statement ends (``TASK_CLIENT_CHECK_SECONDS``; PostgreSQL 14+).
    A session setting: workers connect to PostgreSQL directly, never through a transaction pooler."""
    seconds = settings.TASK_CLIENT_CHECK_SECONDS
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('client_connection_check_interval', %s, false)", [f"{seconds}s"])


@app.task(name="imports.run_import", queue="imports", retry=ImportRetryStrategy())
def run_import(run_id: int) -> str:
    """Execute one ``ImportRun`` (``common.imports.services.import_run_execute``: safe to run twice)."""
    _close_stale_connection()
    try:
        _watch_for_a_dead_worker()
        outcome = import_run_execute(run_id=run_id)
    finally:
        _close_stale_connection()
    logger.info("import run %s: %s", run_id, outcome)
    if outcome == "busy":
        raise ImportRunBusy(f"import run {run_id} is held by an earlier delivery; trying again later")
    return outcome


def _every(seconds: int) -> str:
    """A cron line for "every ``seconds`` seconds" (a divisor of 60; croniter's sixth field is seconds)."""
    return "* * * * *" if seconds == 60 else f"* * * * * */{seconds}"


@app.periodic(cron=_every(settings.TASK_STALLED_CHECK_SECONDS), periodic_id="retry_stalled_jobs")
@app.task(name="imports.retry_stalled_jobs", queue="imports", queueing_lock="retry_stalled_jobs", pass_context=True)
async def retry_stalled_jobs(context, timestamp: int) -> None:
    """Requeue the jobs of workers that stopped sending heartbeats (killed, machine lost): at least once."""
    stalled = await context.app.job_manager.get_stalled_jobs(
        seconds_since_heartbeat=settings.TASK_STALLED_AFTER_SECONDS
    )
    for job in stalled:
        logger.warning("requeueing job %s (%s): its worker stopped", job.id, job.task_name)
        await context.app.job_manager.retry_job(job)
