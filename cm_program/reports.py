"""The CM program report (issue 14, point 3): one selector for the admin page and the API.

``cm_program_report`` computes every figure for a period of local days ``[first_day, last_day]``
(``settings.TIME_ZONE``), optionally one CPSS and one program, within the requesting user's scope (CM
supervisors and superusers: every enrollment; a CPSS: their own caseload), in a constant number of
queries (six, seven when the period cuts an ISO week, whatever the number of enrollments, weeks or CPSS).
The ledger's figures of whole weeks come from its weekly rollup (``cm_program.report_rollup``). The
definitions, as docs/REPORTS.md gives them:

* **Enrollments** are those of live canonical patients (not deleted, not merged) in scope.
* **Statuses**: each enrollment enrolled before the period's end, by its status at the period's end
  (or now, for a period that ends later), read from the status history (``EnrollmentStatusChange``).
* **Retention at 4, 8 and 12 weeks**: of the enrollments whose enrollment date is in the period (the
  cohort), those whose date 4 (8, 12) weeks after enrollment has passed are *eligible*; of them, those
  *retained* were active at that instant (not paused, withdrawn or graduated), per the status history.
  The rate is retained / eligible (none when nobody is eligible).
* **Tests per ISO week** (Monday to Sunday in local time, by when the test took place): every drug test
  recorded (negative, positive, missed) that no reversal cancels; the negative-test rate is negative /
  all, so a missed test counts as not negative. Reversal entries and the entries they cancel are left out.
* **Attendance**: group-attendance events per week (reversed ones left out), and of the enrollments
  active at the period's end, how many attended at least one group in the period.
* **Points per week**: *earned* is the sum of the positive entries other than reversals, *deducted*
  the negative ones other than reversals (manual adjustments), *reversed* the points taken back by
  reversal entries (a reversal of a deduction gives points back: it counts negatively).
* **Longest current streaks**: the active enrollments with the longest negative-test streak now.
* **Caseload use per CPSS**: active enrollments now (in every program: the limit is the CPSS's, not a
  program's) against ``max_caseload``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import EmptyResultSet, PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import (
    Count,
    F,
    FilteredRelation,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    TextField,
)
from django.db.models.functions import Coalesce, TruncWeek
from django.http import Http404
from django.utils import timezone

from cm_program import report_rollup, selectors
from cm_program.billing import BillingPeriod
from cm_program.models import (
    LIVE_CANONICAL,
    CanonicalPatient,
    CMEnrollment,
    CMEnrollmentReportFacts,
    CMPointsTransaction,
    CMPointsWeek,
    CMProgram,
    CMProvider,
    CMStatus,
    EnrollmentStatusChange,
    PointsEvent,
    ProviderRole,
)

RETENTION_WEEKS = (4, 8, 12)
DEFAULT_WEEKS = 12  # the default period: the last 12 full ISO weeks
MAX_PERIOD_DAYS = 731  # two years of weeks at most on one page
STREAKS_SHOWN = 10
REPORT_WORK_MEM = "32MB"  # the report's transaction only (set_config(..., true))
# Days a report may name: wide enough for any real period, narrow enough that no instant computed from one
# (the period's end, a date weeks later) overflows a datetime.
EARLIEST_DAY, LATEST_DAY = dt.date(1900, 1, 1), dt.date(2999, 12, 31)
TESTS = (PointsEvent.TEST_NEGATIVE, PointsEvent.TEST_POSITIVE, PointsEvent.TEST_MISSED)


@dataclass(frozen=True)
class ReportPeriod(BillingPeriod):
    """``[first_day, last_day]`` in local days, as ``[start, end)`` instants (the billing export's period),
    with the ISO weeks it touches."""

    def weeks(self) -> list[dt.date]:
        """The Mondays of the ISO weeks the period touches."""
        monday = self.first_day - dt.timedelta(days=self.first_day.weekday())
        mondays = []
        while monday <= self.last_day:
            mondays.append(monday)
            monday += dt.timedelta(days=7)
        return mondays


def default_period(today: dt.date | None = None) -> ReportPeriod:
    """The last ``DEFAULT_WEEKS`` full ISO weeks before the current one."""
    today = today or timezone.localdate()
    this_monday = today - dt.timedelta(days=today.weekday())
    return ReportPeriod(this_monday - dt.timedelta(weeks=DEFAULT_WEEKS), this_monday - dt.timedelta(days=1))


@dataclass(frozen=True)
class ReportParameters:
    period: ReportPeriod
    cpss: CMProvider | None
    program: CMProgram | None


def _day(params, name: str, default: dt.date) -> dt.date:
    text = (params.get(name) or "").strip()
    if not text:
        return default
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise ValidationError({name: [f"{text[:40]!r} is not a date of the form YYYY-MM-DD."]}) from None
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise ValidationError({name: [f"{day.isoformat()} is outside {EARLIEST_DAY.year} to {LATEST_DAY.year}."]})
    return day


def _uuid(params, name: str) -> uuid.UUID | None:
    text = (params.get(name) or "").strip()
    if not text:
        return None
    try:
        return uuid.UUID(text)
    except ValueError:
        raise ValidationError({name: [f"{text[:40]!r} is not an id (a UUID)."]}) from None


def report_parameters(params, *, user) -> ReportParameters:
    """``from``, ``to`` (local days, optional: the last 12 full weeks by default; ``from`` <= ``to``, at most
    two years), ``cpss`` and ``program`` (ids, optional) of a request's query.

    A ``ValidationError`` naming the parameter for bad input; ``PermissionDenied`` for users without CM
    access; ``Http404`` for a CPSS outside the user's scope (a CPSS asking for another CPSS), as elsewhere.
    """
    if selectors.cm_scope(user) == "none":
        raise PermissionDenied
    default = default_period()
    errors: dict[str, list[str]] = {}
    first_day = last_day = None
    for name, fallback in (("from", default.first_day), ("to", default.last_day)):
        try:
            value = _day(params, name, fallback)
        except ValidationError as exc:
            errors.update(exc.message_dict)
            continue
        if name == "from":
            first_day = value
        else:
            last_day = value
    if first_day and last_day:
        if first_day > last_day:
            errors["from"] = ["`from` must be on or before `to`."]
        elif (last_day - first_day).days >= MAX_PERIOD_DAYS:
            errors["to"] = [f"The period is at most {MAX_PERIOD_DAYS} days."]
    cpss = program = None
    try:
        cpss_id = _uuid(params, "cpss")
    except ValidationError as exc:
        errors.update(exc.message_dict)
        cpss_id = None
    try:
        program_id = _uuid(params, "program")
    except ValidationError as exc:
        errors.update(exc.message_dict)
        program_id = None
    if program_id is not None:
        program = selectors.cm_programs_visible_to(user).filter(pk=program_id).first()
        if program is None:
            errors["program"] = [f"No CM program has the id {str(program_id)!r}."]
    if errors:
        raise ValidationError(errors)
    if cpss_id is not None:
        cpss = selectors.cm_providers_visible_to(user).filter(pk=cpss_id).first()
        if cpss is None:
            raise Http404("No CPSS with this id in your scope.")
    return ReportParameters(ReportPeriod(first_day, last_day), cpss, program)


# ---------------------------------------------------------------------------------------------------
# The selector


def report_enrollments(user, *, cpss: CMProvider | None = None, program: CMProgram | None = None) -> QuerySet:
    """The enrollments the report counts: in the user's scope, of live canonical patients, filtered."""
    # Not the enrollments of the few patients not live (``canonical_not_live_idx``): a hashed NOT IN of that
    # small set, where joining every canonical patient to test each one cost a scan and a hash of them all.
    not_live = CanonicalPatient.all_objects.filter(~LIVE_CANONICAL).values("pk")
    queryset = selectors.cm_enrollments_visible_to(user).exclude(canonical_patient_id__in=not_live)
    if cpss is not None:
        queryset = queryset.filter(cpss_provider=cpss)
    if program is not None:
        queryset = queryset.filter(cm_program=program)
    return queryset


def _status_at(when) -> Coalesce:
    """An enrollment's status at the instant ``when`` (a value or an expression of the enrollment): its last
    status change at or before it; its current status when it has no history (written around the services)."""
    last = (
        EnrollmentStatusChange.objects.filter(enrollment=OuterRef("pk"), changed_at__lte=when)
        .order_by("-changed_at", "-created_at")
        .values("to_status")[:1]
    )
    return Coalesce(Subquery(last, output_field=TextField()), F("status"))


def _not_reversed() -> Q:
    """No reversal names the entry: ``NOT IN`` every reversed id (a hashed set of the reversals, tens of thousands,
    read from the ``reverses`` unique index), where ``NOT EXISTS`` sorted the period's entries for a merge join."""
    reversed_ids = CMPointsTransaction.objects.filter(reverses__isnull=False).values("reverses_id")
    return ~Q(pk__in=reversed_ids)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _statuses(
    enrollments: QuerySet, period: ReportPeriod, now: dt.datetime, *, few: bool, facts: bool, program=None
) -> dict[str, Any]:
    """Query 1: the statuses at the period's end, and who of the active attended a group in the period.

    For many enrollments (a supervisor's every CPSS or one program) and ``facts`` (``cm_enrollment_report_facts`` is
    kept in the report's zone): one pass over that table alone (``cm_program.report_facts``: one row per enrollment
    with the columns the scope filters on), the status at the instant one ``width_bucket`` search of the
    enrollment's status changes, and "attended" one ``&&`` of its group weeks with the whole weeks of the period,
    the days of weeks the period cuts read from the ledger (``cm_points_group_time_idx``). Without ``facts``: each
    enrollment's last status change at or before the instant in one
    ``DISTINCT ON`` pass over the history (``cm_status_changes_latest_idx``), and the
    attendees one set read from the period's group attendances. With ``few`` enrollments in scope (one CPSS's
    caseload), the history is limited to them and each one's attendances are an ``EXISTS`` probe of
    (enrollment, occurred_at), so that nothing reads every enrollment's history or facts (for every enrollment,
    probes would cost more than those passes)."""
    at = min(period.end, now)
    in_scope = enrollments.filter(enrollment_date__lt=period.end)
    group = CMPointsTransaction.objects.filter(event_type=PointsEvent.GROUP_ATTENDANCE).filter(_not_reversed())
    attendees = (
        group.filter(occurred_at__gte=period.start, occurred_at__lt=period.end).values("enrollment_id").order_by()
    )
    statuses = dict.fromkeys(CMStatus.values, 0)
    active_attending = 0
    history = EnrollmentStatusChange._meta.db_table
    last_sql = (
        f"SELECT DISTINCT ON (enrollment_id) enrollment_id, to_status FROM {history} WHERE changed_at <= %s {{only}}"
        " ORDER BY enrollment_id, changed_at DESC, created_at DESC"
    )
    columns = "(id, status)"
    try:
        scope_sql, scope_params = in_scope.values("pk", "status").order_by().query.sql_with_params()
        if facts and not few:  # the scope is every enrollment (a supervisor): its filters, on the facts' copies
            scope_sql, scope_params = (
                _facts_in_scope(period, program)
                .values("enrollment_id", "status", "status_changed_at", "status_to", "group_weeks")
                .order_by()
                .query.sql_with_params()
            )
            columns = "(id, status, status_changed_at, status_to, group_weeks)"
        if few:  # each enrollment's attendances probed by (enrollment, occurred_at), reversals by their unique key
            ids_sql, ids_params = in_scope.values("pk").order_by().query.sql_with_params()
            ledger = CMPointsTransaction._meta.db_table
            status_sql, status_params = "COALESCE(last.to_status, e.status)", []
            attended_sql = (
                f"EXISTS (SELECT 1 FROM {ledger} t WHERE t.enrollment_id = e.id AND t.event_type = %s"
                " AND t.occurred_at >= %s AND t.occurred_at < %s"
                f" AND NOT EXISTS (SELECT 1 FROM {ledger} r WHERE r.reverses_id = t.id))"
            )
            attended_params = [PointsEvent.GROUP_ATTENDANCE.value, period.start, period.end]
            join_sql = f"LEFT JOIN ({last_sql.format(only=f'AND enrollment_id IN ({ids_sql})')}) AS last"
            join_params = [at, *ids_params]
        elif facts:
            first, end = _full_weeks(period)
            mondays = [first + dt.timedelta(weeks=k) for k in range((end - first).days // 7)]
            status_sql = "COALESCE(e.status_to[width_bucket(%s::timestamptz, e.status_changed_at)], e.status)"
            status_params = [at]
            attended_sql, attended_params = "COALESCE(e.group_weeks && %s::date[], false)", [mondays]
            cut = [(a, b) for a, b in _cut_ranges(period, first, end) if a < b]
            if cut:
                in_cut = Q(pk__in=[])
                for start, stop in cut:
                    in_cut |= Q(occurred_at__gte=start, occurred_at__lt=stop)
                cut_sql, cut_params = group.filter(in_cut).values("enrollment_id").order_by().query.sql_with_params()
                attended_sql = f"({attended_sql} OR e.id IN ({cut_sql}))"
                attended_params += list(cut_params)
            join_sql, join_params = "", []
        else:
            status_sql, status_params = "COALESCE(last.to_status, e.status)", []
            attendees_sql, attended_params = attendees.query.sql_with_params()
            attended_sql = f"e.id IN ({attendees_sql})"
            join_sql, join_params = f"LEFT JOIN ({last_sql.format(only='')}) AS last", [at]
    except EmptyResultSet:  # nobody in scope: nothing to count
        rows = []
    else:
        on = " ON last.enrollment_id = e.id" if join_sql else ""
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {status_sql}, {attended_sql}, COUNT(*) FROM ({scope_sql}) AS e {columns}"
                f" {join_sql}{on} GROUP BY 1, 2",
                [*status_params, *attended_params, *scope_params, *join_params],
            )
            rows = cursor.fetchall()
    for status_then, attended, count in rows:
        statuses[status_then] += count
        if attended and status_then == CMStatus.ACTIVE:
            active_attending += count
    return {
        "statuses": {**statuses, "total": sum(statuses.values()), "at": at},
        "active_attending": active_attending,
    }


def _facts_in_scope(period: ReportPeriod, program: CMProgram | None) -> QuerySet:
    """A supervisor's enrollments (every one, of live patients, of ``program``) as rows of
    ``cm_enrollment_report_facts`` enrolled before the period's end: ``report_enrollments``'s filters on the
    facts' copies of the enrollments' columns."""
    not_live = CanonicalPatient.all_objects.filter(~LIVE_CANONICAL).values("pk")
    rows = CMEnrollmentReportFacts.objects.filter(enrollment_date__lt=period.end).exclude(
        canonical_patient_id__in=not_live
    )
    return rows if program is None else rows.filter(cm_program_id=program.pk)


def _retention_from_facts(period: ReportPeriod, now: dt.datetime, program: CMProgram | None) -> dict[str, Any]:
    """Query 2 for a supervisor's many enrollments: the cohort's rows of ``cm_enrollment_report_facts`` in one pass,
    each status at enrollment + 4, 8 and 12 weeks one ``width_bucket`` search (instead of three index probes of the
    history per enrollment)."""
    cohort = _facts_in_scope(period, program).filter(enrollment_date__gte=period.start)
    columns = ("enrollment_date", "status", "status_changed_at", "status_to")
    status_at = "COALESCE(e.status_to[width_bucket(e.enrollment_date + %s, e.status_changed_at)], e.status)"
    figures, figure_params = ["COUNT(*)"], []
    for weeks in RETENTION_WEEKS:
        passed = now - dt.timedelta(weeks=weeks)
        figures += ["COUNT(*) FILTER (WHERE e.enrollment_date <= %s)"]
        figures += [f"COUNT(*) FILTER (WHERE e.enrollment_date <= %s AND {status_at} = %s)"]
        figure_params += [passed, passed, dt.timedelta(weeks=weeks), CMStatus.ACTIVE.value]
    try:
        sql, params = cohort.values(*columns).order_by().query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {', '.join(figures)} FROM ({sql}) AS e ({', '.join(columns)})", [*figure_params, *params]
            )
            row = cursor.fetchone()
    except EmptyResultSet:  # nobody in scope
        row = (0,) * (1 + 2 * len(RETENTION_WEEKS))
    counts = {"cohort": row[0]}
    for i, weeks in enumerate(RETENTION_WEEKS):
        counts[f"eligible_{weeks}"], counts[f"retained_{weeks}"] = row[1 + 2 * i], row[2 + 2 * i]
    return _retention_figures(counts)


def _retention_figures(counts: dict[str, int]) -> dict[str, Any]:
    return {
        "cohort": counts["cohort"],
        "retention": [
            {
                "weeks": weeks,
                "eligible": counts[f"eligible_{weeks}"],
                "retained": counts[f"retained_{weeks}"],
                "rate": _rate(counts[f"retained_{weeks}"], counts[f"eligible_{weeks}"]),
            }
            for weeks in RETENTION_WEEKS
        ],
    }


def _retention(enrollments: QuerySet, period: ReportPeriod, now: dt.datetime) -> dict[str, Any]:
    """Query 2: the cohort enrolled in the period, retained at 4, 8 and 12 weeks."""
    cohort = enrollments.filter(enrollment_date__gte=period.start, enrollment_date__lt=period.end)
    annotations = {
        f"status_{w}": _status_at(OuterRef("enrollment_date") + dt.timedelta(weeks=w)) for w in RETENTION_WEEKS
    }
    aggregates: dict[str, Any] = {"cohort": Count("pk")}
    for weeks in RETENTION_WEEKS:
        passed = Q(enrollment_date__lte=now - dt.timedelta(weeks=weeks))
        aggregates[f"eligible_{weeks}"] = Count("pk", filter=passed)
        aggregates[f"retained_{weeks}"] = Count("pk", filter=passed & Q(**{f"status_{weeks}": CMStatus.ACTIVE}))
    return _retention_figures(cohort.annotate(**annotations).aggregate(**aggregates))


def _full_weeks(period: ReportPeriod) -> tuple[dt.date, dt.date]:
    """``[first Monday, end Monday)``: the whole ISO weeks inside the period (an empty range when none is)."""
    first = period.first_day + dt.timedelta(days=-period.first_day.weekday() % 7)
    end = period.last_day + dt.timedelta(days=1) - dt.timedelta(days=(period.last_day.weekday() + 1) % 7)
    return first, max(first, end)


def _empty_week(monday: dt.date) -> dict[str, Any]:
    return {
        "week": f"{monday.isocalendar().year}-W{monday.isocalendar().week:02d}",
        "start": monday,
        "tests": 0,
        "negative_tests": 0,
        "positive_tests": 0,
        "missed_tests": 0,
        "negative_rate": None,
        "group_attendance": 0,
        "weekly_checkins": 0,
        "peer_support": 0,
        "points_earned": 0,
        "points_deducted": 0,
        "points_reversed": 0,
        "reversal_entries": 0,
    }


def _rollup_weeks(user, cpss, program, first: dt.date, end: dt.date) -> tuple[str | None, list[tuple]]:
    """Query 3: the whole weeks ``[first, end)`` from the rollup ``cm_points_weekly`` (its rows of the
    enrollments' CPSS and program now, as the report's enrollments are), with the zone it is kept in."""
    weeks = CMPointsWeek.objects.filter(week__gte=first, week__lt=end)
    if selectors.cm_scope(user) != "all":  # a CPSS: their own caseload
        weeks = weeks.filter(cpss_provider_id__in=CMProvider.objects.filter(user=user).values("pk"))
    if cpss is not None:
        weeks = weeks.filter(cpss_provider_id=cpss.pk)
    if program is not None:
        weeks = weeks.filter(cm_program_id=program.pk)
    sums = weeks.values("week").annotate(**{name: Sum(name) for name in report_rollup.FIGURES}).order_by()
    sql, params = sums.query.sql_with_params()
    columns = ", ".join(f"w.{name}" for name in report_rollup.FIGURES)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT z.zone, w.week, {columns} FROM (SELECT cm_report_time_zone() AS zone) AS z"
            f" LEFT JOIN ({sql}) AS w ON true",
            params,
        )
        rows = cursor.fetchall()
    return rows[0][0], [row[1:] for row in rows if row[1] is not None]


def _ledger_weeks(ledger: QuerySet, period: ReportPeriod, ranges: list[tuple[dt.datetime, dt.datetime]]) -> QuerySet:
    """Query 4: the ledger's entries in ``ranges`` (the period's cut weeks) by ISO week and event type,
    reversed entries apart: what the rollup holds, computed from the entries."""
    in_ranges = Q(pk__in=[])
    for start, end in ranges:
        in_ranges |= Q(occurred_at__gte=start, occurred_at__lt=end)
    return (
        ledger.filter(in_ranges)
        .annotate(
            week=TruncWeek("occurred_at", tzinfo=timezone.get_current_timezone()),
            # A reversal is written after the entry it cancels, so the period's entries can only be reversed by
            # entries from the period's start on: the join reads those, not the whole ledger. Only reversals name an
            # entry (a check constraint); saying so keeps the join's hash to the period's reversals, a few thousand.
            reversal=FilteredRelation(
                "reversed_by",
                condition=Q(reversed_by__occurred_at__gte=period.start, reversed_by__event_type=PointsEvent.REVERSAL),
            ),
        )
        .values("week", "event_type")
        .annotate(
            # A LEFT JOIN to the reversal (at most one per entry): the planner hashes it and aggregates by hash;
            # a NOT EXISTS inside the aggregate's filter made it sort every entry of the period instead.
            entries=Count("pk", filter=Q(reversal__isnull=True)),
            positive=Coalesce(Sum("points", filter=Q(points__gt=0)), 0, output_field=IntegerField()),
            negative=Coalesce(Sum("points", filter=Q(points__lt=0)), 0, output_field=IntegerField()),
        )
        .order_by()
    )


def _instant(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _cut_ranges(period: ReportPeriod, first: dt.date, end: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
    """The instants of the period outside its whole weeks ``[first, end)`` (``_full_weeks``); empty ranges too."""
    if first < end:
        return [(period.start, _instant(first)), (_instant(end), period.end)]
    return [(period.start, period.end)]


def _weeks(user, cpss, program, ledger: QuerySet, period: ReportPeriod) -> list[dict[str, Any]]:
    """The ledger of the period by ISO week: the whole weeks from the rollup (query 3), the weeks the period
    cuts from the ledger itself (query 4; the whole period when the rollup's zone is not the report's)."""
    by_week = {monday: _empty_week(monday) for monday in period.weeks()}
    first, end = _full_weeks(period)
    zone, rollup_rows = _rollup_weeks(user, cpss, program, first, end)
    if zone == settings.TIME_ZONE:
        ranges = _cut_ranges(period, first, end)
        for row in rollup_rows:
            week = by_week[row[0]]
            for name, value in zip(report_rollup.FIGURES, row[1:], strict=True):
                week[name] += int(value)  # sum() of bigint is numeric
    else:  # the rollup counts other weeks (settings.TIME_ZONE changed since): check_cm_report_rollups --repair
        ranges = [(period.start, period.end)]
    counted = {
        PointsEvent.TEST_NEGATIVE: "negative_tests",
        PointsEvent.TEST_POSITIVE: "positive_tests",
        PointsEvent.TEST_MISSED: "missed_tests",
        PointsEvent.GROUP_ATTENDANCE: "group_attendance",
        PointsEvent.WEEKLY_CHECKIN: "weekly_checkins",
        PointsEvent.PEER_SUPPORT: "peer_support",
    }
    for row in _ledger_weeks(ledger, period, [(start, stop) for start, stop in ranges if start < stop]):
        week = by_week[timezone.localtime(row["week"]).date()]
        event = row["event_type"]
        if event == PointsEvent.REVERSAL:
            week["points_reversed"] -= row["positive"] + row["negative"]
            week["reversal_entries"] += row["entries"]
            continue
        week["points_earned"] += row["positive"]
        week["points_deducted"] -= row["negative"]
        if event in counted:
            week[counted[event]] += row["entries"]
    for week in by_week.values():
        week["tests"] = week["negative_tests"] + week["positive_tests"] + week["missed_tests"]
        week["negative_rate"] = _rate(week["negative_tests"], week["tests"])
    return list(by_week.values())


def _streaks(enrollments: QuerySet) -> list[dict[str, Any]]:
    """Query 4: the active enrollments with the longest current negative-test streaks."""
    rows = (
        enrollments.filter(status=CMStatus.ACTIVE, current_streak__gt=0)
        .select_related("canonical_patient", "cm_program", "cpss_provider")
        .order_by("-current_streak", "enrollment_date", "pk")[:STREAKS_SHOWN]
    )
    return [
        {
            "enrollment_id": e.pk,
            "patient": f"{e.canonical_patient.first_name} {e.canonical_patient.last_name}",
            "program": e.cm_program.name,
            "cpss": str(e.cpss_provider) if e.cpss_provider else None,
            "current_streak": e.current_streak,
            "enrollment_date": e.enrollment_date,
        }
        for e in rows
    ]


def _caseloads(user, cpss: CMProvider | None) -> list[dict[str, Any]]:
    """Query 5: each CPSS in scope, active enrollments now against ``max_caseload``."""
    providers = selectors.cm_providers_visible_to(user).filter(role=ProviderRole.CPSS)
    if cpss is not None:
        providers = providers.filter(pk=cpss.pk)
    # A count per CPSS from the caseload index (cpss_provider, status), not a join of every enrollment.
    active = (
        CMEnrollment.objects.filter(cpss_provider=OuterRef("pk"), status=CMStatus.ACTIVE)
        .order_by()
        .values("cpss_provider")
        .annotate(n=Count("*"))
        .values("n")
    )
    # Plain values, not model instances: 1,900 providers' every column (their timestamps converted to the zone) cost
    # ~100 ms of Python at full size.
    rows = (
        providers.annotate(active=Coalesce(Subquery(active, output_field=IntegerField()), 0))
        .order_by("last_name", "first_name", "pk")
        .values_list("pk", "first_name", "last_name", "active", "max_caseload")
    )
    return [
        {
            "cpss_id": pk,
            "cpss": f"{first_name} {last_name}",
            "active": active_now,
            "max_caseload": max_caseload,
            "use": _rate(active_now, max_caseload),
        }
        for pk, first_name, last_name, active_now, max_caseload in rows
    ]


def cm_program_report(
    *,
    user,
    period: ReportPeriod,
    cpss: CMProvider | None = None,
    program: CMProgram | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Every figure of the CM program report (see the module's docstring), as plain data: six or seven queries, in one
    transaction."""
    now = now or timezone.now()
    enrollments = report_enrollments(user, cpss=cpss, program=program)
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        # JIT compiling these plans cost more than running them (60-300 ms a query at full size), and the ledger
        # aggregate of cut weeks sorts to disk at the default work_mem: both for this transaction only.
        cursor.execute(
            "SELECT set_config('jit', 'off', true), set_config('work_mem', %s, true), cm_report_time_zone()",
            [REPORT_WORK_MEM],
        )
        # The weekly rollup and the per-enrollment facts are kept in this zone: read only when it is the report's.
        facts = cursor.fetchone()[2] == settings.TIME_ZONE
        few = cpss is not None or selectors.cm_scope(user) == "caseload"
        statuses = _statuses(enrollments, period, now, few=few, facts=facts, program=program)
        if facts and not few:
            retention = _retention_from_facts(period, now, program)
        else:
            retention = _retention(enrollments, period, now)
        ledger = CMPointsTransaction.objects.filter(enrollment__in=enrollments.values("pk"))
        weeks = _weeks(user, cpss, program, ledger, period)
        streaks = _streaks(enrollments)
        caseloads = _caseloads(user, cpss)
    totals = {
        name: sum(week[name] for week in weeks) for name in weeks[0] if name not in ("week", "start", "negative_rate")
    }
    totals["negative_rate"] = _rate(totals["negative_tests"], totals["tests"])
    active = statuses["statuses"][CMStatus.ACTIVE]
    return {
        "from": period.first_day,
        "to": period.last_day,
        "cpss": {"id": cpss.pk, "name": f"{cpss.first_name} {cpss.last_name}"} if cpss else None,
        "program": {"id": program.pk, "name": program.name} if program else None,
        "scope": selectors.cm_scope(user),
        "statuses": statuses["statuses"],
        "cohort": retention["cohort"],
        "retention": retention["retention"],
        "attendance": {
            "group_attendance": totals["group_attendance"],
            "active_enrollments": active,
            "active_attending": statuses["active_attending"],
            "rate": _rate(statuses["active_attending"], active),
        },
        "weeks": weeks,
        "totals": totals,
        "longest_streaks": streaks,
        "caseloads": caseloads,
    }
