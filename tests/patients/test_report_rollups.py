"""The navigation report's summary tables (patients/report_rollups.py): after every path that writes calls or
patients they equal their from-scratch computation, and the report read from them equals the report computed
from the calls and a patient-by-patient replay, on random data; ``check_report_rollups`` finds and repairs."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import io
import random
import threading
import zoneinfo

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.db.models import F

from patients import services
from patients.models import CallHistory, CallOutcome, Patient, PatientStatus
from patients.report_rollups import rebuild_report_rollups, report_rollup_mismatches, rollup_time_zone
from patients.reports import ReportPeriod, navigation_report
from people.merge import person_merge
from tests.concurrency import wait_until_a_session_waits_for_a_lock
from tests.factories.patients import CallHistoryFactory, PatientFactory
from tests.factories.people import NavigatorFactory
from tests.patients import legacy_crm_files as files

pytestmark = pytest.mark.django_db

TZ = "America/New_York"


@pytest.fixture(autouse=True)
def in_new_york(settings, request):
    settings.TIME_ZONE = TZ
    if "transactional_db" not in request.fixturenames:
        rebuild_report_rollups(time_zone=TZ)


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def exact() -> bool:
    assert report_rollup_mismatches() == []
    return True


def overdue_by_navigator() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT navigator_id, sum(delta) FROM follow_up_overdue_delta GROUP BY 1 HAVING sum(delta) <> 0")
        return dict(cursor.fetchall())


def differences(a, b, path="") -> list[str]:
    """Where two reports differ (a readable failure instead of two long dicts)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in a.keys() | b.keys() for d in differences(a.get(k), b.get(k), f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def log(patient, when, reminder=None, **extra):
    return services.call_log(
        patient=patient,
        navigator=patient.navigator,
        outcome=extra.pop("outcome", CallOutcome.REACHED),
        call_date=when,
        reminder_date=reminder,
        **extra,
    )


def test_the_call_services_keep_the_tables_exact():
    patient = PatientFactory()
    first = log(patient, utc(2026, 10, 5, 15), dt.date(2026, 10, 8), call_duration_minutes=7)
    assert exact() and overdue_by_navigator() == {patient.navigator_id: 1}  # open span from 10-08
    second = log(patient, utc(2026, 10, 12, 3, 30), None, outcome=CallOutcome.VOICEMAIL)  # 10-11 local
    assert exact() and overdue_by_navigator() == {}  # the span closed on 10-10: nothing open
    services.call_update(call=second, data={"reminder_date": dt.date(2026, 10, 20)})
    assert exact() and overdue_by_navigator() == {patient.navigator_id: 1}
    services.call_update(call=second, data={"call_date": utc(2026, 10, 4, 15)})  # the first is the latest now
    assert exact()
    services.call_void(call=first, reason="logged for the wrong patient")
    assert exact()
    with connection.cursor() as cursor:
        cursor.execute("SELECT sum(calls), sum(minutes) FROM call_day_rollup")
        assert cursor.fetchone() == (1, 0)
    services.call_restore(call=first)
    assert exact()


def test_bulk_updates_and_deletes_of_calls_keep_the_tables_exact():
    patients = [PatientFactory() for _ in range(3)]
    for i, patient in enumerate(patients):
        for day in range(5):
            CallHistoryFactory(
                patient=patient,
                call_date=utc(2026, 9, 1, 12) + dt.timedelta(days=3 * day + i),
                reminder_date=dt.date(2026, 9, 2) + dt.timedelta(days=4 * day),
            )
    assert exact()
    CallHistory.objects.filter(patient__in=patients[:2]).update(
        call_date=F("call_date") + dt.timedelta(hours=13), call_duration_minutes=F("call_duration_minutes") + 1
    )
    assert exact()
    CallHistory.objects.filter(patient=patients[2]).update(outcome=CallOutcome.NO_ANSWER, reminder_date=None)
    assert exact()
    CallHistory.objects.filter(patient=patients[0]).update(patient=patients[1])  # moved to another patient
    assert exact()
    with connection.cursor() as cursor:  # a hard delete (no path does it; the tables follow anyway)
        cursor.execute("DELETE FROM call_history WHERE patient_id = %s", [patients[1].pk])
    assert exact()


def test_a_patient_changing_navigator_or_status_moves_their_overdue_follow_ups():
    a, b = NavigatorFactory(), NavigatorFactory()
    patient = PatientFactory(navigator=a)
    log(patient, utc(2026, 10, 5, 15), dt.date(2026, 10, 8))
    assert overdue_by_navigator() == {a.pk: 1}
    Patient.objects.filter(pk=patient.pk).update(navigator=b)
    assert exact() and overdue_by_navigator() == {b.pk: 1}
    Patient.objects.filter(pk=patient.pk).update(status=PatientStatus.CLOSED)
    assert exact() and overdue_by_navigator() == {}
    Patient.objects.filter(pk=patient.pk).update(status=PatientStatus.ACTIVE, navigator=None)
    assert exact() and overdue_by_navigator() == {}
    Patient.objects.filter(pk=patient.pk).update(navigator=a)
    assert exact() and overdue_by_navigator() == {a.pk: 1}
    Patient.objects.filter(pk=patient.pk).update(is_active=False, deletion_reason="duplicate")
    assert exact() and overdue_by_navigator() == {}


def test_merging_two_patients_keeps_the_tables_exact():
    survivor, duplicate = PatientFactory(), PatientFactory()
    log(survivor, utc(2026, 10, 5, 15), dt.date(2026, 10, 8))
    log(duplicate, utc(2026, 10, 9, 15), dt.date(2026, 10, 30))
    log(duplicate, utc(2026, 10, 1, 15), dt.date(2026, 10, 2))
    assert len(overdue_by_navigator()) == 2
    person_merge(survivor=survivor.person, duplicate=duplicate.person, reason="one human")
    assert CallHistory.objects.filter(patient=survivor).count() == 3
    assert exact() and overdue_by_navigator() == {survivor.navigator_id: 1}


def test_an_import_of_legacy_bookings_keeps_the_tables_exact(tmp_path):
    navigator = NavigatorFactory(email="nav@staff.example.org")
    call_command("import_legacy_crm", str(files.write(tmp_path)), "--navigator", navigator.email, "--quiet")
    assert CallHistory.objects.count() >= 2
    assert exact()


def test_random_calls_give_the_same_report_from_the_tables_as_from_the_calls_and_a_replay(settings):
    rng = random.Random(14)
    navigators = [NavigatorFactory() for _ in range(3)]
    patients = [PatientFactory(navigator=rng.choice(navigators)) for _ in range(12)]
    start = utc(2026, 9, 20)
    calls = []
    for _ in range(150):
        patient = rng.choice(patients)
        when = start + dt.timedelta(minutes=rng.randrange(0, 60 * 24 * 70, 15))  # around the DST change too
        reminder = dt.date(2026, 9, 20) + dt.timedelta(days=rng.randrange(0, 80)) if rng.random() < 0.7 else None
        calls.append(
            CallHistoryFactory(
                patient=patient,
                navigator=rng.choice(navigators),
                call_date=when,
                reminder_date=reminder,
                outcome=rng.choice(CallOutcome.values),
                direction=rng.choice(["inbound", "outbound"]),
                call_duration_minutes=rng.choice([None, 1, 5, 30]),
            )
        )
    for call in rng.sample(calls, 15):
        services.call_void(call=call, reason="test")
    Patient.objects.filter(pk=patients[0].pk).update(status=PatientStatus.CLOSED)
    Patient.objects.filter(pk=patients[1].pk).update(navigator=navigators[2])
    assert exact()

    periods = [
        ReportPeriod(dt.date(2026, 9, 28), dt.date(2026, 11, 22)),
        ReportPeriod(dt.date(2026, 10, 7), dt.date(2026, 11, 4)),
        # Across the boundary of two 16-week blocks (2026-12-28), and wholly after the first, ending on a Wednesday:
        # the stock then comes from the blocks before, the weeks of the block and the days of the cut week.
        ReportPeriod(dt.date(2026, 11, 30), dt.date(2027, 1, 17)),
        ReportPeriod(dt.date(2027, 1, 4), dt.date(2027, 1, 20)),
    ]
    for period in periods:
        for navigator in (None, navigators[0]):
            from_tables = navigation_report(period=period, navigator=navigator).as_dict()
            rebuild_report_rollups(time_zone="UTC")  # the tables in another zone: the report reads the calls
            from_calls = navigation_report(period=period, navigator=navigator).as_dict()
            rebuild_report_rollups(time_zone=TZ)
            assert from_tables == from_calls, "\n".join(sorted(differences(from_tables, from_calls)))
            assert from_tables["total"]["calls"] > 0 or period.first_day >= dt.date(2026, 11, 30)  # after the calls

    # The overdue follow-ups against a patient-by-patient replay.
    tz = zoneinfo.ZoneInfo(TZ)
    for period in periods:
        report = navigation_report(period=period)
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
        assert report.total.overdue_follow_ups > 0


def test_the_call_rollups_have_a_column_per_outcome():
    """Adding an outcome to CallOutcome needs a migration that gives the rollups its column (and the triggers
    and views their count of it): the report reads a column per outcome."""
    with connection.cursor() as cursor:
        for table in ("call_day_rollup", "call_week_rollup"):
            cursor.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s AND column_name LIKE %s",
                [table, "outcome%"],
            )
            assert {row[0] for row in cursor.fetchall()} == {f"outcome_{o}" for o in CallOutcome.values}, table


def test_the_migration_0011_creates_what_it_always_did():
    """0011 builds the SQL of its day, week and block tables from patients/report_rollups.py (written once there):
    an edit there would change what a new database gets but not one already migrated. The text it generates
    (comments aside; days in New York) is pinned: change those tables in a new migration instead."""
    migration = importlib.import_module("patients.migrations.0011_navigation_report_rollups")
    text = "\n".join(line for line in migration._sql().splitlines() if not line.startswith("--"))
    assert hashlib.sha256(text.encode()).hexdigest() == (
        "00255cabd32d5da3caa4293498e51388ea7d385ffaf3ea3f9333974e2cc3aef9"
    )  # the text of 0011 as first applied (2026-12-01), before its day and week SQL moved to report_rollups.py


def test_check_report_rollups_finds_and_repairs():
    patient = PatientFactory()
    log(patient, utc(2026, 10, 5, 15), dt.date(2026, 10, 8))
    out = io.StringIO()
    call_command("check_report_rollups", stdout=out)
    assert "The 8 summary tables agree with the calls and patients (days in America/New_York" in out.getvalue()

    with connection.cursor() as cursor:
        cursor.execute("UPDATE call_day_rollup SET calls = calls + 1")
        cursor.execute("UPDATE follow_up_overdue_delta SET delta = delta + 1")
    out = io.StringIO()
    with pytest.raises(CommandError, match=r"2 problem\(s\) found. Run with --repair"):
        call_command("check_report_rollups", stdout=out)
    assert out.getvalue().splitlines() == [
        "call_day_rollup: 1 rows stored but not computed, 1 computed but not stored",
        "follow_up_overdue_delta: 1 rows stored but not computed, 1 computed but not stored",
    ]
    out = io.StringIO()
    call_command("check_report_rollups", "--repair", stdout=out)
    assert "Rebuilt the 8 summary tables in America/New_York" in out.getvalue()
    assert exact()


def test_check_report_rollups_rebuilds_the_tables_in_another_time_zone(settings):
    log(PatientFactory(), utc(2026, 10, 5, 2), dt.date(2026, 10, 8))  # 10-04 in New York, 10-05 in UTC
    settings.TIME_ZONE = "UTC"
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("check_report_rollups", stdout=out)
    assert "the tables count days in America/New_York, the report in UTC" in out.getvalue()
    call_command("check_report_rollups", "--repair", stdout=io.StringIO())
    assert rollup_time_zone() == "UTC"
    with connection.cursor() as cursor:
        cursor.execute("SELECT day FROM call_day_rollup")
        assert cursor.fetchall() == [(dt.date(2026, 10, 5),)]


@pytest.mark.django_db(transaction=True)
def test_two_calls_logged_at_once_for_one_patient_leave_exact_tables(transactional_db):
    """The second transaction's trigger waits for the first's (the patient's row lock), then sees its spans:
    no span is counted twice or lost. (The tables stay in the time zone of the migration: a rebuild here would
    outlive the test.)"""
    patient = PatientFactory()
    logged = threading.Event()

    def navigator_logs_a_call() -> None:
        try:
            with transaction.atomic():
                log(patient, utc(2026, 10, 9, 15), dt.date(2026, 10, 12))
                logged.set()
                wait_until_a_session_waits_for_a_lock()
        finally:
            connection.close()

    first = threading.Thread(target=navigator_logs_a_call)
    first.start()
    assert logged.wait(timeout=30)
    log(patient, utc(2026, 10, 5, 15), dt.date(2026, 10, 6))
    first.join(timeout=30)
    assert exact()
    assert overdue_by_navigator() == {patient.navigator_id: 1}
