"""CM programs and their points schedules."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from cm_program.models import (
    CMProgram,
)
from cm_program.services._common import _clean_name, _clean_text
from common.audit import audit_context
from common.db import same_names
from common.errors import ConflictError
from people.models import User

PROGRAM_FIELDS = ("name", "description", "is_active", *CMProgram.SCHEDULE_FIELDS)


def _clean_program(values: dict[str, Any]) -> dict[str, Any]:
    unknown = set(values) - set(PROGRAM_FIELDS)
    if unknown:
        raise TypeError(f"Unknown CM program fields: {sorted(unknown)}")
    cleaned: dict[str, Any] = {}
    for name, value in values.items():
        if name == "name":
            cleaned[name] = _clean_name(value, field="name")
        elif name == "description":
            cleaned[name] = _clean_text(value, field=name, multiline=True)
        elif name == "is_active":
            if not isinstance(value, bool):
                raise ValidationError({"is_active": ["Expected true or false."]})
            cleaned[name] = value
        else:
            if value is None or isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValidationError({name: ["Point values are whole numbers, 0 or more."]})
            cleaned[name] = value
    return cleaned


def _program_name_taken(name: str | None, *, exclude_pk=None) -> None:
    if not name:
        return
    other = same_names(CMProgram.objects, name=name).exclude(pk=exclude_pk).first()
    if other is not None:
        raise ConflictError(f"A CM program named {other.name} already exists.", existing_id=other.pk, field="name")


def _check_schedule(program: CMProgram) -> None:
    if program.points_negative_test_cap < program.points_negative_test_base:
        raise ValidationError(
            {"points_negative_test_cap": ["The cap of the negative-test schedule cannot be below its base value."]}
        )


@transaction.atomic
def cm_program_create(*, name: str, actor: User | None = None, **fields: Any) -> CMProgram:
    """Create a CM program and its reinforcement schedule.

    Rules: the name is unique (ignoring case); point values are never negative; the cap of the
    negative-test schedule is not below its base value.
    """
    cleaned = _clean_program({"name": name, **fields})
    with audit_context(actor=actor):
        _program_name_taken(cleaned["name"])
        program = CMProgram(**cleaned)
        _check_schedule(program)
        try:
            with transaction.atomic():
                program.save()
        except IntegrityError:
            _program_name_taken(cleaned["name"])
            raise
        return program


@transaction.atomic
def cm_program_update(*, program: CMProgram, actor: User | None = None, **changes: Any) -> CMProgram:
    """Change a program's name, description, schedule or ``is_active`` (the program's soft delete).

    Rules as for ``cm_program_create``. A new schedule applies to events recorded from now on: the
    ledger keeps what earlier events earned. An inactive program takes no new enrollments
    (``cm_enrollment_create``); its current enrollments go on.
    """
    cleaned = _clean_program(changes)
    with audit_context(actor=actor):
        locked = CMProgram.objects.select_for_update().get(pk=program.pk)
        if "name" in cleaned:
            _program_name_taken(cleaned["name"], exclude_pk=locked.pk)
        for name, value in cleaned.items():
            setattr(locked, name, value)
        _check_schedule(locked)
        if cleaned:
            try:
                with transaction.atomic():
                    locked.save(update_fields=[*cleaned, "updated_at"])
            except IntegrityError:
                # A concurrent write took the name after the check: the unique index refused it.
                _program_name_taken(cleaned.get("name"), exclude_pk=locked.pk)
                raise
        return locked
