"""Writes on people: creating and matching persons, their temporal roles, soft delete.

Every service is keyword-only, atomic, validates before it writes (so a ``ValidationError`` leaves
nothing behind) and names its actor in the audit trail.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.db.models.functions import Lower, Trim
from django.utils import timezone

from common.audit import audit_context
from common.db import constraint_name
from common.duplicates import pair_mark_not_duplicate
from common.errors import ConflictError, UnavailableError
from common.soft_delete import restore_row, soft_delete_row
from common.validation import FieldErrors, check_text
from people.duplicates import LIVE_PERSON, PERSONS
from people.models import ContactType, Person, PersonContactType, PersonDuplicatePair, User
from people.normalize import clean_email, normalize_phone
from people.selectors import may_review_person_duplicates, persons_visible_to

NAME_MAX_LENGTH = 150
EARLIEST_BIRTH_DATE = dt.date(1900, 1, 1)


@dataclass(frozen=True)
class PersonMatch:
    """The Person a registration landed on: reused (found by email) or new, and what did not match."""

    person: Person
    reused: bool
    # field -> {"stored": value kept, "given": value refused}; empty when everything agreed.
    conflicts: dict[str, dict[str, Any]] = field(default_factory=dict)


# --- Input cleaning (shared by services, admin forms and importers) ------------------------------------


def clean_person_details(
    *,
    first_name: str,
    last_name: str,
    email: str | None,
    phone: str | None,
    date_of_birth: dt.date | None,
    errors: FieldErrors,
) -> dict[str, Any]:
    """Normalise a person's details; problems are added to ``errors`` under the field's name."""
    cleaned: dict[str, Any] = {}
    for name, value in (("first_name", first_name), ("last_name", last_name)):
        value = (value or "").strip()
        if not value:
            errors.add(name, "This field is required.")
        elif len(value) > NAME_MAX_LENGTH:
            errors.add(name, f"At most {NAME_MAX_LENGTH} characters.")
        check_text(value, field=name, errors=errors)
        cleaned[name] = value
    try:
        cleaned["email"] = clean_email(email)
    except ValidationError as exc:
        errors.absorb(exc, field="email")
    try:
        cleaned["phone"] = normalize_phone(phone)
    except ValidationError as exc:
        errors.absorb(exc, field="phone")
    cleaned["date_of_birth"] = clean_date_of_birth(date_of_birth, errors=errors)
    return cleaned


def clean_date_of_birth(value: dt.date | None, *, errors: FieldErrors) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        errors.add("date_of_birth", "Give a date.")
        return None
    if value > timezone.localdate():
        errors.add("date_of_birth", "A date of birth cannot be in the future.")
    elif value < EARLIEST_BIRTH_DATE:
        errors.add("date_of_birth", f"A date of birth before {EARLIEST_BIRTH_DATE:%Y} is not plausible.")
    return value


def person_by_email(email: str) -> Person | None:
    """The Person (active or not) whose normalised email is ``email`` (already normalised)."""
    # Filtering on the same expression as the unique index lets PostgreSQL use it, and finds rows
    # written around the services with stray case or spaces.
    return Person.all_objects.annotate(_email_key=Lower(Trim("email"))).filter(_email_key=email).first()


# --- Who may use which Person --------------------------------------------------------------------------

# One answer for every email a user may not use, whatever the reason: it names no record and no value.
UNUSABLE_EMAIL_MESSAGE = "This email cannot be used here. If it is this person's email, ask a superuser to record them."


def email_unusable() -> UnavailableError:
    return UnavailableError(UNUSABLE_EMAIL_MESSAGE, field="email")


def person_usable_by(person: Person, actor: User | None) -> bool:
    """May ``actor`` be told that ``person`` exists, reuse them or link a record to them?

    Only a Person within the actor's scope (``persons_visible_to``: their program's people, deleted
    ones only for those who may restore them). ``None`` (scripts, commands) and superusers may use
    anyone: a superuser is who links a Person of one program to the other."""
    if actor is None or actor.is_superuser:
        return True
    return persons_visible_to(actor).filter(pk=person.pk).exists()


def email_taken_error(existing: Person, *, actor: User | None) -> ConflictError:
    """The refusal of an email that ``existing`` already has: the conflict naming them for those who may
    see them, the neutral refusal for everyone else."""
    if not person_usable_by(existing, actor):
        return email_unusable()
    return ConflictError("A person with this email already exists.", existing_id=existing.pk, field="email")


# --- Persons -------------------------------------------------------------------------------------------


@transaction.atomic
def person_create(
    *,
    first_name: str,
    last_name: str,
    email: str | None = None,
    phone: str | None = "",
    date_of_birth: dt.date | None = None,
    user: User | None = None,
    actor: User | None = None,
) -> Person:
    """Create a Person. One Person per email (ignoring case and spaces): an email already on file is a
    conflict that points at the existing Person, never a second row; when that Person is outside the
    actor's scope the refusal is the neutral one (``email_unusable``), naming nobody."""
    errors = FieldErrors()
    details = clean_person_details(
        first_name=first_name, last_name=last_name, email=email, phone=phone, date_of_birth=date_of_birth, errors=errors
    )
    if user is not None and Person.all_objects.filter(user=user).exists():
        errors.add("user", "This login already belongs to another person.")
    errors.raise_if_any()
    if details["email"] and (existing := person_by_email(details["email"])) is not None:
        raise email_taken_error(existing, actor=actor)
    with audit_context(actor=actor):
        try:
            with transaction.atomic():
                return Person.objects.create(user=user, **details)
        except IntegrityError as exc:
            existing = person_by_email(details["email"]) if details["email"] else None
            if existing is None:
                raise
            raise email_taken_error(existing, actor=actor) from exc


PERSON_EDITABLE_FIELDS = ("first_name", "last_name", "email", "phone", "date_of_birth", "user")


@transaction.atomic
def person_update(*, person: Person, data: Mapping[str, Any], actor: User | None = None) -> Person:
    """Change a Person's details. The same normalisation and checks as on creation; moving to an email
    that another Person holds is a conflict naming that Person (the neutral refusal when the actor may not
    see them). The old values stay in the audit trail."""
    unknown = set(data) - set(PERSON_EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"person_update cannot change {sorted(unknown)}")
    person = Person.all_objects.select_for_update().get(pk=person.pk)
    merged = {name: data.get(name, getattr(person, name)) for name in PERSON_EDITABLE_FIELDS if name != "user"}
    errors = FieldErrors()
    details = clean_person_details(**merged, errors=errors)
    user = data.get("user", person.user)
    if user is not None and Person.all_objects.filter(user=user).exclude(pk=person.pk).exists():
        errors.add("user", "This login already belongs to another person.")
    errors.raise_if_any()
    if details["email"] and (existing := person_by_email(details["email"])) not in (None, person):
        raise email_taken_error(existing, actor=actor)
    changed = [name for name, value in details.items() if getattr(person, name) != value]
    if user != person.user:
        changed.append("user")
        person.user = user
    if changed:
        for name in changed:
            if name != "user":
                setattr(person, name, details[name])
        with audit_context(actor=actor):
            person.save(update_fields=[*changed, "updated_at"])
    return person


def _merge_returning(person: Person, details: Mapping[str, Any]) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """Fill the stored Person's blanks from ``details``; report (never apply) values that disagree."""
    filled: list[str] = []
    conflicts: dict[str, dict[str, Any]] = {}
    for name in ("first_name", "last_name"):
        stored, given = getattr(person, name), details[name]
        if not stored and given:
            setattr(person, name, given)
            filled.append(name)
        elif given and stored.strip().casefold() != given.casefold():
            conflicts[name] = {"stored": stored, "given": given}
    for name in ("phone", "date_of_birth"):
        stored, given = getattr(person, name), details[name]
        if given in (None, ""):
            continue
        if stored in (None, ""):
            setattr(person, name, given)
            filled.append(name)
        elif stored != given:
            conflicts[name] = {"stored": stored, "given": given}
    return filled, conflicts


def find_or_create_person(details: Mapping[str, Any], *, actor: User | None) -> PersonMatch:
    """The returning-patient rule on already cleaned details; the caller holds a transaction.

    Only a Person the actor may use is reused (``person_usable_by``): any other Person with the email is
    the neutral refusal, before anything is written or read back, so a navigator cannot reach a CM
    patient's record (nor a CM supervisor a navigation patient's) by typing their email.

    Race-safe: two callers inserting the same email both end on the one row (the unique index refuses
    the second insert, which then re-reads), and the row is locked so that what follows (one Patient
    per Person...) is decided by one caller at a time.
    """
    email = details["email"]
    if email is None:
        # Without an email there is nothing to match on: a new Person, as the document's rule allows.
        return PersonMatch(person=Person.objects.create(**details), reused=False)
    person = person_by_email(email)
    if person is None:
        try:
            with transaction.atomic():
                # A row this transaction inserted is its own until commit (others block on the unique
                # index): no lock to take, nothing to re-read.
                return PersonMatch(person=Person.objects.create(**details), reused=False)
        except IntegrityError:
            person = person_by_email(email)  # someone else inserted it meanwhile; theirs wins
            if person is None:
                raise
    person = Person.all_objects.select_for_update().get(pk=person.pk)
    if not person_usable_by(person, actor):
        raise email_unusable()
    if not person.is_active:
        raise ConflictError(
            "A deleted person has this email; restore them instead of registering again.",
            existing_id=person.pk,
            field="email",
        )
    filled, conflicts = _merge_returning(person, details)
    if filled:
        person.save(update_fields=[*filled, "updated_at"])
    return PersonMatch(person=person, reused=True, conflicts=conflicts)


@transaction.atomic
def person_find_or_create(
    *,
    first_name: str,
    last_name: str,
    email: str | None,
    phone: str | None = "",
    date_of_birth: dt.date | None = None,
    actor: User | None = None,
) -> PersonMatch:
    """The returning-person rule: the Person with this email (ignoring case and spaces) is reused, never
    duplicated; its name and phone are never silently overwritten (blanks are filled, disagreements
    are reported in ``conflicts``). A soft-deleted Person with the email is a conflict to resolve by
    restoring it; a Person the actor may not use is the neutral refusal."""
    errors = FieldErrors()
    details = clean_person_details(
        first_name=first_name, last_name=last_name, email=email, phone=phone, date_of_birth=date_of_birth, errors=errors
    )
    errors.raise_if_any()
    with audit_context(actor=actor):
        return find_or_create_person(details, actor=actor)


@transaction.atomic
def person_soft_delete(*, person: Person, reason: str, actor: User | None = None) -> Person:
    """Hide a Person from screens without losing them: who, when and why are kept, and it can be undone.
    Their roles, patients and calls stay as they are."""
    return soft_delete_row(person, reason=reason, actor=actor)


@transaction.atomic
def person_restore(*, person: Person, actor: User | None = None) -> Person:
    """Undo a Person's soft delete."""
    return restore_row(person, actor=actor)


# --- Temporal roles ------------------------------------------------------------------------------------


def resolve_contact_type(role: str | ContactType, *, errors: FieldErrors | None = None) -> ContactType | None:
    if isinstance(role, ContactType):
        return role
    found = ContactType.objects.filter(code=role).first()
    if found is None:
        message = f"Unknown role '{role}'."
        if errors is None:
            raise ValidationError({"contact_type": [message]})
        errors.add("contact_type", message)
    return found


def overlapping_periods(
    *, person: Person, contact_type: ContactType, valid_from: dt.datetime, valid_to: dt.datetime | None
):
    """Periods of this role for this person that share at least an instant with [valid_from, valid_to)."""
    periods = PersonContactType.objects.filter(person=person, contact_type=contact_type).filter(
        Q(valid_to__isnull=True) | Q(valid_to__gt=valid_from)
    )
    if valid_to is not None:
        periods = periods.filter(valid_from__lt=valid_to)
    return periods


def _describe(period: PersonContactType) -> str:
    end = f"{period.valid_to:%Y-%m-%d %H:%M}" if period.valid_to else "now (still current)"
    return f"{period.valid_from:%Y-%m-%d %H:%M} to {end}"


def start_role(
    *, person: Person, contact_type: ContactType, valid_from: dt.datetime, valid_to: dt.datetime | None = None
) -> PersonContactType:
    """Insert a role period; the caller validated, holds a transaction and has locked the person."""
    try:
        with transaction.atomic():
            return PersonContactType.objects.create(
                person=person, contact_type=contact_type, valid_from=valid_from, valid_to=valid_to
            )
    except IntegrityError as exc:
        if constraint_name(exc) == "person_contact_type_no_overlap":
            raise ValidationError(
                {"valid_from": [f"{person} already holds the role {contact_type} during part of that period."]}
            ) from exc
        raise


def ensure_role(*, person: Person, code: str, at: dt.datetime, new_person: bool = False) -> PersonContactType | None:
    """Start the role at ``at`` unless the person already holds it then (idempotent helper).
    ``new_person``: the caller inserted the Person in this transaction, so it holds no role yet (nothing
    to look up, and no concurrent writer can see the row: the insert needs no savepoint either)."""
    contact_type = ContactType.objects.get(code=code)
    if new_person:
        return PersonContactType.objects.create(person=person, contact_type=contact_type, valid_from=at)
    if PersonContactType.objects.filter(person=person, contact_type=contact_type).current(at).exists():
        return None
    return start_role(person=person, contact_type=contact_type, valid_from=at)


def end_role(*, person: Person, code: str, at: dt.datetime) -> PersonContactType | None:
    """Close the period of the role in force at ``at`` (if any) at exactly ``at``."""
    period = (
        PersonContactType.objects.select_for_update(of=("self",))
        .filter(person=person, contact_type__code=code)
        .current(at)
        .first()
    )
    if period is None or period.valid_from >= at:
        return None
    period.valid_to = at
    period.save(update_fields=["valid_to", "updated_at"])
    return period


@transaction.atomic
def person_role_start(
    *,
    person: Person,
    role: str | ContactType,
    valid_from: dt.datetime | None = None,
    valid_to: dt.datetime | None = None,
    actor: User | None = None,
) -> PersonContactType:
    """Start a period in which ``person`` holds ``role`` (from now unless given; open-ended unless
    ``valid_to`` records a past period). Periods of one role never overlap: history is added to, never
    rewritten, so an overlapping period is refused naming the one it clashes with."""
    errors = FieldErrors()
    contact_type = resolve_contact_type(role, errors=errors)
    valid_from = valid_from or timezone.now()
    if valid_to is not None and valid_to <= valid_from:
        errors.add("valid_to", "A role period must end after it starts.")
    locked = Person.all_objects.select_for_update().filter(pk=person.pk).first()
    if locked is None or not locked.is_active:
        errors.add("person", "This person does not exist or has been deleted.")
    if contact_type is not None and locked is not None and not errors:
        clash = overlapping_periods(
            person=locked, contact_type=contact_type, valid_from=valid_from, valid_to=valid_to
        ).first()
        if clash is not None:
            errors.add("valid_from", f"Overlaps the existing {contact_type} period {_describe(clash)}.")
    errors.raise_if_any()
    with audit_context(actor=actor):
        return start_role(person=locked, contact_type=contact_type, valid_from=valid_from, valid_to=valid_to)


@transaction.atomic
def person_role_end(
    *,
    person: Person,
    role: str | ContactType,
    valid_to: dt.datetime | None = None,
    actor: User | None = None,
) -> PersonContactType:
    """End the period of ``role`` that is in force at ``valid_to`` (now unless given). The period is
    closed, not deleted, so the fact that the person held the role stays on record."""
    errors = FieldErrors()
    contact_type = resolve_contact_type(role, errors=errors)
    errors.raise_if_any()
    valid_to = valid_to or timezone.now()
    Person.all_objects.select_for_update().filter(pk=person.pk).first()
    period = (
        PersonContactType.objects.select_for_update()
        .filter(person=person, contact_type=contact_type)
        .current(valid_to)
        .first()
    )
    if period is None:
        errors.add("contact_type", f"{person} does not hold the role {contact_type} at that time.")
    elif valid_to <= period.valid_from:
        errors.add("valid_to", "A role period must end after it starts.")
    errors.raise_if_any()
    with audit_context(actor=actor):
        period.valid_to = valid_to
        period.save(update_fields=["valid_to", "updated_at"])
    return period


# The services that create and change these models, whose names are not ``<model>_create`` /
# ``_update`` / ``_register``: the admin saves through them (tests/common/test_admin_services.py).
WRITE_SERVICES = {PersonContactType: (person_role_start, person_role_end)}


# ---------------------------------------------------------------------------------------------------
# Possible duplicates


@transaction.atomic
def person_mark_not_duplicate(*, person: Person, other: Person, actor: User | None = None) -> PersonDuplicatePair:
    """ "Not the same person": the pair is stored as decided and never proposed again, whatever later edits
    do. Rules: only patient-navigation staff (``may_review_person_duplicates``) decide, and only about two
    live Persons in their scope (another one is refused like an unknown id); a merged pair stays merged."""
    if not may_review_person_duplicates(actor):
        raise PermissionDenied("Only patient-navigation staff decide about duplicate persons.")
    visible = persons_visible_to(actor, Person.all_objects.filter(LIVE_PERSON))
    if actor is not None and not visible.filter(pk=other.pk).exists():
        raise ValidationError({"other": "No such person."})
    with audit_context(actor=actor):
        return pair_mark_not_duplicate(PERSONS, PersonDuplicatePair, one=person, other=other, actor=actor)


# Merging duplicates lives in its own module (people/merge.py); its services are people's services.
from people.merge import (  # noqa: E402, F401
    PERSON_MERGE_FIELDS,
    person_merge,
    person_merge_request_approve,
    person_merge_request_file,
    person_merge_request_reject,
    person_unmerge,
)
