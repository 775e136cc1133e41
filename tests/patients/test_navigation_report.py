"""The navigation report (issue 14, point 2): every figure of a known data set against hand-computed values
(tests/patients/navigation_report_world.py draws it), the navigator scope, constant queries, the roles of
the admin page and of the API, and the API's refusals."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from common import roles
from patients.models import CallHistory, Patient
from patients.report_rollups import rebuild_report_rollups
from patients.reports import Figures, ReportPeriod, navigation_report
from tests.conftest import make_user
from tests.factories.patients import CallHistoryFactory, PatientFactory
from tests.factories.people import NavigatorFactory, PersonFactory
from tests.navigation_api import API, assert_error, client_for
from tests.patients import navigation_report_world as w
from tests.patients.navigation_report_world import outcomes

pytestmark = pytest.mark.django_db

URL = f"{API}/reports/navigation/"
PAGE = "/admin/reports/navigation/"
# The transaction's settings (jit, work_mem) and the summary tables' time zone, calls, new patients, consults,
# overdue, leads, EAP journeys, the navigators' names; from the calls (the summary tables kept in another
# time zone), the overdue follow-ups take two.
QUERIES = {"rollups": 8, "calls": 9}
BOTH = pytest.mark.parametrize("world", ["rollups", "calls"], indirect=True)


@pytest.fixture
def world(request, settings):
    """The known data set. By default the summary tables are kept in its time zone, so the report reads them;
    with the parameter "calls" they are kept in UTC, so it computes the same figures from the calls."""
    settings.TIME_ZONE = w.TIME_ZONE
    rebuild_report_rollups(time_zone=w.TIME_ZONE if getattr(request, "param", "rollups") == "rollups" else "UTC")
    return w.build()


@pytest.fixture
def source(world, request) -> str:
    return getattr(request.node, "callspec", None) and request.node.callspec.params.get("world") or "rollups"


def figures(report, week_monday=None, navigator=None) -> Figures:
    if week_monday and navigator:
        return report.cells.get((week_monday, navigator.pk)) or Figures()
    if week_monday:
        return report.by_week[week_monday]
    if navigator:
        return report.by_navigator[navigator.pk]
    return report.total


W43, W44, W45 = dt.date(2026, 10, 19), dt.date(2026, 10, 26), dt.date(2026, 11, 2)


def _check(f: Figures, calls, outbound, reached, mix, timed, average, new, consults, median, overdue):
    assert (f.calls, f.outbound_calls, f.reached_outbound_calls) == (calls, outbound, reached)
    assert f.outcomes == mix
    assert (f.timed_calls, f.average_call_minutes) == (timed, average)
    assert (f.new_patients, f.consults, f.median_days_to_consult, f.overdue_follow_ups) == (
        new,
        consults,
        median,
        overdue,
    )


@BOTH
def test_every_figure_of_the_known_data_set(world):
    report = navigation_report(period=w.PERIOD)
    a, b = world.a, world.b
    assert [week.label for week in report.weeks] == ["2026-W43", "2026-W44", "2026-W45"]
    assert [n.pk for n in report.navigators] == [a.pk, b.pk]

    # Per week and navigator. c2 (Sunday 23:30 EDT) is in W43 and c4 (Sunday 23:30 EST, after the DST change)
    # in W44, though both are Monday in UTC; c8 (the evening before the period) and c10 (after it) are out;
    # the voided c5 is left out everywhere.
    _check(figures(report, W43, a), 2, 2, 1, outcomes(reached=1, voicemail=1), 2, 6.0, 1, 1, 20.0, 0)
    _check(figures(report, W44, a), 2, 1, 0, outcomes(reached=1, no_answer=1), 1, 20.0, 1, 2, 7.0, 2)
    _check(figures(report, W45, a), 1, 1, 1, outcomes(reached=1), 1, 8.0, 0, 0, None, 1)
    _check(figures(report, W43, b), 0, 0, 0, outcomes(), 0, None, 0, 0, None, 0)
    _check(figures(report, W45, b), 2, 2, 1, outcomes(reached=1, wrong_number=1), 2, 5.0, 1, 1, 3.0, 1)
    assert figures(report, W44, a).reach_rate == 0.0
    assert figures(report, W45, b).reach_rate == 0.5

    # Per week, every navigator (pu, who has no navigator, counts here: a new patient and a consult in W45).
    _check(figures(report, W43), 2, 2, 1, outcomes(reached=1, voicemail=1), 2, 6.0, 1, 1, 20.0, 0)
    _check(figures(report, W44), 2, 1, 0, outcomes(reached=1, no_answer=1), 1, 20.0, 1, 2, 7.0, 2)
    _check(figures(report, W45), 3, 3, 2, outcomes(reached=2, wrong_number=1), 3, 6.0, 2, 2, 19.0, 2)
    assert figures(report, W45).reach_rate == 0.6667

    # Per navigator over the period (overdue: at the last week's end) and the total.
    _check(figures(report, navigator=a), 5, 4, 2, outcomes(reached=3, voicemail=1, no_answer=1), 4, 10.0, 2, 3, 10.0, 1)
    _check(figures(report, navigator=b), 2, 2, 1, outcomes(reached=1, wrong_number=1), 2, 5.0, 1, 1, 3.0, 1)
    mix = outcomes(reached=4, voicemail=1, no_answer=1, wrong_number=1)
    _check(report.total, 7, 6, 3, mix, 6, 8.33, 4, 5, 10.0, 2)
    assert report.total.reach_rate == 0.5

    # The cohorts: L1 (pa1: CT opened after the lead, enrolled), L2 (pb1: its CT journey predates the lead,
    # the later one is deleted), L3 (open), L5 (pa2: CT withdrawn after enrolling); L4 came the evening before.
    assert report.leads.as_dict() == {
        "created": 4,
        "converted": 3,
        "ct_referred": 2,
        "ct_enrolled": 2,
        "conversion_rate": 0.75,
        "ct_referral_rate": 0.5,
        "ct_enrollment_rate": 0.5,
    }
    assert report.eap.as_dict() == {
        "opened": 4,
        "submitted": 3,
        "approved": 2,
        "submission_rate": 0.75,
        "approval_rate": 0.5,
    }


@BOTH
def test_a_navigator_report_holds_only_their_figures_and_cohorts(world):
    a_report = navigation_report(period=w.PERIOD, navigator=world.a)
    assert [n.pk for n in a_report.navigators] == [world.a.pk]
    mix = outcomes(reached=3, voicemail=1, no_answer=1)
    _check(a_report.total, 5, 4, 2, mix, 4, 10.0, 2, 3, 10.0, 1)
    _check(figures(a_report, W45), 1, 1, 1, outcomes(reached=1), 1, 8.0, 0, 0, None, 1)
    assert (a_report.leads.created, a_report.leads.converted, a_report.leads.ct_referred) == (2, 2, 2)
    assert (a_report.eap.opened, a_report.eap.submitted, a_report.eap.approved) == (2, 1, 1)

    b_report = navigation_report(period=w.PERIOD, navigator=world.b)
    assert [n.pk for n in b_report.navigators] == [world.b.pk]
    assert (b_report.total.calls, b_report.total.new_patients, b_report.total.overdue_follow_ups) == (2, 1, 1)
    assert (b_report.leads.created, b_report.leads.converted, b_report.leads.ct_referred) == (1, 1, 0)
    assert (b_report.eap.opened, b_report.eap.submitted, b_report.eap.approved) == (2, 2, 1)


def test_in_utc_the_same_calls_fall_in_other_weeks(world, settings):
    """The week is the local one: read in UTC, c2 and c4 move to the next week (a control on the test above)."""
    settings.TIME_ZONE = "UTC"
    report = navigation_report(period=w.PERIOD)
    # W43: c1 and c8 (c2 moves to W44); W44: c2, c3 (c4 moves to W45); W45: c4, c6, c7, c9.
    assert [report.by_week[m].calls for m in (W43, W44, W45)] == [2, 2, 4]
    assert report.cell(report.weeks[0], world.a).outcomes["voicemail"] == 0
    assert report.cell(report.weeks[2], world.a).outcomes["no_answer"] == 1


@BOTH
def test_the_overdue_count_agrees_with_replaying_each_patient(world):
    """Counted the slow way (each patient's latest non-void call before each week end) on the data set plus
    patients with many calls, the two queries give the same figures."""
    import zoneinfo

    from django.conf import settings

    for i in range(6):
        patient = PatientFactory(navigator=world.b if i % 2 else world.a)
        for day in range(0, 30, 3 + i):  # 12 October to 11 November, across week ends and the DST change
            CallHistoryFactory(
                patient=patient,
                call_date=w.utc(2026, 10, 12, 2) + dt.timedelta(days=day, hours=5 * i),
                reminder_date=dt.date(2026, 10, 15) + dt.timedelta(days=(day * 7 + i) % 25) if (day + i) % 4 else None,
            )
    # Called before the period and after it, never in it: overdue at every week end of the period.
    away = PatientFactory(navigator=world.b)
    CallHistoryFactory(patient=away, call_date=w.utc(2026, 10, 1, 15), reminder_date=dt.date(2026, 10, 20))
    CallHistoryFactory(patient=away, call_date=w.utc(2026, 11, 20, 15), reminder_date=None)
    report = navigation_report(period=w.PERIOD)
    tz = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    for week in report.weeks:
        end = dt.datetime.combine(week.last_day + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
        expected: dict = {}
        for patient in Patient.objects.filter(status="active", navigator__isnull=False):
            before = CallHistory.objects.filter(patient=patient, call_date__lt=end)
            call = before.order_by("-call_date", "-created_at").first()
            if call and call.reminder_date and call.reminder_date <= week.last_day:
                expected[patient.navigator_id] = expected.get(patient.navigator_id, 0) + 1
        found = {n.pk: report.cell(week, n).overdue_follow_ups for n in report.navigators}
        assert {k: v for k, v in found.items() if v} == expected, week.label


@BOTH
def test_the_report_takes_the_same_queries_for_a_few_rows_as_for_many(world, source, django_assert_num_queries):
    with django_assert_num_queries(QUERIES[source]):
        navigation_report(period=w.PERIOD)
    for _ in range(5):
        navigator = NavigatorFactory()
        patient = PatientFactory(navigator=navigator)
        for day in range(4):
            CallHistoryFactory(
                patient=patient,
                call_date=w.utc(2026, 10, 20, 15) + dt.timedelta(days=4 * day),
                reminder_date=dt.date(2026, 10, 21),
            )
    with django_assert_num_queries(QUERIES[source]):
        report = navigation_report(period=w.PERIOD)
    assert len(report.navigators) == 7
    with django_assert_num_queries(QUERIES[source]):
        navigation_report(period=ReportPeriod(dt.date(2025, 1, 1), dt.date(2026, 12, 31)), navigator=world.a)


def test_the_default_period_is_the_last_twelve_full_weeks():
    period = ReportPeriod.last_full_weeks(today=dt.date(2026, 11, 30))  # a Monday
    assert (period.first_day, period.last_day) == (dt.date(2026, 9, 7), dt.date(2026, 11, 29))
    assert len(period.weeks) == 12
    assert ReportPeriod.last_full_weeks(today=dt.date(2026, 12, 6)) == period  # the Sunday after


# --- API --------------------------------------------------------------------------------------------------


def _navigator_login(person, username="nav_self"):
    user = make_user(username, roles.PATIENT_NAVIGATORS)
    type(person).objects.filter(pk=person.pk).update(user=user)
    return user


def test_the_api_answers_the_report_for_a_supervisor(world):
    response = client_for(make_user("sup", roles.CRM_SUPERVISORS)).get(URL, {"from": "2026-10-19", "to": "2026-11-08"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["from"], body["to"], body["time_zone"], body["navigator"]) == (
        "2026-10-19",
        "2026-11-08",
        w.TIME_ZONE,
        None,
    )
    assert [(x["week"], x["calls"], x["overdue_follow_ups"]) for x in body["weeks"]] == [
        ("2026-W43", 2, 0),
        ("2026-W44", 2, 2),
        ("2026-W45", 3, 2),
    ]
    assert [(n["last_name"], n["calls"], n["median_days_to_consult"]) for n in body["navigators"]] == [
        ("Alvarez", 5, 10.0),
        ("Brooks", 2, 3.0),
    ]
    assert [x["calls"] for x in body["navigators"][0]["weeks"]] == [2, 2, 1]
    assert body["total"]["reach_rate"] == 0.5 and body["total"]["average_call_minutes"] == 8.33
    assert body["total"]["outcomes"]["reached"] == 4
    assert body["pipeline"]["leads"]["ct_enrolled"] == 2 and body["pipeline"]["eap_journeys"]["approved"] == 2

    one = client_for(make_user("sup2", roles.CRM_SUPERVISORS)).get(
        URL, {"from": "2026-10-19", "to": "2026-11-08", "navigator": str(world.b.pk)}
    )
    assert one.status_code == 200
    assert [n["last_name"] for n in one.json()["navigators"]] == ["Brooks"]
    assert one.json()["navigator"] == str(world.b.pk)


def test_a_navigator_gets_their_own_report_and_no_one_elses(world):
    client = client_for(_navigator_login(world.a))
    params = {"from": "2026-10-19", "to": "2026-11-08"}
    mine = client.get(URL, params)
    assert mine.status_code == 200
    assert [n["last_name"] for n in mine.json()["navigators"]] == ["Alvarez"]
    assert mine.json()["total"]["calls"] == 5 and mine.json()["navigator"] == str(world.a.pk)
    assert client.get(URL, {**params, "navigator": str(world.a.pk)}).status_code == 200
    assert_error(client.get(URL, {**params, "navigator": str(world.b.pk)}), 403, "permission_denied")
    # A navigator login not linked to a navigator's Person has no figures of its own.
    assert_error(client_for(make_user("nav_unlinked", roles.PATIENT_NAVIGATORS)).get(URL), 403, "permission_denied")


def test_a_superuser_reads_every_navigator_with_or_without_the_trailing_slash(world):
    client = client_for(make_user("root", superuser=True))
    for url in (URL, URL.rstrip("/")):
        response = client.get(url, {"from": "2026-10-19", "to": "2026-11-08"})
        assert response.status_code == 200, url
        assert [n["last_name"] for n in response.json()["navigators"]] == ["Alvarez", "Brooks"]


def test_the_admin_page_takes_the_same_queries_for_two_navigators_as_for_seven(world):
    client = _page_client(make_user("sup", roles.CRM_SUPERVISORS))
    params = {"from": "2026-10-19", "to": "2026-11-08"}
    assert client.get(PAGE, params).status_code == 200  # warm: the session, the content types
    with CaptureQueriesContext(connection) as few:
        assert len(client.get(PAGE, params).context["navigator_rows"]) == 2
    for _ in range(5):
        CallHistoryFactory(patient=PatientFactory(navigator=NavigatorFactory()), call_date=w.utc(2026, 10, 28, 15))
    with CaptureQueriesContext(connection) as many:
        response = client.get(PAGE, params)
    assert len(response.context["navigator_rows"]) == 7
    assert response.content.decode().count("<option value=") == 8  # every navigator, and "Every navigator"
    assert len(many.captured_queries) == len(few.captured_queries)


def test_the_admin_navigator_choice_accepts_any_spelling_of_the_id_and_shows_it_chosen(world):
    client = _page_client(make_user("sup", roles.CRM_SUPERVISORS))
    params = {"from": "2026-10-19", "to": "2026-11-08", "navigator": world.b.pk.hex.upper()}
    response = client.get(PAGE, params)
    assert response.status_code == 200
    assert [n.last_name for n, _ in response.context["navigator_rows"]] == ["Brooks"]
    html = response.content.decode()
    assert f'<option value="{world.b.pk}" selected>Ben Brooks</option>' in html
    assert '<option value="">Every navigator</option>' in html


@pytest.mark.parametrize("role", [roles.CPSS, roles.CM_SUPERVISORS])
def test_cm_staff_may_not_read_the_navigation_report(db, role):
    assert_error(client_for(make_user("cm", role)).get(URL), 403, "permission_denied")


def test_anonymous_requests_are_unauthorised(db):
    assert client_for().get(URL).status_code == 401


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-02-30"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "2026-11-09", "to": "2026-11-08"}, "from"),
        ({"from": "2024-01-01", "to": "2026-01-01"}, "to"),
        ({"navigator": "not-an-id"}, "navigator"),
        ({"navigator": "7d0a3f8e-8a43-4bb0-9d52-1f4a4d0f6b11"}, "navigator"),
    ],
)
def test_bad_parameters_are_refused_naming_the_parameter(db, params, field):
    response = client_for(make_user("sup", roles.CRM_SUPERVISORS)).get(URL, params)
    assert_error(response, 400, "invalid", fields=(field,))


def test_a_person_who_is_not_a_navigator_is_refused_as_navigator(db):
    person = PersonFactory()
    response = client_for(make_user("sup", roles.CRM_SUPERVISORS)).get(URL, {"navigator": str(person.pk)})
    assert_error(response, 400, "invalid", fields=("navigator",))


def test_the_api_takes_the_same_queries_for_one_navigator_as_for_many(world, django_assert_max_num_queries):
    client = client_for(make_user("sup", roles.CRM_SUPERVISORS))
    params = {"from": "2026-10-19", "to": "2026-11-08"}
    client.get(URL, params)  # warm the user's groups, sessions...
    with CaptureQueriesContext(connection) as few:
        assert client.get(URL, params).status_code == 200
    for _ in range(4):
        CallHistoryFactory(patient=PatientFactory(), call_date=w.utc(2026, 10, 28, 15))
    with CaptureQueriesContext(connection) as many:
        body = client.get(URL, params).json()
    assert len(body["navigators"]) == 6
    assert len(many.captured_queries) == len(few.captured_queries)


# --- Admin page -------------------------------------------------------------------------------------------


def _page_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_admin_page_shows_the_charts_and_tables_for_a_supervisor(world):
    client = _page_client(make_user("sup", roles.CRM_SUPERVISORS))
    response = client.get(PAGE, {"from": "2026-10-19", "to": "2026-11-08"})
    assert response.status_code == 200
    html = response.content.decode()
    for chart in ("chart-calls", "chart-lead-funnel", "chart-eap-funnel", "chart-outcomes"):
        assert f'id="{chart}"><svg' in html
    assert "Calls per week per navigator" in html and "Ana Alvarez" in html and "Ben Brooks" in html
    assert 'name="navigator"' in html  # supervisors choose a navigator
    weeks = response.context["week_rows"]
    assert [(week.label, cells[0], cells[2], cells[7]) for week, cells in weeks] == [
        ("2026-W43", 2, "50.0 %", 0),
        ("2026-W44", 2, "0.0 %", 2),
        ("2026-W45", 3, "66.7 %", 2),
    ]
    assert response.context["total_cells"] == [7, 6, "50.0 %", "8.33", 4, 5, "10", 2]
    assert response.context["lead_rows"][1] == ("Converted to a patient", 3, "75.0 %")
    assert 'style="' not in html.split('id="chart-calls"')[1].split("</figure>")[0]  # the CSP holds

    only_b = client.get(PAGE, {"from": "2026-10-19", "to": "2026-11-08", "navigator": str(world.b.pk)})
    assert [n.last_name for n, _ in only_b.context["navigator_rows"]] == ["Brooks"]


def test_the_admin_page_of_a_navigator_is_their_own(world):
    client = _page_client(_navigator_login(world.a))
    response = client.get(PAGE, {"from": "2026-10-19", "to": "2026-11-08", "navigator": str(world.b.pk)})
    assert response.status_code == 200
    assert [n.last_name for n, _ in response.context["navigator_rows"]] == ["Alvarez"]
    assert 'name="navigator"' not in response.content.decode()
    assert response.context["total_cells"][0] == 5


def test_the_admin_page_opens_on_the_last_twelve_weeks(world):
    response = _page_client(make_user("sup", roles.CRM_SUPERVISORS)).get(PAGE)
    assert response.status_code == 200
    assert len(response.context["report"].weeks) == 12


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"from": "2026-13-01"}, "from", "Enter a valid date."),
        ({"from": "2026-11-09", "to": "2026-11-08"}, "from", "`from` must be on or before `to`."),
        ({"from": "2020-01-01", "to": "2026-01-01"}, "to", "The period spans more than 731 days"),
        ({"navigator": "not-a-uuid"}, "navigator", "Select a valid choice."),
        ({"navigator": "00000000-0000-4000-8000-000000000000"}, "navigator", "Select a valid choice."),
    ],
)
def test_the_admin_form_says_which_field_is_wrong_and_why(db, params, field, message):
    response = _page_client(make_user("sup", roles.CRM_SUPERVISORS)).get(PAGE, params)
    assert response.status_code == 200
    assert response.context["report"] is None
    assert any(message in error for error in response.context["form"].errors[field])


@pytest.mark.parametrize("role", [roles.CPSS, roles.CM_SUPERVISORS])
def test_cm_staff_may_not_open_the_admin_page(db, role):
    assert _page_client(make_user("cm", role)).get(PAGE).status_code == 403


def test_the_admin_index_links_to_the_report_for_those_who_may_open_it(db):
    for user, shown in (
        (make_user("sup", roles.CRM_SUPERVISORS), True),
        (make_user("nav", roles.PATIENT_NAVIGATORS), True),
        (make_user("root", superuser=True), True),
        (make_user("cmsup", roles.CM_SUPERVISORS), False),
        (make_user("cpss", roles.CPSS), False),
    ):
        html = _page_client(user).get(reverse("admin:index")).content.decode()
        assert (f'href="{PAGE}"' in html) is shown, user.username
