"""Physicians and their relationships with patients."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from common.audit import audit_context
from common.errors import ConflictError
from common.soft_delete import restore_row, soft_delete_row
from common.validation import FieldErrors, check_text
from patients.models import (
    Hospital,
    Patient,
    PatientPhysicianRelationship,
    Physician,
    RelationshipType,
    Specialization,
)
from patients.services._common import (
    _active_patient,
    _check_choice,
    _check_date,
    _check_lookup,
    _clean_text,
    _only,
    _save_changes,
)
from people.models import ContactType, Person, User
from people.services import clean_person_details, ensure_role, find_or_create_person


@dataclass(frozen=True)
class PhysicianRegistration:
    physician: Physician
    person: Person
    person_reused: bool
    conflicts: dict[str, dict[str, Any]] = field(default_factory=dict)


@transaction.atomic
def physician_register(
    *,
    first_name: str,
    last_name: str,
    email: str | None,
    phone: str | None = "",
    hospital: Hospital | None = None,
    specialization: Specialization | None = None,
    job_title: str = "",
    medical_license_number: str = "",
    actor: User | None = None,
) -> PhysicianRegistration:
    """Register a physician on the Person found by email (same rule as patients). One physician record
    per Person: a second is a conflict carrying the existing physician's id."""
    errors = FieldErrors()
    details = clean_person_details(
        first_name=first_name, last_name=last_name, email=email, phone=phone, date_of_birth=None, errors=errors
    )
    hospital = _check_lookup(hospital, Hospital, "hospital", errors)
    specialization = _check_lookup(specialization, Specialization, "specialization", errors)
    check_text(job_title, field="job_title", errors=errors)
    check_text(medical_license_number, field="medical_license_number", errors=errors)
    errors.raise_if_any()
    with audit_context(actor=actor):
        match = find_or_create_person(details, actor=actor)
        existing = Physician.all_objects.filter(person=match.person).first()
        if existing is not None:
            raise ConflictError(f"{match.person} is already a physician.", existing_id=existing.pk, field="email")
        physician = Physician.objects.create(
            person=match.person,
            hospital=hospital,
            specialization=specialization,
            job_title=(job_title or "").strip(),
            medical_license_number=(medical_license_number or "").strip(),
        )
        ensure_role(person=match.person, code=ContactType.PHYSICIAN, at=timezone.now())
    return PhysicianRegistration(
        physician=physician, person=match.person, person_reused=match.reused, conflicts=match.conflicts
    )


@transaction.atomic
def physician_soft_delete(*, physician: Physician, reason: str, actor: User | None = None) -> Physician:
    """Retire a physician record without losing the journeys and relationships that name them."""
    return soft_delete_row(physician, reason=reason, actor=actor)


@transaction.atomic
def physician_restore(*, physician: Physician, actor: User | None = None) -> Physician:
    """Undo a physician's soft delete."""
    return restore_row(physician, actor=actor)


@transaction.atomic
def patient_physician_link(
    *,
    patient: Patient,
    physician: Physician,
    relationship_type: str,
    is_primary: bool = False,
    start_date: dt.date | None = None,
    actor: User | None = None,
) -> PatientPhysicianRelationship:
    """Record that a physician treats / referred / is the primary-care doctor of a patient. A patient has
    at most one primary physician: naming a new one demotes the previous one (kept, not deleted)."""
    errors = FieldErrors()
    stored_patient = _active_patient(patient, errors, lock=True)
    _check_lookup(physician, Physician, "physician", errors)
    _check_choice(relationship_type, "relationship_type", RelationshipType, errors)
    start_date = _check_date(start_date, "start_date", errors, allow_future=True) or timezone.localdate()
    errors.raise_if_any()
    existing = PatientPhysicianRelationship.objects.filter(
        patient=stored_patient, physician=physician, relationship_type=relationship_type, end_date__isnull=True
    ).first()
    if existing is not None:
        raise ConflictError("This relationship is already recorded.", existing_id=existing.pk, field="physician")
    with audit_context(actor=actor):
        if is_primary:
            PatientPhysicianRelationship.objects.filter(patient=stored_patient, is_primary=True).update(
                is_primary=False, updated_at=timezone.now()
            )
        return PatientPhysicianRelationship.objects.create(
            patient=stored_patient,
            physician=physician,
            relationship_type=relationship_type,
            is_primary=is_primary,
            start_date=start_date,
        )


@transaction.atomic
def patient_physician_end(
    *, relationship: PatientPhysicianRelationship, end_date: dt.date | None = None, actor: User | None = None
) -> PatientPhysicianRelationship:
    """End a patient-physician relationship (kept as history). An ended relationship is not primary."""
    relationship = PatientPhysicianRelationship.objects.select_for_update().get(pk=relationship.pk)
    errors = FieldErrors()
    end_date = _check_date(end_date, "end_date", errors, allow_future=True) or timezone.localdate()
    if relationship.end_date is not None:
        errors.add("end_date", "This relationship has already ended.")
    elif end_date < relationship.start_date:
        errors.add("end_date", "A relationship cannot end before it starts.")
    errors.raise_if_any()
    with audit_context(actor=actor):
        relationship.end_date = end_date
        relationship.is_primary = False
        relationship.save(update_fields=["end_date", "is_primary", "updated_at"])
    return relationship


PHYSICIAN_EDITABLE_FIELDS = ("hospital", "specialization", "job_title", "medical_license_number")


@transaction.atomic
def physician_update(*, physician: Physician, data: Mapping[str, Any], actor: User | None = None) -> Physician:
    """Change where a physician works, their specialty, title or licence number. A newly chosen hospital
    or specialization must be in use; a deleted physician is restored before it is edited."""
    _only(data, PHYSICIAN_EDITABLE_FIELDS, "physician_update")
    stored = Physician.all_objects.select_for_update(of=("self",)).get(pk=physician.pk)
    errors = FieldErrors()
    if not stored.is_active:
        errors.add("physician", "This physician has been deleted; restore them first.")
    values = {name: data.get(name, getattr(stored, name)) for name in PHYSICIAN_EDITABLE_FIELDS}
    for name, model in (("hospital", Hospital), ("specialization", Specialization)):
        if values[name] != getattr(stored, name):
            _check_lookup(values[name], model, name, errors)
    _clean_text(values, "job_title", 150, errors)
    _clean_text(values, "medical_license_number", 50, errors)
    errors.raise_if_any()
    _save_changes(stored, values, actor)
    return stored
