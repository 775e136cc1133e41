"""Raw-SQL floors: the same rows a case returns, fetched with psycopg and serialised with ``json.dumps``.

A floor is built from the Django model and the lookups that the endpoint uses (its order, its filter,
its search fields), as plain SQL with LEFT JOINs along the foreign keys that the lookups cross; the
selected columns are the model's own and those of the ``person`` it belongs to (directly, or through
``patient``). So a floor pays for what the data costs — the sort, the filter, the join, the rows —
and nothing of Django's: no COUNT, no second query, no serializer, no middleware. Indexes that speed
up the app's query speed up its floor as well; the ratio shows what the app adds on top.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass, field


@dataclass
class Floor:
    sql: str
    params: tuple = ()
    note: str = ""  # "~" when the floor is approximate (a filter it could not express)
    write: bool = False  # an INSERT (committed, as the app's is)


@dataclass
class _Query:
    model: type
    joins: dict[str, tuple[str, object]] = field(default_factory=dict)  # path -> (alias, model)
    sql_joins: list[str] = field(default_factory=list)

    def alias_for(self, path: tuple[str, ...]) -> tuple[str, object]:
        alias, model = "t0", self.model
        for depth in range(len(path)):
            key = "__".join(path[: depth + 1])
            if key not in self.joins:
                fk = model._meta.get_field(path[depth])
                target = fk.related_model
                new_alias = f"t{len(self.joins) + 1}"
                if fk.many_to_one or fk.one_to_one and fk.concrete:
                    on = f"{new_alias}.{target._meta.pk.column} = {alias}.{fk.column}"
                else:  # reverse one-to-one / many-to-one
                    on = f"{new_alias}.{fk.field.column} = {alias}.{model._meta.pk.column}"
                self.sql_joins.append(f"LEFT JOIN {target._meta.db_table} {new_alias} ON {on}")
                self.joins[key] = (new_alias, target)
            alias, model = self.joins[key]
        return alias, model

    def column(self, lookup: str) -> str | None:
        """``patient__person__last_name`` -> ``t2.last_name`` (joins added); None when not a column."""
        parts = [p for p in lookup.split("__") if p not in ("exact", "iexact", "icontains", "id")]
        if lookup.endswith("__id__exact") or lookup.endswith("__id"):
            parts.append("id")
        try:
            *path, last = parts
            alias, model = self.alias_for(tuple(path))
            if last == "id" and path:
                return f"{alias}.{model._meta.pk.column}"
            fld = model._meta.get_field(last)
        except Exception:
            return None
        if not getattr(fld, "concrete", False):
            return None
        return f"{alias}.{fld.column}"

    def person_path(self) -> tuple[str, ...] | None:
        names = {f.name for f in self.model._meta.get_fields()}
        if "person" in names:
            return ("person",)
        if "patient" in names:
            return ("patient", "person")
        return None


def select_floor(
    model,
    *,
    ordering: list[str] | None = None,
    where: list[tuple[str, object]] | None = None,
    search: tuple[list[str], str] | None = None,
    limit: int = 50,
    offset: int = 0,
    pk=None,
) -> Floor | None:
    if not model._meta.managed or model._meta.proxy:
        return None  # a view or another model's table (pghistory's events): no floor of its own
    query = _Query(model)
    selects = ["t0.*"]
    person = query.person_path()
    if person:
        alias, _ = query.alias_for(person)
        selects.append(f"{alias}.first_name AS p_first_name, {alias}.last_name AS p_last_name, "
                       f"{alias}.email AS p_email, {alias}.phone AS p_phone")  # fmt: skip
    conditions, params, note = [], [], ""
    if pk is not None:
        conditions.append(f"t0.{model._meta.pk.column} = %s")
        params.append(pk)
    for lookup, value in where or []:
        column = query.column(lookup) if value is not None else None
        if column is None:
            note = "~"
            continue
        conditions.append(f"{column} = %s")
        params.append(value)
    if search:
        fields, term = search
        ors = [c for c in (query.column(f.lstrip("^=@")) for f in fields) if c]
        if ors:
            conditions.append("(" + " OR ".join(f"{c}::text ILIKE %s" for c in ors) + ")")
            params.extend([f"%{term}%"] * len(ors))
    order = []
    for item in ordering or []:
        desc = item.startswith("-")
        column = query.column(item.lstrip("-"))
        if column:
            order.append(column + (" DESC" if desc else ""))
    order.append(f"t0.{model._meta.pk.column}")
    sql = f"SELECT {', '.join(selects)} FROM {model._meta.db_table} t0 {' '.join(query.sql_joins)}"
    if conditions:
        sql += " WHERE " + " AND ".join(conditions)
    sql += " ORDER BY " + ", ".join(order) + f" LIMIT {int(limit)} OFFSET {int(offset)}"
    return Floor(sql, tuple(params), note)


def _insert_copy(model, source: str, overrides: dict[str, str]) -> tuple[str, str]:
    """(column list, select list) that copy a row of ``model`` from ``source``, with fresh keys."""
    columns, values = [], []
    for fld in model._meta.concrete_fields:
        column = fld.column
        if fld.generated or (fld.primary_key and fld.get_internal_type() in ("AutoField", "BigAutoField")):
            continue
        if column in overrides:
            value = overrides[column]
        elif fld.primary_key:
            value = "gen_random_uuid()"
        elif column == "email":
            value = "'floor-' || gen_random_uuid() || '@example.org'"
        elif column in ("created_at", "updated_at"):
            value = "now()"
        else:
            value = f"{source}.{column}"
        columns.append(column)
        values.append(value)
    return ", ".join(columns), ", ".join(values)


def copy_floor(models: list, pk, overrides: dict[str, str] | None = None) -> Floor | None:
    """An INSERT of one new row per model, copied from the row ``pk`` of the last model (and the rows of the
    earlier models it points to), fresh keys and email, in one statement, committed: what a write stores."""
    if pk is None:
        return None
    last = models[-1]
    ctes = [f"src AS (SELECT * FROM {last._meta.db_table} WHERE {last._meta.pk.column} = %s)"]
    overrides = dict(overrides or {})
    for index, model in enumerate(models[:-1]):
        fk = next(f for f in last._meta.concrete_fields if f.is_relation and f.related_model is model)
        cols, vals = _insert_copy(model, "o", {})  # the earlier rows copy theirs plainly
        ctes.append(
            f"n{index} AS (INSERT INTO {model._meta.db_table} ({cols}) SELECT {vals} FROM {model._meta.db_table} o "
            f"WHERE o.{model._meta.pk.column} = (SELECT {fk.column} FROM src) RETURNING *)"
        )
        overrides[fk.column] = f"(SELECT {model._meta.pk.column} FROM n{index})"
    cols, vals = _insert_copy(last, "src", overrides)
    ctes.append(f"ins AS (INSERT INTO {last._meta.db_table} ({cols}) SELECT {vals} FROM src RETURNING *)")
    return Floor("WITH " + ", ".join(ctes) + " SELECT * FROM ins", (pk,), write=True)


def time_floor(connection, floor: Floor, n: int, max_seconds: float = 15.0) -> list[float]:
    """Wall seconds of each of ``n`` runs: execute, fetch every row as a dict, ``json.dumps`` them. Runs
    stop once they have taken ``max_seconds`` together (at least one run): a floor that scans millions
    of rows per search term would otherwise hold the benchmark for minutes."""
    from psycopg.rows import dict_row

    times = []
    for _ in range(n):
        if times and sum(times) > max_seconds:
            break
        start = time.perf_counter()
        with connection.cursor(row_factory=dict_row) as cursor:
            cursor.execute(floor.sql, floor.params)
            rows = cursor.fetchall() if cursor.description else []
            json.dumps(rows, default=str)
        connection.commit()
        times.append(time.perf_counter() - start)
    return times


def p50(values: list[float]) -> float:
    return statistics.median(values)
