"""The CM program report (issue 14, point 3): every figure of a small known data set against values
computed by hand, week boundaries in the time zone, constant queries, roles and scope, the API's 400s and
the admin page.

The data set (times in America/Denver, MST = UTC-7; the period is ISO weeks 2026-W02 and W03, Mon 5 Jan to
Sun 18 Jan; the report is asked "as of" Tue 10 Mar 2026 12:00). CPSS Ann holds E1, E2, E4; Bob E3, E5, E6.

    E4  enrolled  1 Dec 2025 (before the period)   negative 4 Jan 23:30 (W01 here; in UTC W02), negative 14 Jan
    E6  enrolled 10 Dec 2025, paused 10 Jan        (stays paused)
    E1  enrolled  5 Jan 09:00   negative 5 Jan, negative 11 Jan 23:30 (W02 here; in UTC W03), missed 12 Jan,
                                negative 18 Jan 12:00, group 18 Jan 23:00 (in the period here; in UTC after it);
                                paused 20 Jan, active again 27 Jan
    E2  enrolled  6 Jan 10:00   positive 7 Jan, negative 8 Jan (reversed 13 Jan); paused 30 Jan, active 20 Feb
    E3  enrolled 12 Jan 08:00   negative and group 13 Jan; withdrawn 14 Jan
    E4                          peer support and check-in 15 Jan
    E5  enrolled 16 Jan 09:00   graduated 17 Jan

Program schedule (the factory's): enrollment bonus 25, negative 50 + 10 per streak, group 25, check-in 10,
peer support 20.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cm_program import report_rollup, reports, services
from cm_program.models import CMPointsTransaction, EnrollmentStatusChange, PointsEvent
from tests.cm_program.api_support import error, token_client

DENVER = ZoneInfo("America/Denver")
URL = "/api/v1/reports/cm/"
ADMIN_URL = "/admin/reports/cm/"
PERIOD = reports.ReportPeriod(dt.date(2026, 1, 5), dt.date(2026, 1, 18))
AS_OF = dt.datetime(2026, 3, 10, 12, 0, tzinfo=DENVER)


def local(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=DENVER)


@contextlib.contextmanager
def clock(monkeypatch, when: dt.datetime):
    """The services' "now" (status changes, reversals) at ``when``."""
    with monkeypatch.context() as patch:
        patch.setattr(timezone, "now", lambda: when.astimezone(dt.UTC))
        yield


@pytest.fixture
def denver(settings):
    settings.TIME_ZONE = "America/Denver"


@pytest.fixture
def data(db, denver, monkeypatch, program, make_cpss):
    report_rollup.rebuild_cm_report_rollups("America/Denver")  # the rollup's weeks in the report's zone
    ann = make_cpss("cpss_ann", first_name="Ann", last_name="Peer", max_caseload=10)
    bob = make_cpss("cpss_bob", first_name="Bob", last_name="Quill", max_caseload=4)
    e: dict[str, object] = {}
    entries: dict[str, CMPointsTransaction] = {}

    def enroll(name, cpss, when):
        with clock(monkeypatch, when):
            e[name] = services.cm_patient_enroll_new(
                first_name="Pat",
                last_name=name,
                date_of_birth="1990-01-01",
                program=program,
                cpss_provider=cpss,
                enrollment_date=when,
            ).enrollment

    def event(name, event_type, when):
        with clock(monkeypatch, when):
            entries[f"{name} {event_type} {when:%d %H:%M}"] = services.cm_event_record(
                enrollment=e[name], event_type=event_type, occurred_at=when
            )

    def status(name, value, when):
        with clock(monkeypatch, when):
            services.cm_enrollment_set_status(enrollment=e[name], status=value, reason=f"{value} in the test")

    enroll("E4", ann, local(12, 1, 9, year=2025))
    enroll("E6", bob, local(12, 10, 9, year=2025))
    event("E4", PointsEvent.TEST_NEGATIVE, local(1, 4, 23, 30))
    enroll("E1", ann, local(1, 5, 9))
    event("E1", PointsEvent.TEST_NEGATIVE, local(1, 5, 12))
    enroll("E2", ann, local(1, 6, 10))
    event("E2", PointsEvent.TEST_POSITIVE, local(1, 7, 10))
    event("E2", PointsEvent.TEST_NEGATIVE, local(1, 8, 10))
    status("E6", "paused", local(1, 10, 9))
    event("E1", PointsEvent.TEST_NEGATIVE, local(1, 11, 23, 30))
    event("E1", PointsEvent.TEST_MISSED, local(1, 12, 0, 30))
    enroll("E3", bob, local(1, 12, 8))
    event("E3", PointsEvent.TEST_NEGATIVE, local(1, 13, 9))
    event("E3", PointsEvent.GROUP_ATTENDANCE, local(1, 13, 9))
    with clock(monkeypatch, local(1, 13, 10)):
        services.cm_points_reverse(points_transaction=entries["E2 test_negative 08 10:00"], reason="lab error")
    event("E4", PointsEvent.TEST_NEGATIVE, local(1, 14, 9))
    status("E3", "withdrawn", local(1, 14, 12))
    event("E4", PointsEvent.PEER_SUPPORT, local(1, 15, 9))
    event("E4", PointsEvent.WEEKLY_CHECKIN, local(1, 15, 9))
    enroll("E5", bob, local(1, 16, 9))
    status("E5", "graduated", local(1, 17, 9))
    event("E1", PointsEvent.TEST_NEGATIVE, local(1, 18, 12))
    event("E1", PointsEvent.GROUP_ATTENDANCE, local(1, 18, 23))
    status("E1", "paused", local(1, 20, 9))
    status("E1", "active", local(1, 27, 9))
    status("E2", "paused", local(1, 30, 10))
    status("E2", "active", local(2, 20, 10))
    return {"ann": ann, "bob": bob, **e}


def report_for(user, **kwargs):
    return reports.cm_program_report(user=user, period=kwargs.pop("period", PERIOD), now=AS_OF, **kwargs)


@pytest.mark.django_db
def test_every_figure_by_hand(data, superuser):
    report = report_for(superuser)
    # At the period's end (Mon 19 Jan 00:00): E1, E2, E4 active; E6 paused; E5 graduated; E3 withdrawn.
    assert {k: v for k, v in report["statuses"].items() if k != "at"} == {
        "active": 3,
        "paused": 1,
        "graduated": 1,
        "withdrawn": 1,
        "total": 6,
    }
    assert report["statuses"]["at"] == PERIOD.end
    # Cohort E1, E2, E3, E5. At 4 weeks: all four eligible (enrolled before 10 Feb 12:00); only E1 active
    # (paused 20 Jan, back 27 Jan, so active on 2 Feb); E2 paused since 30 Jan. At 8 weeks: E5 (16 Jan) not yet
    # eligible on 10 Mar; E1 and E2 (back 20 Feb) active. At 12 weeks: nobody eligible.
    assert report["cohort"] == 4
    assert report["retention"] == [
        {"weeks": 4, "eligible": 4, "retained": 1, "rate": 0.25},
        {"weeks": 8, "eligible": 3, "retained": 2, "rate": 0.6667},
        {"weeks": 12, "eligible": 0, "retained": 0, "rate": None},
    ]
    w02, w03 = report["weeks"]
    assert (w02["week"], w02["start"], w03["week"]) == ("2026-W02", dt.date(2026, 1, 5), "2026-W03")
    # W02: E1 negative (5 Jan), E2 positive, E2 negative (reversed: left out), E1 negative (11 Jan 23:30 local).
    assert (w02["tests"], w02["negative_tests"], w02["positive_tests"], w02["missed_tests"]) == (3, 2, 1, 0)
    assert w02["negative_rate"] == 0.6667
    # W03: E1 missed (counted, not negative), E3 negative, E4 negative, E1 negative.
    assert (w03["tests"], w03["negative_tests"], w03["positive_tests"], w03["missed_tests"]) == (4, 3, 0, 1)
    assert w03["negative_rate"] == 0.75
    assert (w02["group_attendance"], w03["group_attendance"]) == (0, 2)  # E3 13 Jan, E1 18 Jan 23:00 local
    assert (w03["weekly_checkins"], w03["peer_support"]) == (1, 1)
    # Earned W02: bonuses E1 25 + E2 25, negatives E1 50, E2 50 (reversed later, but earned then), E1 60 = 210.
    # W03: bonuses E3 25 + E5 25, negatives E3 50 + E4 60 + E1 50, groups 25 + 25, peer 20, check-in 10 = 290.
    assert (w02["points_earned"], w02["points_reversed"], w02["reversal_entries"]) == (210, 0, 0)
    assert (w03["points_earned"], w03["points_reversed"], w03["reversal_entries"]) == (290, 50, 1)
    assert w02["points_deducted"] == w03["points_deducted"] == 0
    totals = report["totals"]
    assert (totals["tests"], totals["negative_tests"], totals["negative_rate"]) == (7, 5, 0.7143)
    assert (totals["points_earned"], totals["points_reversed"]) == (500, 50)
    # Of the three active at the end, E1 attended a group (E3 did too, but was withdrawn).
    assert report["attendance"] == {
        "group_attendance": 2,
        "active_enrollments": 3,
        "active_attending": 1,
        "rate": 0.3333,
    }
    # Streaks now: E4 two negatives (4 and 14 Jan... then nothing), E1 one (after the missed test); E3 is withdrawn.
    assert [(row["enrollment_id"], row["current_streak"]) for row in report["longest_streaks"]] == [
        (data["E4"].pk, 2),
        (data["E1"].pk, 1),
    ]
    assert report["caseloads"] == [
        {"cpss_id": data["ann"].pk, "cpss": "Ann Peer", "active": 3, "max_caseload": 10, "use": 0.3},
        {"cpss_id": data["bob"].pk, "cpss": "Bob Quill", "active": 0, "max_caseload": 4, "use": 0.0},
    ]


@pytest.mark.django_db
def test_weeks_follow_the_time_zone(data, superuser, settings):
    """The same entries in UTC: the 11 Jan 23:30 negative moves to W03, the 4 Jan 23:30 one into W02, and the
    18 Jan 23:00 group attendance out of the period."""
    settings.TIME_ZONE = "UTC"
    w02, w03 = report_for(superuser)["weeks"]
    assert (w02["tests"], w02["negative_tests"]) == (3, 2)  # E4 4 Jan (05:30 UTC 5 Jan) in, E1 11 Jan out
    assert (w03["tests"], w03["negative_tests"]) == (5, 4)
    assert w03["group_attendance"] == 1


@pytest.mark.django_db
def test_filters_and_cpss_scope(data, superuser):
    ann_only = report_for(superuser, cpss=data["ann"])
    cpss_view = report_for(data["ann"].user)
    for report in (ann_only, cpss_view):
        assert report["statuses"]["total"] == 3 and report["statuses"]["active"] == 3
        assert report["cohort"] == 2
        assert [r["retained"] for r in report["retention"]] == [1, 2, 0]
        assert [w["tests"] for w in report["weeks"]] == [3, 3]
        assert [row["cpss"] for row in report["caseloads"]] == ["Ann Peer"]
    assert cpss_view["scope"] == "caseload"


@pytest.mark.django_db
def test_active_attending_leaves_reversed_attendances_out_for_everyone_and_one_cpss(data, superuser, monkeypatch):
    """E4 (Ann's, active) attends a group on 16 Jan, reversed on 17 Jan: still only E1 counts, whether the report
    reads the period's attendances as one set (every CPSS) or probes each enrollment's (one CPSS)."""
    with clock(monkeypatch, local(1, 16, 10)):
        entry = services.cm_event_record(
            enrollment=data["E4"], event_type=PointsEvent.GROUP_ATTENDANCE, occurred_at=local(1, 16, 10)
        )
    with clock(monkeypatch, local(1, 17, 10)):
        services.cm_points_reverse(points_transaction=entry, reason="not there")
    everyone, ann_only, cpss_view = (
        report_for(superuser),
        report_for(superuser, cpss=data["ann"]),
        report_for(data["ann"].user),
    )
    for report in (everyone, ann_only, cpss_view):
        assert report["attendance"]["active_attending"] == 1
        assert report["attendance"]["group_attendance"] == (2 if report is everyone else 1)
    with clock(monkeypatch, local(1, 16, 11)):
        services.cm_event_record(
            enrollment=data["E4"], event_type=PointsEvent.GROUP_ATTENDANCE, occurred_at=local(1, 16, 11)
        )
    for report in (report_for(superuser), report_for(superuser, cpss=data["ann"]), report_for(data["ann"].user)):
        assert report["attendance"]["active_attending"] == 2


@pytest.mark.django_db
def test_constant_queries(data, superuser, program, make_cpss, monkeypatch):
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            report_for(superuser)
        return len(queries)

    before = count()
    cpss = make_cpss("cpss_more", max_caseload=50)
    for n in range(5):
        with clock(monkeypatch, local(1, 6 + n, 9)):
            enrollment = services.cm_patient_enroll_new(
                first_name="More", last_name=f"M{n}", date_of_birth="1980-01-01", program=program, cpss_provider=cpss
            ).enrollment
            services.cm_event_record(enrollment=enrollment, event_type=PointsEvent.TEST_NEGATIVE)
    assert before == count() == 6  # seven when the period cuts a week (its days are read from the ledger)


@pytest.mark.django_db
def test_status_history_is_written_by_each_service_path(data):
    history = list(
        EnrollmentStatusChange.objects.filter(enrollment=data["E1"]).values_list(
            "from_status", "to_status", "changed_at"
        )
    )
    assert history == [
        (None, "active", local(1, 5, 9)),
        ("active", "paused", local(1, 20, 9)),
        ("paused", "active", local(1, 27, 9)),
    ]
    withdrawn = EnrollmentStatusChange.objects.get(enrollment=data["E3"], to_status="withdrawn")
    assert withdrawn.reason == "withdrawn in the test"


@pytest.mark.django_db
def test_status_history_through_update_and_api(db, program, cpss, cm_supervisor_user):
    enrollment = services.cm_patient_enroll_new(
        first_name="Via", last_name="Update", date_of_birth="1991-01-01", program=program, cpss_provider=cpss
    ).enrollment
    services.cm_enrollment_update(
        enrollment=enrollment, status="paused", status_reason="travel", actor=cm_supervisor_user
    )
    response = token_client(cm_supervisor_user).patch(
        f"/api/v1/cm/enrollments/{enrollment.pk}/", {"status": "active", "status_reason": "back"}, format="json"
    )
    assert response.status_code == 200, response.content
    rows = list(
        EnrollmentStatusChange.objects.filter(enrollment=enrollment).values_list(
            "from_status", "to_status", "changed_by", "reason"
        )
    )
    assert rows[0][:2] == (None, "active")
    assert rows[1:] == [
        ("active", "paused", cm_supervisor_user.pk, "travel"),
        ("paused", "active", cm_supervisor_user.pk, "back"),
    ]
    # Setting the status it already has writes nothing.
    services.cm_enrollment_set_status(enrollment=enrollment, status="active")
    assert EnrollmentStatusChange.objects.filter(enrollment=enrollment).count() == 3


@pytest.mark.django_db
def test_status_history_is_append_only(db, program, cpss):
    from django.db import transaction
    from django.db.utils import IntegrityError, InternalError

    enrollment = services.cm_patient_enroll_new(
        first_name="Append", last_name="Only", date_of_birth="1992-01-01", program=program, cpss_provider=cpss
    ).enrollment
    row = EnrollmentStatusChange.objects.get(enrollment=enrollment)
    with connection.cursor() as cursor:  # the deferred foreign-key checks first: TRUNCATE refuses pending ones
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    for attempt in (
        lambda: EnrollmentStatusChange.objects.filter(pk=row.pk).update(to_status="paused"),
        lambda: EnrollmentStatusChange.objects.filter(pk=row.pk).delete(),
        lambda: connection.cursor().execute("TRUNCATE cm_enrollment_status_changes CASCADE"),
    ):
        with pytest.raises((InternalError, IntegrityError), match="append-only"), transaction.atomic():
            attempt()
    assert EnrollmentStatusChange.objects.get(pk=row.pk).to_status == "active"


@pytest.mark.django_db
def test_backfill_rebuilds_the_history_the_services_wrote(data):
    """The migration's backfill, run on the same enrollments, gives each its first row at its enrollment date
    and every change the audit trail recorded (with the actor and reason of the audit context)."""
    import importlib

    import pgtrigger

    backfill = importlib.import_module("cm_program.migrations.0016_enrollment_status_history").BACKFILL
    written = set(EnrollmentStatusChange.objects.values_list("enrollment", "from_status", "to_status"))
    with pgtrigger.ignore("cm_program.EnrollmentStatusChange:append_only"):
        EnrollmentStatusChange.objects.all().delete()
    with connection.cursor() as cursor:
        cursor.execute(backfill)
    rebuilt = EnrollmentStatusChange.objects.all()
    assert set(rebuilt.values_list("enrollment", "from_status", "to_status")) == written
    assert set(rebuilt.filter(from_status=None).values_list("enrollment", "changed_at")) == {
        (data[name].pk, data[name].enrollment_date) for name in ("E1", "E2", "E3", "E4", "E5", "E6")
    }


# ---------------------------------------------------------------------------------------------------
# API and admin


def api_query(**params) -> dict:
    return {"from": "2026-01-05", "to": "2026-01-18", **params}


@pytest.mark.django_db
def test_api_answers_the_same_numbers(data, cm_supervisor_user):
    response = token_client(cm_supervisor_user).get(URL, api_query(program=str(data["E1"].cm_program_id)))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["statuses"]["total"] == 6 and body["cohort"] == 4
    assert [w["week"] for w in body["weeks"]] == ["2026-W02", "2026-W03"]
    assert body["totals"]["tests"] == 7 and body["totals"]["points_reversed"] == 50
    assert body["program"]["name"] == data["E1"].cm_program.name


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-13-01"}, "from"),
        ({"to": "soon"}, "to"),
        ({"to": "9999-12-31"}, "to"),
        ({"from": "2026-02-01", "to": "2026-01-01"}, "from"),
        ({"from": "2020-01-01", "to": "2026-01-01"}, "to"),
        ({"cpss": "not-an-id"}, "cpss"),
        ({"program": "00000000-0000-0000-0000-000000000000"}, "program"),
    ],
)
def test_api_400_names_the_field(db, cm_supervisor_user, params, field):
    response = token_client(cm_supervisor_user).get(URL, params)
    assert response.status_code == 400
    assert field in str(error(response))


@pytest.mark.django_db
def test_api_roles(data, navigator_user, crm_supervisor_user):
    assert token_client(navigator_user).get(URL).status_code == 403
    assert token_client(crm_supervisor_user).get(URL).status_code == 403
    assert token_client(None).get(URL).status_code == 401
    ann = token_client(data["ann"].user)
    mine = ann.get(URL, api_query(cpss=str(data["ann"].pk)))
    assert mine.status_code == 200 and mine.json()["statuses"]["total"] == 3
    assert ann.get(URL, api_query(cpss=str(data["bob"].pk))).status_code == 404
    assert ann.get(URL, api_query()).json()["statuses"]["total"] == 3
    # Like every path of the API, without its trailing slash too (no redirect).
    assert ann.get(URL.rstrip("/"), api_query()).status_code == 200


@pytest.mark.django_db
def test_admin_page(data, client, cm_supervisor_user, navigator_user):
    client.force_login(cm_supervisor_user)
    response = client.get(ADMIN_URL, api_query())
    assert response.status_code == 200
    page = response.content.decode()
    pictures = page.split('id="report-charts"')[1].split("</div>")[0]
    assert pictures.count("<svg") == 4 and "style=" not in pictures
    assert "2026-W03" in page and 'id="report-retention"' in page and "Bob Quill" in page
    bad = client.get(ADMIN_URL, {"from": "yesterday"})
    assert bad.status_code == 400 and "from: &#x27;yesterday&#x27; is not a date" in bad.content.decode()
    # The default period (no parameters) renders too.
    assert client.get(ADMIN_URL).status_code == 200
    client.force_login(data["ann"].user)
    own = client.get(ADMIN_URL, api_query()).content.decode()
    assert "Your caseload only" in own and "Bob Quill" not in own and 'id="report-cpss"' not in own
    client.force_login(navigator_user)
    assert client.get(ADMIN_URL).status_code == 403


@pytest.mark.django_db
def test_admin_page_many_cpss(data, client, cm_supervisor_user, make_cpss):
    """With more CPSS than the chart draws: the busiest ``CASELOAD_CHART_ROWS`` in the chart (Ann, 3 of 10, first; then
    the ties at 0% by name),
    every CPSS in the table, each name a link to the report for that CPSS, and no list of every CPSS in the form."""
    from cm_program.admin.reports import CASELOAD_CHART_ROWS

    for n in range(CASELOAD_CHART_ROWS + 5):
        make_cpss(first_name="Idle", last_name=f"Zed{n:02d}", max_caseload=5)
    client.force_login(cm_supervisor_user)
    page = client.get(ADMIN_URL, api_query()).content.decode()
    pictures = page.split('id="report-charts"')[1].split("</div>")[0]
    caseload_chart = pictures.split("<svg")[4]
    assert f"the {CASELOAD_CHART_ROWS} busiest of {CASELOAD_CHART_ROWS + 7} CPSS" in caseload_chart
    assert "Bob Quill" in caseload_chart and "Ann Peer" in caseload_chart
    assert caseload_chart.index("Ann Peer") < caseload_chart.index("Bob Quill") < caseload_chart.index("Zed00")
    assert "Zed27" in caseload_chart and "Zed28" not in caseload_chart
    table = page.split('id="report-caseloads"')[1]
    assert table.count("<tr>") == CASELOAD_CHART_ROWS + 7 + 1 and "Zed34" in table
    assert f'cpss={data["bob"].pk}">Bob Quill</a>' in table
    assert "<option" not in page.split('id="report-form"')[1].split('id="report-program"')[0]
    one = client.get(ADMIN_URL, api_query(cpss=str(data["bob"].pk))).content.decode()
    assert "Showing CPSS Bob Quill" in one and f'value="{data["bob"].pk}"' in one
