"""The audit events admin (/admin/pghistory/events/): the project's own list, not pghistory's.

pghistory's list is a query over a CTE that unions every event table and computes a JSON diff for every
row of it before filtering, sorting and counting: 3.7 s filtered by a label and 25 s for the calls'
events at full size. This list reads each chosen event table directly:

* newest first by ``pgh_id`` (the primary key; events are numbered as they are written), 50 a page, with
  a keyset cursor (``?cursor=``) instead of page numbers, so a deep page costs what page 1 costs;
* a label filter reads ``(pgh_label, pgh_id)`` (the index ``common.models.Event`` gives every event
  table);
* several tables at once (no model chosen) are one ``UNION ALL`` of each table's next page, merged in
  Python by time: each table's stream is consumed in order, and the cursor keeps each table's position;
* the diff with the object's previous event is computed only for the page's update events (one indexed
  lookup each, ``pgh_obj_id``);
* the count is the planner's estimate unfiltered ("about N") and a count capped at 10,000 when a label
  is chosen.

One record's trail (``?obj=app.Model:pk``, the "Events" button of a change page) stays pghistory's list:
it reads that object's events only (indexed by ``pgh_obj_id``).
"""

from __future__ import annotations

import base64
import binascii
import heapq
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.http import urlencode
from pghistory import core as pghistory_core
from pghistory.admin.core import EventsAdmin

PAGE_SIZE = 50
COUNT_CAP = 10_000
LABELS = ("delete", "insert", "update")  # what the project's trackers write (common.audit_trackers)


@dataclass
class EventRow:
    event_model: str  # label_lower of the event model
    tracked_model: str  # label of the tracked model
    pgh_id: int
    at: datetime
    label: str
    object_id: str | None
    context: dict[str, Any]
    data: dict[str, Any]
    changes: dict[str, list[Any]] = field(default_factory=dict)
    who: str | None = None
    object_url: str | None = None

    @property
    def channel(self) -> str | None:
        return self.context.get("channel")


def event_models() -> dict[str, type]:
    """label_lower -> event model, for every concrete event table."""
    return {model._meta.label_lower: model for model in pghistory_core.event_models() if model.pgh_tracked_model}


class BadParameter(ValueError):
    def __init__(self, name: str, reason: str):
        super().__init__(f"{name}: {reason}")
        self.name = name


def encode_cursor(positions: dict[str, int]) -> str:
    text = ",".join(f"{label}:{pgh_id}" for label, pgh_id in sorted(positions.items()))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(value: str, known: dict[str, type]) -> dict[str, int]:
    """``{event model label: last pgh_id shown}``; BadParameter("cursor", ...) if it is not one of ours."""
    try:
        text = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        positions = {}
        for part in text.split(","):
            label, _, pgh_id = part.rpartition(":")
            if label not in known:
                raise ValueError(label)
            positions[label] = int(pgh_id)
        return positions
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadParameter("cursor", "not a cursor of this list (follow the list's own links)") from exc


def _branch(model, *, label: str | None, before: int | None, limit: int) -> tuple[str, list]:
    """One event table's next ``limit`` events (newest first), with context, data and, for updates, the
    object's previous event."""
    table = connection.ops.quote_name(model._meta.db_table)
    where, params = [], [model._meta.label_lower, model.pgh_tracked_model._meta.label]
    if label is not None:
        where.append("pgh_label = %s")
        params.append(label)
    if before is not None:
        where.append("pgh_id < %s")
        params.append(before)
    where_sql = f"WHERE {' AND '.join(where)}" if where else ""
    sql = f"""
        (SELECT %s::text AS event_model, %s::text AS tracked_model, e.pgh_id, e.pgh_created_at, e.pgh_label,
                e.pgh_obj_id::text AS object_id, c.metadata AS context, to_jsonb(e) AS data,
                CASE WHEN e.pgh_label = 'update' THEN (
                    SELECT to_jsonb(p) FROM {table} p
                    WHERE p.pgh_obj_id = e.pgh_obj_id AND p.pgh_id < e.pgh_id ORDER BY p.pgh_id DESC LIMIT 1
                ) END AS previous
         FROM (SELECT * FROM {table} {where_sql} ORDER BY pgh_id DESC LIMIT {int(limit)}) e
         LEFT JOIN pghistory_context c ON c.id = e.pgh_context_id
         ORDER BY e.pgh_id DESC)"""
    return sql, params


def _json(value):
    # Django's psycopg set-up hands JSON columns of raw SQL back as text.
    return orjson.loads(value) if isinstance(value, (str, bytes)) else value


def _changes(data: dict, previous: dict | None) -> dict[str, list[Any]]:
    if previous is None:
        return {}
    return {
        key: [previous.get(key), value]
        for key, value in data.items()
        if not key.startswith("pgh_") and key in previous and previous[key] != value
    }


def fetch_events(
    models: list, *, label: str | None, positions: dict[str, int], page_size: int = PAGE_SIZE
) -> tuple[list[EventRow], dict[str, int] | None]:
    """The next page of events over ``models`` (newest first) and the cursor positions after it (None on
    the last page). One query, whatever the number of tables."""
    if not models:
        return [], None
    parts, params = [], []
    for model in models:
        sql, branch_params = _branch(
            model, label=label, before=positions.get(model._meta.label_lower), limit=page_size + 1
        )
        parts.append(sql)
        params.extend(branch_params)
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        streams: dict[str, list[EventRow]] = {}
        for event_model, tracked, pgh_id, at, pgh_label, object_id, context, data, previous in cursor.fetchall():
            data = {k: v for k, v in _json(data).items() if not k.startswith("pgh_")}
            row = EventRow(event_model, tracked, pgh_id, at, pgh_label, object_id, _json(context) or {}, data)
            row.changes = _changes(data, _json(previous)) if pgh_label == "update" else {}
            streams.setdefault(event_model, []).append(row)
    # Each table's rows come newest first by pgh_id; a k-way merge takes a prefix of each stream, so the
    # cursor (the last pgh_id shown of each table) never skips a row.
    merged = heapq.merge(
        *[sorted(rows, key=lambda r: -r.pgh_id) for rows in streams.values()],
        key=lambda r: (-r.at.timestamp(), r.event_model, -r.pgh_id),
    )
    page = []
    for row in merged:
        if len(page) == page_size:
            break
        page.append(row)
    more = sum(len(rows) for rows in streams.values()) > len(page)
    if not more:
        return page, None
    after = dict(positions)
    for row in page:
        after[row.event_model] = min(after.get(row.event_model, row.pgh_id), row.pgh_id)
    return page, after


def count_events(models: list, *, label: str | None) -> tuple[int, str]:
    """(count, how): ``"about"`` (the planner's estimate, unfiltered), ``"exact"`` or ``"more than"``
    (a count over an index capped at COUNT_CAP)."""
    if not models:
        return 0, "exact"
    with connection.cursor() as cursor:
        if label is None:
            cursor.execute(
                "SELECT COALESCE(SUM(GREATEST(reltuples, 0)), 0)::bigint FROM pg_class WHERE oid = ANY(%s::regclass[])",
                [[model._meta.db_table for model in models]],
            )
            return cursor.fetchone()[0], "about"
        union = " UNION ALL ".join(
            f"(SELECT 1 FROM {connection.ops.quote_name(m._meta.db_table)} WHERE pgh_label = %s)" for m in models
        )
        cap = COUNT_CAP
        cursor.execute(f"SELECT count(*) FROM ({union} LIMIT {cap + 1}) s", [label] * len(models))
        found = cursor.fetchone()[0]
    return (cap, "more than") if found > cap else (found, "exact")


def _name_users(rows: list[EventRow]) -> None:
    """Who made each change, as the record's own history says it (one query for the page's users)."""
    from django.contrib.auth import get_user_model

    user_ids = {str(r.context["user"]) for r in rows if r.context.get("user")}
    pk_field = get_user_model()._meta.pk
    valid = []
    for user_id in user_ids:
        try:
            valid.append(pk_field.to_python(user_id))
        except ValidationError:  # a context written by hand (a DBA's) may name anything
            continue
    # Always one query, even when no event names a user: the page's query count does not depend on its rows.
    named = get_user_model().objects.filter(Q(pk__in=valid) | Q(pk__isnull=True))
    users = {str(u.pk): u.get_username() for u in named}
    for row in rows:
        user_id = str(row.context["user"]) if row.context.get("user") else None
        if user_id and user_id in users:
            row.who = users[user_id]
        elif row.context.get("actor"):
            row.who = f"{row.context['actor']} (DBA)"
        elif row.context.get("os_user"):
            row.who = f"{row.context['os_user']} (OS user)"


def _object_urls(rows: list[EventRow]) -> None:
    urls: dict[str, str | None] = {}
    for row in rows:
        if row.object_id is None or row.label == "delete":
            continue
        if row.tracked_model not in urls:
            app_label, _, model_name = row.tracked_model.lower().partition(".")
            try:
                urls[row.tracked_model] = reverse(f"admin:{app_label}_{model_name}_change", args=["__pk__"])
            except NoReverseMatch:
                urls[row.tracked_model] = None
        if urls[row.tracked_model]:
            row.object_url = urls[row.tracked_model].replace("__pk__", row.object_id)


class CrmEventsAdmin(EventsAdmin):
    show_full_result_count = False

    def changelist_view(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        if "obj" in request.GET:  # one record's trail: pghistory's list reads that object's events only
            return super().changelist_view(request, extra_context)
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        try:
            return self._event_list(request)
        except BadParameter as exc:
            return HttpResponseBadRequest(str(exc), content_type="text/plain; charset=utf-8")

    def _event_list(self, request: HttpRequest) -> HttpResponse:
        known = event_models()
        chosen_model = request.GET.get("event_model") or None
        tracked = request.GET.get("model") or None
        label = request.GET.get("label") or None
        if chosen_model is not None and chosen_model.lower() not in known:
            raise BadParameter("event_model", f"no event model {chosen_model!r}")
        if label is not None and label not in LABELS:
            raise BadParameter("label", f"one of {', '.join(LABELS)}")
        models = list(known.values())
        if tracked is not None:
            models = [m for m in models if m.pgh_tracked_model._meta.label_lower == tracked.lower()]
            if not models:
                raise BadParameter("model", f"no audited model {tracked!r}")
        if chosen_model is not None:
            models = [m for m in models if m._meta.label_lower == chosen_model.lower()]
        models.sort(key=lambda m: m._meta.label_lower)
        cursor = request.GET.get("cursor")
        positions = decode_cursor(cursor, known) if cursor else {}

        rows, after = fetch_events(models, label=label, positions=positions, page_size=PAGE_SIZE)
        count, count_how = count_events(models, label=label)
        _name_users(rows)
        _object_urls(rows)

        def link(**changes) -> str:
            params = {k: v for k, v in request.GET.items() if k != "cursor"}
            params.update(changes)
            return "?" + urlencode({k: v for k, v in params.items() if v is not None})

        filters = [
            (
                "label",
                [("All", link(label=None), label is None)]
                + [(name, link(label=name), label == name) for name in LABELS],
            ),
            (
                "event model",
                [("All", link(event_model=None), chosen_model is None)]
                + [
                    (m._meta.label, link(event_model=key), chosen_model is not None and chosen_model.lower() == key)
                    for key, m in sorted(known.items())
                    if tracked is None or m.pgh_tracked_model._meta.label_lower == tracked.lower()
                ],
            ),
        ]
        back = request.GET.get("back")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Audit events",
            "subtitle": tracked,
            "rows": rows,
            "filters": filters,
            "count": count,
            "count_how": count_how,
            "next_url": link(cursor=encode_cursor(after)) if after else None,
            "first_url": link() if cursor else None,
            "back": back if back and back.startswith("/") and not back.startswith("//") else None,
            "page_size": PAGE_SIZE,
        }
        return TemplateResponse(request, "admin/common/audit_events.html", context)
