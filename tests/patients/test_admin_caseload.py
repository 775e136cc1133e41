"""The CRM supervisors' navigator caseload page and its CSV: figures, links, permissions, query count."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from patients import services
from tests.factories.patients import CallHistoryFactory, PatientFactory
from tests.factories.people import NavigatorFactory

pytestmark = pytest.mark.django_db

CASELOAD = "admin:patients_caseload"
CASELOAD_CSV = "admin:patients_caseload_csv"


@pytest.fixture
def sup_client(client, crm_supervisor_user):
    client.force_login(crm_supervisor_user)
    return client


def days_ago(n: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=n)


def caseload_of_becker():
    """Tomás Becker: 2 active patients (one overdue), an inactive and a deleted one; calls 2 days, 20 days
    and 40 days ago, plus a void one."""
    becker = NavigatorFactory(first_name="Tomás", last_name="Becker", email="tomas@crm.test")
    overdue = PatientFactory(navigator=becker)
    CallHistoryFactory(
        patient=overdue, navigator=becker, call_date=days_ago(2), reminder_date=timezone.localdate() - dt.timedelta(1)
    )
    fine = PatientFactory(navigator=becker)
    CallHistoryFactory(patient=fine, navigator=becker, call_date=days_ago(20))
    CallHistoryFactory(patient=fine, navigator=becker, call_date=days_ago(40))
    services.call_void(call=CallHistoryFactory(patient=fine, navigator=becker, call_date=days_ago(1)), reason="dup")
    PatientFactory(navigator=becker, status="inactive")
    services.patient_soft_delete(patient=PatientFactory(navigator=becker), reason="duplicate record")
    return becker


def test_caseload_page_shows_one_row_per_navigator_and_each_figure_opens_its_list(sup_client):
    becker = caseload_of_becker()
    idle = NavigatorFactory(first_name="Amara", last_name="Okafor")
    response = sup_client.get(reverse(CASELOAD))
    assert response.status_code == 200
    rows = {row.navigator.pk: row for row in response.context["rows"]}
    assert set(rows) == {becker.pk, idle.pk}
    row = rows[becker.pk]
    figures = (row.active_patients, row.calls_last_7_days, row.calls_last_30_days, row.overdue_follow_ups)
    assert figures == (2, 1, 2, 1)
    assert (rows[idle.pk].active_patients, rows[idle.pk].load_percent, row.load_percent) == (0, 0, 100)
    body = response.content.decode()
    assert "Tomás Becker" in body and "Amara Okafor" in body and "crm-w-100" in body
    # Each figure links to the list that counts the same rows.
    for url, expected in [
        (row.patients_url, 2),
        (row.calls_7_url, 1),
        (row.calls_30_url, 2),
        (row.overdue_url, 1),
    ]:
        assert url.replace("&", "&amp;") in body
        listed = sup_client.get(url)
        assert listed.status_code == 200, url
        assert listed.context["cl"].result_count == expected, url


def test_a_target_caseload_scales_the_bars(sup_client):
    becker = caseload_of_becker()  # 2 active patients
    response = sup_client.get(reverse(CASELOAD), {"target": "4"})
    [row] = [r for r in response.context["rows"] if r.navigator.pk == becker.pk]
    assert (row.load_percent, response.context["target_percent"]) == (50, 100)
    assert "the line marks the target of 4" in response.content.decode()
    for junk in ("abc", "-3", "0", "99999999"):
        response = sup_client.get(reverse(CASELOAD), {"target": junk})
        assert response.status_code == 200 and response.context["target"] is None


def test_caseload_page_takes_the_same_queries_for_one_navigator_as_for_five(sup_client, django_assert_num_queries):
    caseload_of_becker()
    with CaptureQueriesContext(connection) as one:
        sup_client.get(reverse(CASELOAD))
    for _ in range(4):
        navigator = NavigatorFactory()
        patient = PatientFactory(navigator=navigator)
        CallHistoryFactory(patient=patient, navigator=navigator, call_date=days_ago(3))
    with django_assert_num_queries(len(one.captured_queries)):
        response = sup_client.get(reverse(CASELOAD))
    assert len(response.context["rows"]) == 5
    with CaptureQueriesContext(connection) as csv_five:
        sup_client.get(reverse(CASELOAD_CSV))
    assert len(csv_five.captured_queries) <= len(one.captured_queries)


def test_caseload_csv_has_the_same_table(sup_client):
    becker = caseload_of_becker()
    NavigatorFactory(first_name='=HYPERLINK("http://x")', last_name="Evil", email="evil@crm.test")
    response = sup_client.get(reverse(CASELOAD_CSV))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="navigator-caseloads-{timezone.localdate():%Y-%m-%d}.csv"'
    )
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == [
        "Navigator",
        "Email",
        "Active patients",
        "Calls in the last 7 days",
        "Calls in the last 30 days",
        "Overdue follow-ups",
    ]
    assert [becker.full_name, "tomas@crm.test", "2", "1", "2", "1"] in rows
    # A name that a spreadsheet would run as a formula is written as text.
    assert ['\'=HYPERLINK("http://x") Evil', "evil@crm.test", "0", "0", "0", "0"] in rows
    assert len(rows) == 3


@pytest.mark.parametrize("role_fixture", ["navigator_user", "cpss_user", "cm_supervisor_user"])
def test_only_crm_supervisors_and_superusers_see_caseloads(client, request, role_fixture, superuser):
    client.force_login(request.getfixturevalue(role_fixture))
    assert client.get(reverse(CASELOAD)).status_code == 403
    assert client.get(reverse(CASELOAD_CSV)).status_code == 403
    client.force_login(superuser)
    assert client.get(reverse(CASELOAD)).status_code == 200
    assert client.get(reverse(CASELOAD_CSV)).status_code == 200


def test_anonymous_visitors_are_sent_to_the_login(client):
    response = client.get(reverse(CASELOAD_CSV))
    assert response.status_code == 302 and "/admin/login/" in response.url


def _csv_export(client, url) -> tuple[object, list[list[str]], list[str]]:
    """The response, its rows (read from the stream) and the queries made until the last byte."""
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
        body = b"".join(response.streaming_content).decode()
    return response, list(csv.reader(io.StringIO(body))), [q["sql"] for q in ctx.captured_queries]


def test_caseload_csv_is_streamed_in_the_same_queries_for_one_navigator_as_for_fifty(sup_client):
    first = NavigatorFactory(first_name="Ada", last_name="Aaron")
    PatientFactory(navigator=first)
    response, rows, one = _csv_export(sup_client, reverse(CASELOAD_CSV))
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert rows[1:] == [["Ada Aaron", first.email, "1", "0", "0", "0"]]

    more = NavigatorFactory.create_batch(49)
    response, rows, fifty = _csv_export(sup_client, reverse(CASELOAD_CSV))
    assert response.streaming and len(rows) == 51 and rows[0][0] == "Navigator"
    assert sorted(row[0] for row in rows[1:]) == sorted(p.full_name for p in [first, *more])
    assert ["Ada Aaron", first.email, "1", "0", "0", "0"] in rows
    assert len(fifty) == len(one)


def test_caseload_csv_reads_keyset_batches_without_a_server_side_cursor(sup_client, monkeypatch):
    """Batches of 7: 50 navigators in 8 short queries, each row once, in order (last name, first name, id)
    - the way the export stays flat behind a transaction pooler (no cursor outlives a query)."""
    navigators = [NavigatorFactory(first_name=f"N{n % 3}", last_name=f"Same{n % 4}") for n in range(50)]
    _, one_batch_rows, _ = _csv_export(sup_client, reverse(CASELOAD_CSV))  # 500 a batch: all at once
    monkeypatch.setattr("patients.admin_views.CSV_CHUNK_ROWS", 7)
    response, rows, queries = _csv_export(sup_client, reverse(CASELOAD_CSV))
    assert rows == one_batch_rows and len(rows) == 51  # ties on both names: the id decides, nothing lost
    assert sorted(row[1] for row in rows[1:]) == sorted(p.email for p in navigators)
    batches = [sql for sql in queries if "LIMIT 7" in sql]
    assert len(batches) == 8  # ceil(50 / 7)
    assert not any("DECLARE" in sql.upper() for sql in queries)
