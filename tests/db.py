"""Write rows with plain SQL, around every Python check (services, ``save()``, model validation), to
prove that PostgreSQL itself refuses what the constraints forbid."""

from __future__ import annotations

import uuid

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models.expressions import DatabaseDefault

from common.db import constraint_name


def raw_insert(model, **values) -> uuid.UUID:
    """INSERT one row of ``model`` with ``values`` (attnames, e.g. ``person_id``); other columns take the
    model's Python defaults. No ``save()``, no normalisation, no validation."""
    instance = model(**values)
    if not values.get("id"):
        instance.id = uuid.uuid4()
    # Columns left to their database default (is_active, timestamps) and those PostgreSQL computes (a person's
    # search keys) are simply not named.
    fields = [
        f
        for f in model._meta.concrete_fields
        if not f.generated and not isinstance(getattr(instance, f.attname), DatabaseDefault)
    ]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    params = [f.get_db_prep_save(getattr(instance, f.attname), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {model._meta.db_table} ({columns}) VALUES ({placeholders})", params)
    return instance.id


def raw_update(model, pk, **values) -> None:
    """UPDATE one row by primary key with plain SQL (values keyed by column name)."""
    assignments = ", ".join(f"{connection.ops.quote_name(column)} = %s" for column in values)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {model._meta.db_table} SET {assignments} WHERE id = %s", [*values.values(), pk])


def assert_refused(constraint: str, write, *args, **kwargs) -> None:
    """``write(*args, **kwargs)`` must fail in PostgreSQL because of the constraint named ``constraint``."""
    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        write(*args, **kwargs)
    assert constraint_name(caught.value) == constraint, caught.value


def truncate_trigger_uris() -> list[str]:
    """The pgtrigger URIs of every trigger that refuses TRUNCATE (the append-only tables): tests that
    empty tables of their own data (the flush after a transactional test) pass these to
    ``pgtrigger.ignore``."""
    import pgtrigger

    return [
        f"{model._meta.label}:{trigger.name}"
        for model, trigger in pgtrigger.registered()
        if "TRUNCATE" in str(trigger.operation)
    ]
