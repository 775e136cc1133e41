"""Run an importer: in one transaction, rolled back for a dry run, one run of a kind at a time.

The management commands and the task queue's job (``common.imports.tasks``) both call ``execute``.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Protocol

from django.db import connection, transaction
from django.utils.module_loading import import_string

from common.imports.files import ImportFiles
from common.imports.models import ImportKind
from common.imports.report import ImportReport

# kind -> the importer's entry point (see the protocol below)
IMPORTERS: dict[str, str] = {
    ImportKind.LEGACY_CRM: "patients.imports.legacy_crm.run_import",
    ImportKind.CM_PATIENTS: "cm_program.imports.cm_patients.run_import",
    ImportKind.INTAKEQ: "cm_program.imports.intakeq.run_import",
}

# rows done, rows expected (None when unknown)
ProgressCallback = Callable[[int, "int | None"], None]


class Importer(Protocol):
    def __call__(
        self,
        *,
        files: ImportFiles,
        options: dict,
        report: ImportReport,
        progress: ProgressCallback,
        actor,
        run_id: int | None,
    ) -> None: ...


class _RollBack(Exception):
    pass


def _no_progress(done: int, total: int | None) -> None:
    return None


def execute(
    *,
    kind: str,
    files: ImportFiles,
    options: dict | None = None,
    dry_run: bool = False,
    actor=None,
    report: ImportReport | None = None,
    progress: ProgressCallback | None = None,
    run_id: int | None = None,
) -> ImportReport:
    """Run the importer of ``kind`` over ``files`` and return its report.

    Everything happens in one transaction: an error leaves nothing behind, and a dry run does all the
    work (the report is the real one) and then rolls back. A transaction-level advisory lock per kind
    makes a second run of the same importer (an operator's and the queue's, or a job delivered twice)
    wait for the first and then find its rows in the mapping table instead of making them again.
    """
    importer: Importer = import_string(IMPORTERS[kind])
    report = report if report is not None else ImportReport()
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [zlib.crc32(f"import:{kind}".encode())])
            importer(
                files=files,
                options=dict(options or {}),
                report=report,
                progress=progress or _no_progress,
                actor=actor,
                run_id=run_id,
            )
            if dry_run:
                raise _RollBack
    except _RollBack:
        report.note("Dry run: everything above was done and then rolled back; nothing was saved.")
    return report
