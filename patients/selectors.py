"""Reads that feed the navigators' screens. Each runs in a constant number of queries.

The follow-up of a patient is the ``reminder_date`` of their most recent non-void call: logging a
newer call replaces it (with a new reminder, or none when nothing is left to follow up), so a
reminder set long ago never nags once the patient has been called again.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Exists, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from common.audit import AuditTrail, record_history
from patients.models import CallHistory, Patient, PatientStatus
from people.models import ContactType, Person, PersonContactType


def patient_calls(*, patient: Patient, include_void: bool = False) -> QuerySet[CallHistory]:
    """A patient's calls, newest first, with the navigator and author loaded (one query)."""
    calls = CallHistory.all_objects if include_void else CallHistory.objects
    return (
        calls.filter(patient=patient)
        .select_related("navigator", "created_by", "deleted_by")
        .order_by("-call_date", "-created_at")
    )


def _latest_call_reminder() -> Subquery:
    latest = CallHistory.objects.filter(patient=OuterRef("pk")).order_by("-call_date", "-created_at")
    return Subquery(latest.values("reminder_date")[:1])


def patients_with_follow_up() -> QuerySet[Patient]:
    """Active patients annotated with ``follow_up_date`` (the reminder of their latest call, or None)."""
    return Patient.objects.filter(status=PatientStatus.ACTIVE).annotate(follow_up_date=_latest_call_reminder())


def patients_follow_up_due(*, today: dt.date | None = None, navigator: Person | None = None) -> QuerySet[Patient]:
    """Active patients whose follow-up date has come (on or before ``today``), most overdue first."""
    today = today or timezone.localdate()
    patients = patients_with_follow_up().filter(follow_up_date__lte=today)
    if navigator is not None:
        patients = patients.filter(navigator=navigator)
    return patients.select_related("person", "navigator", "medical_condition").order_by(
        "follow_up_date", "person__last_name", "person__first_name"
    )


def _count(queryset: QuerySet, group_by: str) -> Coalesce:
    """A correlated ``COUNT(*)`` of ``queryset`` per outer row, 0 when there is none."""
    counted = queryset.order_by().values(group_by).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def navigator_caseloads(*, today: dt.date | None = None, now: dt.datetime | None = None) -> QuerySet[Person]:
    """Every navigator (a Person holding the navigator role now, or with patients assigned) with:

    * ``active_patients``: assigned patients in status active (not deleted);
    * ``calls_last_7_days`` / ``calls_last_30_days``: non-void calls they made in that window;
    * ``overdue_follow_ups``: their active patients whose follow-up date is before ``today``.

    One query, whatever the number of navigators: each figure is a correlated subquery.
    """
    now = now or timezone.now()
    today = today or timezone.localdate(now)
    holds_role = PersonContactType.objects.filter(
        person=OuterRef("pk"), contact_type__code=ContactType.PATIENT_NAVIGATOR
    ).current(now)
    has_patients = Patient.objects.filter(navigator=OuterRef("pk"))
    active = Patient.objects.filter(navigator=OuterRef("pk"), status=PatientStatus.ACTIVE)
    calls = CallHistory.objects.filter(navigator=OuterRef("pk"), call_date__lte=now)
    overdue = (
        Patient.objects.filter(navigator=OuterRef("pk"), status=PatientStatus.ACTIVE)
        .annotate(follow_up_date=_latest_call_reminder())
        .filter(follow_up_date__lt=today)
    )
    return (
        Person.objects.filter(Q(Exists(holds_role)) | Q(Exists(has_patients)))
        .annotate(
            active_patients=_count(active, "navigator"),
            calls_last_7_days=_count(calls.filter(call_date__gt=now - dt.timedelta(days=7)), "navigator"),
            calls_last_30_days=_count(calls.filter(call_date__gt=now - dt.timedelta(days=30)), "navigator"),
            overdue_follow_ups=_count(overdue, "navigator"),
        )
        .order_by("last_name", "first_name")
    )


def patient_history(*, patient: Patient) -> AuditTrail:
    """Every recorded change of the patient row, oldest first, with actor and channel."""
    return record_history(patient)


def call_history_changes(*, call: CallHistory) -> AuditTrail:
    """Every recorded version of one call (insert, edits, void), oldest first: what it said before."""
    return record_history(call)


# --- Admin worklists (issue 6) ------------------------------------------------------------------------


def _latest_call_date() -> Subquery:
    latest = CallHistory.objects.filter(patient=OuterRef("pk")).order_by("-call_date", "-created_at")
    return Subquery(latest.values("call_date")[:1])


def patients_worklist(patients: QuerySet[Patient] | None = None) -> QuerySet[Patient]:
    """Patients for a list screen (soft-deleted ones too, unless ``patients`` leaves them out), with
    ``follow_up_date`` and ``last_call_at`` taken from their latest non-void call and their person,
    condition and navigator joined: one query whatever the number of rows."""
    patients = Patient.all_objects.all() if patients is None else patients
    return patients.select_related("person", "medical_condition", "navigator").annotate(
        follow_up_date=_latest_call_reminder(), last_call_at=_latest_call_date()
    )


def patient_physicians(*, patient: Patient) -> QuerySet:
    """Who treats, referred or gives primary care to ``patient``: current relationships first (the
    primary one on top), then ended ones, each with the physician's person, hospital and
    specialization loaded (one query)."""
    from django.db.models import F

    from patients.models import PatientPhysicianRelationship

    return (
        PatientPhysicianRelationship.objects.filter(patient=patient)
        .select_related("physician__person", "physician__hospital", "physician__specialization")
        .order_by(F("end_date").desc(nulls_first=True), "-is_primary", "-start_date")
    )
