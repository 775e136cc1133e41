"""Every CM write that has a rule. Keyword-only, typed, one transaction each.

Bad input raises ``ValidationError({field: [reason]})`` before anything is written; a clash with
existing data raises ``ConflictError`` naming the existing row. Because each service is atomic, a
failure part-way (a conflict found after the identity was created) leaves nothing behind either.

Lock order, to keep concurrent services free of deadlocks: canonical patient, then enrollment, then
CPSS provider.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Max, Value
from django.utils import timezone

from cm_program.models import (
    CanonicalPatient,
    CMEnrollment,
    CMPatient,
    CMPointsTransaction,
    CMProgram,
    CMProvider,
    CMStatus,
    EnrollmentSource,
    IntakeQLink,
    IntakeQPatient,
    PointsEvent,
    ProviderRole,
    ProviderStatus,
    SmartphoneAccess,
    normalised_name,
)
from cm_program.selectors import streak_from_ledger
from common.audit import audit_context
from common.db import same_names
from common.errors import ConflictError
from common.validation import check_text
from people.models import Person, User
from people.normalize import clean_email, normalize_phone
from people.selectors import persons_visible_to
from people.services import email_unusable, person_by_email, person_usable_by

OLDEST_DATE_OF_BIRTH = dt.date(1900, 1, 1)

# Events a CPSS records; enrollment bonuses and reversals are written by their own services.
RECORDABLE_EVENTS = (
    PointsEvent.GROUP_ATTENDANCE,
    PointsEvent.TEST_NEGATIVE,
    PointsEvent.TEST_POSITIVE,
    PointsEvent.TEST_MISSED,
    PointsEvent.WEEKLY_CHECKIN,
    PointsEvent.PEER_SUPPORT,
    PointsEvent.MANUAL_ADJUSTMENT,
)

# Enrollment status moves. Graduation is final; a withdrawn patient may come back (the enrollment is
# unique per program, so returning reopens it, and the caseload limit applies again).
ENROLLMENT_TRANSITIONS: dict[str, tuple[str, ...]] = {
    CMStatus.ACTIVE: (CMStatus.PAUSED, CMStatus.GRADUATED, CMStatus.WITHDRAWN),
    CMStatus.PAUSED: (CMStatus.ACTIVE, CMStatus.GRADUATED, CMStatus.WITHDRAWN),
    CMStatus.WITHDRAWN: (CMStatus.ACTIVE,),
    CMStatus.GRADUATED: (),
}


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


# ---------------------------------------------------------------------------------------------------
# Input checks (pure: they never touch the database)


def _clean_name(value: str | None, *, field: str) -> str:
    cleaned = (value or "").strip()
    if not cleaned:
        raise ValidationError({field: ["This field is required."]})
    check_text(cleaned, field=field)
    return cleaned


def _clean_date_of_birth(value: dt.date | str | None, *, field: str = "date_of_birth") -> dt.date:
    if value is None or value == "":
        raise ValidationError({field: ["This field is required."]})
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value.strip())
        except ValueError:
            raise ValidationError({field: [f"'{value}' is not a date (YYYY-MM-DD)."]}) from None
    if isinstance(value, dt.datetime):
        value = value.date()
    if value > timezone.localdate():
        raise ValidationError({field: ["The date of birth cannot be in the future."]})
    if value < OLDEST_DATE_OF_BIRTH:
        raise ValidationError({field: [f"The date of birth cannot be before {OLDEST_DATE_OF_BIRTH:%Y}."]})
    return value


def _clean_choice(value: str | None, *, field: str, choices, required: bool = False) -> str | None:
    if value is None or value == "":
        if required:
            raise ValidationError({field: ["This field is required."]})
        return None
    if value not in choices.values:
        allowed = ", ".join(choices.values)
        raise ValidationError({field: [f"'{value}' is not one of: {allowed}."]})
    return value


def _clean_text(value: str | None, *, field: str, multiline: bool = False) -> str | None:
    """Trimmed text or None; control characters are refused (notes and reasons are ``multiline``)."""
    if value is None:
        return None
    value = value.strip()
    check_text(value, field=field, multiline=multiline)
    return value or None


def _clean_phone(value: str | None, *, field: str) -> str | None:
    return normalize_phone(value, field=field) or None


def _clean_confidence(value: Decimal | float | str | None) -> Decimal:
    if value is None or value == "":
        return Decimal("1.00")
    try:
        score = Decimal(str(value))
    except InvalidOperation:
        raise ValidationError({"confidence_score": [f"'{value}' is not a number."]}) from None
    if not score.is_finite() or score < 0 or score > 1:
        raise ValidationError({"confidence_score": ["The confidence score is between 0.00 and 1.00."]})
    if score != score.quantize(Decimal("0.01")):
        raise ValidationError({"confidence_score": ["The confidence score has at most two decimals."]})
    return score.quantize(Decimal("0.01"))


def _not_future(value: dt.datetime | None, *, field: str) -> dt.datetime:
    now = timezone.now()
    if value is None:
        return now
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    # A minute of slack for clocks of client devices that run slightly ahead.
    if value > now + dt.timedelta(minutes=1):
        raise ValidationError({field: ["This cannot be in the future."]})
    return value


PROFILE_FIELDS = (
    "phone",
    "email",
    "insurance_primary",
    "medicaid_id",
    "enrollment_source",
    "consent_date",
    "smartphone_access",
    "emergency_contact_name",
    "emergency_contact_phone",
    "address_street",
    "address_city",
    "address_state",
    "address_zip",
    "preferred_language",
    "status",
)


def _clean_profile(values: dict[str, Any]) -> dict[str, Any]:
    """Validate the CM-profile fields that were given; keys left out stay out (defaults apply)."""
    unknown = set(values) - set(PROFILE_FIELDS)
    if unknown:
        raise TypeError(f"Unknown CM profile fields: {sorted(unknown)}")
    cleaned: dict[str, Any] = {}
    for name, value in values.items():
        if name == "email":
            cleaned[name] = clean_email(value, field="email")
        elif name in ("phone", "emergency_contact_phone"):
            cleaned[name] = _clean_phone(value, field=name)
        elif name == "enrollment_source":
            cleaned[name] = _clean_choice(value, field=name, choices=EnrollmentSource)
        elif name == "smartphone_access":
            cleaned[name] = _clean_choice(value, field=name, choices=SmartphoneAccess)
        elif name == "status":
            cleaned[name] = _clean_choice(value, field=name, choices=CMStatus, required=True)
        elif name == "consent_date":
            cleaned[name] = None if value is None else _not_future(value, field=name)
        else:
            cleaned[name] = _clean_text(value, field=name)
    return cleaned


# ---------------------------------------------------------------------------------------------------
# Canonical identity


@dataclass(frozen=True)
class CanonicalIdentity:
    canonical_patient: CanonicalPatient
    created: bool
    person: Person | None
    person_created: bool
    # field -> (stored on the Person, given here): values that differ and were left alone.
    person_conflicts: dict[str, tuple[Any, Any]] = field(default_factory=dict)


def _canonical_lookup(*, first_name: str, last_name: str, date_of_birth: dt.date):
    """Rows with the same identity key as the unique index (trimmed, unaccented, lower case)."""
    return CanonicalPatient.objects.annotate(
        _first=normalised_name("first_name"), _last=normalised_name("last_name")
    ).filter(
        _first=normalised_name(Value(first_name)),
        _last=normalised_name(Value(last_name)),
        date_of_birth=date_of_birth,
    )


def _is_violation_of(exc: IntegrityError, constraint: str) -> bool:
    cause = exc.__cause__
    diag = getattr(cause, "diag", None)
    return getattr(diag, "constraint_name", None) == constraint


def _person_for(
    canonical: CanonicalPatient, *, email: str | None, phone: str | None, actor: User | None
) -> tuple[Person, bool, dict[str, tuple[Any, Any]]]:
    """Find the Person of this human, or create one. Existing values are never overwritten.

    Only Persons the actor may use count (``people.services.person_usable_by``): an email that belongs
    to anyone else (a patient-navigation person, for a CM supervisor) is the neutral refusal, and a
    name + date of birth match with someone else is no match (a new Person is made, and the refusal
    would itself say that someone of that name and birth date is on file). A superuser links across
    the two programs."""
    person = None
    if email:
        person = person_by_email(email)
        if person is not None and not person_usable_by(person, actor):
            raise email_unusable()
        if person is not None and not person.is_active:
            raise ConflictError(
                f"The person with email {email} was deleted; restore them before enrolling them in CM.",
                existing_id=person.pk,
                field="email",
            )
        if person is not None:
            other = CanonicalPatient.objects.filter(person=person).exclude(pk=canonical.pk).first()
            if other is not None:
                raise ConflictError(
                    f"The email {email} belongs to {person.full_name}, who is already the canonical patient "
                    f"{other}. Check the name and date of birth.",
                    existing_id=other.pk,
                    field="email",
                )
    if person is None:
        candidates = (
            persons_visible_to(actor, Person.objects.all())
            .annotate(_first=normalised_name("first_name"), _last=normalised_name("last_name"))
            .filter(
                _first=normalised_name(Value(canonical.first_name)),
                _last=normalised_name(Value(canonical.last_name)),
                date_of_birth=canonical.date_of_birth,
                canonical_patient__isnull=True,
            )
        )
        if email:
            # A Person with another email is another human (or needs a person to decide): not matched.
            candidates = candidates.filter(email__isnull=True)
        matches = list(candidates.order_by("pk")[:2])
        # Only an unambiguous name + date of birth match is trusted.
        person = matches[0] if len(matches) == 1 else None

    if person is None:
        person = Person(
            first_name=canonical.first_name,
            last_name=canonical.last_name,
            email=email,
            phone=phone or "",
            date_of_birth=canonical.date_of_birth,
        )
        try:
            with transaction.atomic():
                person.save()
        except IntegrityError as exc:
            if not _is_violation_of(exc, "person_email_normalised_uniq"):
                raise
            # Someone registered this email a moment ago: use their Person (if the actor may).
            return _person_for(canonical, email=email, phone=phone, actor=actor)
        return person, True, {}

    conflicts: dict[str, tuple[Any, Any]] = {}
    fills: dict[str, Any] = {}
    given = {
        "email": email,
        "first_name": canonical.first_name,
        "last_name": canonical.last_name,
        "date_of_birth": canonical.date_of_birth,
        "phone": phone or "",
    }
    for name, value in given.items():
        stored = getattr(person, name)
        if not value:
            continue
        if stored in (None, ""):
            fills[name] = value
        elif name in ("first_name", "last_name"):
            if stored.strip().casefold() != str(value).strip().casefold():
                conflicts[name] = (stored, value)
        elif stored != value:
            conflicts[name] = (stored, value)
    if fills:
        Person.all_objects.filter(pk=person.pk).update(**fills, updated_at=timezone.now())
        person.refresh_from_db()
    return person, False, conflicts


@transaction.atomic
def canonical_patient_find_or_create(
    *,
    first_name: str,
    last_name: str,
    date_of_birth: dt.date | str,
    email: str | None = None,
    phone: str | None = None,
    actor: User | None = None,
) -> CanonicalIdentity:
    """Return the one canonical patient of this human, creating it (and its Person) if needed.

    Rule: one canonical row per first name + last name + date of birth, compared ignoring case,
    accents and surrounding spaces. The unique index decides under concurrency: the insert runs in a
    savepoint and, when a concurrent call won, the winner's row is returned. The canonical patient is
    linked to its ``Person`` (matched by email, else by an unambiguous name + date of birth, else
    created); a Person's stored name and phone are never overwritten, differences are reported.
    """
    first = _clean_name(first_name, field="first_name")
    last = _clean_name(last_name, field="last_name")
    dob = _clean_date_of_birth(date_of_birth)
    email = clean_email(email, field="email")
    phone = _clean_phone(phone, field="phone")

    with audit_context(actor=actor):
        created = False
        canonical = _canonical_lookup(first_name=first, last_name=last, date_of_birth=dob).first()
        if canonical is None:
            try:
                with transaction.atomic():
                    canonical = CanonicalPatient.objects.create(first_name=first, last_name=last, date_of_birth=dob)
                created = True
            except IntegrityError as exc:
                if not _is_violation_of(exc, "patients_canonical_identity_uniq"):
                    raise
                canonical = _canonical_lookup(first_name=first, last_name=last, date_of_birth=dob).get()

        # The row lock makes concurrent calls for an existing identity link one Person, not two. The row
        # is locked alone and its Person read after the lock: a joined row would come from the snapshot
        # taken before the lock wait, and miss the Person a concurrent call has just linked.
        canonical = CanonicalPatient.objects.select_for_update().get(pk=canonical.pk)
        if canonical.person_id is not None:
            return CanonicalIdentity(canonical, created, Person.all_objects.get(pk=canonical.person_id), False)
        person, person_created, conflicts = _person_for(canonical, email=email, phone=phone, actor=actor)
        canonical.person = person
        canonical.save(update_fields=["person", "updated_at"])
        return CanonicalIdentity(canonical, created, person, person_created, conflicts)


# ---------------------------------------------------------------------------------------------------
# CM profile, IntakeQ link, providers


@transaction.atomic
def cm_patient_profile_get_or_create(
    *, canonical_patient: CanonicalPatient, actor: User | None = None, **profile: Any
) -> tuple[CMPatient, bool]:
    """Return the CM profile of a canonical patient, creating it with ``profile`` if there is none.

    Rule: one CM profile per canonical patient (the document's ``UNIQUE(canonical_patient_id)``). An
    existing profile keeps its values; only its empty fields are filled from ``profile``.
    """
    cleaned = _clean_profile(profile)
    with audit_context(actor=actor):
        CanonicalPatient.objects.select_for_update().filter(pk=canonical_patient.pk).first()
        existing = CMPatient.objects.filter(canonical_patient=canonical_patient).first()
        if existing is None:
            return CMPatient.objects.create(canonical_patient=canonical_patient, **cleaned), True
        fills = {k: v for k, v in cleaned.items() if v not in (None, "") and getattr(existing, k) in (None, "")}
        if fills:
            for name, value in fills.items():
                setattr(existing, name, value)
            existing.save(update_fields=[*fills, "updated_at"])
        return existing, False


@transaction.atomic
def cm_patient_profile_update(*, cm_patient: CMPatient, actor: User | None = None, **changes: Any) -> CMPatient:
    """Change fields of a CM profile, each validated as on creation (status, smartphone access, phones...)."""
    cleaned = _clean_profile(changes)
    with audit_context(actor=actor):
        profile = CMPatient.objects.select_for_update().get(pk=cm_patient.pk)
        for name, value in cleaned.items():
            setattr(profile, name, value)
        if cleaned:
            profile.save(update_fields=[*cleaned, "updated_at"])
        return profile


@transaction.atomic
def intakeq_link_create(
    *,
    canonical_patient: CanonicalPatient,
    intakeq_patient: IntakeQPatient,
    confidence_score: Decimal | float | str | None = Decimal("1.00"),
    linked_by: User | None = None,
    notes: str | None = None,
    actor: User | None = None,
) -> tuple[IntakeQLink, bool]:
    """Link a canonical patient to an IntakeQ client; returns ``(link, created)``.

    Rule: a canonical patient has at most one IntakeQ record and an IntakeQ record belongs to at most
    one canonical patient. Linking the same pair again returns the existing link; linking either side
    to someone else is refused with the existing link's id. Confidence is 0.00-1.00.
    """
    score = _clean_confidence(confidence_score)
    with audit_context(actor=actor):
        CanonicalPatient.objects.select_for_update().filter(pk=canonical_patient.pk).first()
        by_intakeq = IntakeQLink.objects.filter(intakeq_patient=intakeq_patient).first()
        if by_intakeq is not None and by_intakeq.canonical_patient_id == canonical_patient.pk:
            return by_intakeq, False
        if by_intakeq is not None:
            raise ConflictError(
                f"IntakeQ patient {intakeq_patient} is already linked to another canonical patient "
                f"(link {by_intakeq.pk}).",
                existing_id=by_intakeq.pk,
                field="intakeq_patient",
            )
        by_canonical = IntakeQLink.objects.filter(canonical_patient=canonical_patient).first()
        if by_canonical is not None:
            raise ConflictError(
                f"{canonical_patient} is already linked to another IntakeQ patient (link {by_canonical.pk}).",
                existing_id=by_canonical.pk,
                field="canonical_patient",
            )
        try:
            with transaction.atomic():
                link = IntakeQLink.objects.create(
                    canonical_patient=canonical_patient,
                    intakeq_patient=intakeq_patient,
                    confidence_score=score,
                    linked_by=linked_by or actor,
                    notes=_clean_text(notes, field="notes", multiline=True),
                )
        except IntegrityError:
            # A concurrent link of the same IntakeQ record won the unique index.
            existing = IntakeQLink.objects.filter(intakeq_patient=intakeq_patient).first()
            raise ConflictError(
                f"IntakeQ patient {intakeq_patient} was just linked to another canonical patient.",
                existing_id=getattr(existing, "pk", None),
                field="intakeq_patient",
            ) from None
        return link, True


PROVIDER_FIELDS = (
    "canonical_provider_id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "role",
    "credentials",
    "hire_date",
    "status",
    "max_caseload",
    "user",
    "person",
)


def _clean_provider(values: dict[str, Any]) -> dict[str, Any]:
    unknown = set(values) - set(PROVIDER_FIELDS)
    if unknown:
        raise TypeError(f"Unknown CM provider fields: {sorted(unknown)}")
    cleaned: dict[str, Any] = {}
    for name, value in values.items():
        if name in ("first_name", "last_name"):
            cleaned[name] = _clean_name(value, field=name)
        elif name == "email":
            cleaned[name] = clean_email(value, field="email")
        elif name == "phone":
            cleaned[name] = _clean_phone(value, field="phone")
        elif name == "role":
            cleaned[name] = _clean_choice(value, field="role", choices=ProviderRole, required=True)
        elif name == "status":
            cleaned[name] = _clean_choice(value, field="status", choices=ProviderStatus, required=True)
        elif name == "max_caseload":
            if value is None or isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValidationError({"max_caseload": ["The maximum caseload is a whole number, 0 or more."]})
            cleaned[name] = value
        elif name == "hire_date":
            if value is not None and value > timezone.localdate():
                raise ValidationError({"hire_date": ["The hire date cannot be in the future."]})
            cleaned[name] = value
        elif name in ("credentials",):
            cleaned[name] = _clean_text(value, field=name)
        else:
            cleaned[name] = value
    return cleaned


def _provider_duplicate_email(email: str | None, *, exclude_pk=None) -> None:
    if not email:
        return
    other = CMProvider.objects.filter(email=email).exclude(pk=exclude_pk).first()
    if other is not None:
        raise ConflictError(f"A CM provider with email {email} already exists.", existing_id=other.pk, field="email")


def _provider_user_taken(user: User | None, *, exclude_pk=None) -> None:
    if user is None:
        return
    other = CMProvider.objects.filter(user=user).exclude(pk=exclude_pk).first()
    if other is not None:
        raise ConflictError(f"The login {user} already belongs to {other}.", existing_id=other.pk, field="user")


@transaction.atomic
def cm_provider_create(*, first_name: str, last_name: str, actor: User | None = None, **fields: Any) -> CMProvider:
    """Create a CPSS / supervisor / admin record. Role and status come from the document's lists,
    the email is unique (ignoring case), a login belongs to at most one provider."""
    cleaned = _clean_provider({"first_name": first_name, "last_name": last_name, **fields})
    with audit_context(actor=actor):
        _provider_duplicate_email(cleaned.get("email"))
        _provider_user_taken(cleaned.get("user"))
        return CMProvider.objects.create(**cleaned)


@transaction.atomic
def cm_provider_update(*, provider: CMProvider, actor: User | None = None, **changes: Any) -> CMProvider:
    """Change a provider. Rule: the maximum caseload never drops below the active enrollments the CPSS
    holds, and a CPSS with active enrollments cannot be made inactive (reassign them first)."""
    cleaned = _clean_provider(changes)
    with audit_context(actor=actor):
        locked = CMProvider.objects.select_for_update().get(pk=provider.pk)
        _provider_duplicate_email(cleaned.get("email"), exclude_pk=locked.pk)
        _provider_user_taken(cleaned.get("user"), exclude_pk=locked.pk)
        active = locked.enrollments.filter(status=CMStatus.ACTIVE).count()
        if "max_caseload" in cleaned and cleaned["max_caseload"] < active:
            raise ValidationError(
                {"max_caseload": [f"{locked} holds {active} active enrollments; the maximum cannot be lower."]}
            )
        if cleaned.get("status") == ProviderStatus.INACTIVE and active:
            raise ValidationError(
                {"status": [f"{locked} holds {active} active enrollments; reassign them before deactivating."]}
            )
        for name, value in cleaned.items():
            setattr(locked, name, value)
        if cleaned:
            locked.save()
        return locked


# ---------------------------------------------------------------------------------------------------
# Enrollment


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
            intakeq_link=None,
            canonical_created=identity.created,
            cm_patient_created=cm_created,
            intakeq_link_created=False,
            person_created=identity.person_created,
            person_conflicts=identity.person_conflicts,
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
            intakeq_link=link,
            canonical_created=identity.created,
            cm_patient_created=cm_created,
            intakeq_link_created=link_created,
            person_created=identity.person_created,
            person_conflicts=identity.person_conflicts,
        )


@transaction.atomic
def cm_enrollment_set_status(
    *, enrollment: CMEnrollment, status: str, actor: User | None = None, reason: str = ""
) -> CMEnrollment:
    """Move an enrollment along its allowed statuses (active, paused, graduated, withdrawn).

    Rules: graduation is final; back to active counts against the CPSS's caseload again. The change
    is kept in the audit trail with its actor and ``reason``.
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


# ---------------------------------------------------------------------------------------------------
# Points ledger


def _append_entry(
    *,
    enrollment: CMEnrollment,
    event_type: str,
    points: int,
    streak_after: int,
    reason: str = "",
    occurred_at: dt.datetime | None = None,
    reverses: CMPointsTransaction | None = None,
    actor: User | None = None,
) -> CMPointsTransaction:
    """Append one ledger row and move the enrollment's totals by it. The caller holds the enrollment's
    row lock, so ``sequence`` (next number) and the totals cannot be raced."""
    last = enrollment.points_transactions.aggregate(last=Max("sequence"))["last"] or 0
    entry = CMPointsTransaction.objects.create(
        enrollment=enrollment,
        canonical_patient_id=enrollment.canonical_patient_id,
        sequence=last + 1,
        event_type=event_type,
        points=points,
        reason=reason,
        reverses=reverses,
        streak_after=streak_after,
        recorded_by=actor,
        occurred_at=occurred_at or timezone.now(),
    )
    CMEnrollment.objects.filter(pk=enrollment.pk).update(
        total_points=F("total_points") + points, current_streak=streak_after, updated_at=timezone.now()
    )
    enrollment.refresh_from_db(fields=["total_points", "current_streak", "updated_at"])
    return entry


def _schedule_points(program: CMProgram, event_type: str, streak_before: int) -> tuple[int, int]:
    """(points, streak after) for a scheduled event, from the program's reinforcement schedule."""
    if event_type == PointsEvent.TEST_NEGATIVE:
        return program.negative_test_points(streak_before=streak_before), streak_before + 1
    if event_type in (PointsEvent.TEST_POSITIVE, PointsEvent.TEST_MISSED):
        return 0, 0  # no points, and the escalation starts again from the base value
    per_activity = {
        PointsEvent.GROUP_ATTENDANCE: program.points_group_attendance,
        PointsEvent.WEEKLY_CHECKIN: program.points_weekly_checkin,
        PointsEvent.PEER_SUPPORT: program.points_peer_support,
    }
    return per_activity[event_type], streak_before


@transaction.atomic
def cm_event_record(
    *,
    enrollment: CMEnrollment,
    event_type: str,
    actor: User | None = None,
    occurred_at: dt.datetime | None = None,
    points: int | None = None,
    reason: str = "",
) -> CMPointsTransaction:
    """Record a CM event and its points as a new ledger row; returns the row.

    Rules: only an active enrollment receives events. Scheduled events take their points from the
    program's schedule (``points`` must not be given): a negative test earns base + increment x the
    current streak, up to the cap, and extends the streak; a positive or missed test earns nothing and
    resets the streak. A manual adjustment takes signed, non-zero ``points`` and a ``reason``, and may
    not take the balance below zero. ``total_points`` and ``current_streak`` move in the same
    transaction, under the enrollment's row lock.
    """
    _clean_choice(event_type, field="event_type", choices=PointsEvent, required=True)
    if event_type not in RECORDABLE_EVENTS:
        raise ValidationError({"event_type": [f"'{event_type}' entries are written by the system, not recorded."]})
    reason = (reason or "").strip()
    check_text(reason, field="reason", multiline=True)
    if event_type == PointsEvent.MANUAL_ADJUSTMENT:
        if points is None or isinstance(points, bool) or not isinstance(points, int) or points == 0:
            raise ValidationError({"points": ["A manual adjustment is a whole, non-zero number of points."]})
        if not reason:
            raise ValidationError({"reason": ["A manual adjustment needs a reason."]})
    elif points is not None:
        raise ValidationError({"points": ["Points of scheduled events come from the program's schedule."]})
    occurred_at = _not_future(occurred_at, field="occurred_at")

    with audit_context(actor=actor):
        locked = CMEnrollment.objects.select_for_update().get(pk=enrollment.pk)
        # Read after the lock, not joined to it: a joined program would come from the snapshot taken
        # before the lock wait and miss a schedule change committed meanwhile.
        locked.cm_program = CMProgram.objects.get(pk=locked.cm_program_id)
        if locked.status != CMStatus.ACTIVE:
            raise ValidationError(
                {"enrollment": [f"The enrollment is {locked.status}; events are recorded on active enrollments."]}
            )
        if event_type == PointsEvent.MANUAL_ADJUSTMENT:
            if locked.total_points + points < 0:
                raise ValidationError({"points": [f"The balance is {locked.total_points}; it cannot go below zero."]})
            awarded, streak_after = points, locked.current_streak
        else:
            awarded, streak_after = _schedule_points(locked.cm_program, event_type, locked.current_streak)
        entry = _append_entry(
            enrollment=locked,
            event_type=event_type,
            points=awarded,
            streak_after=streak_after,
            reason=reason,
            occurred_at=occurred_at,
            actor=actor,
        )
        enrollment.total_points, enrollment.current_streak = locked.total_points, locked.current_streak
        return entry


@transaction.atomic
def cm_points_reverse(
    *, points_transaction: CMPointsTransaction, reason: str, actor: User | None = None
) -> CMPointsTransaction:
    """Cancel a ledger entry with a reversing entry (the original is never edited); returns it.

    Rules: a reason is required; an entry is reversed at most once (a second attempt names the
    existing reversal) and a reversal is not itself reversed (record a new event instead); a
    reversal may not take the balance below zero, nor add points to an enrollment that is not
    active. The streak is replayed from the ledger without the cancelled entry.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": ["A reversal needs a reason."]})
    check_text(reason, field="reason", multiline=True)
    if points_transaction.event_type == PointsEvent.REVERSAL:
        raise ValidationError({"points_transaction": ["A reversal cannot be reversed; record a new event instead."]})
    with audit_context(actor=actor):
        locked = CMEnrollment.objects.select_for_update().get(pk=points_transaction.enrollment_id)
        existing = CMPointsTransaction.objects.filter(reverses=points_transaction).first()
        if existing is not None:
            raise ConflictError(
                f"Entry #{points_transaction.sequence} was already reversed by entry #{existing.sequence}.",
                existing_id=existing.pk,
                field="points_transaction",
            )
        delta = -points_transaction.points
        if delta > 0 and locked.status != CMStatus.ACTIVE:
            raise ValidationError({"enrollment": [f"The enrollment is {locked.status}; no points are added to it."]})
        if locked.total_points + delta < 0:
            raise ValidationError(
                {"points_transaction": [f"The balance is {locked.total_points}; the reversal would make it negative."]}
            )
        entries = list(locked.points_transactions.order_by("sequence"))
        streak_after = streak_from_ledger(entries, extra_reversed={points_transaction.pk})
        return _append_entry(
            enrollment=locked,
            event_type=PointsEvent.REVERSAL,
            points=delta,
            streak_after=streak_after,
            reason=reason,
            reverses=points_transaction,
            actor=actor,
        )


@transaction.atomic
def cm_enrollment_totals_repair(*, enrollment: CMEnrollment, actor: User | None = None) -> tuple[int, int]:
    """Set an enrollment's ``total_points`` and ``current_streak`` to what its ledger says.

    The ledger is the truth; the totals are a cache of it. Returns the (points, streak) written. The
    change is kept in the audit trail like any other.
    """
    with audit_context(actor=actor, reason="ledger repair"):
        locked = CMEnrollment.objects.select_for_update().get(pk=enrollment.pk)
        entries = list(locked.points_transactions.order_by("sequence"))
        points = sum(e.points for e in entries)
        streak = streak_from_ledger(entries)
        if (locked.total_points, locked.current_streak) != (points, streak):
            CMEnrollment.objects.filter(pk=locked.pk).update(
                total_points=points, current_streak=streak, updated_at=timezone.now()
            )
        return points, streak


# ---------------------------------------------------------------------------------------------------
# Writes the REST API needs beyond the admin's (the admin saves these rows through its model forms)


@transaction.atomic
def canonical_patient_create(
    *,
    first_name: str,
    last_name: str,
    date_of_birth: dt.date | str,
    email: str | None = None,
    phone: str | None = None,
    actor: User | None = None,
) -> CanonicalIdentity:
    """Create a canonical patient; an existing identity (same name and date of birth, ignoring case,
    accents and spaces) is refused with its id rather than silently returned.

    Rule: a client that asks to *create* must learn that the human is already known, so it does not
    attach a second set of records to what it believes is a new patient. The whole call is one
    transaction: the refusal leaves nothing behind (not even a Person link).
    """
    identity = canonical_patient_find_or_create(
        first_name=first_name, last_name=last_name, date_of_birth=date_of_birth, email=email, phone=phone, actor=actor
    )
    if not identity.created:
        raise ConflictError(
            f"The canonical patient {identity.canonical_patient} already exists.",
            existing_id=identity.canonical_patient.pk,
        )
    return identity


def _same_identity_elsewhere(canonical: CanonicalPatient) -> CanonicalPatient | None:
    return (
        _canonical_lookup(
            first_name=canonical.first_name, last_name=canonical.last_name, date_of_birth=canonical.date_of_birth
        )
        .exclude(pk=canonical.pk)
        .first()
    )


@transaction.atomic
def canonical_patient_update(
    *,
    canonical_patient: CanonicalPatient,
    actor: User | None = None,
    first_name: str = UNSET,
    last_name: str = UNSET,
    date_of_birth: dt.date | str = UNSET,
) -> CanonicalPatient:
    """Correct the identity of a canonical patient (a typo in a name or the date of birth).

    Rule: the corrected identity must not be another canonical patient's (one row per human); the
    clash is refused with the other row's id. The unique index decides under concurrency.
    """
    changes: dict[str, Any] = {}
    if first_name is not UNSET:
        changes["first_name"] = _clean_name(first_name, field="first_name")
    if last_name is not UNSET:
        changes["last_name"] = _clean_name(last_name, field="last_name")
    if date_of_birth is not UNSET:
        changes["date_of_birth"] = _clean_date_of_birth(date_of_birth)
    with audit_context(actor=actor):
        locked = CanonicalPatient.objects.select_for_update().get(pk=canonical_patient.pk)
        if not changes:
            return locked
        for name, value in changes.items():
            setattr(locked, name, value)
        other = _same_identity_elsewhere(locked)
        if other is not None:
            raise ConflictError(f"The canonical patient {other} already exists.", existing_id=other.pk)
        try:
            with transaction.atomic():
                locked.save(update_fields=[*changes, "updated_at"])
        except IntegrityError as exc:
            if not _is_violation_of(exc, "patients_canonical_identity_uniq"):
                raise
            other = _same_identity_elsewhere(locked)
            raise ConflictError(
                "A canonical patient with this name and date of birth was just created.",
                existing_id=getattr(other, "pk", None),
            ) from None
        return locked


@transaction.atomic
def cm_patient_profile_create(
    *, canonical_patient: CanonicalPatient, actor: User | None = None, **profile: Any
) -> CMPatient:
    """Create the CM profile of a canonical patient. Rule: one per canonical patient; a second one is
    refused with the existing profile's id (``cm_patient_profile_get_or_create`` would fill it instead)."""
    _clean_profile(profile)
    with audit_context(actor=actor):
        CanonicalPatient.objects.select_for_update().filter(pk=canonical_patient.pk).first()
        existing = CMPatient.objects.filter(canonical_patient=canonical_patient).first()
        if existing is not None:
            raise ConflictError(
                f"{canonical_patient} already has a CM profile.", existing_id=existing.pk, field="canonical_patient"
            )
        profile_row, _ = cm_patient_profile_get_or_create(canonical_patient=canonical_patient, actor=actor, **profile)
        return profile_row


@transaction.atomic
def intakeq_link_update(
    *,
    link: IntakeQLink,
    actor: User | None = None,
    confidence_score: Decimal | float | str | None = UNSET,
    notes: str | None = UNSET,
) -> IntakeQLink:
    """Change the confidence or the notes of a link. Re-pointing a link is not a change: the two ends
    are fixed (one IntakeQ record per canonical patient, each way). Confidence is 0.00-1.00."""
    changes: dict[str, Any] = {}
    if confidence_score is not UNSET:
        changes["confidence_score"] = _clean_confidence(confidence_score)
    if notes is not UNSET:
        changes["notes"] = _clean_text(notes, field="notes", multiline=True)
    with audit_context(actor=actor):
        locked = IntakeQLink.objects.select_for_update().get(pk=link.pk)
        for name, value in changes.items():
            setattr(locked, name, value)
        if changes:
            locked.save(update_fields=[*changes, "updated_at"])
        return locked


INTAKEQ_FIELDS = ("intakeq_client_id", "first_name", "last_name", "date_of_birth", "email", "phone")


def _clean_intakeq(values: dict[str, Any]) -> dict[str, Any]:
    unknown = set(values) - set(INTAKEQ_FIELDS)
    if unknown:
        raise TypeError(f"Unknown IntakeQ patient fields: {sorted(unknown)}")
    cleaned: dict[str, Any] = {}
    for name, value in values.items():
        if name in ("first_name", "last_name"):
            cleaned[name] = _clean_name(value, field=name)
        elif name == "date_of_birth":
            cleaned[name] = None if value in (None, "") else _clean_date_of_birth(value)
        elif name == "email":
            cleaned[name] = clean_email(value, field="email")
        else:
            # The EMR's client id and phone are kept as the EMR writes them (scenario 2 parses the phone).
            cleaned[name] = _clean_text(value, field=name)
    return cleaned


def _intakeq_client_id_taken(client_id: str | None, *, exclude_pk=None) -> None:
    if not client_id:
        return
    other = IntakeQPatient.objects.filter(intakeq_client_id=client_id).exclude(pk=exclude_pk).first()
    if other is not None:
        raise ConflictError(
            f"An IntakeQ patient with client id {client_id} already exists.",
            existing_id=other.pk,
            field="intakeq_client_id",
        )


@transaction.atomic
def intakeq_patient_create(
    *, first_name: str, last_name: str, actor: User | None = None, **fields: Any
) -> IntakeQPatient:
    """Mirror an IntakeQ client (an EMR sync or a person typing it in before the next sync).

    Rules: names are required; the IntakeQ client id is unique (a second record with it is refused
    with the existing record's id); the date of birth is a real past date; the email is valid.
    """
    cleaned = _clean_intakeq({"first_name": first_name, "last_name": last_name, **fields})
    with audit_context(actor=actor):
        _intakeq_client_id_taken(cleaned.get("intakeq_client_id"))
        try:
            with transaction.atomic():
                return IntakeQPatient.objects.create(**cleaned)
        except IntegrityError:
            _intakeq_client_id_taken(cleaned.get("intakeq_client_id"))
            raise


@transaction.atomic
def intakeq_patient_update(
    *, intakeq_patient: IntakeQPatient, actor: User | None = None, **changes: Any
) -> IntakeQPatient:
    """Change a mirrored IntakeQ client, with the checks of ``intakeq_patient_create``."""
    cleaned = _clean_intakeq(changes)
    with audit_context(actor=actor):
        locked = IntakeQPatient.objects.select_for_update().get(pk=intakeq_patient.pk)
        _intakeq_client_id_taken(cleaned.get("intakeq_client_id"), exclude_pk=locked.pk)
        for name, value in cleaned.items():
            setattr(locked, name, value)
        if cleaned:
            locked.save(update_fields=[*cleaned, "updated_at"])
        return locked


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


# The services that create and change these models, whose names are not ``<model>_create`` /
# ``_update`` / ``_register`` (or, for the canonical patient, not the API's ``canonical_patient_create``):
# the admin saves through them (tests/common/test_admin_services.py).
WRITE_SERVICES = {
    CanonicalPatient: (canonical_patient_find_or_create, canonical_patient_update),
    CMPatient: (cm_patient_profile_get_or_create, cm_patient_profile_update),
    CMPointsTransaction: (cm_event_record,),
}
