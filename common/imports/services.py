"""Writes of the upload screen and the task queue: queue a dry run of uploaded files, repeat it for
real, and execute a queued run (the job's body).

A job is delivered at least once (a worker that dies mid-run has its job retried), so executing a run
twice must be harmless: a run already ``done`` or ``failed`` is not redone, a second delivery while the
first still runs finds the run's session lock taken and leaves, and a run left ``running`` by a dead
worker is executed again — the runner's lock per kind and the mapping table make the importers
themselves idempotent.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models.functions import Now

from common.imports.files import ImportFiles
from common.imports.models import ImportFile, ImportRun
from common.imports.progress import RunProgressWriter
from common.imports.runner import execute
from common.imports.selectors import import_kinds_for
from common.imports.uploads import UploadedImportFile, check_uploaded_files

logger = logging.getLogger(__name__)

# pg_try_advisory_lock(class, run id): held by the session executing a run (two int4 keys, so it cannot
# collide with the runner's one-bigint lock per kind).
RUN_LOCK_CLASS = zlib.crc32(b"import_run") & 0x7FFFFFFF


def _defer_run(run: ImportRun) -> None:
    """Queue the run's job in the caller's transaction: the job exists if and only if the run does."""
    from common.imports.tasks import run_import

    run_import.defer(run_id=run.pk)


@transaction.atomic
def import_run_upload(
    *, kind: str, files: Iterable[UploadedImportFile], actor, options: dict | None = None
) -> ImportRun:
    """Store uploaded files and queue their dry run.

    Only a kind the actor's role may import (``import_kinds_for``); the files are checked first
    (names, size, UTF-8: ``check_uploaded_files``) so a bad upload is a form error, not a failed run.
    """
    if kind not in import_kinds_for(actor):
        raise ValidationError({"kind": f"{kind or '(none)'}: not an import you may run"})
    files = check_uploaded_files(kind=kind, files=list(files))
    run = ImportRun.objects.create(
        kind=kind, dry_run=True, status=ImportRun.Status.QUEUED, options=dict(options or {}), created_by=actor
    )
    for upload in files:
        # One file in memory at a time (the size limit bounds it); a worker reads it back in chunks.
        content = upload.read()
        ImportFile.objects.create(run=run, name=upload.name, content=content, size=len(content))
    _defer_run(run)
    return run


@dataclass(frozen=True)
class RepeatResult:
    run: ImportRun
    created: bool


@transaction.atomic
def import_run_repeat_for_real(*, dry_run: ImportRun, actor) -> RepeatResult:
    """Queue the real import of a finished dry run: a new run with the same kind, options and files
    (copied inside PostgreSQL, never through the web server), ``previous`` = the dry run.

    Only once per dry run (a second press returns the first real run), only after the dry run is done,
    and only by someone who may run that kind.
    """
    dry_run = ImportRun.objects.select_for_update().get(pk=dry_run.pk)
    if dry_run.kind not in import_kinds_for(actor):
        raise ValidationError({"kind": f"{dry_run.kind}: not an import you may run"})
    if not dry_run.dry_run:
        raise ValidationError(f"Run #{dry_run.pk} is already a real import.")
    if dry_run.status != ImportRun.Status.DONE:
        raise ValidationError(
            f"Run #{dry_run.pk} is {dry_run.get_status_display().lower()}: only a finished dry run can be run for real."
        )
    existing = ImportRun.objects.filter(previous=dry_run, dry_run=False).order_by("id").first()
    if existing is not None:
        return RepeatResult(existing, created=False)
    run = ImportRun.objects.create(
        kind=dry_run.kind,
        dry_run=False,
        status=ImportRun.Status.QUEUED,
        options=dry_run.options,
        created_by=actor,
        previous=dry_run,
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO import_file (run_id, name, content, size) "
            "SELECT %s, name, content, size FROM import_file WHERE run_id = %s",
            [run.pk, dry_run.pk],
        )
    _defer_run(run)
    return RepeatResult(run, created=True)


def _error_text(exc: BaseException) -> str:
    from common.imports.files import ImportFileError

    if isinstance(exc, ImportFileError | ValidationError):
        return "; ".join(getattr(exc, "messages", None) or [str(exc)])
    return f"{type(exc).__name__}: {exc}"


def import_run_execute(*, run_id: int) -> str:
    """Execute a queued run once, whatever the number of deliveries; returns what happened.

    The run's status moves in autocommit (``running`` is visible at once); the import and the final
    ``done`` with its report commit together, so a real run is never done without its rows nor its
    rows without ``done``. An error in the import (a bad file, a refused row) rolls it back and marks the
    run ``failed`` with the message; a lost database connection is raised instead, so the queue retries
    the job and the run, still ``running``, is executed again.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [RUN_LOCK_CLASS, run_id])
        if not cursor.fetchone()[0]:
            logger.info("import run %s is being executed by another worker", run_id)
            return "busy"
    try:
        run = ImportRun.objects.select_related("created_by").filter(pk=run_id).first()
        if run is None:
            return "missing"
        if run.status in (ImportRun.Status.DONE, ImportRun.Status.FAILED):
            return f"already {run.status}"
        ImportRun.objects.filter(pk=run_id).update(
            status=ImportRun.Status.RUNNING, started_at=Now(), finished_at=None, rows_done=0, error=""
        )
        with RunProgressWriter(run_id) as progress:
            try:
                with transaction.atomic():
                    report = execute(
                        kind=run.kind,
                        files=ImportFiles.from_run(run),
                        options=run.options,
                        dry_run=run.dry_run,
                        actor=run.created_by,
                        progress=progress,
                        run_id=run_id,
                    )
                    # The progress connection's last write comes before this transaction locks the row.
                    progress.flush()
                    done = {"status": ImportRun.Status.DONE, "finished_at": Now(), "report": report.as_dict()}
                    if progress.writes == 0:
                        done["rows_done"] = report.count()
                    ImportRun.objects.filter(pk=run_id).update(**done)
            except (OperationalError, InterfaceError):
                raise
            except Exception as exc:
                logger.warning("import run %s failed: %s", run_id, exc, exc_info=not _is_input_error(exc))
                ImportRun.objects.filter(pk=run_id).update(
                    status=ImportRun.Status.FAILED, finished_at=Now(), error=_error_text(exc)
                )
                return "failed"
        return "done"
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [RUN_LOCK_CLASS, run_id])
        except (OperationalError, InterfaceError):
            pass  # the connection is gone, and its session lock with it


def _is_input_error(exc: BaseException) -> bool:
    from common.imports.files import ImportFileError

    return isinstance(exc, ImportFileError | ValidationError)
