"""Every API list: page numbers to a depth cap, keyset cursors beyond, and counts that say how exact they are.

* ``?page=`` / ``?page_size=`` (default 50, at most 500) keep working while ``page * page_size`` stays within
  10,000 rows; a deeper page is a 400 naming ``page`` (an OFFSET that deep reads and throws away every row
  before it). ``page=last`` works when the count is exact and within the cap.
* ``next`` and ``previous`` always carry a keyset ``cursor``: a signed token holding the ordering's values of
  the row at the page's edge and the list's unique tie-breaker (the primary key, appended when the ordering
  has no unique key). A page reached through a cursor is ``WHERE (keys) > (values) ORDER BY keys LIMIT n``:
  as fast at row 5,000,000 as at row 1, and rows inserted between two pages are neither repeated nor skipped
  behind the cursor. NULLs sort as PostgreSQL sorts them (last ascending, first descending). A cursor that
  was altered, or made for another ordering, is a 400 naming ``cursor``.
* ``count`` is exact (``"count_is": "exact"``) up to 10,000 rows (1,000 for a ``search``, whose matches are
  joined rows: ``common.search.SEARCH_COUNT_CAP``), counted by a capped ``COUNT(*)`` over the list's filters
  without its joins for display. Past that it is the planner's estimate (``"estimated"``), or the cap with
  ``"at_least"`` when the planner's estimate is lower than what was counted.

A bad ``page_size``, ``page`` or ``cursor`` is a 400 naming the parameter; a page past the last is a 404.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import math
import uuid
import zlib
from dataclasses import dataclass
from typing import Any

from django.core import signing
from django.db.models import F, Q, QuerySet
from django.db.models.expressions import OrderBy
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from common.search import (
    SEARCH_COUNT_CAP,
    fetch_by_ids,
    fetch_from_search_table,
    fetch_searched_rows,
    is_searched,
    matches_are_few,
    planner_rows,
    sort_matches,
)

MAX_DEPTH = 10_000  # rows that page numbers reach; past it, follow ``next``
COUNT_CAP = 10_000  # rows counted exactly; past it, an estimate
_SALT = "common.api.pagination.cursor"
_DEPTH_MESSAGE = "Pages deeper than 10,000 rows are not served; follow `next`, which carries a `cursor`."


def _positive_int(request, name: str, *, maximum: int | None = None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw.strip() == "":
        return None
    text = raw.strip()
    limit = f" from 1 to {maximum}" if maximum is not None else " of 1 or more"
    # Only plain decimal digits: int() would also take "+5", "5_000" or non-ASCII digits.
    if not (text.isascii() and text.isdigit()) or len(text) > 12:
        raise serializers.ValidationError({name: [f"Give a whole number{limit}."]})
    value = int(text)
    if value < 1 or (maximum is not None and value > maximum):
        raise serializers.ValidationError({name: [f"Give a whole number{limit} (got {value})."]})
    return value


# --- Cursor tokens ---------------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    # Full precision (DjangoJSONEncoder drops microseconds past milliseconds, which would skip rows).
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    return value


def _encode(payload: dict) -> str:
    return signing.dumps(payload, salt=_SALT, compress=True)


def _decode(token: str) -> dict:
    try:
        payload = signing.loads(token, salt=_SALT)
    except (signing.BadSignature, ValueError, UnicodeError, zlib.error, base64.binascii.Error):
        payload = None
    if not isinstance(payload, dict):
        raise serializers.ValidationError(
            {"cursor": ["This cursor is not one the API issued (or it was altered); follow `next` or `previous`."]}
        )
    return payload


def _fetch(queryset: QuerySet, start: int, stop: int) -> list:
    return list(queryset[start:stop])


def _from_search_table(fetch, payload: dict | None):
    """``fetch``, tried first through the narrow person_search table (common.search.fetch_from_search_table: a
    list by a Person's name searched on its names / email). A forward cursor's window starts its candidates at
    the cursor's name; a backward one reads the list in reverse, which the table does not serve."""
    begin = None
    if payload is not None:
        values = payload.get("v")
        if payload.get("d") == "p" or not isinstance(values, list) or len(values) < 2:
            return fetch
        begin = (values[0], values[1])

    def fetch_rows(queryset: QuerySet, start: int, stop: int) -> list:
        rows = fetch_from_search_table(queryset, start, stop, begin)
        return fetch(queryset, start, stop) if rows is None else rows

    return fetch_rows


def _cursor_error(message: str) -> serializers.ValidationError:
    return serializers.ValidationError({"cursor": [message]})


# --- Keys of an ordering ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Key:
    """One term of a list's ORDER BY: the expression, its direction and where its NULLs sort."""

    label: str  # as written in the ordering; a cursor records these to check it is used with its own list
    term: Any  # the ORDER BY term itself
    expression: Any
    descending: bool
    nulls_last: bool  # in the order the list is read
    nullable: bool


def _field_nullable(model, path: str) -> bool | None:
    """Whether ``path`` (``person__last_name``) can be NULL; None when it is not a plain field path."""
    nullable = False
    opts = model._meta
    parts = path.split("__")
    for index, part in enumerate(parts):
        try:
            field = opts.get_field(part)
        except Exception:
            return None
        nullable = nullable or bool(getattr(field, "null", False))
        if index < len(parts) - 1:
            if not field.is_relation or field.many_to_many or field.one_to_many:
                return None
            nullable = nullable or bool(getattr(field, "null", True)) or not field.concrete
            opts = field.related_model._meta
    return nullable


def _unique_field(model, name: str) -> bool:
    try:
        field = model._meta.get_field(name)
    except Exception:
        return False
    return bool(field.concrete and (field.primary_key or field.unique) and not field.null)


def _keys(queryset: QuerySet) -> list[_Key] | None:
    """The ordering of ``queryset`` as keys, with the primary key appended when no key is unique; None when
    an ordering term cannot be used for a keyset (random order, an expression on several values...)."""
    model = queryset.model
    query = queryset.query
    ordering = list(query.order_by or (model._meta.ordering if query.default_ordering else ()))
    keys: list[_Key] = []
    unique = False
    for term in ordering:
        if isinstance(term, str):
            if term == "?" or "." in term:
                return None
            descending = term.startswith("-")
            path = term.lstrip("-+")
            if path == "pk":
                path = model._meta.pk.name
            if path in query.annotations:
                nullable = True
            else:
                nullable = _field_nullable(model, path)
                if nullable is None:
                    return None
            expression = F(path)
            nulls_last = not descending  # PostgreSQL: NULLS LAST ascending, NULLS FIRST descending
            unique = unique or ("__" not in path and path not in query.annotations and _unique_field(model, path))
            keys.append(_Key(term, term, expression, descending, nulls_last, nullable))
        elif isinstance(term, OrderBy):
            expression = term.expression
            descending = term.descending
            if term.nulls_first:
                nulls_last = False
            elif term.nulls_last:
                nulls_last = True
            else:
                nulls_last = not descending
            nullable = True
            if isinstance(expression, F):
                nullable = expression.name in query.annotations or _field_nullable(model, expression.name) is not False
                unique = unique or (
                    "__" not in expression.name
                    and expression.name not in query.annotations
                    and _unique_field(model, expression.name)
                )
            keys.append(_Key(repr(term), term, expression, descending, nulls_last, nullable))
        else:
            return None
    if not unique:
        pk = model._meta.pk.name
        keys.append(_Key(pk, pk, F(pk), False, True, False))
    return keys


def _after(keys: list[_Key], values: list[Any], *, reverse: bool) -> Q:
    """Rows strictly after ``values`` in the list's order (strictly before it when ``reverse``)."""
    nothing = Q(pk__in=[])

    def beyond(index: int, key: _Key, value: Any) -> Q:
        name = f"_cursor_{index}"
        nulls_beyond = key.nulls_last != reverse  # NULLs come after this value in the reading direction
        if value is None:
            return Q(**{f"{name}__isnull": False}) if not nulls_beyond else nothing
        lookup = "lt" if key.descending != reverse else "gt"
        condition = Q(**{f"{name}__{lookup}": value})
        if nulls_beyond and key.nullable:
            condition |= Q(**{f"{name}__isnull": True})
        return condition

    def equal(index: int, value: Any) -> Q:
        name = f"_cursor_{index}"
        return Q(**{f"{name}__isnull": True}) if value is None else Q(**{name: value})

    disjunction = nothing
    prefix = Q()
    for index, (key, value) in enumerate(zip(keys, values, strict=True)):
        disjunction |= prefix & beyond(index, key, value)
        prefix &= equal(index, value)
    # The first key's bound on its own, so that PostgreSQL starts its index scan there instead of
    # reading the index from the beginning and filtering.
    return (beyond(0, keys[0], values[0]) | equal(0, values[0])) & disjunction


# --- The paginator ---------------------------------------------------------------------------------------


class StandardPagination(BasePagination):
    """``?page=`` (to 10,000 rows deep), ``?page_size=`` (default 50, at most 500) and ``?cursor=`` (what
    ``next`` / ``previous`` carry); ``{"count", "count_is", "next", "previous", "results"}``."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    page_query_param = "page"
    cursor_query_param = "cursor"
    last_page_strings = ("last",)

    def get_page_size(self, request) -> int:
        given = _positive_int(request, self.page_size_query_param, maximum=self.max_page_size)
        return given if given is not None else self.page_size

    # -- entry point

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.size = self.get_page_size(request)
        self.next_token: str | None = None
        self.previous_token: str | None = None
        token = (request.query_params.get(self.cursor_query_param) or "").strip()
        page_text = (request.query_params.get(self.page_query_param) or "").strip()
        if token and page_text:
            raise _cursor_error("Give either `cursor` or `page`, not both.")
        page = None
        if page_text and page_text not in self.last_page_strings:
            page = _positive_int(request, self.page_query_param)
            if page * self.size > MAX_DEPTH:
                raise serializers.ValidationError({self.page_query_param: [_DEPTH_MESSAGE]})
        payload = _decode(token) if token else None

        keys = _keys(queryset) if isinstance(queryset, QuerySet) else None
        self.estimate: int | None = None  # the planner's, when the count stopped at its cap
        if isinstance(queryset, QuerySet):
            self.count, self.count_is = self._count(queryset)
        else:
            queryset = list(queryset)
            self.count, self.count_is = len(queryset), "exact"

        if page_text in self.last_page_strings:
            if self.count_is != "exact" or self.count > MAX_DEPTH:
                raise serializers.ValidationError({self.page_query_param: [_DEPTH_MESSAGE]})
            page = max(1, math.ceil(self.count / self.size))
        if page is None and payload is None:
            page = 1
        if page is not None and page > 1 and self.count_is == "exact" and (page - 1) * self.size >= self.count:
            raise NotFound("Invalid page.")

        if keys is None:
            return self._paginate_by_offset(queryset, page, payload)
        return self._paginate_by_keys(queryset, keys, page, payload)

    # -- counts

    def _count(self, queryset: QuerySet) -> tuple[int, str]:
        # Only what decides which rows are listed: no ORDER BY, no columns or joins kept for display.
        rows = queryset.order_by().select_related(None).values("pk")
        # A search counts to a lower cap (its matches are joined rows; see common.search.SEARCH_COUNT_CAP).
        cap = SEARCH_COUNT_CAP if is_searched(queryset) else COUNT_CAP
        counted = rows[: cap + 1].count()
        if counted <= cap:
            return counted, "exact"
        estimate = self.estimate = self._planner_rows(rows)
        if estimate is not None and estimate > cap:
            return estimate, "estimated"
        return cap, "at_least"

    @staticmethod
    def _planner_rows(rows: QuerySet) -> int | None:
        return planner_rows(rows)

    # -- keyset pages

    def _paginate_by_keys(self, queryset: QuerySet, keys: list[_Key], page: int | None, payload: dict | None):
        labels = [key.label for key in keys]
        annotated = queryset.annotate(**{f"_cursor_{i}": key.expression for i, key in enumerate(keys)}).order_by(
            *(key.term for key in keys)
        )
        fetch = _fetch
        if is_searched(queryset):
            if matches_are_few(exact=self.count_is == "exact", estimate=self.estimate):
                # Few matches: sort them rather than walk the order index (common.search.sort_matches), the
                # page's keys first, then their rows (common.search.fetch_by_ids).
                annotated = sort_matches(annotated)
                fetch = fetch_by_ids
            else:
                # Many: walk the order index for a moment, then sort them (common.search.fetch_searched_rows).
                fetch = fetch_searched_rows
            if self.count_is != "exact":
                # Past the count's cap, tried first through person_search (a list by a Person's name).
                fetch = _from_search_table(fetch, payload)
        if payload is not None:
            values = payload.get("v")
            if payload.get("k") != labels or not isinstance(values, list) or len(values) != len(keys):
                raise _cursor_error(
                    "This cursor was made for another ordering of this list; follow `next` or `previous` "
                    "with the same `ordering`."
                )
            backwards = payload.get("d") == "p"
            window = annotated.filter(_after(keys, values, reverse=backwards))
            if backwards:
                rows = fetch(window.reverse(), 0, self.size + 1)
                more_before = len(rows) > self.size
                rows = list(reversed(rows[: self.size]))
                has_previous, has_next = more_before, True
            else:
                rows = fetch(window, 0, self.size + 1)
                has_next = len(rows) > self.size
                rows = rows[: self.size]
                has_previous = True
        else:
            offset = (page - 1) * self.size
            rows = fetch(annotated, offset, offset + self.size + 1)
            has_next = len(rows) > self.size
            rows = rows[: self.size]
            has_previous = page > 1
        if rows:
            if has_next:
                self.next_token = _encode({"k": labels, "v": self._values(rows[-1], keys), "d": "n"})
            if has_previous:
                self.previous_token = _encode({"k": labels, "v": self._values(rows[0], keys), "d": "p"})
        return rows

    @staticmethod
    def _values(row: Any, keys: list[_Key]) -> list[Any]:
        if isinstance(row, dict):
            return [_jsonable(row[f"_cursor_{i}"]) for i in range(len(keys))]
        return [_jsonable(getattr(row, f"_cursor_{i}")) for i in range(len(keys))]

    # -- offset pages (lists in memory, orderings a keyset cannot follow)

    def _paginate_by_offset(self, rows, page: int | None, payload: dict | None):
        if payload is not None:
            offset = payload.get("o")
            if payload.get("k") != "offset" or not isinstance(offset, int) or offset < 0:
                raise _cursor_error("This cursor was made for another list; follow `next` or `previous`.")
        else:
            offset = (page - 1) * self.size
        chunk = list(rows[offset : offset + self.size + 1])
        if len(chunk) > self.size:
            self.next_token = _encode({"k": "offset", "o": offset + self.size})
        if offset > 0:
            self.previous_token = _encode({"k": "offset", "o": max(0, offset - self.size)})
        return chunk[: self.size]

    # -- response

    def _link(self, token: str | None) -> str | None:
        if token is None:
            return None
        url = remove_query_param(self.request.build_absolute_uri(), self.page_query_param)
        return replace_query_param(url, self.cursor_query_param, token)

    def get_next_link(self) -> str | None:
        return self._link(self.next_token)

    def get_previous_link(self) -> str | None:
        return self._link(self.previous_token)

    def get_paginated_response(self, data):
        return Response(
            {
                "count": self.count,
                "count_is": self.count_is,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["count", "count_is", "results"],
            "properties": {
                "count": {
                    "type": "integer",
                    "example": 123,
                    "description": "Rows in the list: exact up to 10,000 (1,000 for a `search`), else see `count_is`.",
                },
                "count_is": {
                    "type": "string",
                    "enum": ["exact", "estimated", "at_least"],
                    "description": "`exact`: counted. `estimated`: past 10,000 rows (1,000 for a `search`), "
                    "PostgreSQL's estimate. `at_least`: more than that; `count` is 10,000 (1,000).",
                },
                "next": {
                    "type": "string",
                    "nullable": True,
                    "format": "uri",
                    "example": "http://api.example.org/accounts/?cursor=eyJrIjpb...",
                },
                "previous": {
                    "type": "string",
                    "nullable": True,
                    "format": "uri",
                    "example": "http://api.example.org/accounts/?cursor=eyJrIjpb...",
                },
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.page_query_param,
                "required": False,
                "in": "query",
                "description": "A page number; `page * page_size` at most 10,000 (deeper: follow `next`).",
                "schema": {"type": "integer", "minimum": 1},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": "Rows per page (default 50, at most 500).",
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size},
            },
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "The position a `next` or `previous` link carries (opaque).",
                "schema": {"type": "string"},
            },
        ]
