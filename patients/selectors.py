"""Reads that feed the navigators' screens. Each runs in a constant number of queries.

The follow-up of a patient is the ``reminder_date`` of their most recent non-void call: logging a
newer call replaces it (with a new reminder, or none when nothing is left to follow up), so a
reminder set long ago never nags once the patient has been called again. It is stored on the patient
(``follow_up_date``, with ``last_call_at``) by ``patients.follow_up.refresh_follow_up``, which every
call write runs, so these reads filter and sort on indexed columns.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db.models import BooleanField, Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.utils import timezone

from common.audit import AuditTrail, record_history
from common.db import in_array, pk_in_array
from patients.models import CallHistory, Patient, PatientStatus, Physician
from people.models import ContactType, Person, PersonContactType


def patient_calls(*, patient: Patient, include_void: bool = False) -> QuerySet[CallHistory]:
    """A patient's calls, newest first, with the navigator and author loaded (one query)."""
    calls = CallHistory.all_objects if include_void else CallHistory.objects
    return (
        calls.filter(patient=patient)
        .select_related("navigator", "created_by", "deleted_by")
        .order_by("-call_date", "-created_at")
    )


def patients_with_follow_up() -> QuerySet[Patient]:
    """Active patients; their ``follow_up_date`` is the reminder of their latest call, or None."""
    return Patient.objects.filter(status=PatientStatus.ACTIVE)


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
    """A correlated ``COUNT(*)`` of ``queryset`` per outer row, 0 when there is none. ``COUNT(*)``, not
    ``COUNT(id)``: with no column to read, a partial index on the filter answers it alone (index-only
    scans: the navigator caseload went from 3.6 s to 0.5 s at 200,000 persons)."""
    counted = queryset.order_by().values(group_by).annotate(n=Count("*")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


# The navigators of active patients, one index probe each: a "loose index scan" of the navigator_id index
# (each step the next navigator_id after the last). SELECT DISTINCT read all 500,000 patients for 500 navigators
# (239 ms at full size, docs/PERFORMANCE.md "Admin pages at full size, round 2").
_NAVIGATORS_OF_PATIENTS = """ARRAY(
    WITH RECURSIVE navigators(id) AS (
        (SELECT navigator_id FROM patient WHERE navigator_id IS NOT NULL AND is_active ORDER BY navigator_id LIMIT 1)
        UNION ALL
        SELECT (SELECT p.navigator_id FROM patient p WHERE p.navigator_id > navigators.id AND p.is_active
                ORDER BY p.navigator_id LIMIT 1)
        FROM navigators WHERE navigators.id IS NOT NULL
    )
    SELECT id FROM navigators WHERE id IS NOT NULL
)"""


def _pk_is_a_patients_navigator() -> RawSQL:
    return RawSQL(f'"person"."id" = ANY({_NAVIGATORS_OF_PATIENTS})', [], output_field=BooleanField())


# Non-void calls a navigator made in (start, end]: the whole local days in between from call_day_rollup (a row per
# navigator and day, kept exact by triggers: patients.report_rollups), the two cut days from the calls themselves
# (call_history_pn_active_idx, partial on non-void calls). Counting every call of the window read 394 + 1,220 index
# entries per navigator for 7 and 30 days at full size (807,000 for 500 navigators, 1.1-1.6 s). The rollups' days
# are those of report_rollup_time_zone(): in another time zone than TIME_ZONE (changed since the last rebuild) the
# CASE counts the calls instead, as before (only the branch taken runs).
_CALLS_BETWEEN = """CASE WHEN report_rollup_time_zone() = %s THEN
    (SELECT COALESCE(sum(r.calls), 0) FROM call_day_rollup r
     WHERE r.navigator_id = "person"."id" AND r.day > %s AND r.day < %s)
    + (SELECT count(*) FROM call_history c
       WHERE c.pn_id = "person"."id" AND c.is_active AND c.call_date > %s AND c.call_date < %s)
    + (SELECT count(*) FROM call_history c
       WHERE c.pn_id = "person"."id" AND c.is_active AND c.call_date >= %s AND c.call_date <= %s)
ELSE (SELECT count(*) FROM call_history c
      WHERE c.pn_id = "person"."id" AND c.is_active AND c.call_date > %s AND c.call_date <= %s)
END"""


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def calls_between(start: dt.datetime, end: dt.datetime) -> RawSQL:
    """A navigator's (the outer ``person`` row's) non-void calls with ``start < call_date <= end``."""
    first, last = timezone.localdate(start), timezone.localdate(end)
    if first == last:  # no whole day in between: the calls alone
        return RawSQL(
            "(SELECT count(*) FROM call_history c "
            'WHERE c.pn_id = "person"."id" AND c.is_active AND c.call_date > %s AND c.call_date <= %s)',
            [start, end],
            output_field=IntegerField(),
        )
    params = [settings.TIME_ZONE, first, last, start, _day_start(first + dt.timedelta(days=1))]
    params += [_day_start(last), end, start, end]
    return RawSQL(_CALLS_BETWEEN, params, output_field=IntegerField())


def navigator_caseloads(*, today: dt.date | None = None, now: dt.datetime | None = None) -> QuerySet[Person]:
    """Every navigator (a Person holding the navigator role now, or with patients assigned) with:

    * ``active_patients``: assigned patients in status active (not deleted);
    * ``calls_last_7_days`` / ``calls_last_30_days``: non-void calls they made in that window;
    * ``overdue_follow_ups``: their active patients whose follow-up date is before ``today``.

    One query, whatever the number of navigators: each figure is a correlated subquery.
    """
    now = now or timezone.now()
    today = today or timezone.localdate(now)
    # By key (common.db.pk_in_array): an EXISTS over every person took seconds at 200,000 persons.
    holds_role = (
        PersonContactType.objects.filter(contact_type__code=ContactType.PATIENT_NAVIGATOR)
        .current(now)
        .values("person_id")
    )
    active = Patient.objects.filter(navigator=OuterRef("pk"), status=PatientStatus.ACTIVE)
    overdue = Patient.objects.filter(navigator=OuterRef("pk"), status=PatientStatus.ACTIVE, follow_up_date__lt=today)
    return (
        Person.objects.filter(Q(pk_in_array(holds_role)) | Q(_pk_is_a_patients_navigator()))
        .annotate(
            active_patients=_count(active, "navigator"),
            calls_last_7_days=calls_between(now - dt.timedelta(days=7), now),
            calls_last_30_days=calls_between(now - dt.timedelta(days=30), now),
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


def patients_worklist(patients: QuerySet[Patient] | None = None) -> QuerySet[Patient]:
    """Patients for a list screen (soft-deleted ones too, unless ``patients`` leaves them out), with
    their person, condition and navigator joined (``follow_up_date`` and ``last_call_at`` are columns of
    the patient): one query whatever the number of rows."""
    patients = Patient.all_objects.all() if patients is None else patients
    return patients.select_related("person", "medical_condition", "navigator")


def physicians_list(physicians: QuerySet[Physician] | None = None) -> QuerySet[Physician]:
    """The physicians list (admin and API), sorted by their Person's name, that PostgreSQL builds from the
    physicians and not from the persons table.

    Joined plainly, the planner hashed the physicians and read every person to sort the few that are
    physicians (1,000 among 200,000 here: a sequential scan of ``person``), or walked the persons' name index
    testing each for a physician (~0.5% are). The filter ``person_id = ANY(ARRAY(SELECT person_id FROM
    physician))`` is true of every physician, but the planner counts an array of unknown length as a few
    rows: it starts from the physicians and fetches each one's Person by key, so the page costs one index
    probe per physician (docs/PERFORMANCE.md, "Search", Round 2)."""
    physicians = physicians if physicians is not None else Physician.all_objects.all()
    return physicians.filter(in_array("person_id", Physician.all_objects.values("person_id")))


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
