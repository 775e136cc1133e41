"""The audit trail, read and written the same way everywhere.

django-pghistory installs triggers on every tracked table, so inserts, updates and deletes are
recorded by PostgreSQL itself, including ``QuerySet.update()``, ``bulk_create`` and raw SQL. Each
event points at a *context* holding who did it and through which channel:

* web requests: ``common.middleware.AuditContextMiddleware`` (user, url, request id, channel
  ``admin`` / ``api`` / ``web``; DRF's token user is picked up when DRF authenticates);
* management commands: ``common.management.base.AuditedCommand`` (channel ``command``);
* services: ``audit_context(actor=...)`` so that a service called from a script or a test still
  names its actor.

Track a model with ``@pghistory.track()`` (the default trackers, set in settings, record insert,
update and delete) and read its history with ``record_history(obj)``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pghistory
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


_ACTIONS = {"insert": "insert", "update": "update", "delete": "delete"}


def history_queryset(*objs):
    """The raw pghistory events of the given objects, oldest first."""
    return Events.objects.tracks(*objs).order_by("pgh_created_at", "pgh_id")


def record_history(obj) -> list[AuditEntry]:
    """Every recorded change of ``obj``, oldest first, with who made it and through which channel."""
    from django.contrib.auth import get_user_model

    events = list(history_queryset(obj))
    user_ids = {str(e.pgh_context["user"]) for e in events if e.pgh_context and e.pgh_context.get("user")}
    users = {str(u.pk): u.get_username() for u in get_user_model().objects.filter(pk__in=user_ids)}
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
