"""The audit trail, read and written the same way everywhere.

django-pghistory installs triggers on every tracked table, so inserts, updates and deletes are
recorded by PostgreSQL itself, including ``QuerySet.update()``, ``bulk_create`` and raw SQL. Each
event points at a *context* holding who did it and through which channel:

* web requests: ``common.middleware.AuditContextMiddleware`` (user, url, request id, channel
  ``admin`` / ``api`` / ``web``; DRF's token user is picked up when DRF authenticates);
* management commands, Django's own included, however they are started (``manage.py``,
  ``call_command``): ``install_command_audit_hook`` (channel ``command``, or ``shell`` for
  ``manage.py shell``; the command's name, the OS user and the host). Web-serving commands
  (``runserver``) are left alone: each of their requests has its own context;
* scripts that call ``django.setup()`` themselves: ``with script_audit_context():`` (channel
  ``script``, the script's name, the OS user and the host);
* a DBA's psql session: ``SELECT crm_audit_context('actor', 'reason');`` (channel ``dba``; the SQL
  function is created by migration ``common.0002``; see docs/OPERATIONS.md);
* services: ``audit_context(actor=...)`` so that a service called from a script or a test still
  names its actor.

Track a model with ``@pghistory.track()`` (the default trackers, set in settings, record insert,
update and delete) and read its history with ``record_history(obj)``.
"""

from __future__ import annotations

import contextlib
import functools
import getpass
import os
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pghistory
import pghistory.runtime
from django.db import connection
from django.db.models import Q
from pghistory.models import Events


@contextlib.contextmanager
def audit_context(*, actor=None, channel: str | None = None, **metadata: Any) -> Iterator[None]:
    """Group the writes inside under one audit context, naming the actor and channel when given.

    Values already set by an enclosing context (the request's user and channel) are kept unless
    given here explicitly.
    """
    extra = {key: value for key, value in metadata.items() if value is not None}
    if actor is not None and getattr(actor, "pk", None) is not None:
        extra["user"] = str(actor.pk)
    if channel is not None:
        extra["channel"] = channel
    with pghistory.context(**extra):
        yield


# ---------------------------------------------------------------------------------------------------
# Changes made outside web requests: commands, the shell, scripts


def os_user() -> str:
    """The operating-system account running this process (the uid when it has no name, as in some
    containers)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def in_audit_context() -> bool:
    """True inside a ``pghistory.context`` of this thread (a request's, a command's, a script's)."""
    # pghistory keeps the open context in a thread-local; it has no public accessor.
    return hasattr(pghistory.runtime._tracker, "value")


@contextlib.contextmanager
def process_audit_context(*, channel: str, **metadata: Any) -> Iterator[None]:
    """Attribute the writes inside to this process: ``channel``, the OS user, the host, ``metadata``.

    Inside an existing context it adds nothing: pghistory merges nested contexts into one row, and the
    outer one (a request, the command that called this one) already says where the change came from.
    """
    if in_audit_context():
        yield
        return
    with pghistory.context(channel=channel, os_user=os_user(), host=socket.gethostname(), **metadata):
        yield


def script_audit_context(name: str | None = None):
    """For scripts that call ``django.setup()`` themselves: ``with script_audit_context(): ...``
    (or as a decorator) records channel ``script``, the script's name and the OS user."""
    return process_audit_context(channel="script", script=name or Path(sys.argv[0] or "python").name)


# Commands that serve web requests: a context entered for the whole process would merge every
# request's changes into one context row, so they get none (each request opens its own).
# The task queue's worker (`procrastinate worker`) is one of them: each import job opens one context per
# input file (common.imports.context), which pghistory would merge into a process-wide one.
UNAUDITED_COMMANDS = frozenset({"runserver", "testserver", "test", "procrastinate"})
SHELL_COMMANDS = frozenset({"shell", "shell_plus"})


def command_name(command) -> str:
    return type(command).__module__.rsplit(".", 1)[-1]


def command_channel(command) -> str | None:
    """``command``, ``shell`` for the interactive shells, None for commands that serve requests.

    A command class may set ``audit_channel`` (None: no process-wide context, e.g. a long-running
    worker that opens one context per job)."""
    if hasattr(command, "audit_channel"):
        return command.audit_channel
    name = command_name(command)
    if name in UNAUDITED_COMMANDS:
        return None
    return "shell" if name in SHELL_COMMANDS else "command"


def _escape_percent_under_context(execute, sql, params, many, context):
    """Double the ``%`` of a statement sent without parameters when pghistory is about to add some.

    Inside a context pghistory prepends ``set_config(..., %s)`` with parameters to each statement, so a
    statement that had none — a migration's ``RunSQL`` with a literal ``%``, as in procrastinate's SQL
    functions — would have its ``%`` read as placeholders and fail."""
    if (
        params is None
        and not many
        and isinstance(sql, str)
        and "%" in sql
        and in_audit_context()
        and pghistory.runtime._can_inject_variable(context["cursor"], sql)
    ):
        sql = sql.replace("%", "%%")
    return execute(sql, params, many, context)


def install_command_audit_hook() -> None:
    """Run every management command inside a process audit context (called from ``CommonConfig.ready``).

    Django has no hook around command execution, so ``BaseCommand.execute`` is wrapped once; this
    covers ``manage.py``, ``call_command`` and Django's own commands (``loaddata``, ``shell -c``, ...).
    """
    from django.core.management.base import BaseCommand

    original = BaseCommand.execute
    if getattr(original, "crm_audited", False):
        return

    @functools.wraps(original)
    def execute(self, *args, **options):
        channel = command_channel(self)
        if channel is None:
            return original(self, *args, **options)
        # Installed before the context, so it runs before pghistory's own wrapper (see below).
        with (
            connection.execute_wrapper(_escape_percent_under_context),
            process_audit_context(channel=channel, command=command_name(self)),
        ):
            return original(self, *args, **options)

    execute.crm_audited = True  # type: ignore[attr-defined]
    BaseCommand.execute = execute


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    action: str  # "insert", "update" or "delete"
    model: str
    object_id: str
    user_id: str | None
    username: str | None
    channel: str | None
    changes: dict[str, list[Any]]  # field -> [old, new]; on insert, every field -> [None, value]
    data: dict[str, Any]
    context: dict[str, Any]

    @property
    def who(self) -> str | None:
        """The app user; outside the app, the DBA's declared actor or the OS user of the process."""
        if self.username:
            return self.username
        if self.context.get("actor"):
            return f"{self.context['actor']} (DBA)"
        if self.context.get("os_user"):
            return f"{self.context['os_user']} (OS user)"
        return None


_ACTIONS = {"insert": "insert", "update": "update", "delete": "delete"}


def history_queryset(*objs, newest_first: bool = False):
    """The raw pghistory events of the given objects, oldest first (or newest first)."""
    order = ("-pgh_created_at", "-pgh_id") if newest_first else ("pgh_created_at", "pgh_id")
    return Events.objects.tracks(*objs).order_by(*order)


def audit_entries(events) -> list[AuditEntry]:
    """``AuditEntry`` objects for a batch of pghistory events (one query for the users they name)."""
    from django.contrib.auth import get_user_model

    events = list(events)
    user_ids = {str(e.pgh_context["user"]) for e in events if e.pgh_context and e.pgh_context.get("user")}
    # Always one query, even when no event names a user (``pk__in=[]`` alone runs none): a page costs
    # the same queries whatever its events say, so the API's query-count guarantees hold.
    named = get_user_model().objects.filter(Q(pk__in=user_ids) | Q(pk__isnull=True))
    users = {str(u.pk): u.get_username() for u in named}
    entries = []
    for event in events:
        context = event.pgh_context or {}
        user_id = str(context["user"]) if context.get("user") else None
        action = _ACTIONS.get(event.pgh_label, event.pgh_label)
        if action == "insert":
            changes = {field: [None, value] for field, value in (event.pgh_data or {}).items()}
        else:
            changes = event.pgh_diff or {}
        entries.append(
            AuditEntry(
                at=event.pgh_created_at,
                action=action,
                model=event.pgh_obj_model,
                object_id=str(event.pgh_obj_id),
                user_id=user_id,
                username=users.get(user_id) if user_id else None,
                channel=context.get("channel"),
                changes=changes,
                data=event.pgh_data or {},
                context=context,
            )
        )
    return entries


class AuditTrail:
    """One object's audit trail, read lazily: ``len()`` / ``count()`` is a ``COUNT``, a slice reads only
    that page (two queries: the events, the users they name), iteration reads batches of
    ``chunk_size``. Pagination (DRF's, Django's ``Paginator``) therefore never loads the whole history,
    however long it grows. Indexing (negative too) reads one event."""

    chunk_size = 500

    def __init__(self, obj, *, newest_first: bool = False):
        self.obj = obj
        self.newest_first = newest_first
        self._queryset = history_queryset(obj, newest_first=newest_first)
        self._count: int | None = None

    def count(self) -> int:
        if self._count is None:
            self._count = self._queryset.count()
        return self._count

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index):
        if isinstance(index, slice):
            if index.step not in (None, 1) or (index.start or 0) < 0 or (index.stop or 0) < 0:
                return list(self)[index]  # unusual slices: correct, not bounded
            return audit_entries(self._queryset[index])
        if index < 0:
            index += self.count()
            if index < 0:
                raise IndexError("audit trail index out of range")
        found = audit_entries(self._queryset[index : index + 1])
        if not found:
            raise IndexError("audit trail index out of range")
        return found[0]

    def __iter__(self) -> Iterator[AuditEntry]:
        # Keyset batches on the sort key (created_at, event id): each batch is an index range, not an OFFSET.
        after = "lt" if self.newest_first else "gt"
        queryset = self._queryset
        while True:
            events = list(queryset[: self.chunk_size])
            yield from audit_entries(events)
            if len(events) < self.chunk_size:
                return
            at, pk = events[-1].pgh_created_at, events[-1].pgh_id
            queryset = self._queryset.filter(
                Q(**{f"pgh_created_at__{after}": at}) | Q(pgh_created_at=at, **{f"pgh_id__{after}": pk})
            )

    def __bool__(self) -> bool:
        return self._queryset.exists()

    def __eq__(self, other) -> bool:
        return list(self) == list(other) if isinstance(other, (list, AuditTrail)) else NotImplemented

    __hash__ = None  # type: ignore[assignment]


def record_history(obj, *, newest_first: bool = False) -> AuditTrail:
    """Every recorded change of ``obj``, oldest first (or newest first), with who made it and through
    which channel: a lazy ``AuditTrail`` (count, slice and iterate it; ``list()`` loads it all)."""
    return AuditTrail(obj, newest_first=newest_first)
