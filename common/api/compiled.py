"""A detail read whose SQL is compiled once per shape instead of once per request.

Django builds and compiles a queryset's SQL on every request: for a patient's detail (four tables joined
by ``select_related``) that was about a third of the request's CPU, for a statement whose text never
changes between requests of the same kind: only the id differs. ``compiled_get`` compiles
``queryset.filter(pk=<id>)`` the first time a *shape* is asked for, keeps its SQL with the id's position in
its parameters and the compiler's description of its columns, and later runs that SQL with the new id and
builds the model instances as Django's ``ModelIterable`` does (``from_db``, the ``select_related``
populators): the same rows, the same objects.

The shape is the caller's promise: ``key`` must name everything the queryset's SQL depends on besides the
id (the viewset, the action, whether the caller sees deleted rows...). A queryset with prefetches,
annotations that take per-request values or anything else than plain columns is not for this.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import MultipleObjectsReturned, ValidationError
from django.db import connections
from django.db.models import QuerySet
from django.db.models.query import get_related_populators
from django.db.models.sql import Query
from django.http import Http404

# A value no real id has: its position among the compiled statement's parameters is the id's.
_MARKER = uuid.UUID("00000000-0000-4000-8000-c0a1f11ed000")


@dataclass(frozen=True)
class _Compiled:
    model: type
    sql: str
    params: tuple
    id_index: int
    select: Any
    klass_info: dict
    col_count: int
    init_list: tuple[str, ...]
    model_start: int
    model_end: int


_CACHE: dict[Hashable, _Compiled] = {}


def _compile(queryset: QuerySet) -> _Compiled:
    if queryset._prefetch_related_lookups or queryset.query.annotations or queryset.query.extra:
        raise ValueError("compiled_get takes plain querysets (no prefetch, annotation or extra)")
    query = queryset.filter(pk=_MARKER).order_by()[:2].query
    compiler = query.get_compiler(using=queryset.db)
    sql, params = compiler.as_sql()
    positions = [i for i, value in enumerate(params) if value == _MARKER]
    if len(positions) != 1:
        raise ValueError("compiled_get: the id must appear exactly once among the parameters")
    select_fields = compiler.klass_info["select_fields"]
    start, end = select_fields[0], select_fields[-1] + 1
    return _Compiled(
        model=queryset.model,
        sql=sql,
        params=tuple(params),
        id_index=positions[0],
        select=compiler.select,
        klass_info=compiler.klass_info,
        col_count=compiler.col_count,
        init_list=tuple(column[0].target.attname for column in compiler.select[start:end]),
        model_start=start,
        model_end=end,
    )


def compiled_get(key: Hashable, queryset: Callable[[], QuerySet], pk: Any, *, using: str) -> Any:
    """``queryset().get(pk=pk)`` (404 when there is no such row), with the SQL compiled once per ``key``.
    ``queryset`` is called only the first time a key is seen; ``using`` is the database alias to read
    from (the queryset's ``db``)."""
    compiled = _CACHE.get(key)
    if compiled is None:
        compiled = _CACHE.setdefault(key, _compile(queryset()))
    model = compiled.model
    try:
        value = model._meta.pk.to_python(pk)
    except ValidationError:
        raise Http404 from None
    params = list(compiled.params)
    params[compiled.id_index] = value
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(compiled.sql, params)
        rows = cursor.fetchall()
    if not rows:
        raise Http404(f"No {model._meta.object_name} matches the given query.")
    if len(rows) > 1:
        raise MultipleObjectsReturned(f"get() returned more than one {model._meta.object_name}")
    compiler = Query(model).get_compiler(connection=connection)
    compiler.select, compiler.klass_info, compiler.col_count = compiled.select, compiled.klass_info, compiled.col_count
    compiler.annotation_col_map = {}
    (row,) = compiler.results_iter([rows])
    obj = model.from_db(using, list(compiled.init_list), row[compiled.model_start : compiled.model_end])
    for populator in get_related_populators(compiled.klass_info, compiled.select, using):
        populator.populate(row, obj)
    return obj
