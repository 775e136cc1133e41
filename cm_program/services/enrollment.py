"""Enrollment in a CM program: status moves, the CPSS caseload limit, enrolling new and IntakeQ patients."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from cm_program.models import (
    CanonicalPatient,
    CMEnrollment,
    CMPatient,
    CMProgram,
    CMProvider,
    CMStatus,
    EnrollmentSource,
    EnrollmentStatusChange,
    IntakeQLink,
    IntakeQPatient,
    PointsEvent,
    ProviderStatus,
)
from cm_program.services._common import (
    UNSET,
    _append_entry,
    _clean_choice,
    _clean_date_of_birth,
    _clean_name,
    _clean_phone,
    _clean_profile,
    _clean_text,
    _not_future,
)
from cm_program.services.identity import CanonicalIdentity, canonical_patient_find_or_create
from cm_program.services.intakeq import intakeq_link_create
from cm_program.services.profiles import cm_patient_profile_get_or_create
from common.audit import audit_context
from common.errors import ConflictError
from common.validation import check_text
from people.models import User
from people.normalize import clean_email

# Enrollment status moves. Graduation is final; a withdrawn patient may come back (the enrollment is
# unique per program, so returning reopens it, and the caseload limit applies again).
ENROLLMENT_TRANSITIONS: dict[str, tuple[str, ...]] = {
    CMStatus.ACTIVE: (CMStatus.PAUSED, CMStatus.GRADUATED, CMStatus.WITHDRAWN),
    CMStatus.PAUSED: (CMStatus.ACTIVE, CMStatus.GRADUATED, CMStatus.WITHDRAWN),
    CMStatus.WITHDRAWN: (CMStatus.ACTIVE,),
    CMStatus.GRADUATED: (),
}


def _lock_cpss_with_room(cpss_provider: CMProvider) -> CMProvider:
    """Lock the CPSS row and refuse when their active caseload is full.

    The row lock serialises every service that adds an active enrollment to this CPSS, so the count
    taken after it is current: two enrollments racing for the last place cannot both see room.
    """
    locked = CMProvider.objects.select_for_update().get(pk=cpss_provider.pk)
    if locked.status != ProviderStatus.ACTIVE:
        raise ValidationError({"cpss_provider": [f"{locked} is inactive and cannot take patients."]})
    active = CMEnrollment.objects.filter(cpss_provider=locked, status=CMStatus.ACTIVE).count()
    if active >= locked.max_caseload:
        raise ConflictError(
            f"{locked} is at capacity ({active} of {locked.max_caseload} active enrollments).",
            existing_id=locked.pk,
            field="cpss_provider",
        )
    return locked


def _record_status_change(
    *,
    enrollment: CMEnrollment,
    from_status: str | None,
    to_status: str,
    actor: User | None,
    reason: str = "",
    changed_at: dt.datetime | None = None,
) -> EnrollmentStatusChange:
    """Append one row to the enrollment's status history (``EnrollmentStatusChange``), in the caller's
    transaction: the history and the status cannot disagree."""
    return EnrollmentStatusChange.objects.create(
        enrollment=enrollment,
        from_status=from_status,
        to_status=to_status,
        changed_at=changed_at or timezone.now(),
        changed_by=actor,
        reason=(reason or "").strip(),
    )


def _check_program(program: CMProgram) -> None:
    if not program.is_active:
        raise ValidationError({"cm_program": [f"The program {program} is not active."]})


@transaction.atomic
def cm_enrollment_create(
    *,
    cm_patient: CMPatient,
    program: CMProgram,
    cpss_provider: CMProvider | None,
    actor: User | None = None,
    enrollment_date: dt.datetime | None = None,
    pod_assignment: str | None = None,
    notes: str | None = None,
    medicaid_verification: dict | None = None,
) -> CMEnrollment:
    """Enroll a CM patient in a program with a CPSS, and award the program's enrollment bonus.

    Rules: one enrollment per canonical patient per program (a second one is refused with the
    existing enrollment's id); the program is active; the CPSS is active and below ``max_caseload``
    active enrollments, checked under a row lock on the CPSS.
    """
    _check_program(program)
    enrollment_date = _not_future(enrollment_date, field="enrollment_date")
    if medicaid_verification is not None and not isinstance(medicaid_verification, dict):
        raise ValidationError({"medicaid_verification": ["Expected an object (JSON dictionary)."]})
    with audit_context(actor=actor):
        canonical = CanonicalPatient.objects.select_for_update().get(pk=cm_patient.canonical_patient_id)
        existing = CMEnrollment.objects.filter(canonical_patient=canonical, cm_program=program).first()
        if existing is not None:
            raise ConflictError(
                f"{canonical} is already enrolled in {program} (enrollment {existing.pk}, {existing.status}).",
                existing_id=existing.pk,
                field="cm_program",
            )
        if cpss_provider is not None:
            cpss_provider = _lock_cpss_with_room(cpss_provider)
        enrollment = CMEnrollment.objects.create(
            canonical_patient=canonical,
            cm_patient=cm_patient,
            cm_program=program,
            cpss_provider=cpss_provider,
            enrollment_date=enrollment_date,
            pod_assignment=_clean_text(pod_assignment, field="pod_assignment"),
            notes=_clean_text(notes, field="notes", multiline=True),
            medicaid_verification=medicaid_verification,
        )
        # The history's first row is dated at the enrollment date (which may be earlier than today).
        _record_status_change(
            enrollment=enrollment,
            from_status=None,
            to_status=enrollment.status,
            actor=actor,
            changed_at=enrollment.enrollment_date,
        )
        if program.points_enrollment_bonus > 0:
            _append_entry(
                enrollment=enrollment,
                event_type=PointsEvent.ENROLLMENT_BONUS,
                points=program.points_enrollment_bonus,
                streak_after=0,
                reason="Welcome to the program.",
                occurred_at=enrollment_date,
                actor=actor,
            )
        return enrollment


@dataclass(frozen=True)
class CMEnrollmentResult:
    canonical_patient: CanonicalPatient
    cm_patient: CMPatient
    enrollment: CMEnrollment
    intakeq_link: IntakeQLink | None
    canonical_created: bool
    cm_patient_created: bool
    intakeq_link_created: bool
    person_created: bool
    person_conflicts: dict[str, tuple[Any, Any]] = field(default_factory=dict)


def _enroll_and_report(
    *,
    identity: CanonicalIdentity,
    cm_patient: CMPatient,
    cm_patient_created: bool,
    program: CMProgram,
    cpss_provider: CMProvider | None,
    actor: User | None,
    enrollment_date: dt.datetime | None,
    pod_assignment: str | None,
    notes: str | None,
    intakeq_link: IntakeQLink | None = None,
    intakeq_link_created: bool = False,
) -> CMEnrollmentResult:
    """The last step both enrollment scenarios share: enroll the profile (caseload and duplicate rules
    are ``cm_enrollment_create``'s) and say what each step found or created."""
    enrollment = cm_enrollment_create(
        cm_patient=cm_patient,
        program=program,
        cpss_provider=cpss_provider,
        actor=actor,
        enrollment_date=enrollment_date,
        pod_assignment=pod_assignment,
        notes=notes,
    )
    return CMEnrollmentResult(
        canonical_patient=identity.canonical_patient,
        cm_patient=cm_patient,
        enrollment=enrollment,
        intakeq_link=intakeq_link,
        canonical_created=identity.created,
        cm_patient_created=cm_patient_created,
        intakeq_link_created=intakeq_link_created,
        person_created=identity.person_created,
        person_conflicts=identity.person_conflicts,
    )


@transaction.atomic
def cm_patient_enroll_new(
    *,
    first_name: str,
    last_name: str,
    date_of_birth: dt.date | str,
    program: CMProgram,
    cpss_provider: CMProvider,
    actor: User | None = None,
    enrollment_date: dt.datetime | None = None,
    pod_assignment: str | None = None,
    notes: str | None = None,
    **profile: Any,
) -> CMEnrollmentResult:
    """Scenario 1 of the CM document: a new CM patient (acute care, referral, ...).

    Find or create the canonical identity, create the CM profile (``profile``: phone, email,
    insurance_primary, enrollment_source, smartphone_access, ...), enroll with the CPSS. Every input is
    validated before the first write; a refusal (already enrolled, CPSS at capacity) leaves nothing.
    """
    if cpss_provider is None:
        raise ValidationError({"cpss_provider": ["A new CM patient is enrolled with a CPSS."]})
    _clean_name(first_name, field="first_name")
    _clean_name(last_name, field="last_name")
    _clean_date_of_birth(date_of_birth)
    _clean_profile(profile)
    _check_program(program)
    _not_future(enrollment_date, field="enrollment_date")
    with audit_context(actor=actor):
        identity = canonical_patient_find_or_create(
            first_name=first_name,
            last_name=last_name,
            date_of_birth=date_of_birth,
            email=profile.get("email"),
            phone=profile.get("phone"),
            actor=actor,
        )
        cm_patient, cm_created = cm_patient_profile_get_or_create(
            canonical_patient=identity.canonical_patient, actor=actor, **profile
        )
        return _enroll_and_report(
            identity=identity,
            cm_patient=cm_patient,
            cm_patient_created=cm_created,
            program=program,
            cpss_provider=cpss_provider,
            actor=actor,
            enrollment_date=enrollment_date,
            pod_assignment=pod_assignment,
            notes=notes,
        )


@transaction.atomic
def cm_patient_enroll_from_intakeq(
    *,
    intakeq_patient: IntakeQPatient,
    program: CMProgram,
    cpss_provider: CMProvider | None = None,
    actor: User | None = None,
    enrollment_date: dt.datetime | None = None,
    pod_assignment: str | None = None,
    notes: str | None = None,
    link_notes: str | None = None,
    **profile: Any,
) -> CMEnrollmentResult:
    """Scenario 2 of the CM document: an existing psychiatry (IntakeQ) patient joins CM.

    The canonical identity is found or created from the IntakeQ record's name and date of birth,
    linked to it with confidence 1.00 (an exact match by construction), the CM profile inherits the
    IntakeQ phone and email and has ``enrollment_source='existing_patient'``, and the patient is
    enrolled. Refused when the IntakeQ record is already linked to someone else or the patient is
    already enrolled in the program.
    """
    if "enrollment_source" in profile and profile["enrollment_source"] != EnrollmentSource.EXISTING_PATIENT:
        raise ValidationError({"enrollment_source": ["A patient coming from IntakeQ is an existing_patient."]})
    profile = {k: v for k, v in profile.items() if k not in ("phone", "email", "enrollment_source")}
    # EMR exports are not always tidy: a phone that does not parse is kept as exported.
    try:
        phone = _clean_phone(intakeq_patient.phone, field="phone")
    except ValidationError:
        try:
            phone = _clean_text(intakeq_patient.phone, field="phone")
        except ValidationError:
            raise ValidationError(
                {"intakeq_patient": ["The IntakeQ record's phone holds control characters; fix it first."]}
            ) from None
    try:
        email = clean_email(intakeq_patient.email)
    except ValidationError:
        raise ValidationError({"intakeq_patient": ["The IntakeQ record's email is not valid; fix it first."]}) from None
    if intakeq_patient.date_of_birth is None:
        raise ValidationError({"intakeq_patient": ["The IntakeQ record has no date of birth to match on."]})
    for name in ("first_name", "last_name"):
        if not (getattr(intakeq_patient, name) or "").strip():
            raise ValidationError({"intakeq_patient": [f"The IntakeQ record has no {name.replace('_', ' ')}."]})
    _clean_date_of_birth(intakeq_patient.date_of_birth, field="intakeq_patient")
    _clean_profile(profile)
    _check_program(program)
    _not_future(enrollment_date, field="enrollment_date")

    with audit_context(actor=actor):
        identity = canonical_patient_find_or_create(
            first_name=intakeq_patient.first_name,
            last_name=intakeq_patient.last_name,
            date_of_birth=intakeq_patient.date_of_birth,
            email=email,
            phone=phone if phone and phone.startswith("+") else None,
            actor=actor,
        )
        link, link_created = intakeq_link_create(
            canonical_patient=identity.canonical_patient,
            intakeq_patient=intakeq_patient,
            confidence_score=Decimal("1.00"),
            linked_by=actor,
            notes=link_notes,
            actor=actor,
        )
        cm_patient, cm_created = cm_patient_profile_get_or_create(
            canonical_patient=identity.canonical_patient,
            actor=actor,
            **profile,
            enrollment_source=EnrollmentSource.EXISTING_PATIENT,
            email=email,
        )
        if phone and not cm_patient.phone:
            # Set directly: an unparsable EMR phone would not pass the profile's phone check.
            cm_patient.phone = phone
            cm_patient.save(update_fields=["phone", "updated_at"])
        return _enroll_and_report(
            identity=identity,
            cm_patient=cm_patient,
            cm_patient_created=cm_created,
            program=program,
            cpss_provider=cpss_provider,
            actor=actor,
            enrollment_date=enrollment_date,
            pod_assignment=pod_assignment,
            notes=notes,
            intakeq_link=link,
            intakeq_link_created=link_created,
        )


@transaction.atomic
def cm_enrollment_set_status(
    *, enrollment: CMEnrollment, status: str, actor: User | None = None, reason: str = ""
) -> CMEnrollment:
    """Move an enrollment along its allowed statuses (active, paused, graduated, withdrawn).

    Rules: graduation is final; back to active counts against the CPSS's caseload again. The change
    is appended to the enrollment's status history (``EnrollmentStatusChange``) and kept in the audit
    trail, both with its actor and ``reason``.
    """
    _clean_choice(status, field="status", choices=CMStatus, required=True)
    check_text(reason, field="reason", multiline=True)
    with audit_context(actor=actor, reason=(reason or "").strip() or None):
        locked = CMEnrollment.objects.select_for_update().get(pk=enrollment.pk)
        if locked.status == status:
            return locked
        if status not in ENROLLMENT_TRANSITIONS[locked.status]:
            raise ValidationError({"status": [f"An enrollment cannot go from {locked.status} to {status}."]})
        if status == CMStatus.ACTIVE and locked.cpss_provider_id is not None:
            _lock_cpss_with_room(locked.cpss_provider)
        _record_status_change(
            enrollment=locked, from_status=locked.status, to_status=status, actor=actor, reason=reason
        )
        locked.status = status
        locked.save(update_fields=["status", "updated_at"])
        return locked


@transaction.atomic
def cm_enrollment_assign_cpss(
    *, enrollment: CMEnrollment, cpss_provider: CMProvider | None, actor: User | None = None
) -> CMEnrollment:
    """Give an enrollment to another CPSS (or none). Rule: an active enrollment only moves to a CPSS
    with room in their caseload (checked under the CPSS's row lock)."""
    with audit_context(actor=actor):
        locked = CMEnrollment.objects.select_for_update().get(pk=enrollment.pk)
        new_id = cpss_provider.pk if cpss_provider is not None else None
        if locked.cpss_provider_id == new_id:
            return locked
        if cpss_provider is not None and locked.status == CMStatus.ACTIVE:
            _lock_cpss_with_room(cpss_provider)
        elif cpss_provider is not None and cpss_provider.status != ProviderStatus.ACTIVE:
            raise ValidationError({"cpss_provider": [f"{cpss_provider} is inactive and cannot take patients."]})
        locked.cpss_provider = cpss_provider
        locked.save(update_fields=["cpss_provider", "updated_at"])
        return locked


@transaction.atomic
def cm_enrollment_update(
    *,
    enrollment: CMEnrollment,
    actor: User | None = None,
    status: str = UNSET,
    status_reason: str = "",
    cpss_provider: CMProvider | None = UNSET,
    pod_assignment: str | None = UNSET,
    notes: str | None = UNSET,
    medicaid_verification: dict | None = UNSET,
) -> CMEnrollment:
    """Change an enrollment as the admin form does: status and CPSS through their rules, the
    free-text fields directly. Points and streak are never set here (they follow the ledger)."""
    if medicaid_verification not in (UNSET, None) and not isinstance(medicaid_verification, dict):
        raise ValidationError({"medicaid_verification": ["Expected an object (JSON dictionary)."]})
    with audit_context(actor=actor):
        # Leaving "active" first and entering it last, so that the caseload check of a new CPSS
        # applies exactly when the enrollment ends up active with them.
        if status is not UNSET and status != CMStatus.ACTIVE:
            cm_enrollment_set_status(enrollment=enrollment, status=status, actor=actor, reason=status_reason)
        if cpss_provider is not UNSET:
            cm_enrollment_assign_cpss(enrollment=enrollment, cpss_provider=cpss_provider, actor=actor)
        if status == CMStatus.ACTIVE:
            cm_enrollment_set_status(enrollment=enrollment, status=status, actor=actor, reason=status_reason)
        locked = CMEnrollment.objects.select_for_update().get(pk=enrollment.pk)
        plain = {
            "pod_assignment": (
                pod_assignment if pod_assignment is UNSET else _clean_text(pod_assignment, field="pod_assignment")
            ),
            "notes": notes if notes is UNSET else _clean_text(notes, field="notes", multiline=True),
            "medicaid_verification": medicaid_verification,
        }
        changed = [name for name, value in plain.items() if value is not UNSET]
        for name in changed:
            setattr(locked, name, plain[name])
        if changed:
            locked.save(update_fields=[*changed, "updated_at"])
        return locked
