"""Reads about people: who holds which role when, and a person's audit trail."""

from __future__ import annotations

import datetime as dt
import operator
from dataclasses import dataclass
from decimal import Decimal
from functools import reduce
from typing import Any

from django.apps import apps
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.db.models.lookups import IsNull

from common import duplicates, roles
from common.audit import AuditTrail, record_history
from common.db import pk_in_array
from people.duplicates import LIVE_PERSON, PERSONS
from people.models import ContactType, DuplicateStatus, Person, PersonContactType, PersonDuplicatePair


def person_has_role(*, person: Person, code: str, at: dt.datetime | None = None) -> bool:
    return PersonContactType.objects.filter(person=person, contact_type__code=code).current(at).exists()


def persons_with_role(*, code: str, at: dt.datetime | None = None) -> QuerySet[Person]:
    """Active persons holding the role ``code`` at ``at`` (now by default), in one query.

    ``pk_in_array`` rather than ``EXISTS``: the ``EXISTS`` became a hash join over every person (550 ms
    at 200,000 persons for 100 navigators); by key it takes under 1 ms."""
    holding = PersonContactType.objects.filter(contact_type__code=code).current(at).values("person_id")
    return Person.objects.filter(pk_in_array(holding))


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


def person_history(*, person: Person) -> AuditTrail:
    """Every recorded change of the person's own row, oldest first, with actor and channel."""
    return record_history(person)


# The reverse one-to-one links of cm_program (``canonical_patient``, ``cm_provider``), by name, so that
# the people app does not import the CM app.
_CM_LINKED = Q(canonical_patient__isnull=False) | Q(cm_provider__isnull=False)


def _in_patient_navigation() -> Q:
    """Not known through CM, or holding a patient-navigation role (any period).

    Written so that PostgreSQL can serve it from indexes when it narrows a search: the role test is a scalar
    subquery (one probe of ``person_contact_type(person_id)``), placed after the CM test so that it runs only
    for the few CM-linked persons (PostgreSQL evaluates OR arms in order). As ``EXISTS`` inside an OR the
    planner turned it into a hashed subplan that read every role period on every request: a navigator's
    person search for "smith" took 324 ms against 76 ms this way (docs/PERFORMANCE.md, "Search", Round 2)."""
    first_role = PersonContactType.objects.filter(person=OuterRef("pk")).order_by().values("pk")[:1]
    return ~_CM_LINKED | Q(IsNull(Subquery(first_role), False))


def persons_in_patient_navigation() -> QuerySet[Person]:
    """Every Person, active or deleted, that patient-navigation staff may see: all but the humans the CRM
    knows only through contingency management (a CM patient or CPSS with no patient-navigation role).
    That someone is in a substance-use program is CM data, and CM data stays with CM staff."""
    return Person.all_objects.filter(_in_patient_navigation())


def _cpss_caseload(user) -> Q:
    """The Persons of a CPSS's own caseload, and the CPSS's own Person."""
    enrollments = apps.get_model("cm_program", "CMEnrollment").objects
    caseload = enrollments.filter(cpss_provider__user=user, canonical_patient__person__isnull=False)
    return Q(pk__in=caseload.values("canonical_patient__person_id")) | Q(cm_provider__user=user)


def _group_names(user) -> frozenset[str]:
    # Admin pages ask several times per request; the user object lives for one request.
    return roles.group_names(user)


def persons_visible_to(user, queryset: QuerySet[Person] | None = None) -> QuerySet[Person]:
    """The Persons that ``user`` may see and use: the one definition of the Person scope, shared by the
    admin, the API and the services (which refuse any other Person's email with the same neutral answer
    as any unusable email, see ``people.services.person_usable_by``).

    * ``None`` (management commands, scripts, the shell) and superusers: everyone. A superuser is the one
      role that sees both programs, and so the one who may link a Person of one to a record of the other.
    * Patient Navigators and CRM Supervisors: ``persons_in_patient_navigation`` (all but the humans the
      CRM knows only through contingency management).
    * CM Supervisors: the humans the CRM knows through CM (a canonical patient or a CM provider).
      Patient navigation's own people stay with patient navigation (42 CFR Part 2 protects the CM side;
      HIPAA's minimum-necessary rule the other).
    * CPSS: the Persons of their own caseload, and their own.
    * A login in groups of both programs sees both sets; a login in no group sees nobody.

    Soft-deleted Persons are part of the scope only for those who may restore them (the delete
    permission); to everyone else they are gone, as in the API.
    """
    queryset = queryset if queryset is not None else Person.all_objects.all()
    if user is None:
        return queryset
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return queryset.none()
    if user.is_superuser:
        return queryset
    groups = _group_names(user)
    scopes: list[Q] = []
    if groups & {roles.PATIENT_NAVIGATORS, roles.CRM_SUPERVISORS}:
        scopes.append(_in_patient_navigation())
    if roles.CM_SUPERVISORS in groups:
        scopes.append(_CM_LINKED)
    elif roles.CPSS in groups:
        scopes.append(_cpss_caseload(user))
    if not scopes:
        return queryset.none()
    queryset = queryset.filter(reduce(operator.or_, scopes))
    return queryset if user.has_perm("people.delete_person") else queryset.filter(is_active=True)


def navigator_for_user(user) -> Person | None:
    """The Person of a staff login when that Person holds the navigator role now (one query), else None.
    It is who "my patients" and "my calls" mean for a navigator."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return navigators().filter(user_id=user.pk).first()


# ---------------------------------------------------------------------------------------------------
# Possible duplicates (docs/DUPLICATES.md)


@dataclass(frozen=True)
class DuplicateCandidate:
    """One record that may be the same human as the one asked about, with the score and its reasons."""

    record: Any
    score: Decimal
    reasons: list[str]


def may_review_person_duplicates(user) -> bool:
    """Patient-navigation staff (navigators within their scope, CRM supervisors) and superusers; nobody else,
    CPSS and CM supervisors included (the CM side has its own queue of canonical patients)."""
    if user is None:
        return True
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return user.is_superuser or bool(_group_names(user) & {roles.PATIENT_NAVIGATORS, roles.CRM_SUPERVISORS})


def person_duplicate_candidates(person: Person, *, user, limit: int | None = None) -> list[DuplicateCandidate]:
    """The live Persons that may be the same human as ``person``, best first, limited to ``user``'s scope
    (two queries, whatever the number of candidates): pairs decided "not the same person" never appear."""
    if not may_review_person_duplicates(user):
        return []
    found = duplicates.candidates(PERSONS, person.pk)
    if not found:
        return []
    visible = persons_visible_to(user, Person.all_objects.filter(LIVE_PERSON, pk__in=[c.id for c in found]))
    persons = {p.pk: p for p in visible}
    result = [DuplicateCandidate(persons[c.id], c.score, c.reasons) for c in found if c.id in persons]
    return result[:limit] if limit is not None else result


def person_duplicate_pairs(*, user, status: str | None = DuplicateStatus.OPEN) -> QuerySet[PersonDuplicatePair]:
    """The queue: pairs of ``status`` (any with None) whose two Persons are in ``user``'s scope, best first,
    with both Persons joined (one query per page)."""
    pairs = PersonDuplicatePair.objects.select_related("person_low", "person_high")
    pairs = pairs.filter(status=status) if status is not None else pairs
    if not may_review_person_duplicates(user):
        return pairs.none()
    if user is not None and not user.is_superuser:
        visible = persons_visible_to(user, Person.all_objects.filter(LIVE_PERSON)).values("pk")
        pairs = pairs.filter(person_low__in=visible, person_high__in=visible)
    return pairs.order_by("-score", "id")
