"""The navigation report (issue 14, point 2): what the navigators did, week by week, and where the
pipeline went, for the CRM supervisors (every navigator) and each navigator (themself).

One selector, ``navigation_report(period=..., navigator=...)``, feeds the admin page and the API. It
answers in eight queries (one sets the transaction's planner settings) whatever the number of calls,
patients, navigators or weeks: the calls, the overdue follow-ups and the cohorts are read from the summary
tables that triggers keep exact (``patients.report_rollups``); the new patients are counted per week and
navigator by PostgreSQL; the consults' medians are computed here from the period's consults (the medians of
the totals are those of all their consults, not medians of medians).

Definitions (docs/REPORTS.md, "Navigation report", says the same for readers):

* **Period**: the local days ``[first_day, last_day]`` in ``settings.TIME_ZONE``. **Weeks** are ISO weeks
  (Monday to Sunday) of local time: ``date_trunc('week', call_date AT TIME ZONE tz)``; the first and last
  week may be cut by the period, and then count only the period's days.
* **Calls**: calls whose ``call_date`` falls in the week, voided calls left out, counted for the
  navigator who made or took them (``call_history.pn_id``). **Reach rate**: reached outbound calls /
  outbound calls (inbound calls reach the patient by definition and are left out of the rate).
  **Outcome mix**: the calls per outcome. **Average call length**: the mean ``call_duration_minutes``
  of the calls that have one.
* **New patients**: patient records created in the week (soft-deleted ones left out), for the patient's
  navigator now; patients without a navigator count in the weekly totals only.
* **Median days to initial consult**: over the patients whose ``initial_consult_date`` falls in the week
  and who have a ``first_contact_date``: the median of ``initial_consult_date - first_contact_date``.
* **Overdue follow-ups at week end**: a patient's follow-up is the ``reminder_date`` of their most recent
  non-void call (``patients.follow_up``); the caseload page calls it overdue when it is before today. At
  the end of a week's last day D (Sunday, or the period's last day), a patient is counted when their most
  recent non-void call made by then (``call_date`` before D + 1 at 00:00 local) has a reminder on or
  before D: on the next morning the caseload page would have shown it overdue. Counted for active,
  not deleted patients (status and navigator as they are now: their history is not replayed) and for the
  patient's navigator. A navigator's and the report's total is the figure at the last week end.
* **Pipeline (cohorts)**: the leads created in the period: how many are converted now, how many of the
  converted leads' patients had a clinical-trial journey opened after the lead came in ("CT referred":
  every CT journey starts in status ``referred``) and how many of those journeys reached ``enrolled``
  (status ``enrolled`` or ``completed``, or ``withdrawn`` with an enrollment date). The EAP journeys
  opened (created) in the period: how many reached ``submitted`` and ``approved`` (the status is that step
  or a later one of the main path, or the journey left by an exit after its timeline recorded the step).
  Soft-deleted journeys are left out. With a navigator chosen, the cohorts are the leads that became their
  patients and the EAP journeys of their patients (an unconverted lead belongs to no navigator).

No PHI access-log entry: the report shows counts, rates and medians, and the navigators' names (staff),
never a patient (docs/REPORTS.md).
"""

from __future__ import annotations

import datetime as dt
import gc
import uuid
import zoneinfo
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction

from common import roles
from journeys.transitions import CTStatus, EAPStatus
from patients import report_rollups
from patients.models import CallDirection, CallOutcome, PatientStatus
from people.models import ContactType, Person, PersonContactType

REPORT_WORK_MEM = "64MB"
MAX_PERIOD_DAYS = 731  # two years: a longer range is a data export, not a report
DEFAULT_WEEKS = 12

OUTCOMES = tuple(CallOutcome.values)

# The journey statuses of the pipeline (journeys/transitions.py): which count as having reached a step.
CT_ENROLLED = (CTStatus.ENROLLED, CTStatus.COMPLETED)  # + withdrawn with an enrollment date
EAP_SUBMITTED = (EAPStatus.SUBMITTED, EAPStatus.APPROVED, EAPStatus.ACTIVE, EAPStatus.COMPLETED)
EAP_APPROVED = (EAPStatus.APPROVED, EAPStatus.ACTIVE, EAPStatus.COMPLETED)
EAP_EXITS = (EAPStatus.DECLINED, EAPStatus.WITHDRAWN)  # + a timeline step into submitted / approved


# ---------------------------------------------------------------------------------------------------
# The period and its weeks


def _tz() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def _monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


@dataclass(frozen=True, slots=True)
class Week:
    monday: dt.date
    first_day: dt.date  # the Monday, or the period's first day
    last_day: dt.date  # the Sunday, or the period's last day

    @property
    def label(self) -> str:
        year, week, _ = self.monday.isocalendar()
        return f"{year}-W{week:02d}"


@dataclass(frozen=True)
class ReportPeriod:
    """``[first_day, last_day]`` in local days (``settings.TIME_ZONE``)."""

    first_day: dt.date
    last_day: dt.date

    @property
    def start(self) -> dt.datetime:
        return dt.datetime.combine(self.first_day, dt.time.min, tzinfo=_tz())

    @property
    def end(self) -> dt.datetime:
        return dt.datetime.combine(self.last_day + dt.timedelta(days=1), dt.time.min, tzinfo=_tz())

    @property
    def weeks(self) -> list[Week]:
        weeks = []
        monday = _monday(self.first_day)
        while monday <= self.last_day:
            sunday = monday + dt.timedelta(days=6)
            weeks.append(Week(monday, max(monday, self.first_day), min(sunday, self.last_day)))
            monday += dt.timedelta(days=7)
        return weeks

    @classmethod
    def last_full_weeks(cls, weeks: int = DEFAULT_WEEKS, *, today: dt.date | None = None) -> ReportPeriod:
        """The ``weeks`` full ISO weeks before the current one."""
        today = today or dt.datetime.now(_tz()).date()
        this_monday = _monday(today)
        return cls(this_monday - dt.timedelta(weeks=weeks), this_monday - dt.timedelta(days=1))


@contextmanager
def gc_paused():
    """The cyclic garbage collector held off while a report is built: its 6,000 cells and their dictionaries
    (every navigator, 12 weeks) made it walk the process's objects several times, 20-50 ms of CPU of ~130 at
    full size. Nothing the report makes is a cycle; the collector runs again afterwards. Whoever paused it
    first (it was on) turns it back on, so threads that overlap leave it on."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# ---------------------------------------------------------------------------------------------------
# The figures


@dataclass(slots=True)
class Figures:
    """The figures of one week and navigator, one week (every navigator), one navigator, or the total.
    (Slots: a report of every navigator makes one per week and navigator, 6,000 for 500 over 12 weeks.)"""

    calls: int = 0
    outbound_calls: int = 0
    reached_outbound_calls: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    timed_calls: int = 0
    average_call_minutes: float | None = None
    new_patients: int = 0
    consults: int = 0
    median_days_to_consult: float | None = None
    overdue_follow_ups: int = 0

    @property
    def reach_rate(self) -> float | None:
        return _rate(self.reached_outbound_calls, self.outbound_calls)

    @property
    def is_empty(self) -> bool:
        return not (self.calls or self.new_patients or self.consults or self.overdue_follow_ups)

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "outbound_calls": self.outbound_calls,
            "reached_outbound_calls": self.reached_outbound_calls,
            "reach_rate": self.reach_rate,
            "outcomes": dict(self.outcomes),
            "timed_calls": self.timed_calls,
            "average_call_minutes": self.average_call_minutes,
            "new_patients": self.new_patients,
            "consults": self.consults,
            "median_days_to_consult": self.median_days_to_consult,
            "overdue_follow_ups": self.overdue_follow_ups,
        }


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


@dataclass(frozen=True)
class LeadFunnel:
    created: int
    converted: int
    ct_referred: int
    ct_enrolled: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "converted": self.converted,
            "ct_referred": self.ct_referred,
            "ct_enrolled": self.ct_enrolled,
            "conversion_rate": _rate(self.converted, self.created),
            "ct_referral_rate": _rate(self.ct_referred, self.created),
            "ct_enrollment_rate": _rate(self.ct_enrolled, self.created),
        }


@dataclass(frozen=True)
class EAPFunnel:
    opened: int
    submitted: int
    approved: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "opened": self.opened,
            "submitted": self.submitted,
            "approved": self.approved,
            "submission_rate": _rate(self.submitted, self.opened),
            "approval_rate": _rate(self.approved, self.opened),
        }


@dataclass
class NavigationReport:
    period: ReportPeriod
    navigator: Person | None  # the one navigator the report is limited to, or None for every navigator
    weeks: list[Week]
    navigators: list[Person]  # every navigator with a figure, by name
    cells: dict[tuple[dt.date, Any], Figures]  # (week's monday, navigator id) -> figures
    by_week: dict[dt.date, Figures]
    by_navigator: dict[Any, Figures]
    total: Figures
    leads: LeadFunnel
    eap: EAPFunnel

    def cell(self, week: Week, navigator: Person) -> Figures:
        return self.cells.get((week.monday, navigator.pk)) or Figures()

    def as_dict(self) -> dict[str, Any]:
        """The report as the API answers it. Built in one pass per navigator: the weeks' labels once, the
        empty cells (a navigator without a figure that week) from one dictionary of zeros."""
        with gc_paused():
            return self._as_dict()

    def _as_dict(self) -> dict[str, Any]:
        labels = [(w.monday, w.label) for w in self.weeks]
        cells = self.cells
        empty = Figures().as_dict()
        navigators = []
        for n in self.navigators:
            pk = n.pk
            weeks = []
            for monday, label in labels:
                figures = cells.get((monday, pk))
                weeks.append({"week": label, **(figures.as_dict() if figures is not None else empty)})
            navigators.append(
                {
                    "id": pk,
                    "first_name": n.first_name,
                    "last_name": n.last_name,
                    **self.by_navigator[pk].as_dict(),
                    "weeks": weeks,
                }
            )
        return {
            "from": self.period.first_day,
            "to": self.period.last_day,
            "time_zone": settings.TIME_ZONE,
            "navigator": self.navigator.pk if self.navigator is not None else None,
            "weeks": [
                {"week": w.label, "first_day": w.first_day, "last_day": w.last_day, **self.by_week[w.monday].as_dict()}
                for w in self.weeks
            ],
            "navigators": navigators,
            "total": self.total.as_dict(),
            "pipeline": {"leads": self.leads.as_dict(), "eap_journeys": self.eap.as_dict()},
        }


# ---------------------------------------------------------------------------------------------------
# The queries


def _nav_filter(column: str, navigator: Person | None) -> str:
    return f" AND {column} = %(navigator)s" if navigator is not None else ""


# The groups of the figures (as ``GROUPING(week, navigator)`` numbers them): 0 a week and navigator, 1 a week,
# 2 a navigator, 3 the total.


def _key(grouping: int, week, navigator) -> tuple:
    if grouping == 0:
        return (week, navigator)
    if grouping == 1:
        return ("week", week)
    if grouping == 2:
        return ("navigator", navigator)
    return ("total",)


def _figures_for(groups: dict, grouping: int, week, navigator) -> Figures:
    key = _key(grouping, week, navigator)
    found = groups.get(key)
    if found is None:
        found = groups[key] = Figures()
    return found


def _call_rows(cursor, params: dict, navigator: Person | None, weeks: list[Week], from_rollups: bool) -> list:
    """One row per week and navigator: week, navigator, calls, outbound, reached outbound, timed, summed
    minutes, then the calls per outcome; from the days of ``call_day_rollup`` or, when the summary tables
    are kept in another time zone, from the calls (one range scan of ``call_date``, a hash aggregate)."""
    outcome_params = {f"outcome_{i}": outcome for i, outcome in enumerate(OUTCOMES)}
    query_params = {**params, "outbound": CallDirection.OUTBOUND, "reached": CallOutcome.REACHED, **outcome_params}
    if from_rollups:
        return report_rollups.calls_by_week_and_navigator(
            cursor, params, _nav_filter("r.navigator_id", navigator), weeks
        )
    outcome_columns = ", ".join(
        f"count(*) FILTER (WHERE outcome = %(outcome_{i})s)" for i in range(len(OUTCOMES))
    )  # fmt: skip
    cursor.execute(
        f"""
        SELECT week, navigator::text, count(*),
               count(*) FILTER (WHERE direction = %(outbound)s),
               count(*) FILTER (WHERE direction = %(outbound)s AND outcome = %(reached)s),
               count(call_duration_minutes), sum(call_duration_minutes),
               {outcome_columns}
        FROM (
            SELECT date_trunc('week', c.call_date AT TIME ZONE %(tz)s)::date AS week, c.pn_id AS navigator,
                   c.direction, c.outcome, c.call_duration_minutes
            FROM call_history c
            WHERE c.is_active AND c.call_date >= %(start)s AND c.call_date < %(end)s
            {_nav_filter("c.pn_id", navigator)}
        ) c
        GROUP BY week, navigator
        """,
        query_params,
    )
    return _grouped(cursor.fetchall())


def _grouped(rows: list) -> list:
    """Rows of week and navigator summed into the grouping sets of the report (as ``GROUPING SETS`` gives them:
    grouping, week, navigator, sums), for the calls read from ``call_history``."""
    sums: dict = {}
    for week, nav, *values in rows:
        values = [value or 0 for value in values]
        for key in ((0, week, nav), (1, week, None), (2, None, nav), (3, None, None)):
            found = sums.get(key)
            if found is None:
                sums[key] = list(values)
            else:
                for i, value in enumerate(values):
                    found[i] += value
    return [(*key, *values) for key, values in sums.items()]


def _calls(rows: list, groups: dict) -> None:
    """One row per grouping set: grouping, week, navigator, calls, outbound, reached outbound, timed, summed
    minutes, the calls per outcome (the mean call length from the summed minutes and timed calls, so it is
    exact for a week, a navigator and the total too)."""
    # The first figures of the report: each row is a new group (one Figures made whole, no lookup).
    for grouping, week, nav, calls, outbound, reached, timed, summed, *outcomes in rows:
        groups[_key(grouping, week, nav)] = Figures(
            calls,
            outbound,
            reached,
            dict(zip(OUTCOMES, outcomes, strict=True)),
            timed,
            round((summed or 0) / timed, 2) if timed else None,
        )


def _new_patients(cursor, params: dict, navigator: Person | None, groups: dict) -> None:
    """Counts per week and navigator from PostgreSQL; the week, navigator and total counts summed here (counts
    add up, unlike the consults' medians): ``GROUPING SETS`` hashed the period's 40,000 patients four times
    over, a third of the query's time at full size."""
    cursor.execute(
        f"""
        SELECT date_trunc('week', p.created_at AT TIME ZONE %(tz)s)::date AS week, p.navigator_id::text, count(*)
        FROM patient p
        WHERE p.is_active AND p.created_at >= %(start)s AND p.created_at < %(end)s
        {_nav_filter("p.navigator_id", navigator)}
        GROUP BY 1, p.navigator_id
        """,
        params,
    )
    by_week: dict = defaultdict(int)
    by_navigator: dict = defaultdict(int)
    total = 0
    for week, nav, count in cursor.fetchall():
        by_week[week] += count
        total += count
        if nav is None:
            continue  # no navigator: in the weekly totals only
        by_navigator[nav] += count
        _figures_for(groups, 0, week, nav).new_patients = count
    for week, count in by_week.items():
        _figures_for(groups, 1, week, None).new_patients = count
    for nav, count in by_navigator.items():
        _figures_for(groups, 2, None, nav).new_patients = count
    if total:
        _figures_for(groups, 3, None, None).new_patients = total


def _median(values: list) -> float:
    """``percentile_cont(0.5)``: the middle value, or the mean of the two middle ones (sorts ``values``)."""
    values.sort()
    n = len(values)
    return (values[(n - 1) // 2] + values[n // 2]) / 2


def _consults(cursor, params: dict, navigator: Person | None, groups: dict, weeks: list[Week]) -> None:
    """The period's consults (week index, navigator, days from first contact) from the covering index, the
    counts and medians of each week and navigator, week, navigator and the total made here: in PostgreSQL
    ``percentile_cont`` under ``GROUPING SETS`` sorted each of 6,000 groups of ~4 values on its own and cost
    ten times the index scan (120 of 130 ms at full size and a load of 6); the medians of the totals are
    still those of all their consults, not medians of medians."""
    cursor.execute(
        f"""
        SELECT (p.initial_consult_date - %(first_monday)s) / 7, p.navigator_id::text,
               p.initial_consult_date - p.first_contact_date
        FROM patient p
        WHERE p.is_active AND p.first_contact_date IS NOT NULL
          AND p.initial_consult_date BETWEEN %(first_day)s AND %(last_day)s
        {_nav_filter("p.navigator_id", navigator)}
        """,
        {**params, "first_monday": weeks[0].monday},
    )
    cells: dict = defaultdict(list)
    for k, nav, days in cursor.fetchall():
        cells[(k, nav)].append(days)
    by_week: dict = defaultdict(list)
    by_navigator: dict = defaultdict(list)
    for (k, nav), days in cells.items():
        monday = weeks[k].monday
        by_week[monday] += days
        if nav is None:
            continue  # no navigator: in the weekly totals only
        by_navigator[nav] += days
        figures = _figures_for(groups, 0, monday, nav)
        figures.consults, figures.median_days_to_consult = len(days), _median(days)
    every = []
    for monday, days in by_week.items():
        every += days
        figures = _figures_for(groups, 1, monday, None)
        figures.consults, figures.median_days_to_consult = len(days), _median(days)
    for nav, days in by_navigator.items():
        figures = _figures_for(groups, 2, None, nav)
        figures.consults, figures.median_days_to_consult = len(days), _median(days)
    if every:
        figures = _figures_for(groups, 3, None, None)
        figures.consults, figures.median_days_to_consult = len(every), _median(every)


def _overdue(cursor, params: dict, navigator: Person | None, weeks: list[Week]) -> dict[Any, list[int]]:
    """navigator id (text) -> the overdue follow-ups at the end of each week (module docstring).

    Two queries. (a) Patients whose latest call is on or before a week end D: their state at D is their
    stored follow-up, so they count from the first week end on or after both their follow-up date and
    their last call's day, onwards. (b) Patients called after the first week end (or after the period):
    their calls from the first week end to the period's end (one range of ``call_date``) and, per patient,
    the last call before it (one index probe each) are walked in order with ``lead()``: each is "the
    latest" from its day to the day before the next call, and counts at the week ends in that span on or
    after its reminder. (a) covers every week end on or after the
    patient's last call, (b) every earlier one: each patient and week end is counted once.
    """
    ends = [week.last_day for week in weeks]
    last = len(ends) - 1
    # The week end index of a day: weeks are consecutive (only the last may be cut short by the period).
    bucket_from = "GREATEST(0, CEIL(({day} - %(d0)s) / 7.0))::int"  # the first week end on or after {day}
    local_day = "({column} AT TIME ZONE %(tz)s)::date"
    patients = f"""p.status = %(active)s AND p.is_active AND p.navigator_id IS NOT NULL
                   {_nav_filter("p.navigator_id", navigator)}"""
    query_params = {
        **params,
        "active": PatientStatus.ACTIVE,
        "d0": ends[0],
        "dmax": ends[-1],
        "end_d0": dt.datetime.combine(ends[0] + dt.timedelta(days=1), dt.time.min, tzinfo=_tz()),
        "end_dmax": dt.datetime.combine(ends[-1] + dt.timedelta(days=1), dt.time.min, tzinfo=_tz()),
    }
    counts: dict[Any, list[int]] = defaultdict(lambda: [0] * len(ends))
    since: dict[Any, list[int]] = defaultdict(lambda: [0] * (len(ends) + 1))  # (a): differences by week end

    from_day = f"GREATEST(p.follow_up_date, {local_day.format(column='p.last_call_at')})"
    cursor.execute(
        f"""
        SELECT p.navigator_id::text, {bucket_from.format(day=from_day)} AS k, count(*)
        FROM patient p
        WHERE {patients} AND p.follow_up_date <= %(dmax)s AND p.last_call_at < %(end_dmax)s
        GROUP BY p.navigator_id, 2
        """,
        query_params,
    )
    for nav, k, count in cursor.fetchall():
        since[nav][k] += count

    # For one navigator, only their patients' calls (by the patients' ids); for all, the join below filters.
    one_navigator = f"AND c.patient_id IN (SELECT p.id FROM patient p WHERE {patients})" if navigator else ""
    # The calls of the window are walked once, in order, with lead(); the first one of each patient also
    # fetches the patient's last call before the window (its "anchor", whose next call is that first one):
    # no set of the window's patients to build (a hash of a million rows), no second pass over the calls.
    # Patients called after the period but not in the window get their anchor by themselves (few).
    anchor = """
        SELECT c0.call_date, c0.reminder_date FROM call_history c0
        WHERE c0.patient_id = {patient} AND c0.is_active AND c0.call_date < %(end_d0)s
        ORDER BY c0.call_date DESC, c0.created_at DESC LIMIT 1
    """
    cursor.execute(
        f"""
        WITH win AS (
            SELECT c.patient_id, c.call_date, c.reminder_date,
                   lead(c.call_date) OVER w AS next_at, row_number() OVER w = 1 AS is_first
            FROM call_history c
            WHERE c.is_active AND c.call_date >= %(end_d0)s AND c.call_date < %(end_dmax)s {one_navigator}
            WINDOW w AS (PARTITION BY c.patient_id ORDER BY c.call_date, c.created_at)
        ), seq AS (
            SELECT patient_id, call_date, reminder_date, next_at FROM win
            UNION ALL
            SELECT w.patient_id, a.call_date, a.reminder_date, w.call_date FROM win w
            CROSS JOIN LATERAL ({anchor.format(patient="w.patient_id")}) a
            WHERE w.is_first
            UNION ALL
            SELECT p.id, a.call_date, a.reminder_date, NULL FROM patient p
            CROSS JOIN LATERAL ({anchor.format(patient="p.id")}) a
            WHERE {patients} AND p.last_call_at >= %(end_dmax)s AND NOT EXISTS (
                SELECT 1 FROM call_history c1 WHERE c1.patient_id = p.id AND c1.is_active
                AND c1.call_date >= %(end_d0)s AND c1.call_date < %(end_dmax)s)
        ), spans AS (
            SELECT p.navigator_id,
                   GREATEST(s.reminder_date, {local_day.format(column="s.call_date")}) AS from_day,
                   CASE WHEN s.next_at IS NOT NULL THEN {local_day.format(column="s.next_at")} - 1 ELSE %(dmax)s END
                       AS to_day
            FROM seq s JOIN patient p ON p.id = s.patient_id AND {patients}
            WHERE s.reminder_date IS NOT NULL AND (s.next_at IS NOT NULL OR p.last_call_at >= %(end_dmax)s)
        )
        SELECT navigator_id::text, {bucket_from.format(day="from_day")} AS k_from,
               CASE WHEN to_day >= %(dmax)s THEN {last} ELSE FLOOR((to_day - %(d0)s) / 7.0)::int END AS k_to, count(*)
        FROM spans
        WHERE from_day <= to_day AND from_day <= %(dmax)s AND to_day >= %(d0)s
        GROUP BY navigator_id, 2, 3
        """,
        query_params,
    )
    for nav, k_from, k_to, count in cursor.fetchall():
        # The last week end may come before its Sunday: a span ending on or after it reaches it.
        for k in range(k_from, k_to + 1):
            counts[nav][k] += count
    for nav, differences in since.items():
        running = 0
        for k in range(len(ends)):
            running += differences[k]
            counts[nav][k] += running
    return counts


def _leads(cursor, params: dict, navigator: Person | None) -> LeadFunnel:
    """The leads cohort from ``lead_cohort`` (migration 0015: a row per lead with its steps, kept by triggers;
    no time zone in it, so it serves every period): one index-only range scan of ``created_at``."""
    cursor.execute(
        f"""
        SELECT count(*), count(*) FILTER (WHERE converted), count(*) FILTER (WHERE ct_referred),
               count(*) FILTER (WHERE ct_enrolled)
        FROM lead_cohort r
        WHERE r.created_at >= %(start)s AND r.created_at < %(end)s {_nav_filter("r.navigator_id", navigator)}
        """,
        params,
    )
    return LeadFunnel(*cursor.fetchone())


def _eap(cursor, params: dict, navigator: Person | None) -> EAPFunnel:
    """The EAP cohort from ``eap_cohort`` (a row per EAP journey not deleted, with its steps)."""
    cursor.execute(
        f"""
        SELECT count(*), count(*) FILTER (WHERE submitted), count(*) FILTER (WHERE approved)
        FROM eap_cohort r
        WHERE r.created_at >= %(start)s AND r.created_at < %(end)s {_nav_filter("r.navigator_id", navigator)}
        """,
        params,
    )
    return EAPFunnel(*cursor.fetchone())


def navigation_report(*, period: ReportPeriod, navigator: Person | None = None) -> NavigationReport:
    """The navigation report of ``period``, of every navigator or of ``navigator`` only. Eight queries
    whatever the data, the calls and the overdue follow-ups read from the summary tables
    (``patients.report_rollups``); nine when those are kept in another time zone than ``TIME_ZONE`` (then
    both are computed from the calls). The module docstring defines each figure."""
    with gc_paused():
        return _navigation_report(period, navigator)


def _navigation_report(period: ReportPeriod, navigator: Person | None) -> NavigationReport:
    weeks = period.weeks
    params = {
        "tz": settings.TIME_ZONE,
        "start": period.start,
        "end": period.end,
        "first_day": period.first_day,
        "last_day": period.last_day,
        "navigator": navigator.pk if navigator is not None else None,
    }
    groups: dict = {}
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        # JIT compiling these aggregates cost more than running them (2 s of 6 at 1M calls), and the overdue
        # query's window sort spills to disk at the default work_mem: both for this transaction only.
        # The summary tables answer the calls and the overdue follow-ups when their days are this report's.
        cursor.execute(
            "SELECT set_config('jit', 'off', true), set_config('work_mem', %s, true), report_rollup_time_zone()",
            [REPORT_WORK_MEM],
        )
        from_rollups = cursor.fetchone()[2] == settings.TIME_ZONE
        _calls(_call_rows(cursor, params, navigator, weeks, from_rollups), groups)
        _new_patients(cursor, params, navigator, groups)
        _consults(cursor, params, navigator, groups, weeks)
        if from_rollups:
            nav_filter = _nav_filter("r.navigator_id", navigator)
            overdue = report_rollups.overdue_at_week_ends(cursor, params, nav_filter, weeks)
        else:
            overdue = _overdue(cursor, params, navigator, weeks)
        leads = _leads(cursor, params, navigator)
        eap = _eap(cursor, params, navigator)

    # The navigators are their ids as text until here (str keys hash and compare in C; uuid.UUID's in Python,
    # some 100,000 times for 500 navigators); the report is keyed by their Person's pk.
    cells = {key: figures for key, figures in groups.items() if len(key) == 2 and key[0] not in ("week", "navigator")}
    by_week = {week.monday: groups.get(("week", week.monday)) or Figures() for week in weeks}
    nav_ids = {key[1] for key in groups if key[0] == "navigator"} | {nav for _, nav in cells} | set(overdue)
    if navigator is not None:
        nav_ids = {str(navigator.pk)}
    by_navigator = {nav: groups.get(("navigator", nav)) or Figures() for nav in nav_ids}
    total = groups.get(("total",)) or Figures()
    for nav, per_week in overdue.items():
        for week, count in zip(weeks, per_week, strict=True):
            if count:
                figures = cells.get((week.monday, nav))
                if figures is None:
                    figures = cells[(week.monday, nav)] = Figures()
                figures.overdue_follow_ups = count
                by_week[week.monday].overdue_follow_ups += count
        by_navigator[nav].overdue_follow_ups = per_week[-1]
    total.overdue_follow_ups = by_week[weeks[-1].monday].overdue_follow_ups
    # Their names only (the report shows nothing else of them): a tenth of the time of whole rows for 500.
    named = Person.all_objects.filter(pk__in=nav_ids).only("id", "first_name", "last_name") if nav_ids else ()
    people = {str(p.pk): p for p in named}
    if navigator is not None:
        people[str(navigator.pk)] = navigator
    pks = {nav: person.pk for nav, person in people.items()}
    listed = sorted(people.items(), key=lambda item: (item[1].last_name.lower(), item[1].first_name.lower(), item[0]))
    return NavigationReport(
        period=period,
        navigator=navigator,
        weeks=weeks,
        navigators=[person for _, person in listed],
        cells={(monday, pks.get(nav) or uuid.UUID(nav)): figures for (monday, nav), figures in cells.items()},
        by_week=by_week,
        by_navigator={person.pk: by_navigator[nav] for nav, person in listed},
        total=total,
        leads=leads,
        eap=eap,
    )


# ---------------------------------------------------------------------------------------------------
# Who may see it, and the request's parameters (the admin form and the API read them alike)


def may_see_every_navigator(user) -> bool:
    """CRM supervisors and superusers."""
    return bool(user and user.is_active and (user.is_superuser or roles.CRM_SUPERVISORS in roles.group_names(user)))


def may_see_navigation_report(user) -> bool:
    """CRM supervisors, superusers and navigators (their own figures); CM staff and everyone else: no."""
    if not (user and getattr(user, "is_authenticated", False) and user.is_active):
        return False
    return may_see_every_navigator(user) or roles.PATIENT_NAVIGATORS in roles.group_names(user)


def report_navigators():
    """The navigators a supervisor may choose: every Person who holds or held the navigator role.

    The role's id is looked up first (one small query): given the id, the planner knows from its statistics
    that few role periods are a navigator's and probes the index; joined to ``contact_type`` it expected a
    sixth of all periods and scanned both tables (840 ms at full size and a load of 20, for 500 navigators)."""
    role = ContactType.objects.filter(code=ContactType.PATIENT_NAVIGATOR).values_list("pk", flat=True).first()
    held = PersonContactType.objects.filter(contact_type_id=role).values("person_id")
    return Person.objects.filter(pk__in=held).order_by("last_name", "first_name", "id")


def _day(params, name: str, default: dt.date) -> dt.date:
    text = (params.get(name) or "").strip()
    if not text:
        return default
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValidationError({name: [f"{text[:40]!r} is not a date of the form YYYY-MM-DD."]}) from None


def report_period(params) -> ReportPeriod:
    """``from`` and ``to`` (local days, optional: the last 12 full weeks), ``from`` <= ``to``, at most
    ``MAX_PERIOD_DAYS`` days; a ``ValidationError`` naming the parameter otherwise."""
    default = ReportPeriod.last_full_weeks()
    first_day = _day(params, "from", default.first_day)
    last_day = _day(params, "to", default.last_day)
    if first_day > last_day:
        raise ValidationError({"from": ["`from` must be on or before `to`."]})
    if (last_day - first_day).days + 1 > MAX_PERIOD_DAYS:
        raise ValidationError({"to": [f"The period spans more than {MAX_PERIOD_DAYS} days; choose a shorter one."]})
    return ReportPeriod(first_day, last_day)


def report_navigator(params, *, user) -> Person | None:
    """The navigator the report is limited to: a navigator's own Person (asking for another one is a
    ``PermissionDenied``), or for a supervisor the ``navigator`` parameter (a navigator's Person id) or
    None for every navigator; a ``ValidationError`` naming ``navigator`` for an id that is none."""
    from people.selectors import navigator_for_user

    text = (params.get("navigator") or "").strip()
    chosen = None
    if text:
        try:
            chosen = report_navigators().get(pk=uuid.UUID(text))
        except (ValueError, Person.DoesNotExist):
            raise ValidationError({"navigator": [f"No navigator has the id {text[:40]!r}."]}) from None
    if may_see_every_navigator(user):
        return chosen
    own = navigator_for_user(user)
    if own is None:
        raise PermissionDenied("Your login is not linked to a navigator: the report shows a navigator's own figures.")
    if chosen is not None and chosen.pk != own.pk:
        raise PermissionDenied("Navigators see their own figures only.")
    return own
