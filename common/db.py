"""Database expressions shared by the apps' constraints (importable by migrations)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from django.contrib.postgres.expressions import ArraySubquery
from django.contrib.postgres.fields import DateTimeRangeField
from django.db.models import BooleanField, CharField, F, Func, Q, QuerySet, Value
from django.db.models.functions import Lower, Trim


class TsTzRange(Func):
    """``tstzrange(lower, upper)``: a NULL upper bound means "still open", i.e. unbounded."""

    function = "TSTZRANGE"
    output_field = DateTimeRangeField()


def constraint_name(exc: BaseException) -> str | None:
    """The name of the PostgreSQL constraint behind an ``IntegrityError`` (None when unknown)."""
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None)


def name_key(expression) -> Lower:
    """``lower(trim(x))``: how names that are unique "ignoring case" compare. The unique indexes of the
    lookups are built on it, and ``same_names`` finds clashes with it, so the check before a write and
    the index that decides under concurrency never disagree (``iexact`` compares ``upper()``, which
    differs from ``lower()`` for a few characters)."""
    return Lower(Trim(expression))


def same_names(queryset: QuerySet, **values: str) -> QuerySet:
    """Rows whose fields equal ``values`` under ``name_key`` (e.g. ``same_names(qs, name="Neurology")``)."""
    keys = {f"_{field}_key": name_key(field) for field in values}
    wanted = {
        f"_{field}_key": name_key(Value(value or "", output_field=CharField())) for field, value in values.items()
    }
    return queryset.annotate(**keys).filter(**wanted)


def refuse_duplicate_names(table: str, *columns: str):
    """A migration step to run before a unique index on ``name_key`` of ``columns`` is built: when rows
    already clash under that key, stop and list them (merge or rename them first) instead of failing
    with PostgreSQL's bare "could not create unique index"."""

    def check(apps, schema_editor) -> None:
        quote = schema_editor.quote_name
        keys = ", ".join(f"lower(trim({quote(column)}))" for column in columns)
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {keys}, array_agg(id::text ORDER BY id) FROM {quote(table)} "
                f"GROUP BY {keys} HAVING count(*) > 1"
            )
            clashes = cursor.fetchall()
        if clashes:
            listed = "; ".join(f"{' / '.join(row[:-1])}: rows {', '.join(row[-1])}" for row in clashes)
            raise RuntimeError(
                f"{table}: rows with the same {', '.join(columns)} ignoring case and spaces must be merged or "
                f"renamed before this migration: {listed}"
            )

    return check


def append_only_triggers(
    *, update_message: str, truncate_message: str, truncate_name: str = "append_only_truncate"
) -> list:
    """The triggers that make a table append-only in PostgreSQL: UPDATE and DELETE refused row by row,
    TRUNCATE (which row-level triggers never see) refused per statement. Used by the points ledger and
    the PHI access log; the database roles (``common.db_roles``) add the privilege side."""
    import pgtrigger

    def refuse(message: str) -> str:
        return f"RAISE EXCEPTION '{message}' USING ERRCODE = 'restrict_violation'; RETURN NULL;"

    return [
        pgtrigger.Trigger(
            name="append_only",
            when=pgtrigger.Before,
            operation=pgtrigger.Update | pgtrigger.Delete,
            func=refuse(update_message),
        ),
        pgtrigger.Trigger(
            name=truncate_name,
            level=pgtrigger.Statement,
            when=pgtrigger.Before,
            operation=pgtrigger.Truncate,
            func=refuse(truncate_message),
        ),
    ]


class _EqualsAny(Func):
    template = "(%(expressions)s))"
    arg_joiner = " = ANY("
    output_field = BooleanField()


# A statement-level trigger's statements run with plans that PL/pgSQL caches for the session, planned when the
# function first ran in it; the planner sizes a transition table by its rows *at that time*. A session whose first
# write of a table was one row keeps a plan made for one row (a nested loop over the old and new rows, a transition
# table rescanned per row of another) and runs a later bulk statement of 50,000 rows with it: quadratic (a 12,000-row
# UPDATE of patients took 54 s after a one-row UPDATE in the same session, 0.6 s in a fresh one). Statements that
# read the transition tables therefore run with the cached plan only when the trigger's statement wrote few rows,
# and are planned afresh for the statement's real size (EXECUTE) otherwise (docs/PERFORMANCE.md, "Bulk statements
# after small ones").
BULK_STATEMENT_ROWS = 100


def planned_for_size(statement: str, *, rows: str, into: str = "", params: Sequence[str] = ()) -> str:
    """PL/pgSQL running ``statement`` (one SQL statement, no ``;``) with the function's cached plan when the
    transition table ``rows`` holds at most ``BULK_STATEMENT_ROWS`` rows, and planned for its real size (``EXECUTE``)
    when it holds more. ``into``: the variables a SELECT fills; ``params``: the PL/pgSQL variables the statement
    reads, passed to the planned-afresh copy as ``$1, $2, ...``. A statement starting with ``PERFORM`` runs as a
    ``SELECT`` in that copy."""
    dynamic = re.sub(r"^PERFORM\b", "SELECT", statement.strip())
    for number, name in enumerate(params, 1):
        dynamic = re.sub(rf"(?<![.\w$]){re.escape(name)}\b", f"${number}", dynamic)
    if "$bulk$" in dynamic:
        raise ValueError("the statement must not contain $bulk$")
    into_sql = f" INTO {into}" if into else ""
    using = f" USING {', '.join(params)}" if params else ""
    return (
        f"IF (SELECT count(*) FROM (SELECT FROM {rows} LIMIT {BULK_STATEMENT_ROWS + 1}) AS bulk_rows)"
        f" > {BULK_STATEMENT_ROWS} THEN\n"
        f"EXECUTE $bulk${dynamic}$bulk${into_sql}{using};\n"
        f"ELSE\n{statement.strip()}{into_sql};\nEND IF"
    )


def _transition_table(event: str) -> str:
    """The first transition table an ``event`` clause names (``... REFERENCING NEW TABLE AS new_rows``)."""
    found = re.search(r"\b(?:NEW|OLD) TABLE AS (\w+)", event)
    if found is None:
        raise ValueError(f"no transition table in {event!r}")
    return found.group(1)


def _planned_body(body: str, rows: str) -> str:
    """Each SQL statement of ``body`` (statements separated by ``;\\n``; a line starting with ``IF`` is PL/pgSQL
    and left alone) through ``planned_for_size``."""
    parts = []
    for statement in (part.strip() for part in body.split(";\n")):
        if not statement:
            continue
        if statement.startswith("IF "):
            parts.append(statement.removesuffix(";"))
        else:
            parts.append(planned_for_size(statement, rows=rows))
    return ";\n".join(parts)


def statement_triggers_sql(triggers) -> list[str]:
    """Each ``(name, table, event, body)`` as a plpgsql function ``name()`` running ``body`` and a statement-level
    trigger of that name on ``table`` (the CM report's rollup and facts tables). Each statement of ``body`` is
    planned for the size of a bulk statement (``planned_for_size``)."""
    statements = []
    for name, table, event, body in triggers:
        planned = _planned_body(body, _transition_table(event))
        statements.append(
            f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n{planned};\n"
            "RETURN NULL;\nEND;\n$$"
        )
        statements.append(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        statements.append(f"CREATE TRIGGER {name} {event} FOR EACH STATEMENT EXECUTE FUNCTION {name}()")
    return statements


def drop_statement_triggers_sql(trigger_names) -> list[str]:
    """The triggers ``(name, table)`` and their functions dropped."""
    statements = []
    for name, table in trigger_names:
        statements += [f"DROP TRIGGER IF EXISTS {name} ON {table}", f"DROP FUNCTION IF EXISTS {name}()"]
    return statements


def in_array(field: str, values: QuerySet) -> _EqualsAny:
    """``<field> = ANY(ARRAY(<values>))``: ``pk_in_array`` on another column (a foreign key)."""
    return _EqualsAny(F(field), ArraySubquery(values.order_by()))


def pk_in_array(values: QuerySet) -> _EqualsAny:
    """``pk = ANY(ARRAY(<values>))``: a filter on the rows whose key ``values`` (a one-column queryset)
    returns. Unlike ``pk__in`` / ``EXISTS``, which the planner may turn into a hash join over the whole
    outer table when it overestimates the subquery (a role's holders are guessed as one role's
    average, hundreds of thousands), the array is computed first and the rows are fetched by key."""
    return _EqualsAny(F("pk"), ArraySubquery(values.order_by()))


def keyset_batches(queryset: QuerySet, *, order: Sequence[str], batch_rows: int) -> Iterator[Any]:
    """Every row of ``queryset`` in ``order``, read ``batch_rows`` at a time by keyset (one query a batch:
    ``WHERE (a, b, id) > (last row's values) ORDER BY a, b, id LIMIT n``), never more than a batch in memory.

    A streamed export's way to stay flat without a server-side cursor (none behind a transaction pooler,
    ``crm_project.db_pooler``): each batch is a short query of its own, so it needs neither a transaction
    held open for the whole download nor a cursor that outlives one. ``order`` names non-null fields (or
    annotations) and ends with a unique one (the key), so the order is total and the walk loses no row.
    """
    names = [name.lstrip("-") for name in order]
    if any(name.startswith("-") for name in order):
        raise ValueError("keyset_batches walks ascending orders only")
    ordered = queryset.order_by(*names)
    last: tuple | None = None
    while True:
        batch = list((ordered if last is None else ordered.filter(_after(names, last)))[:batch_rows])
        yield from batch
        if len(batch) < batch_rows:
            return
        row = batch[-1]
        last = tuple(row[name] if isinstance(row, dict) else getattr(row, name) for name in names)


def _after(names: Sequence[str], values: tuple) -> Q:
    """``(names) > (values)`` as the ORM writes it: (a > x) OR (a = x AND b > y) OR ..."""
    condition = Q()
    for position in range(len(names)):
        equal = dict(zip(names[:position], values[:position], strict=True))
        condition |= Q(**equal, **{f"{names[position]}__gt": values[position]})
    return condition
