"""Patients: registration (the returning-patient rule), edits, soft delete."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from common.audit import audit_context
from common.errors import ConflictError
from common.soft_delete import restore_row, soft_delete_row
from common.validation import FieldErrors
from patients.models import (
    MedicalCondition,
    Patient,
    PatientStatus,
)
from patients.services._common import (
    _active_patient,
    _check_choice,
    _check_date,
    check_navigator,
    resolve_medical_condition,
)
from people.models import ContactType, Person, User
from people.services import clean_person_details, ensure_role, find_or_create_person


def _existing_patient_conflict(person: Person) -> ConflictError | None:
    existing = Patient.all_objects.filter(person=person).first()
    if existing is None:
        return None
    state = "" if existing.is_active else " (deleted: restore it instead)"
    return ConflictError(
        f"{person} is already a patient{state}.", existing_id=existing.pk, field="email", patient_id=existing.pk
    )


@dataclass(frozen=True)
class PatientRegistration:
    patient: Patient
    person: Person
    person_reused: bool
    # field -> {"stored": ..., "given": ...}: details that differ from the stored Person and were kept.
    conflicts: dict[str, dict[str, Any]] = field(default_factory=dict)


@transaction.atomic
def patient_register(
    *,
    first_name: str,
    last_name: str,
    email: str | None,
    phone: str | None = "",
    date_of_birth: dt.date | None = None,
    medical_condition: MedicalCondition | str | uuid.UUID | None = None,
    navigator: Person | None = None,
    first_contact_date: dt.date | None = None,
    initial_consult_date: dt.date | None = None,
    actor: User | None = None,
) -> PatientRegistration:
    """Register a patient under the returning-patient rule.

    The Person is found by email ignoring case and surrounding spaces and reused, never duplicated; its
    stored name and phone are never overwritten (blanks are filled, disagreements are returned in
    ``conflicts``). A Person who already is a patient gets no second Patient: ``ConflictError`` carries
    the existing patient's id. Concurrent registrations of one email end with one Person and one
    Patient: the unique index and the Person row lock decide, and the losers get the conflict.
    """
    errors = FieldErrors()
    details = clean_person_details(
        first_name=first_name, last_name=last_name, email=email, phone=phone, date_of_birth=date_of_birth, errors=errors
    )
    condition = resolve_medical_condition(medical_condition, errors=errors)
    check_navigator(navigator, errors=errors)
    first_contact_date = _check_date(first_contact_date, "first_contact_date", errors)
    initial_consult_date = _check_date(initial_consult_date, "initial_consult_date", errors, allow_future=True)
    if first_contact_date and initial_consult_date and initial_consult_date < first_contact_date:
        errors.add("initial_consult_date", "The initial consult cannot be before the first contact.")
    errors.raise_if_any()

    with audit_context(actor=actor):
        match = find_or_create_person(details, actor=actor)
        person = match.person
        if navigator is not None and navigator.pk == person.pk:
            raise ValidationError({"navigator": ["A patient cannot be their own navigator."]})
        patient = Patient(
            person=person,
            medical_condition=condition,
            navigator=navigator,
            first_contact_date=first_contact_date or min(timezone.localdate(), initial_consult_date or dt.date.max),
            initial_consult_date=initial_consult_date,
            status=PatientStatus.ACTIVE,
        )
        if not match.reused:
            # The Person was inserted just now by this transaction: it has no patient, and no one else
            # can give it one before we commit. One INSERT, no look-up, no savepoint.
            patient.save(force_insert=True)
        else:
            if (conflict := _existing_patient_conflict(person)) is not None:
                raise conflict
            try:
                with transaction.atomic():
                    patient.save(force_insert=True)
            except IntegrityError:
                # Only reachable if the Person lock was bypassed (raw SQL, another code path): the
                # one-patient-per-person index is the last line, and its refusal is the same conflict.
                if (conflict := _existing_patient_conflict(person)) is not None:
                    raise conflict from None
                raise
        ensure_role(person=person, code=ContactType.PATIENT, at=timezone.now(), new_person=not match.reused)
    return PatientRegistration(patient=patient, person=person, person_reused=match.reused, conflicts=match.conflicts)


PATIENT_EDITABLE_FIELDS = ("medical_condition", "navigator", "first_contact_date", "initial_consult_date", "status")


@transaction.atomic
def patient_update(*, patient: Patient, data: Mapping[str, Any], actor: User | None = None) -> Patient:
    """Change a patient's condition, navigator, dates or status. The condition must be in use and the
    navigator must hold the navigator role; the previous values stay in the audit trail."""
    unknown = set(data) - set(PATIENT_EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"patient_update cannot change {sorted(unknown)}")
    errors = FieldErrors()
    stored = _active_patient(patient, errors, lock=True)
    errors.raise_if_any()
    values = {name: data.get(name, getattr(stored, name)) for name in PATIENT_EDITABLE_FIELDS}
    if "medical_condition" in data and values["medical_condition"] != stored.medical_condition:
        values["medical_condition"] = resolve_medical_condition(values["medical_condition"], errors=errors)
    if "navigator" in data and values["navigator"] != stored.navigator:
        check_navigator(values["navigator"], errors=errors)
        if values["navigator"] is not None and values["navigator"].pk == stored.person_id:
            errors.add("navigator", "A patient cannot be their own navigator.")
    _check_choice(values["status"], "status", PatientStatus, errors)
    first_contact = _check_date(values["first_contact_date"], "first_contact_date", errors)
    consult = _check_date(values["initial_consult_date"], "initial_consult_date", errors, allow_future=True)
    if first_contact and consult and consult < first_contact:
        errors.add("initial_consult_date", "The initial consult cannot be before the first contact.")
    errors.raise_if_any()
    changed = [name for name in PATIENT_EDITABLE_FIELDS if getattr(stored, name) != values[name]]
    if changed:
        for name in changed:
            setattr(stored, name, values[name])
        with audit_context(actor=actor):
            stored.save(update_fields=[*changed, "updated_at"])
    return stored


@transaction.atomic
def patient_soft_delete(*, patient: Patient, reason: str, actor: User | None = None) -> Patient:
    """Hide a patient (a duplicate, a record made in error) while keeping it, its calls and journeys."""
    return soft_delete_row(patient, reason=reason, actor=actor)


@transaction.atomic
def patient_restore(*, patient: Patient, actor: User | None = None) -> Patient:
    """Undo a patient's soft delete."""
    return restore_row(patient, actor=actor)
