"""Leads: creation, status moves, conversion into a patient, edits."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone

from common.audit import audit_context
from common.errors import ConflictError
from common.validation import FieldErrors, check_text
from patients.models import (
    OPEN_LEAD_STATUSES,
    LeadSource,
    LeadStatus,
    MedicalCondition,
    Patient,
    PatientLead,
    PatientStatus,
)
from patients.services._common import (
    _check_choice,
    _check_date,
    _clean_text,
    _only,
    _save_changes,
    check_navigator,
    resolve_medical_condition,
)
from people.models import ContactType, Person, User
from people.services import clean_person_details, end_role, ensure_role, find_or_create_person


@dataclass(frozen=True)
class LeadCreation:
    lead: PatientLead
    person: Person
    person_reused: bool
    conflicts: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The Person is already a patient: the navigators should pick up that record rather than this lead.
    existing_patient: Patient | None = None


@transaction.atomic
def lead_create(
    *,
    first_name: str,
    last_name: str,
    email: str | None,
    phone: str | None = "",
    date_of_birth: dt.date | None = None,
    medical_condition: MedicalCondition | str | uuid.UUID | None = None,
    source: str = LeadSource.OTHER,
    landing_page_url: str = "",
    notes: str = "",
    actor: User | None = None,
) -> LeadCreation:
    """Record a lead, reusing the Person found by email exactly as ``patient_register`` does (no
    duplicate Person, no silent overwrite). A Person has one open lead at a time: a second one is a
    conflict pointing at the open lead. The Person starts the "patient lead" role."""
    errors = FieldErrors()
    details = clean_person_details(
        first_name=first_name, last_name=last_name, email=email, phone=phone, date_of_birth=date_of_birth, errors=errors
    )
    condition = resolve_medical_condition(medical_condition, errors=errors)
    _check_choice(source, "source", LeadSource, errors)
    landing_page_url = (landing_page_url or "").strip()
    if landing_page_url:
        try:
            URLValidator()(landing_page_url)
        except ValidationError:
            errors.add("landing_page_url", f"'{landing_page_url}' is not a valid URL.")
        if len(landing_page_url) > 500:
            errors.add("landing_page_url", "At most 500 characters.")
    check_text(landing_page_url, field="landing_page_url", errors=errors)
    check_text(notes, field="notes", multiline=True, errors=errors)
    errors.raise_if_any()

    with audit_context(actor=actor):
        match = find_or_create_person(details, actor=actor)
        person = match.person
        open_lead = PatientLead.objects.filter(person=person, status__in=OPEN_LEAD_STATUSES).first()
        if open_lead is not None:
            raise ConflictError(f"{person} already has an open lead.", existing_id=open_lead.pk, field="email")
        lead = PatientLead.objects.create(
            person=person,
            medical_condition=condition,
            source=source,
            landing_page_url=landing_page_url,
            notes=notes or "",
        )
        ensure_role(person=person, code=ContactType.PATIENT_LEAD, at=timezone.now())
    return LeadCreation(
        lead=lead,
        person=person,
        person_reused=match.reused,
        conflicts=match.conflicts,
        existing_patient=Patient.all_objects.filter(person=person).first(),
    )


@transaction.atomic
def lead_set_status(*, lead: PatientLead, status: str, actor: User | None = None) -> PatientLead:
    """Move a lead through new / contacted / qualified / lost. Conversion has its own service (it creates
    the patient); a converted lead is final. Losing a lead ends the person's lead role; reopening it
    starts a new period."""
    errors = FieldErrors()
    _check_choice(status, "status", LeadStatus, errors)
    if status == LeadStatus.CONVERTED:
        errors.add("status", "Convert a lead with the conversion action, which creates the patient.")
    lead = PatientLead.objects.select_for_update().get(pk=lead.pk)  # its person is read after the lock
    if lead.status == LeadStatus.CONVERTED:
        errors.add("status", "This lead is converted; its status cannot change.")
    errors.raise_if_any()
    if status == lead.status:
        return lead
    now = timezone.now()
    with audit_context(actor=actor):
        reopening = lead.status == LeadStatus.LOST
        if reopening:
            other = PatientLead.objects.filter(person=lead.person, status__in=OPEN_LEAD_STATUSES).first()
            if other is not None:
                raise ConflictError(
                    f"{lead.person} already has another open lead.", existing_id=other.pk, field="status"
                )
        lead.status = status
        lead.save(update_fields=["status", "updated_at"])
        if status == LeadStatus.LOST:
            end_role(person=lead.person, code=ContactType.PATIENT_LEAD, at=now)
        elif reopening:
            ensure_role(person=lead.person, code=ContactType.PATIENT_LEAD, at=now)
    return lead


@dataclass(frozen=True)
class LeadConversion:
    lead: PatientLead
    patient: Patient
    patient_created: bool


@transaction.atomic
def lead_convert(
    *,
    lead: PatientLead,
    navigator: Person | None = None,
    first_contact_date: dt.date | None = None,
    actor: User | None = None,
) -> LeadConversion:
    """Turn a lead into a patient: create (or find) the Patient of the lead's Person, close the lead
    role period and open the patient role period at the same instant, and mark the lead converted with
    its patient and time. Converting an already converted lead changes nothing and returns its patient.
    """
    # Lock the lead alone and read its patient after the lock: a row joined to the locked one comes from
    # the snapshot taken before the lock wait, so a concurrent conversion's new patient would be missing.
    lead = PatientLead.objects.select_for_update().get(pk=lead.pk)
    if lead.status == LeadStatus.CONVERTED:
        patient = Patient.all_objects.get(pk=lead.converted_patient_id)
        return LeadConversion(lead=lead, patient=patient, patient_created=False)
    errors = FieldErrors()
    check_navigator(navigator, errors=errors)
    first_contact_date = _check_date(first_contact_date, "first_contact_date", errors)
    person = Person.all_objects.select_for_update().get(pk=lead.person_id)
    if not person.is_active:
        errors.add("person", "The lead's person has been deleted; restore them first.")
    if navigator is not None and navigator.pk == person.pk:
        errors.add("navigator", "A patient cannot be their own navigator.")
    condition = lead.medical_condition
    if condition is not None and not condition.is_active:
        errors.add("medical_condition", f"The medical condition '{condition.name}' is no longer in use.")
    errors.raise_if_any()

    now = timezone.now()
    with audit_context(actor=actor):
        patient = Patient.all_objects.filter(person=person).first()
        created = patient is None
        if patient is not None and not patient.is_active:
            raise ConflictError(
                f"{person} has a deleted patient record; restore it before converting.",
                existing_id=patient.pk,
                field="person",
            )
        if created:
            patient = Patient.objects.create(
                person=person,
                medical_condition=condition,
                navigator=navigator,
                first_contact_date=first_contact_date or timezone.localdate(lead.created_at),
                status=PatientStatus.ACTIVE,
            )
        # One instant for both ends, so the role history has neither a gap nor an overlap.
        end_role(person=person, code=ContactType.PATIENT_LEAD, at=now)
        ensure_role(person=person, code=ContactType.PATIENT, at=now)
        lead.status = LeadStatus.CONVERTED
        lead.converted_patient = patient
        lead.converted_at = now
        lead.save(update_fields=["status", "converted_patient", "converted_at", "updated_at"])
    return LeadConversion(lead=lead, patient=patient, patient_created=created)


LEAD_EDITABLE_FIELDS = ("medical_condition", "source", "landing_page_url", "notes", "status")


@transaction.atomic
def lead_update(*, lead: PatientLead, data: Mapping[str, Any], actor: User | None = None) -> PatientLead:
    """Correct a lead's condition, source, landing page or notes, and move its status (through
    ``lead_set_status``, whose rules hold: conversion has its own service, a converted lead is final).
    A newly chosen condition must be in use."""
    _only(data, LEAD_EDITABLE_FIELDS, "lead_update")
    stored = PatientLead.objects.select_for_update(of=("self",)).get(pk=lead.pk)
    fields = [name for name in LEAD_EDITABLE_FIELDS if name != "status"]
    values = {name: data.get(name, getattr(stored, name)) for name in fields}
    errors = FieldErrors()
    if "medical_condition" in data and values["medical_condition"] != stored.medical_condition:
        values["medical_condition"] = resolve_medical_condition(values["medical_condition"], errors=errors)
    _check_choice(values["source"], "source", LeadSource, errors)
    _clean_text(values, "landing_page_url", 500, errors)
    if values.get("landing_page_url"):
        try:
            URLValidator()(values["landing_page_url"])
        except ValidationError:
            errors.add("landing_page_url", f"'{values['landing_page_url']}' is not a valid URL.")
    _clean_text(values, "notes", 10_000, errors)
    errors.raise_if_any()
    _save_changes(stored, values, actor)
    if "status" in data and data["status"] != stored.status:
        stored = lead_set_status(lead=stored, status=data["status"], actor=actor)
    return stored
