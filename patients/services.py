"""Writes of patient navigation: registering patients (the returning-patient rule), leads and their
conversion, physicians, calls, medical conditions, soft delete.

Every service is keyword-only, atomic, validates before it writes (a ``ValidationError`` leaves
nothing behind), reports clashes with existing data as ``ConflictError`` carrying the existing id,
and names its actor in the audit trail.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from common.audit import audit_context
from common.db import same_names
from common.errors import ConflictError
from common.soft_delete import restore_row, soft_delete_row
from common.validation import FieldErrors, check_text
from patients.models import (
    OPEN_LEAD_STATUSES,
    CallDirection,
    CallHistory,
    CallOutcome,
    Hospital,
    LeadSource,
    LeadStatus,
    MedicalCondition,
    Patient,
    PatientLead,
    PatientPhysicianRelationship,
    PatientStatus,
    Physician,
    RelationshipType,
    Specialization,
)
from people.models import ContactType, Person, PersonContactType, User
from people.services import clean_person_details, end_role, ensure_role, find_or_create_person

# A call logged "now" from a laptop whose clock runs a little ahead is not a call in the future.
CLOCK_SKEW = dt.timedelta(minutes=5)
# Text fields this long (notes, descriptions, addresses) are multi-line: they keep tab and line breaks.
NOTES_MAX_LENGTH = 10_000
MAX_CALL_MINUTES = 24 * 60


# --- Shared input checks ---------------------------------------------------------------------------------


def resolve_medical_condition(
    value: MedicalCondition | str | uuid.UUID | None, *, errors: FieldErrors, field: str = "medical_condition"
) -> MedicalCondition | None:
    """A condition given as a row, an id, a name or an abbreviation; unknown or retired ones are refused
    (existing patients keep a retired condition, but no new record may pick it)."""
    if value is None or value == "":
        return None
    condition = None
    if isinstance(value, MedicalCondition):
        condition = MedicalCondition.all_objects.filter(pk=value.pk).first()
    else:
        try:
            condition = MedicalCondition.all_objects.filter(pk=uuid.UUID(str(value))).first()
        except ValueError:
            text = str(value).strip()
            condition = MedicalCondition.all_objects.filter(Q(name__iexact=text) | Q(abbreviation__iexact=text)).first()
    if condition is None:
        errors.add(field, f"Unknown medical condition '{value}'.")
    elif not condition.is_active:
        errors.add(field, f"The medical condition '{condition.name}' is no longer in use.")
        return None
    return condition


def check_navigator(navigator: Person | None, *, errors: FieldErrors, at: dt.datetime | None = None) -> None:
    """A navigator must be an active Person holding the patient-navigator role (at ``at``)."""
    if navigator is None:
        return
    holds_role = PersonContactType.objects.filter(
        person_id=navigator.pk, person__is_active=True, contact_type__code=ContactType.PATIENT_NAVIGATOR
    ).current(at)
    if holds_role.exists():  # the common case, in one query
        return
    stored = Person.all_objects.filter(pk=navigator.pk).first()
    if stored is None or not stored.is_active:
        errors.add("navigator", "This person does not exist or has been deleted.")
    else:
        when = f" on {at:%Y-%m-%d}" if at else ""
        errors.add("navigator", f"{stored} is not a patient navigator{when}.")


def _check_date(value: Any, name: str, errors: FieldErrors, *, allow_future: bool = False) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        errors.add(name, "Give a date.")
        return None
    if not allow_future and value > timezone.localdate():
        errors.add(name, "This date cannot be in the future.")
    return value


def _check_choice(value: Any, name: str, choices: type, errors: FieldErrors) -> None:
    if value not in choices.values:
        errors.add(name, f"'{value}' is not one of: {', '.join(choices.values)}.")


def _active_patient(patient: Patient, errors: FieldErrors, *, lock: bool = False) -> Patient | None:
    if not lock:
        stored = Patient.all_objects.filter(pk=patient.pk).select_related("person").first()
    else:
        # The locked row alone: a joined Person would come from the snapshot taken before the lock wait.
        stored = Patient.all_objects.select_for_update().filter(pk=patient.pk).first()
    if stored is None or not stored.is_active:
        errors.add("patient", "This patient does not exist or has been deleted.")
        return None
    return stored


def _existing_patient_conflict(person: Person) -> ConflictError | None:
    existing = Patient.all_objects.filter(person=person).first()
    if existing is None:
        return None
    state = "" if existing.is_active else " (deleted: restore it instead)"
    return ConflictError(
        f"{person} is already a patient{state}.", existing_id=existing.pk, field="email", patient_id=existing.pk
    )


# --- Patients ------------------------------------------------------------------------------------------


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
        if (conflict := _existing_patient_conflict(person)) is not None:
            raise conflict
        try:
            with transaction.atomic():
                patient = Patient.objects.create(
                    person=person,
                    medical_condition=condition,
                    navigator=navigator,
                    first_contact_date=first_contact_date
                    or min(timezone.localdate(), initial_consult_date or dt.date.max),
                    initial_consult_date=initial_consult_date,
                    status=PatientStatus.ACTIVE,
                )
        except IntegrityError:
            # Only reachable if the Person lock was bypassed (raw SQL, another code path): the
            # one-patient-per-person index is the last line, and its refusal is the same conflict.
            if (conflict := _existing_patient_conflict(person)) is not None:
                raise conflict from None
            raise
        ensure_role(person=person, code=ContactType.PATIENT, at=timezone.now())
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


# --- Leads ---------------------------------------------------------------------------------------------


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


# --- Physicians ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PhysicianRegistration:
    physician: Physician
    person: Person
    person_reused: bool
    conflicts: dict[str, dict[str, Any]] = field(default_factory=dict)


def _check_lookup(value, model, name: str, errors: FieldErrors):
    if value is None:
        return None
    stored = model.all_objects.filter(pk=value.pk).first()
    if stored is None or not stored.is_active:
        errors.add(name, f"This {model._meta.verbose_name} does not exist or has been deleted.")
    return stored


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


# --- Calls ---------------------------------------------------------------------------------------------


def _clean_call(values: dict[str, Any], errors: FieldErrors) -> None:
    """Checks shared by logging and editing a call; ``values`` holds the call's complete field set."""
    _check_choice(values["direction"], "direction", CallDirection, errors)
    _check_choice(values["outcome"], "outcome", CallOutcome, errors)
    call_date = values["call_date"]
    if not isinstance(call_date, dt.datetime):
        errors.add("call_date", "Give a date and time.")
        call_date = None
    elif call_date > timezone.now() + CLOCK_SKEW:
        errors.add("call_date", "A call cannot be logged in the future.")
    duration = values["call_duration_minutes"]
    if duration is not None:
        if isinstance(duration, bool) or not isinstance(duration, int):
            errors.add("call_duration_minutes", "Give a whole number of minutes.")
        elif duration < 0:
            errors.add("call_duration_minutes", "A call cannot last a negative number of minutes.")
        elif duration > MAX_CALL_MINUTES:
            errors.add("call_duration_minutes", "A call cannot last more than a day.")
    reminder = _check_date(values["reminder_date"], "reminder_date", errors, allow_future=True)
    if reminder and call_date and reminder < timezone.localdate(call_date):
        errors.add("reminder_date", "A follow-up cannot be before the call.")
    booking = values["booking_date"]
    if booking is not None:
        if not isinstance(booking, dt.datetime):
            errors.add("booking_date", "Give a date and time.")
        elif call_date and booking < call_date:
            errors.add("booking_date", "An appointment booked during a call cannot be before the call.")
    check_text(values.get("notes"), field="notes", multiline=True, errors=errors)
    navigator = values["navigator"]
    if navigator is None:
        errors.add("navigator", "Name the navigator who made or took the call.")
    elif call_date is not None:
        check_navigator(navigator, errors=errors, at=call_date)


def _default_navigator(actor: User | None) -> Person | None:
    if actor is None or getattr(actor, "pk", None) is None:
        return None
    return Person.objects.filter(user=actor).first()


@transaction.atomic
def call_log(
    *,
    patient: Patient,
    outcome: str,
    direction: str = CallDirection.OUTBOUND,
    call_date: dt.datetime | None = None,
    navigator: Person | None = None,
    booking_date: dt.datetime | None = None,
    reminder_date: dt.date | None = None,
    no_show: bool = False,
    call_duration_minutes: int | None = None,
    notes: str = "",
    actor: User | None = None,
) -> CallHistory:
    """Log a call: always a new ``call_history`` row, never an overwrite of an earlier call. The navigator
    defaults to the acting user's Person and must hold the navigator role at the time of the call. The
    direction defaults to outbound: the CRM document's calls have none, and navigators mostly call out."""
    errors = FieldErrors()
    stored_patient = _active_patient(patient, errors)
    values = {
        "direction": direction,
        "outcome": outcome,
        "call_date": call_date or timezone.now(),
        "navigator": navigator or _default_navigator(actor),
        "booking_date": booking_date,
        "reminder_date": reminder_date,
        "call_duration_minutes": call_duration_minutes,
    }
    _clean_call({**values, "notes": notes}, errors)
    errors.raise_if_any()
    with audit_context(actor=actor):
        return CallHistory.objects.create(
            patient=stored_patient,
            no_show=bool(no_show),
            notes=notes or "",
            created_by=actor if getattr(actor, "pk", None) else None,
            **values,
        )


CALL_EDITABLE_FIELDS = (
    "direction",
    "outcome",
    "call_date",
    "navigator",
    "booking_date",
    "reminder_date",
    "no_show",
    "call_duration_minutes",
    "notes",
)


@transaction.atomic
def call_update(*, call: CallHistory, data: Mapping[str, Any], actor: User | None = None) -> CallHistory:
    """Correct a logged call. The previous values are kept by the audit trail (who changed what, when);
    a voided call cannot be edited, and a call never moves to another patient (void it and log anew)."""
    unknown = set(data) - set(CALL_EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"call_update cannot change {sorted(unknown)}")
    stored = CallHistory.all_objects.select_for_update().get(pk=call.pk)
    errors = FieldErrors()
    if stored.is_void:
        errors.add("call", "A voided call cannot be edited; restore it first.")
    values = {name: data.get(name, getattr(stored, name)) for name in CALL_EDITABLE_FIELDS}
    _clean_call(values, errors)
    errors.raise_if_any()
    changed = [name for name in CALL_EDITABLE_FIELDS if getattr(stored, name) != values[name]]
    if changed:
        for name in changed:
            setattr(stored, name, values[name])
        with audit_context(actor=actor):
            stored.save(update_fields=[*changed, "updated_at"])
    return stored


@transaction.atomic
def call_void(*, call: CallHistory, reason: str, actor: User | None = None) -> CallHistory:
    """Void a call logged in error: it stays in the table (and the audit trail) marked void, with who,
    when and why, and drops out of screens and counts. Calls are never deleted."""
    return soft_delete_row(call, reason=reason, actor=actor)


@transaction.atomic
def call_restore(*, call: CallHistory, actor: User | None = None) -> CallHistory:
    """Undo a void."""
    return restore_row(call, actor=actor)


# --- Medical conditions and other lookups -----------------------------------------------------------------


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


# --- Edits of lookups, physicians and leads; edits that span a role and its Person (issue 5, the API) ------


def _clean_text(
    values: dict[str, Any], name: str, max_length: int, errors: FieldErrors, *, required: bool = False
) -> None:
    value = values.get(name)
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors.add(name, "Give text.")
        return
    value = value.strip()
    if required and not value:
        errors.add(name, "This field is required.")
    elif len(value) > max_length:
        errors.add(name, f"At most {max_length} characters.")
    check_text(value, field=name, multiline=max_length >= NOTES_MAX_LENGTH, errors=errors)
    values[name] = value


def _only(data: Mapping[str, Any], editable: tuple[str, ...], service: str) -> None:
    unknown = set(data) - set(editable)
    if unknown:
        raise ValueError(f"{service} cannot change {sorted(unknown)}")


def _save_changes(stored, values: Mapping[str, Any], actor: User | None) -> None:
    changed = [name for name, value in values.items() if getattr(stored, name) != value]
    if changed:
        for name in changed:
            setattr(stored, name, values[name])
        with audit_context(actor=actor):
            stored.save(update_fields=[*changed, "updated_at"])


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


def update_with_person(
    *,
    person: Person,
    person_data: Mapping[str, Any],
    update: Callable[[], Any],
    actor: User | None = None,
):
    """Change a role record and the details of its Person in one step: both or neither are saved, and the
    caller hears about the problems of both at once. ``update`` is the role's own update, called with no
    arguments; the Person's details go through ``person_update`` (normalised, one Person per email)."""
    from people.services import person_update

    errors = FieldErrors()
    with transaction.atomic():
        if person_data:
            try:
                person_update(person=person, data=person_data, actor=actor)
            except ValidationError as exc:
                errors.absorb(exc, field="person")
        try:
            result = update()
        except ValidationError as exc:
            errors.absorb(exc, field="non_field_errors")
        # Raising inside the block undoes whichever of the two updates did succeed.
        errors.raise_if_any()
    return result


# The services that create and change these models, whose names are not ``<model>_create`` /
# ``_update`` / ``_register``: the admin saves through them (tests/common/test_admin_services.py).
WRITE_SERVICES = {
    PatientLead: (lead_create, lead_update),
    PatientPhysicianRelationship: (patient_physician_link, patient_physician_end),
    CallHistory: (call_log, call_update),
}
