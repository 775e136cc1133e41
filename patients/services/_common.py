"""Input checks and save helpers shared by the patient-navigation services."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from common.audit import audit_context
from common.validation import FieldErrors, check_text
from patients.models import (
    MedicalCondition,
    Patient,
)
from people.models import ContactType, Person, PersonContactType, User

# A call logged "now" from a laptop whose clock runs a little ahead is not a call in the future.
CLOCK_SKEW = dt.timedelta(minutes=5)
# Text fields this long (notes, descriptions, addresses) are multi-line: they keep tab and line breaks.
NOTES_MAX_LENGTH = 10_000
MAX_CALL_MINUTES = 24 * 60


def resolve_medical_condition(
    value: MedicalCondition | str | uuid.UUID | None, *, errors: FieldErrors, field: str = "medical_condition"
) -> MedicalCondition | None:
    """A condition given as a row, an id, a name or an abbreviation; unknown or retired ones are refused
    (existing patients keep a retired condition, but no new record may pick it)."""
    if value is None or value == "":
        return None
    condition = None
    if isinstance(value, MedicalCondition):
        # A row the caller loaded (the API's or the admin form's field, in this request): read once.
        condition = value
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


# A Person read together with "holds the navigator role at <at>" carries <at> under this key (no second query).
NAVIGATOR_ROLE_AT = "_navigator_role_at"


def navigator_role(person_id, at: dt.datetime | None):
    """The Person's current patient-navigator role rows at ``at`` (``person_id`` may be an ``OuterRef``)."""
    return PersonContactType.objects.filter(
        person_id=person_id, person__is_active=True, contact_type__code=ContactType.PATIENT_NAVIGATOR
    ).current(at)


def navigator_of_user(user: User | None, *, at: dt.datetime | None) -> Person | None:
    """The user's own Person (the default navigator of what they log), read with whether it holds the
    navigator role at ``at``: one query where reading it and then asking ``check_navigator`` took two."""
    if user is None or getattr(user, "pk", None) is None:
        return None
    person = Person.objects.filter(user=user).annotate(holds_role=Exists(navigator_role(OuterRef("pk"), at))).first()
    if person is not None and person.holds_role and at is not None:
        person.__dict__[NAVIGATOR_ROLE_AT] = at
    return person


def navigator_by_id(person_id, *, at: dt.datetime | None) -> Person | None:
    """The Person named as navigator by id (a body's), read with whether it holds the navigator role at ``at``,
    in one query; ``None`` when no Person of patient navigation has that id (a CM-only Person is not
    disclosed: the same answer as an unknown id)."""
    from people.selectors import persons_in_patient_navigation

    person = (
        persons_in_patient_navigation()
        .filter(pk=person_id)
        .annotate(holds_role=Exists(navigator_role(OuterRef("pk"), at)))
        .first()
    )
    if person is not None and person.holds_role and at is not None:
        person.__dict__[NAVIGATOR_ROLE_AT] = at
    return person


def check_navigator(navigator: Person | None, *, errors: FieldErrors, at: dt.datetime | None = None) -> None:
    """A navigator must be an active Person holding the patient-navigator role (at ``at``)."""
    if navigator is None:
        return
    if at is not None and navigator.__dict__.get(NAVIGATOR_ROLE_AT) == at:
        return  # the query that read this Person found the role (navigator_of_user)
    if navigator_role(navigator.pk, at).exists():  # the common case, in one query
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


def _active_patient(
    patient: Patient, errors: FieldErrors, *, lock: bool = False, with_person: bool = False
) -> Patient | None:
    if not lock:
        stored = Patient.all_objects.filter(pk=patient.pk).select_related("person").first()
    elif with_person:
        # Only the patient row is locked (FOR NO KEY UPDATE: rows that merely reference it are not held
        # up), alone: a joined Person would come from the snapshot taken before the lock wait
        # (tests/common/test_locking.py). Its Person is read after the lock, for the response.
        stored = Patient.all_objects.select_for_update(no_key=True).filter(pk=patient.pk).first()
        if stored is not None:
            stored.person = Person.all_objects.get(pk=stored.person_id)
    else:
        # The locked row alone: a joined Person would come from the snapshot taken before the lock wait.
        stored = Patient.all_objects.select_for_update().filter(pk=patient.pk).first()
    if stored is None or not stored.is_active:
        errors.add("patient", "This patient does not exist or has been deleted.")
        return None
    return stored


def _check_lookup(value, model, name: str, errors: FieldErrors):
    if value is None:
        return None
    stored = model.all_objects.filter(pk=value.pk).first()
    if stored is None or not stored.is_active:
        errors.add(name, f"This {model._meta.verbose_name} does not exist or has been deleted.")
    return stored


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
