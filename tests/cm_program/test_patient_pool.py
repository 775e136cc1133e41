"""The patient pool for billing (issue 14, point 4): period boundaries, counts, roles, 400s, query
counts, the streamed CSV and the PHI access log, through the selector, the API and the admin."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cm_program import billing, services
from cm_program.models import CMEnrollment, CMPointsTransaction
from common.models import PHIAccess
from common.phi_access import PATIENT_POOL_EXPORT
from tests.cm_program.api_support import API, error, token_client

URL = f"{API}/reports/patient-pool/"
ADMIN_CSV = "admin:cm_program_cmenrollment_patient_pool_csv"


def enroll(program, cpss, last_name: str, *, days_ago: int, **profile) -> CMEnrollment:
    enrollment = services.cm_patient_enroll_new(
        first_name="Pat",
        last_name=last_name,
        date_of_birth="1990-01-01",
        program=program,
        cpss_provider=cpss,
        **profile,
    ).enrollment
    CMEnrollment.objects.filter(pk=enrollment.pk).update(enrollment_date=timezone.now() - dt.timedelta(days=days_ago))
    enrollment.refresh_from_db()
    return enrollment


def days(first: int, last: int) -> billing.BillingPeriod:
    """The local days ``first`` and ``last`` days from today (negative: in the past)."""
    today = timezone.localdate()
    return billing.BillingPeriod(today + dt.timedelta(days=first), today + dt.timedelta(days=last))


def query(period: billing.BillingPeriod, **more) -> dict:
    return {"from": period.first_day.isoformat(), "to": period.last_day.isoformat(), **more}


@pytest.fixture
def pool(db, program, cpss):
    """Active (enrolled 100 days ago), withdrawn today after 200 days, enrolled in 10 days' time."""
    active = enroll(program, cpss, "Active", days_ago=100, medicaid_id="UT123", insurance_primary="Utah Medicaid")
    withdrawn = enroll(program, cpss, "Withdrawn", days_ago=200)
    services.cm_enrollment_set_status(enrollment=withdrawn, status="withdrawn", reason="moved away")
    future = enroll(program, cpss, "Future", days_ago=-10)
    return active, withdrawn, future


def ids(rows) -> set:
    return {row["enrollment_id"] for row in rows}


@pytest.mark.django_db
def test_period_boundaries(pool):
    active, withdrawn, future = pool
    # Enrolled before the period and withdrawn during it: in; enrolled after its last day: out.
    assert ids(billing.iter_patient_pool(period=days(-30, 0))) == {active.pk, withdrawn.pk}
    # Ended before the period began: out; enrolled during it: in.
    assert ids(billing.iter_patient_pool(period=days(1, 30))) == {active.pk, future.pk}
    # The period's last day is included (enrolled "today + 10" falls in [+10, +10]).
    assert ids(billing.iter_patient_pool(period=days(10, 10))) == {active.pk, future.pk}
    # Before anyone enrolled.
    assert ids(billing.iter_patient_pool(period=days(-400, -300))) == set()
    row = next(r for r in billing.iter_patient_pool(period=days(-30, 0)) if r["enrollment_id"] == withdrawn.pk)
    assert row["status"] == "withdrawn" and row["ended_at"] is not None


@pytest.mark.django_db
def test_counts_of_peer_support_and_group_attendance(pool):
    active = pool[0]
    yesterday = timezone.now() - dt.timedelta(days=1)
    for event_type in ("peer_support", "peer_support", "group_attendance", "weekly_checkin"):
        services.cm_event_record(enrollment=active, event_type=event_type, occurred_at=yesterday)
    mistaken = services.cm_event_record(enrollment=active, event_type="peer_support", occurred_at=yesterday)
    services.cm_points_reverse(points_transaction=mistaken, reason="typed twice")
    services.cm_event_record(
        enrollment=active, event_type="group_attendance", occurred_at=timezone.now() - dt.timedelta(days=40)
    )
    rows = {r["enrollment_id"]: r for r in billing.iter_patient_pool(period=days(-30, 0))}
    row = rows[active.pk]
    assert (row["peer_support_events"], row["group_attendance_events"]) == (2, 1)
    assert (row["medicaid_id"], row["insurance_primary"], row["last_name"]) == ("UT123", "Utah Medicaid", "Active")
    assert row["date_of_birth"] == dt.date(1990, 1, 1)
    assert (rows[pool[1].pk]["peer_support_events"], rows[pool[1].pk]["group_attendance_events"]) == (0, 0)
    assert CMPointsTransaction.objects.filter(enrollment=active, event_type="peer_support").count() == 3


@pytest.mark.django_db
def test_keyset_batches_walk_every_row(pool):
    assert ids(billing.iter_patient_pool(period=days(-300, 300), batch_rows=1)) == {r.pk for r in pool}


@pytest.mark.django_db
def test_api_json_page_and_access_log(pool, cm_supervisor_user, program):
    response = token_client(cm_supervisor_user).get(URL, query(days(-30, 0), program=str(program.pk)))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 2 and body["count_is"] == "exact"
    assert {r["last_name"] for r in body["results"]} == {"Active", "Withdrawn"}
    assert set(body["results"][0]) == set(billing.POOL_FIELDS)
    entry = PHIAccess.objects.get(resource_type=PATIENT_POOL_EXPORT)
    assert (entry.user, entry.access_type, entry.record_count, entry.channel) == (
        cm_supervisor_user,
        "export",
        2,
        "api",
    )


@pytest.mark.django_db
@pytest.mark.parametrize("how", ["format", "accept"])
def test_api_streams_csv(pool, superuser, how):
    client = token_client(superuser)
    params = query(days(-30, 0))
    if how == "format":
        response = client.get(URL, {**params, "format": "csv"})
    else:
        response = client.get(URL, params, HTTP_ACCEPT="text/csv")
    assert response.status_code == 200
    assert response.streaming and response["Content-Type"] == "text/csv; charset=utf-8"
    assert "patient-pool-" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == list(billing.POOL_FIELDS)
    assert sorted(r[3] for r in rows[1:]) == ["Active", "Withdrawn"]
    assert PHIAccess.objects.get(resource_type=PATIENT_POOL_EXPORT).record_count == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"to": "2026-01-31"}, "from"),
        ({"from": "2026-01-01"}, "to"),
        ({"from": "2026-01-01", "to": "31/01/2026"}, "to"),
        ({"from": "2026-02-30", "to": "2026-03-01"}, "from"),
        ({"from": "2026-02-01", "to": "2026-01-31"}, "from"),
        ({"from": "2026-01-01", "to": "2026-01-31", "program": "nope"}, "program"),
        ({"from": "2026-01-01", "to": "2026-01-31", "program": "00000000-0000-0000-0000-000000000000"}, "program"),
    ],
)
@pytest.mark.parametrize("csv_format", [False, True])
def test_api_400_names_the_parameter(cm_supervisor_user, params, field, csv_format):
    if csv_format:
        params = {**params, "format": "csv"}
    response = token_client(cm_supervisor_user).get(URL, params)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert field in str(error(response))
    assert not PHIAccess.objects.filter(resource_type=PATIENT_POOL_EXPORT).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "code"),
    [("superuser", 200), ("cm_supervisor_user", 200), ("cpss_user", 403), ("navigator_user", 403)]
    + [("crm_supervisor_user", 403), (None, 401)],
)
def test_api_roles(request, role, code):
    user = request.getfixturevalue(role) if role else None
    response = token_client(user).get(URL, {"from": "2026-01-01", "to": "2026-01-31"})
    assert response.status_code == code
    assert PHIAccess.objects.filter(resource_type=PATIENT_POOL_EXPORT).exists() == (code == 200)


def count_queries(client, url, params) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params)
        if response.streaming:
            b"".join(response.streaming_content)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.django_db
@pytest.mark.parametrize("csv_format", [False, True])
def test_query_count_constant_in_rows(cm_supervisor_user, program, cpss, csv_format):
    client = token_client(cm_supervisor_user)
    params = query(days(-30, 0), **({"format": "csv"} if csv_format else {}))
    enroll(program, cpss, "One", days_ago=5)
    one = count_queries(client, URL, params)
    for n in range(12):
        enrollment = enroll(program, cpss, f"Many{n}", days_ago=5)
        services.cm_event_record(enrollment=enrollment, event_type="peer_support")
    assert count_queries(client, URL, params) == one


@pytest.mark.django_db
def test_admin_csv_for_supervisors(client, pool, cm_supervisor_user, cpss_user):
    url = reverse(ADMIN_CSV)
    client.force_login(cm_supervisor_user)
    form = client.get(url)
    assert form.status_code == 200 and b'name="from"' in form.content
    bad = client.get(url, {"from": "2026-02-01", "to": "2026-01-01"})
    assert bad.status_code == 400 and b"must be on or before" in bad.content
    assert not PHIAccess.objects.filter(resource_type=PATIENT_POOL_EXPORT).exists()
    response = client.get(url, query(days(-30, 0)))
    assert response.status_code == 200 and response.streaming
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 3
    entry = PHIAccess.objects.get(resource_type=PATIENT_POOL_EXPORT)
    assert (entry.channel, entry.record_count) == ("admin", 2)
    changelist = client.get(reverse("admin:cm_program_cmenrollment_changelist"))
    assert url.encode() in changelist.content
    client.force_login(cpss_user)
    assert client.get(url, query(days(-30, 0))).status_code == 403
    assert url.encode() not in client.get(reverse("admin:cm_program_cmenrollment_changelist")).content


@pytest.mark.django_db
def test_api_pages_follow_the_cursor(pool, cm_supervisor_user):
    client = token_client(cm_supervisor_user)
    first = client.get(URL, {**query(days(-30, 0)), "page_size": 1}).json()
    assert len(first["results"]) == 1 and first["next"] and "cursor=" in first["next"]
    second = client.get(first["next"]).json()
    assert len(second["results"]) == 1 and second["next"] is None
    assert {first["results"][0]["last_name"], second["results"][0]["last_name"]} == {"Active", "Withdrawn"}
    assert PHIAccess.objects.filter(resource_type=PATIENT_POOL_EXPORT).count() == 2  # one per answer


@pytest.mark.django_db
def test_count_is_the_number_of_rows(pool, program, cpss, monkeypatch):
    """``patient_pool_count`` reads the status history as two hashed sets, the rows by one probe per ended
    enrollment: they agree whichever way an enrollment ended (see ``billing._ended_since``)."""
    now = timezone.now()
    # Withdrawn 60 days ago, active again, withdrawn again today: the latest change into its status counts.
    twice = enroll(program, cpss, "Twice", days_ago=300)
    with monkeypatch.context() as patch:
        patch.setattr(timezone, "now", lambda: now - dt.timedelta(days=60))
        services.cm_enrollment_set_status(enrollment=twice, status="withdrawn", reason="left")
        services.cm_enrollment_set_status(enrollment=twice, status="active", reason="back")
    services.cm_enrollment_set_status(enrollment=twice, status="withdrawn", reason="left again")
    # Withdrawn 60 days ago only.
    early = enroll(program, cpss, "Early", days_ago=300)
    with monkeypatch.context() as patch:
        patch.setattr(timezone, "now", lambda: now - dt.timedelta(days=60))
        services.cm_enrollment_set_status(enrollment=early, status="withdrawn", reason="left")
    # Graduated without a row of history (a bulk update): its updated_at decides, today or 60 days ago.
    silent = enroll(program, cpss, "Silent", days_ago=300)
    old_silent = enroll(program, cpss, "OldSilent", days_ago=300)
    CMEnrollment.objects.filter(pk=silent.pk).update(status="graduated", updated_at=now)
    CMEnrollment.objects.filter(pk=old_silent.pk).update(status="graduated", updated_at=now - dt.timedelta(days=60))
    expected = {
        (-30, 0): {pool[0].pk, pool[1].pk, twice.pk, silent.pk},
        (-90, -50): {pool[0].pk, pool[1].pk, twice.pk, early.pk, silent.pk, old_silent.pk},
        (1, 30): {pool[0].pk, pool[2].pk},
    }
    for (first, last), rows in expected.items():
        period = days(first, last)
        assert ids(billing.iter_patient_pool(period=period)) == rows, (first, last)
        assert billing.patient_pool_count(period=period) == len(rows), (first, last)
        assert billing.patient_pool_count(period=period, program=program) == len(rows)
