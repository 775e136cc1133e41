"""Canonical identity: one canonical patient per human, and the Person it is linked to."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Value
from django.utils import timezone

from cm_program.models import (
    CanonicalPatient,
    normalised_name,
)
from cm_program.services._common import UNSET, _clean_date_of_birth, _clean_name, _clean_phone, _is_violation_of
from common.audit import audit_context
from common.errors import ConflictError
from people.models import Person, User
from people.normalize import clean_email
from people.selectors import persons_visible_to
from people.services import email_unusable, person_by_email, person_usable_by


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
