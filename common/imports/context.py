"""The audit context of imported rows: channel ``import``, the importer, the file, the run, the actor."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import pghistory

from common.audit import os_user


@contextlib.contextmanager
def import_file_context(*, source: str, file: str, run_id: int | None = None, actor=None) -> Iterator[None]:
    """Open a new audit context for the rows written from one input file.

    pghistory merges nested contexts into one row whose metadata is the last one set, so this must be
    entered at the top level — not inside a request's or a command's context — for each file in turn
    (import commands set ``audit_channel = None`` for that reason): every file then has its own context
    and its events say which file they came from.
    """
    metadata = {
        "channel": "import",
        "importer": source,
        "file": file,
        "os_user": os_user(),
        "host": socket.gethostname(),
    }
    if run_id is not None:
        metadata["import_run"] = run_id
    if actor is not None and getattr(actor, "pk", None) is not None:
        metadata["user"] = str(actor.pk)
    with pghistory.context(**metadata):
        yield
