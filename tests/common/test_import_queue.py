"""The task queue's import job: a queued run executed once per run whatever the deliveries, its report
and status stored, progress written from a connection of its own (issue 11, part 4)."""

from __future__ import annotations

import threading

import pytest
from django.db import OperationalError, ProgrammingError, connection, connections
from procrastinate.contrib.django.models import ProcrastinateJob

from common.imports import services, tasks
from common.imports.models import ImportFile, ImportKind, ImportRun
from common.imports.progress import RunProgressWriter
from common.imports.runner import IMPORTERS
from patients.models import MedicalCondition
from tests.common import import_fakes
from tests.conftest import make_user


@pytest.fixture
def fake_importer(monkeypatch):
    monkeypatch.setitem(IMPORTERS, ImportKind.LEGACY_CRM, "tests.common.import_fakes.run_import")


def _run(*, names=("Zeta", "Eta"), dry_run=True, options=None, status=ImportRun.Status.QUEUED, actor=None):
    run = ImportRun.objects.create(
        kind=ImportKind.LEGACY_CRM, dry_run=dry_run, status=status, options=options or {}, created_by=actor
    )
    body = ("name\n" + "".join(f"{n}\n" for n in names)).encode()
    ImportFile.objects.create(run=run, name="contact.csv", content=body, size=len(body))
    return run


def _conditions(*names):
    return MedicalCondition.all_objects.filter(name__in=names).count()


@pytest.mark.django_db
def test_a_dry_run_stores_its_report_and_writes_nothing(fake_importer):
    run = _run()
    assert tasks.run_import(run_id=run.pk) == "done"
    run.refresh_from_db()
    assert run.status == ImportRun.Status.DONE and run.started_at and run.finished_at and run.error == ""
    assert run.report["counts"] == {"contact.csv": {"created": 2}}
    assert run.report["rows"] == 2
    assert any("nothing was saved" in note for note in run.report["notes"])
    assert _conditions("Zeta", "Eta") == 0


@pytest.mark.django_db
def test_a_real_run_writes_its_rows_as_the_supervisor_who_started_it(fake_importer):
    from pghistory.models import Events

    supervisor = make_user("crmsup", "CRM Supervisors")
    run = _run(dry_run=False, actor=supervisor)
    assert services.import_run_execute(run_id=run.pk) == "done"
    run.refresh_from_db()
    assert run.status == ImportRun.Status.DONE
    assert run.report["counts"] == {"contact.csv": {"created": 2}}
    assert _conditions("Zeta", "Eta") == 2
    event = Events.objects.filter(pgh_obj_id=str(MedicalCondition.all_objects.get(name="Zeta").pk)).get()
    assert event.pgh_context["channel"] == "import"
    assert event.pgh_context["import_run"] == run.pk
    assert event.pgh_context["user"] == str(supervisor.pk)


@pytest.mark.django_db
def test_a_second_delivery_of_a_finished_run_does_nothing(fake_importer):
    run = _run(dry_run=False)
    services.import_run_execute(run_id=run.pk)
    run.refresh_from_db()
    report, finished = run.report, run.finished_at
    assert services.import_run_execute(run_id=run.pk) == "already done"
    run.refresh_from_db()
    assert (run.report, run.finished_at) == (report, finished)
    assert MedicalCondition.all_objects.filter(name="Zeta").count() == 1


@pytest.mark.django_db
def test_a_run_left_running_by_a_dead_worker_is_executed_again_and_finds_its_rows(fake_importer):
    run = _run(dry_run=False)
    services.import_run_execute(run_id=run.pk)
    # The worker died after the import committed: the queue delivers the job again to a run "running".
    ImportRun.objects.filter(pk=run.pk).update(status=ImportRun.Status.RUNNING)
    assert services.import_run_execute(run_id=run.pk) == "done"
    run.refresh_from_db()
    assert run.status == ImportRun.Status.DONE
    assert run.report["counts"] == {"contact.csv": {"unchanged": 2}}
    assert MedicalCondition.all_objects.filter(name="Zeta").count() == 1


@pytest.mark.django_db
def test_a_delivery_while_another_worker_runs_it_leaves_it_alone(fake_importer):
    run = _run(status=ImportRun.Status.RUNNING)
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [services.RUN_LOCK_CLASS, run.pk])
        assert services.import_run_execute(run_id=run.pk) == "busy"
        # the job raises, so the queue tries again later instead of calling the job done
        with pytest.raises(tasks.ImportRunBusy, match=f"import run {run.pk} is held"):
            tasks.run_import(run_id=run.pk)
    finally:
        other.close()
    run.refresh_from_db()
    assert run.status == ImportRun.Status.RUNNING and run.report == {}


@pytest.mark.django_db
def test_a_failing_import_marks_the_run_failed_with_the_reason_and_writes_nothing(fake_importer):
    run = _run(dry_run=False, options={"fail": True})
    assert tasks.run_import(run_id=run.pk) == "failed"
    run.refresh_from_db()
    assert run.status == ImportRun.Status.FAILED and run.finished_at
    assert run.error == "contact.csv: line 3: no name"
    assert run.report == {}
    assert _conditions("Zeta", "Eta") == 0
    # and it is not retried: a failed run stays failed
    assert services.import_run_execute(run_id=run.pk) == "already failed"


@pytest.mark.django_db
def test_an_unexpected_error_is_named_on_the_run(fake_importer):
    run = _run(dry_run=False, options={"crash": True})
    assert services.import_run_execute(run_id=run.pk) == "failed"
    run.refresh_from_db()
    assert run.status == ImportRun.Status.FAILED
    assert run.error == "RuntimeError: something unexpected"
    assert _conditions("Zeta", "Eta") == 0


@pytest.mark.django_db
def test_a_lost_connection_is_left_to_the_queue_to_retry(fake_importer):
    run = _run(dry_run=False, options={"lost": True})
    with pytest.raises(OperationalError):
        tasks.run_import(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == ImportRun.Status.RUNNING  # the retry executes it again
    assert _conditions("Zeta", "Eta") == 0
    job = ProcrastinateJob(attempts=0)
    decision = tasks.run_import.retry_strategy.get_retry_decision(exception=OperationalError("lost"), job=job)
    assert decision is not None
    job.attempts = tasks.LOST_CONNECTION_ATTEMPTS - 1  # the last attempt: no more
    assert tasks.run_import.retry_strategy.get_retry_decision(exception=OperationalError("lost"), job=job) is None


def test_only_a_lost_connection_or_a_held_run_is_retried():
    strategy = tasks.run_import.retry_strategy
    first = ProcrastinateJob(attempts=0)
    assert strategy.get_retry_decision(exception=RuntimeError("a bug"), job=first) is None
    busy = strategy.get_retry_decision(exception=tasks.ImportRunBusy("held"), job=first)
    lost = strategy.get_retry_decision(exception=OperationalError("lost"), job=first)
    assert busy is not None and lost is not None
    # a held run is tried again sooner and for longer than a lost connection (an hour in all)
    assert tasks.BUSY_WAIT_SECONDS * tasks.BUSY_ATTEMPTS == 3600
    late = ProcrastinateJob(attempts=tasks.LOST_CONNECTION_ATTEMPTS + 10)
    assert strategy.get_retry_decision(exception=tasks.ImportRunBusy("held"), job=late) is not None
    assert strategy.get_retry_decision(exception=OperationalError("lost"), job=late) is None


@pytest.mark.django_db
def test_a_missing_run_or_a_missing_importer_is_reported_not_raised(monkeypatch):
    assert services.import_run_execute(run_id=987654) == "missing"
    monkeypatch.setitem(IMPORTERS, ImportKind.LEGACY_CRM, "tests.common.import_fakes.no_such_importer")
    run = _run()
    assert services.import_run_execute(run_id=run.pk) == "failed"
    run.refresh_from_db()
    assert "no_such_importer" in run.error


@pytest.mark.django_db
def test_the_upload_service_stores_the_files_and_queues_one_job_in_the_same_transaction(fake_importer):
    from django.core.files.uploadedfile import SimpleUploadedFile

    supervisor = make_user("crmsup", "CRM Supervisors")
    run = services.import_run_upload(
        kind=ImportKind.LEGACY_CRM,
        files=[SimpleUploadedFile("contact.csv", b"name\nZeta\n")],
        actor=supervisor,
    )
    assert (run.status, run.dry_run, run.created_by) == (ImportRun.Status.QUEUED, True, supervisor)
    assert bytes(ImportFile.objects.get(run=run).content) == b"name\nZeta\n"
    job = ProcrastinateJob.objects.get(task_name="imports.run_import", args__run_id=run.pk)
    assert (job.args, job.queue_name, job.status) == ({"run_id": run.pk}, "imports", "todo")


# --- Real connections: the worker, and progress seen while the import's transaction is open ----------------


@pytest.fixture
def empty_queue_after():
    """The queue's tables are not Django's to flush (unmanaged models): a transactional test empties them."""
    yield
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE procrastinate_jobs, procrastinate_events, procrastinate_periodic_defers, "
            "procrastinate_workers CASCADE"
        )


@pytest.mark.django_db(transaction=True)
def test_the_procrastinate_worker_runs_the_queued_job(fake_importer, empty_queue_after):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from procrastinate.contrib.django import app

    supervisor = make_user("crmsup", "CRM Supervisors")
    run = services.import_run_upload(
        kind=ImportKind.LEGACY_CRM, files=[SimpleUploadedFile("contact.csv", b"name\nZeta\n")], actor=supervisor
    )
    # As `manage.py procrastinate worker` does: its own psycopg connections. wait=False: run every job
    # that is there, then stop (no background process is left running). In a thread of its own, as the
    # worker is a process of its own: the worker runs an asyncio loop, which cannot start in a thread
    # where another one runs (the browser tests' Playwright leaves one in the main thread of a worker).
    failures = []

    def worker():
        try:
            with app.replace_connector(app.connector.get_worker_connector()):
                app.run_worker(queues=["imports"], wait=False, install_signal_handlers=False, listen_notify=False)
        except BaseException as exc:  # noqa: BLE001 - reported below, in the test's thread
            failures.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(120)
    assert not thread.is_alive(), "the worker did not finish"
    assert not failures, failures
    run.refresh_from_db()
    assert run.status == ImportRun.Status.DONE
    assert run.report["counts"] == {"contact.csv": {"created": 1}}
    assert ProcrastinateJob.objects.get(task_name="imports.run_import", args__run_id=run.pk).status == "succeeded"
    assert _conditions("Zeta") == 0  # a dry run


@pytest.mark.django_db(transaction=True)
def test_progress_is_visible_from_another_connection_while_the_import_is_uncommitted(fake_importer, monkeypatch):
    monkeypatch.setattr("common.imports.progress.PROGRESS_INTERVAL", 0)  # every call written (throttle: below)
    import_fakes.STARTED.clear()
    import_fakes.RELEASE.clear()
    run = _run(names=("Zeta", "Eta", "Theta"), dry_run=False, options={"block": True})
    outcome = []

    def worker():
        try:
            outcome.append(services.import_run_execute(run_id=run.pk))
        finally:
            connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        assert import_fakes.STARTED.wait(30), "the import did not start"
        seen = ImportRun.objects.get(pk=run.pk)  # this thread's own connection
        assert seen.status == ImportRun.Status.RUNNING
        assert (seen.rows_done, seen.rows_total) == (1, 3)
        assert _conditions("Zeta") == 0  # the import's own rows are not committed yet
    finally:
        import_fakes.RELEASE.set()
        thread.join(60)
    assert outcome == ["done"]
    run.refresh_from_db()
    assert (run.status, run.rows_done, run.rows_total) == (ImportRun.Status.DONE, 3, 3)
    assert _conditions("Zeta", "Eta", "Theta") == 3


@pytest.mark.django_db(transaction=True)
def test_progress_writes_are_throttled_and_the_last_figures_flushed():
    run = ImportRun.objects.create(kind=ImportKind.LEGACY_CRM)
    with RunProgressWriter(run.pk, interval=3600) as progress:
        for done in range(1, 101):
            progress(done, 100)
        assert progress.writes == 1
        assert ImportRun.objects.get(pk=run.pk).rows_done == 1
        progress.flush()
        assert progress.writes == 2
    assert ImportRun.objects.values_list("rows_done", "rows_total").get(pk=run.pk) == (100, 100)


# --- The worker command and the audit trail ---------------------------------------------------------------


def test_the_worker_command_opens_no_process_wide_audit_context():
    # Each import job opens one context per input file; pghistory would merge them into a process-wide one.
    from procrastinate.contrib.django.management.commands.procrastinate import Command

    from common.audit import command_channel

    assert command_channel(Command()) is None


@pytest.mark.django_db
def test_a_literal_percent_runs_under_a_commands_audit_context():
    """procrastinate's migrations send SQL with % and no parameters; pghistory adds parameters to it."""
    from common.audit import _escape_percent_under_context, process_audit_context

    sql = "CREATE TEMP TABLE pct (v text); INSERT INTO pct VALUES ('100%')"
    with (
        connection.execute_wrapper(_escape_percent_under_context),
        process_audit_context(channel="command"),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)
        cursor.execute("SELECT v FROM pct")
        assert cursor.fetchone() == ("100%",)
    # without it, pghistory's parameters make psycopg read the % as a placeholder
    with (
        pytest.raises(ProgrammingError, match="placeholders"),
        process_audit_context(channel="command"),
        connection.cursor() as cursor,
    ):
        cursor.execute("INSERT INTO pct VALUES ('5%')")
