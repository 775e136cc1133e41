"""Reads about people: who holds which role when, and a person's audit trail."""

from __future__ import annotations

import datetime as dt

from django.db.models import Exists, OuterRef, Q, QuerySet

from common.audit import AuditEntry, record_history
from people.models import ContactType, Person, PersonContactType


def person_has_role(*, person: Person, code: str, at: dt.datetime | None = None) -> bool:
    return PersonContactType.objects.filter(person=person, contact_type__code=code).current(at).exists()


def persons_with_role(*, code: str, at: dt.datetime | None = None) -> QuerySet[Person]:
    """Active persons holding the role ``code`` at ``at`` (now by default), in one query."""
    holding = PersonContactType.objects.filter(person=OuterRef("pk"), contact_type__code=code).current(at)
    return Person.objects.filter(Exists(holding))


def navigators(*, at: dt.datetime | None = None) -> QuerySet[Person]:
    """The patient navigators (persons with the navigator role at ``at``)."""
    return persons_with_role(code=ContactType.PATIENT_NAVIGATOR, at=at)


def person_role_periods(*, person: Person) -> QuerySet[PersonContactType]:
    """Every role period of a person, current and past, oldest first."""
    return (
        PersonContactType.objects.filter(person=person)
        .select_related("contact_type")
        .order_by("valid_from", "contact_type__name")
    )


def person_history(*, person: Person) -> list[AuditEntry]:
    """Every recorded change of the person's own row, oldest first, with actor and channel."""
    return record_history(person)


def persons_in_patient_navigation() -> QuerySet[Person]:
    """Every Person, active or deleted, that patient-navigation staff may see: all but the humans the CRM
    knows only through contingency management (a CM patient or CPSS with no patient-navigation role).
    That someone is in a substance-use program is CM data, and CM data stays with CM staff."""
    has_role = PersonContactType.objects.filter(person=OuterRef("pk"))
    # The reverse one-to-one links of cm_program (``canonical_patient``, ``cm_provider``), by name, so
    # that the people app does not import the CM app.
    cm_only = Q(canonical_patient__isnull=False) | Q(cm_provider__isnull=False)
    return Person.all_objects.filter(Q(Exists(has_role)) | ~cm_only)


def navigator_for_user(user) -> Person | None:
    """The Person of a staff login when that Person holds the navigator role now (one query), else None.
    It is who "my patients" and "my calls" mean for a navigator."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return navigators().filter(user_id=user.pk).first()
