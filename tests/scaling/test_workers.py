"""Issue 13, point 4: task-queue workers scale out on the same database (docs/SCALING.md, "Task workers").

Real ``manage.py procrastinate worker`` processes on the test database show that several workers on one
queue take each job once (procrastinate fetches with ``FOR UPDATE SKIP LOCKED``), and that a worker
killed mid-import leaves its job retried by another worker without an operator (heartbeats and the
periodic ``retry_stalled_jobs``), the retried import ending with every row once: the killed attempt's
transaction is rolled back by PostgreSQL, and a retry that finds the run still held waits its turn.
"""

from __future__ import annotations

import signal

import pytest
from django.db import connection, connections, transaction
from procrastinate.contrib.django.models import ProcrastinateEvent, ProcrastinateJob

from common.imports.files import ImportFiles
from common.imports.models import ImportFile, ImportKind, ImportRun
from common.imports.runner import execute
from common.imports.tasks import run_import
from tests.factories.people import NavigatorFactory
from tests.patients import legacy_crm_files
from tests.scaling import worker_tasks
from tests.scaling.worker_processes import Workers, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def workers(tmp_path):
    pool = Workers(tmp_path)
    try:
        yield pool
    finally:
        pool.close()
        # The queue's tables are not Django's to flush (unmanaged models).
        with connection.cursor() as cursor:
            cursor.execute(
                "TRUNCATE procrastinate_jobs, procrastinate_events, procrastinate_periodic_defers, "
                "procrastinate_workers CASCADE"
            )


def _registered_workers() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM procrastinate_workers")
        return cursor.fetchone()[0]


# --- N workers, one queue: each job taken once -------------------------------------------------------------


@pytest.fixture
def delivery_table():
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE {worker_tasks.DELIVERY_TABLE} "
            "(n int NOT NULL, worker_pid int NOT NULL, started_at timestamptz NOT NULL, finished_at timestamptz)"
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {worker_tasks.DELIVERY_TABLE}")


def test_three_workers_on_one_queue_run_each_job_exactly_once(workers, delivery_table):
    processes = [workers.start(f"worker-{i}") for i in (1, 2, 3)]
    wait_for(lambda: _registered_workers() == 3, timeout=120, what="three registered workers", logs=workers.logs)
    jobs = 60
    for n in range(jobs):
        worker_tasks.record_delivery.defer(n=n)

    def all_done():
        return ProcrastinateJob.objects.filter(task_name="scaling.record_delivery", status="succeeded").count() == jobs

    wait_for(all_done, timeout=180, what=f"{jobs} jobs succeeded", logs=workers.logs)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT n, worker_pid, started_at, finished_at FROM {worker_tasks.DELIVERY_TABLE}")
        rows = cursor.fetchall()
    # one delivery per job: no job ran twice, none was lost
    assert sorted(n for n, *_ in rows) == list(range(jobs))
    # the work was shared: every worker process took some
    by_worker = {pid: sum(1 for _, p, *_ in rows if p == pid) for pid in {p.pid for p in processes}}
    assert all(count > 0 for count in by_worker.values()), by_worker
    assert sum(by_worker.values()) == jobs
    # and ran at the same time (a worker runs one job at a time, so overlaps are between workers)
    spans = sorted((start, end) for _, _, start, end in rows)
    assert any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:], strict=False))
    # each job finished at its first attempt (procrastinate counts an attempt when it ends)
    attempts = ProcrastinateJob.objects.filter(task_name="scaling.record_delivery").values_list("attempts", flat=True)
    assert set(attempts) == {1}


# --- A worker killed mid-import: the job is retried, every row written once -------------------------------

# Tables an import writes or that change with it in ways a second execution would not repeat.
NOT_COMPARED = ("import_run", "import_file", "pghistory_context", "django_session", "django_cache")


def _table_counts() -> dict[str, int]:
    """Rows in every table of the app (the queue's own aside): a retry that wrote twice shows here."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE 'procrastinate%%'"
        )
        tables = sorted(t for (t,) in cursor.fetchall() if t not in NOT_COMPARED)
        counts = {}
        for table in tables:
            cursor.execute(f'SELECT count(*) FROM "{table}"')
            counts[table] = cursor.fetchone()[0]
    return counts


def _legacy_files(folder) -> ImportFiles:
    folder.mkdir(exist_ok=True)
    legacy_crm_files.write(folder)
    return ImportFiles.from_folder(folder, pattern="*.csv")


def _queued_real_run(folder, options) -> ImportRun:
    """A real (not dry) run of the hand-made legacy CRM export, its files stored as the upload screen does."""
    run = ImportRun.objects.create(
        kind=ImportKind.LEGACY_CRM, dry_run=False, status=ImportRun.Status.QUEUED, options=options
    )
    for path in sorted(folder.glob("*.csv")):
        content = path.read_bytes()
        ImportFile.objects.create(run=run, name=path.name, content=content, size=len(content))
    return run


def _backend_waiting_on(table: str) -> int | None:
    """The pid of the session waiting for a lock on ``table`` (the worker's, blocked by the test)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_locks WHERE relation = %s::regclass AND NOT granted AND pid <> pg_backend_pid()",
            [table],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _holds_row_exclusive(pid: int, table: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_locks WHERE pid = %s AND relation = %s::regclass "
            "AND mode = 'RowExclusiveLock' AND granted",
            [pid, table],
        )
        return cursor.fetchone() is not None


def _backend_alive(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid])
        return cursor.fetchone() is not None


@pytest.mark.parametrize(
    "client_check",
    [
        pytest.param("1", id="dead-session-closed-by-postgres"),
        pytest.param("0", id="dead-session-lingers-retry-waits"),
    ],
)
def test_a_worker_killed_mid_import_has_its_job_retried_and_every_row_written_once(workers, tmp_path, client_check):
    navigator = NavigatorFactory(email="nav@staff.example.org")
    options = {"navigator": navigator.email, "phone_region": "", "as": ""}
    # What the import writes when nothing goes wrong: run here, in a transaction rolled back.
    before = _table_counts()
    with transaction.atomic():
        execute(kind=ImportKind.LEGACY_CRM, files=_legacy_files(tmp_path / "reference"), options=options)
        expected = _table_counts()
        transaction.set_rollback(True)
    assert _table_counts() == before
    assert expected["person"] > before["person"] and expected["import_mapping"] > 0

    run = _queued_real_run(tmp_path / "reference", options)
    # The test holds eap_journey, which the importer writes last but one: the worker's import waits there
    # with people, patients, calls and trial journeys written (uncommitted), until the test lets go.
    blocker = connections.create_connection("default")
    try:
        blocker.set_autocommit(False)
        with blocker.cursor() as cursor:
            cursor.execute("LOCK TABLE eap_journey IN SHARE MODE")
        # TASK_CLIENT_CHECK_SECONDS=0: PostgreSQL does not notice the dead worker while its statement waits.
        doomed = workers.start("doomed", TASK_CLIENT_CHECK_SECONDS=client_check)
        run_import.defer(run_id=run.pk)
        pid = wait_for(
            lambda: _backend_waiting_on("eap_journey"), timeout=120, what="the import to reach", logs=workers.logs
        )
        # it has written people, patients and trial journeys, not committed
        assert all(_holds_row_exclusive(pid, table) for table in ("person", "patient", "clinical_trial_journey"))
        job = ProcrastinateJob.objects.get(task_name="imports.run_import")
        assert (job.status, job.attempts) == ("doing", 0)
        assert ImportRun.objects.get(pk=run.pk).status == ImportRun.Status.RUNNING

        survivor = workers.start("survivor")
        wait_for(lambda: _registered_workers() == 2, timeout=120, what="the second worker", logs=workers.logs)
        workers.kill("doomed")
        assert doomed.returncode == -signal.SIGKILL

        if client_check == "1":
            # PostgreSQL notices the client is gone while the statement still waits: transaction rolled back.
            wait_for(lambda: not _backend_alive(pid), timeout=30, what="the dead worker's session to end")
        else:
            # The session lives on, holding the run: the survivor requeues the job (heartbeat stopped), finds
            # the run held, and the job goes back to the queue to be tried again (not called done).
            def retried_while_held():
                job = ProcrastinateJob.objects.get(pk=run_job_id)
                return job.attempts >= 2 and job.status == "todo"

            run_job_id = ProcrastinateJob.objects.get(task_name="imports.run_import").pk
            wait_for(retried_while_held, timeout=60, what="the job retried while the run is held", logs=workers.logs)
            assert _backend_alive(pid)
            assert ImportRun.objects.get(pk=run.pk).status == ImportRun.Status.RUNNING
    finally:
        blocker.rollback()
        blocker.close()

    def finished():
        return ImportRun.objects.get(pk=run.pk).status in (ImportRun.Status.DONE, ImportRun.Status.FAILED)

    wait_for(finished, timeout=120, what="the retried import to finish", logs=workers.logs)
    run.refresh_from_db()
    assert (run.status, run.error) == (ImportRun.Status.DONE, "")
    # The worker marks the job succeeded in a commit of its own, just after the run's.
    job = wait_for(
        lambda: ProcrastinateJob.objects.filter(task_name="imports.run_import", status="succeeded").first(),
        timeout=60,
        what="the job marked succeeded",
        logs=workers.logs,
    )
    assert job.attempts >= 2  # the killed attempt, then the one that succeeded
    assert survivor.poll() is None
    event_types = list(ProcrastinateEvent.objects.filter(job=job).order_by("id").values_list("type", flat=True))
    assert event_types.count("started") >= 2  # started by the doomed worker, then again by the survivor
    # Every row once: the same counts as the reference, in every table (history events included).
    after = _table_counts()
    assert {t: n for t, n in after.items() if n != expected[t]} == {}
    assert run.report["counts"]["contact.csv"]["created"] > 0
