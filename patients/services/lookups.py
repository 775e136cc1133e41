"""Medical conditions, hospitals and specializations: creation, edits, soft delete."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q

from common.audit import audit_context
from common.db import same_names
from common.errors import ConflictError
from common.soft_delete import restore_row, soft_delete_row
from common.validation import FieldErrors, check_text
from patients.models import (
    Hospital,
    MedicalCondition,
    Specialization,
)
from patients.services._common import _clean_text, _only, _save_changes
from people.models import User


@transaction.atomic
def medical_condition_create(
    *, name: str, abbreviation: str = "", description: str = "", actor: User | None = None
) -> MedicalCondition:
    """Add a condition to the single lookup. Names (and abbreviations) are unique ignoring case; a clash,
    even with a retired condition, points at the existing row (restore it rather than duplicate it)."""
    errors = FieldErrors()
    name, abbreviation = (name or "").strip(), (abbreviation or "").strip()
    if not name:
        errors.add("name", "This field is required.")
    check_text(name, field="name", errors=errors)
    check_text(abbreviation, field="abbreviation", errors=errors)
    check_text(description, field="description", multiline=True, errors=errors)
    errors.raise_if_any()
    existing = MedicalCondition.all_objects.filter(name__iexact=name).first()
    if existing is not None:
        raise ConflictError("A medical condition with this name already exists.", existing_id=existing.pk, field="name")
    if abbreviation and (existing := MedicalCondition.all_objects.filter(abbreviation__iexact=abbreviation).first()):
        raise ConflictError(
            "A medical condition with this abbreviation already exists.", existing_id=existing.pk, field="abbreviation"
        )
    with audit_context(actor=actor):
        try:
            with transaction.atomic():
                return MedicalCondition.objects.create(
                    name=name, abbreviation=abbreviation, description=(description or "").strip()
                )
        except IntegrityError as exc:
            existing = MedicalCondition.all_objects.filter(
                Q(name__iexact=name) | (Q(abbreviation__iexact=abbreviation) if abbreviation else Q(pk=None))
            ).first()
            if existing is None:
                raise
            raise ConflictError(
                "A medical condition with this name already exists.", existing_id=existing.pk, field="name"
            ) from exc


@transaction.atomic
def medical_condition_soft_delete(
    *, medical_condition: MedicalCondition, reason: str, actor: User | None = None
) -> MedicalCondition:
    """Retire a condition: patients and leads keep it, new records can no longer pick it."""
    return soft_delete_row(medical_condition, reason=reason, actor=actor)


@transaction.atomic
def medical_condition_restore(*, medical_condition: MedicalCondition, actor: User | None = None) -> MedicalCondition:
    """Put a retired condition back in use."""
    return restore_row(medical_condition, actor=actor)


@transaction.atomic
def hospital_soft_delete(*, hospital: Hospital, reason: str, actor: User | None = None) -> Hospital:
    """Retire a hospital; physicians keep it."""
    return soft_delete_row(hospital, reason=reason, actor=actor)


@transaction.atomic
def hospital_restore(*, hospital: Hospital, actor: User | None = None) -> Hospital:
    """Undo a hospital's soft delete."""
    return restore_row(hospital, actor=actor)


@transaction.atomic
def specialization_soft_delete(
    *, specialization: Specialization, reason: str, actor: User | None = None
) -> Specialization:
    """Retire a specialization; physicians keep it."""
    return soft_delete_row(specialization, reason=reason, actor=actor)


@transaction.atomic
def specialization_restore(*, specialization: Specialization, actor: User | None = None) -> Specialization:
    """Undo a specialization's soft delete."""
    return restore_row(specialization, actor=actor)


MEDICAL_CONDITION_EDITABLE_FIELDS = ("name", "abbreviation", "description")


@transaction.atomic
def medical_condition_update(
    *, medical_condition: MedicalCondition, data: Mapping[str, Any], actor: User | None = None
) -> MedicalCondition:
    """Rename or describe a condition. Names and abbreviations stay unique ignoring case: taking one that
    another condition (even a retired one) holds is a conflict pointing at it."""
    _only(data, MEDICAL_CONDITION_EDITABLE_FIELDS, "medical_condition_update")
    stored = MedicalCondition.all_objects.select_for_update().get(pk=medical_condition.pk)
    values = {name: data.get(name, getattr(stored, name)) for name in MEDICAL_CONDITION_EDITABLE_FIELDS}
    errors = FieldErrors()
    _clean_text(values, "name", 200, errors, required=True)
    _clean_text(values, "abbreviation", 20, errors)
    _clean_text(values, "description", 10_000, errors)
    errors.raise_if_any()
    others = MedicalCondition.all_objects.exclude(pk=stored.pk)
    if existing := others.filter(name__iexact=values["name"]).first():
        raise ConflictError("A medical condition with this name already exists.", existing_id=existing.pk, field="name")
    if values["abbreviation"] and (existing := others.filter(abbreviation__iexact=values["abbreviation"]).first()):
        raise ConflictError(
            "A medical condition with this abbreviation already exists.", existing_id=existing.pk, field="abbreviation"
        )
    _save_changes(stored, values, actor)
    return stored


HOSPITAL_EDITABLE_FIELDS = ("name", "city", "country", "address")


def _hospital_values(values: dict[str, Any], errors: FieldErrors) -> None:
    _clean_text(values, "name", 200, errors, required=True)
    _clean_text(values, "city", 100, errors)
    _clean_text(values, "country", 100, errors)
    _clean_text(values, "address", 10_000, errors)


def _hospital_conflict(values: Mapping[str, Any], exclude_pk=None) -> ConflictError | None:
    existing = (
        same_names(Hospital.all_objects, name=values["name"], city=values["city"], country=values["country"])
        .exclude(pk=exclude_pk)
        .first()
    )
    if existing is None:
        return None
    return ConflictError(
        "This hospital already exists in this city and country.", existing_id=existing.pk, field="name"
    )


@transaction.atomic
def hospital_create(
    *, name: str, city: str = "", country: str = "", address: str = "", actor: User | None = None
) -> Hospital:
    """Add a hospital. One row per name within a city and country, ignoring case: a clash (even with a
    retired hospital) points at the existing row."""
    values = {"name": name, "city": city, "country": country, "address": address}
    errors = FieldErrors()
    _hospital_values(values, errors)
    errors.raise_if_any()
    if conflict := _hospital_conflict(values):
        raise conflict
    with audit_context(actor=actor):
        try:
            with transaction.atomic():
                return Hospital.objects.create(**values)
        except IntegrityError:
            if conflict := _hospital_conflict(values):
                raise conflict from None
            raise


@transaction.atomic
def hospital_update(*, hospital: Hospital, data: Mapping[str, Any], actor: User | None = None) -> Hospital:
    """Correct a hospital's name or address; the same uniqueness as on creation."""
    _only(data, HOSPITAL_EDITABLE_FIELDS, "hospital_update")
    stored = Hospital.all_objects.select_for_update().get(pk=hospital.pk)
    values = {name: data.get(name, getattr(stored, name)) for name in HOSPITAL_EDITABLE_FIELDS}
    errors = FieldErrors()
    _hospital_values(values, errors)
    errors.raise_if_any()
    if conflict := _hospital_conflict(values, exclude_pk=stored.pk):
        raise conflict
    try:
        with transaction.atomic():
            _save_changes(stored, values, actor)
    except IntegrityError:
        # A concurrent rename or insert took the name after the check: the unique index refused it.
        if conflict := _hospital_conflict(values, exclude_pk=stored.pk):
            raise conflict from None
        raise
    return stored


def _specialization_conflict(name: str, exclude_pk=None) -> ConflictError | None:
    existing = same_names(Specialization.all_objects, name=name).exclude(pk=exclude_pk).first()
    if existing is None:
        return None
    return ConflictError("A specialization with this name already exists.", existing_id=existing.pk, field="name")


@transaction.atomic
def specialization_create(*, name: str, actor: User | None = None) -> Specialization:
    """Add a specialty. Names are unique ignoring case; a clash (even with a retired one) points at it."""
    values = {"name": name}
    errors = FieldErrors()
    _clean_text(values, "name", 200, errors, required=True)
    errors.raise_if_any()
    if conflict := _specialization_conflict(values["name"]):
        raise conflict
    with audit_context(actor=actor):
        try:
            with transaction.atomic():
                return Specialization.objects.create(**values)
        except IntegrityError:
            if conflict := _specialization_conflict(values["name"]):
                raise conflict from None
            raise


@transaction.atomic
def specialization_update(
    *, specialization: Specialization, data: Mapping[str, Any], actor: User | None = None
) -> Specialization:
    """Rename a specialty; names stay unique ignoring case."""
    _only(data, ("name",), "specialization_update")
    stored = Specialization.all_objects.select_for_update().get(pk=specialization.pk)
    values = {"name": data.get("name", stored.name)}
    errors = FieldErrors()
    _clean_text(values, "name", 200, errors, required=True)
    errors.raise_if_any()
    if conflict := _specialization_conflict(values["name"], exclude_pk=stored.pk):
        raise conflict
    try:
        with transaction.atomic():
            _save_changes(stored, values, actor)
    except IntegrityError:
        if conflict := _specialization_conflict(values["name"], exclude_pk=stored.pk):
            raise conflict from None
        raise
    return stored
