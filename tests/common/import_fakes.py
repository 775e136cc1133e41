"""A stand-in importer for the queue and screen tests (the real ones land with their own branches).

It reads ``contact.csv`` (a ``name`` column) and makes one medical condition per row, idempotently:
a name already there is ``unchanged``. Options steer it: ``fail`` (a bad file), ``crash`` (a bug),
``lost`` (the database connection drops), ``block`` (waits for ``RELEASE`` after its first progress
call, so a test can look from another connection while the import's transaction is open).
"""

from __future__ import annotations

import threading

from django.db import OperationalError

from common.imports.context import import_file_context
from common.imports.files import ImportFileError, read_csv
from common.imports.report import Outcome
from patients.models import MedicalCondition

RELEASE = threading.Event()
STARTED = threading.Event()


def run_import(*, files, options, report, progress, actor, run_id):
    rows = list(read_csv(files, "contact.csv", required=["name"]))
    progress(0, len(rows))
    with import_file_context(source="legacy_crm", file="contact.csv", run_id=run_id, actor=actor):
        for done, (line, row) in enumerate(rows, start=1):
            if MedicalCondition.all_objects.filter(name__iexact=row["name"]).exists():
                report.record("contact.csv", Outcome.UNCHANGED, row=line, old_id=row["name"], reason="already there")
            else:
                MedicalCondition.objects.create(name=row["name"])
                report.record("contact.csv", Outcome.CREATED, row=line, old_id=row["name"])
            progress(done, len(rows))
            if options.get("block") and done == 1:
                STARTED.set()
                RELEASE.wait(30)
    if options.get("fail"):
        raise ImportFileError("contact.csv: line 3: no name")
    if options.get("crash"):
        raise RuntimeError("something unexpected")
    if options.get("lost"):
        raise OperationalError("server closed the connection unexpectedly")
