"""Reads for the navigators' screens: calls, due follow-ups, caseloads, history."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from patients import selectors, services
from patients.models import CallHistory
from tests.factories.patients import CallHistoryFactory, PatientFactory
from tests.factories.people import NavigatorFactory

pytestmark = pytest.mark.django_db


def days_ago(n: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=n)


def today_plus(n: int) -> dt.date:
    return timezone.localdate() + dt.timedelta(days=n)


def test_patient_calls_newest_first_without_void_ones(django_assert_num_queries):
    patient = PatientFactory()
    old = CallHistoryFactory(patient=patient, call_date=days_ago(10))
    new = CallHistoryFactory(patient=patient, call_date=days_ago(1))
    middle = CallHistoryFactory(patient=patient, call_date=days_ago(5))
    void = CallHistoryFactory(patient=patient, call_date=days_ago(0.5))
    services.call_void(call=void, reason="wrong patient")
    CallHistoryFactory()  # someone else's call

    with django_assert_num_queries(1):
        calls = list(selectors.patient_calls(patient=patient))
        navigators = [c.navigator.last_name for c in calls]
    assert calls == [new, middle, old]
    assert len(navigators) == 3
    assert list(selectors.patient_calls(patient=patient, include_void=True))[0] == void


def test_follow_ups_due_use_the_latest_call_s_reminder():
    navigator = NavigatorFactory()
    due_today = PatientFactory(navigator=navigator)
    CallHistoryFactory(patient=due_today, call_date=days_ago(3), reminder_date=timezone.localdate())
    overdue = PatientFactory(navigator=navigator)
    CallHistoryFactory(patient=overdue, call_date=days_ago(9), reminder_date=today_plus(-4))
    later = PatientFactory(navigator=navigator)
    CallHistoryFactory(patient=later, call_date=days_ago(1), reminder_date=today_plus(5))
    followed_up = PatientFactory(navigator=navigator)  # an old reminder superseded by a newer call
    CallHistoryFactory(patient=followed_up, call_date=days_ago(20), reminder_date=today_plus(-10))
    CallHistoryFactory(patient=followed_up, call_date=days_ago(2), reminder_date=None)
    closed = PatientFactory(navigator=navigator, status="closed")
    CallHistoryFactory(patient=closed, call_date=days_ago(9), reminder_date=today_plus(-4))
    other_navigator_patient = PatientFactory()
    CallHistoryFactory(patient=other_navigator_patient, call_date=days_ago(9), reminder_date=today_plus(-1))

    due = list(selectors.patients_follow_up_due(navigator=navigator))
    assert due == [overdue, due_today]
    assert [p.follow_up_date for p in due] == [today_plus(-4), timezone.localdate()]
    assert set(selectors.patients_follow_up_due()) == {overdue, due_today, other_navigator_patient}
    assert list(selectors.patients_follow_up_due(today=today_plus(5), navigator=navigator)) == [
        overdue,
        due_today,
        later,
    ]


def test_a_voided_call_s_reminder_does_not_count():
    patient = PatientFactory()
    CallHistoryFactory(patient=patient, call_date=days_ago(5), reminder_date=None)
    wrong = CallHistoryFactory(patient=patient, call_date=days_ago(1), reminder_date=today_plus(-1))
    assert list(selectors.patients_follow_up_due()) == [patient]
    services.call_void(call=wrong, reason="logged twice")
    assert list(selectors.patients_follow_up_due()) == []


def _caseload(navigator, *, active: int, closed: int, calls_recent: int, calls_month: int, overdue: int) -> None:
    patients = [PatientFactory(navigator=navigator) for _ in range(active)]
    for _ in range(closed):
        PatientFactory(navigator=navigator, status="closed")
    for i in range(calls_recent):
        CallHistoryFactory(patient=patients[i % active], navigator=navigator, call_date=days_ago(2))
    for i in range(calls_month):
        CallHistoryFactory(patient=patients[i % active], navigator=navigator, call_date=days_ago(20))
    for patient in patients[:overdue]:
        CallHistoryFactory(patient=patient, navigator=navigator, call_date=days_ago(1), reminder_date=today_plus(-1))


def _figures(caseloads):
    return {
        p.last_name: (p.active_patients, p.calls_last_7_days, p.calls_last_30_days, p.overdue_follow_ups)
        for p in caseloads
    }


def test_navigator_caseload_figures():
    ann = NavigatorFactory(last_name="Ann")
    _caseload(ann, active=3, closed=2, calls_recent=2, calls_month=3, overdue=2)
    # A call older than 30 days and a voided recent call count nowhere.
    CallHistoryFactory(patient=ann.navigated_patients.first(), navigator=ann, call_date=days_ago(45))
    services.call_void(
        call=CallHistoryFactory(patient=ann.navigated_patients.first(), navigator=ann, call_date=days_ago(1)),
        reason="duplicate",
    )
    idle = NavigatorFactory(last_name="Idle")
    caseloads = list(selectors.navigator_caseloads())
    figures = _figures(caseloads)
    # Ann's overdue calls are recent calls too: 2 + 2 in 7 days, 2 + 3 + 2 in 30.
    assert figures["Ann"] == (3, 4, 7, 2)
    assert figures["Idle"] == (0, 0, 0, 0)
    assert idle in caseloads
    assert CallHistory.all_objects.filter(navigator=ann).count() == 9


def test_navigator_caseloads_take_one_query_for_one_or_many_navigators(django_assert_num_queries):
    first = NavigatorFactory(last_name="First")
    _caseload(first, active=2, closed=0, calls_recent=1, calls_month=1, overdue=1)
    with django_assert_num_queries(1):
        assert _figures(selectors.navigator_caseloads()) == {"First": (2, 2, 3, 1)}
    for i in range(6):
        _caseload(NavigatorFactory(last_name=f"Nav{i}"), active=2, closed=1, calls_recent=2, calls_month=1, overdue=1)
    with django_assert_num_queries(1):
        figures = _figures(selectors.navigator_caseloads())
    assert len(figures) == 7
    assert figures["Nav3"] == (2, 3, 4, 1)


def test_persons_with_patients_but_no_role_still_appear_in_caseloads():
    former = NavigatorFactory(last_name="Former")
    PatientFactory(navigator=former)
    former.role_periods.update(valid_to=timezone.now() - dt.timedelta(days=1))
    assert _figures(selectors.navigator_caseloads()) == {"Former": (1, 0, 0, 0)}


def test_patient_history_is_in_order_with_actor(navigator_user):
    registration = services.patient_register(first_name="Ann", last_name="Lee", email="ann@x.org", actor=navigator_user)
    services.patient_update(patient=registration.patient, data={"status": "inactive"}, actor=navigator_user)
    services.patient_update(patient=registration.patient, data={"status": "active"})
    history = selectors.patient_history(patient=registration.patient)
    assert [(e.action, e.changes.get("status")) for e in history] == [
        ("insert", [None, "active"]),
        ("update", ["active", "inactive"]),
        ("update", ["inactive", "active"]),
    ]
    assert [e.username for e in history] == ["nav", "nav", None]
    assert history[0].at <= history[1].at <= history[2].at


@pytest.mark.parametrize("time_zone", ["America/New_York", "UTC"])
def test_caseload_call_windows_from_the_day_rollups_equal_counting_the_calls(settings, time_zone):
    """The 7 / 30-day figures add the whole days of call_day_rollup to the calls of the two cut days: at every
    boundary (a call at the window's start is out, one at ``now`` in, a later one out, local midnights) they
    equal counting the calls; with the rollups kept in another time zone the calls are counted directly."""
    from patients.report_rollups import rebuild_report_rollups

    settings.TIME_ZONE = time_zone
    rebuild_report_rollups(time_zone="America/New_York")
    nav = NavigatorFactory(last_name="Edge")
    patient = PatientFactory(navigator=nav)
    now = timezone.make_aware(dt.datetime(2026, 3, 10, 14, 30))  # the US DST change (8 March) in the window
    midnight = timezone.make_aware(dt.datetime(2026, 3, 4))  # the first whole day of the 7
    moments = [
        now - dt.timedelta(days=7),  # the start: out
        now - dt.timedelta(days=7, seconds=-1),
        midnight - dt.timedelta(microseconds=1),
        midnight,
        midnight + dt.timedelta(days=1),
        now - dt.timedelta(days=1),
        timezone.make_aware(dt.datetime(2026, 3, 10)),  # today's midnight
        now,  # in
        now + dt.timedelta(seconds=1),  # out: not made yet
        now - dt.timedelta(days=30),  # out
        now - dt.timedelta(days=29, hours=23),
        now - dt.timedelta(days=20),
    ]
    for moment in moments:
        CallHistoryFactory(patient=patient, navigator=nav, call_date=moment)
    services.call_void(call=CallHistoryFactory(patient=patient, navigator=nav, call_date=now), reason="twice")

    def counted(days, at):
        calls = CallHistory.objects.filter(navigator=nav, call_date__lte=at)
        return calls.filter(call_date__gt=at - dt.timedelta(days=days)).count()

    assert (counted(7, now), counted(30, now)) == (7, 10)
    for at in (now, timezone.make_aware(dt.datetime(2026, 3, 10)), now + dt.timedelta(hours=9, minutes=29)):
        figures = _figures(selectors.navigator_caseloads(now=at))["Edge"]
        assert figures[1:3] == (counted(7, at), counted(30, at)), at
