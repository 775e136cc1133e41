"""The CM report's weekly rollup of the points ledger (``cm_points_weekly``, issue 14 point 5): equal to a
from-scratch computation over the ledger after every kind of write that changes what it counts (service
events and reversals, a CPSS reassignment, a bulk ``QuerySet.update()``, a soft delete and its undo, a merge
and its undo, an import), and the report equal whether it reads the rollup or the ledger, for whole and cut
weeks."""

from __future__ import annotations

import datetime as dt
import io
import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from cm_program import report_facts, report_rollup, reports, services
from cm_program.models import (
    CanonicalPatient,
    CMEnrollment,
    CMEnrollmentReportFacts,
    CMPointsTransaction,
    CMPointsWeek,
    PointsEvent,
)
from tests.cm_program import test_cm_report as known
from tests.cm_program import test_import_cm_patients as imports
from tests.cm_program.test_merge import everything_of
from tests.concurrency import wait_until_a_session_waits_for_a_lock
from tests.factories.cm_program import CanonicalPatientFactory, CMEnrollmentFactory, CMPatientFactory

AS_OF, PERIOD = known.AS_OF, known.PERIOD
# The known data set of test_cm_report and the import's export files, as fixtures of this module too.
data, denver, export = known.data, known.denver, imports.export


def assert_exact() -> None:
    zone, differences = report_rollup.rollup_differences()
    assert differences == []
    assert zone is not None
    # The per-enrollment facts (status history, group weeks) too.
    assert report_facts.facts_differences() == []


def facts_of(enrollment) -> CMEnrollmentReportFacts:
    return CMEnrollmentReportFacts.objects.get(enrollment_id=enrollment.pk)


@pytest.mark.django_db
def test_services_keep_it_exact_and_it_holds_the_weeks(data):
    assert_exact()
    # The hand-computed W03 of test_cm_report (Ann's and Bob's rows together).
    w03 = CMPointsWeek.objects.filter(week=dt.date(2026, 1, 12))
    assert sum(row.negative_tests for row in w03) == 3
    assert sum(row.points_reversed for row in w03) == 50
    assert sum(row.reversal_entries for row in w03) == 1
    # The reversed negative of 8 Jan (W02) is out of W02's count, its 50 points still earned.
    w02 = CMPointsWeek.objects.filter(week=dt.date(2026, 1, 5))
    assert sum(row.negative_tests for row in w02) == 2
    assert sum(row.points_earned for row in w02) == 210
    # The facts: E1 enrolled, paused, active again; its group of 18 Jan 23:00 in Denver's W03 (in UTC, W04).
    e1 = facts_of(data["E1"])
    assert e1.status_to == ["active", "paused", "active"]
    assert e1.status_changed_at == sorted(e1.status_changed_at)
    assert e1.group_weeks == [dt.date(2026, 1, 12)]
    assert facts_of(data["E3"]).group_weeks == [dt.date(2026, 1, 12)]
    assert facts_of(data["E4"]).group_weeks == [] and facts_of(data["E4"]).status_to == ["active"]


@pytest.mark.django_db
def test_group_attendances_and_their_reversals_keep_the_facts(data):
    """Two attendances in one week count twice; reversing one leaves the other; one statement of several entries
    (a bulk insert, as an importer writes) is one pass."""
    e2 = data["E2"]
    first = services.cm_event_record(
        enrollment=e2, event_type=PointsEvent.GROUP_ATTENDANCE, occurred_at=known.local(2, 2, 9)
    )
    services.cm_event_record(enrollment=e2, event_type=PointsEvent.GROUP_ATTENDANCE, occurred_at=known.local(2, 4, 9))
    services.cm_event_record(enrollment=e2, event_type=PointsEvent.GROUP_ATTENDANCE, occurred_at=known.local(1, 26, 9))
    assert facts_of(e2).group_weeks == [dt.date(2026, 1, 26), dt.date(2026, 2, 2), dt.date(2026, 2, 2)]
    assert_exact()
    services.cm_points_reverse(points_transaction=first, reason="not there")
    assert facts_of(e2).group_weeks == [dt.date(2026, 1, 26), dt.date(2026, 2, 2)]
    assert_exact()
    services.cm_enrollment_set_status(enrollment=e2, status="paused", reason="away")
    assert facts_of(e2).status_to[-1] == "paused"
    assert_exact()


def _weeks_both_ways(user, period, **kwargs):
    via_rollup = reports.cm_program_report(user=user, period=period, now=AS_OF, **kwargs)
    report_rollup.rebuild_cm_report_rollups("Asia/Tokyo")  # another zone: the report reads the ledger
    via_ledger = reports.cm_program_report(user=user, period=period, now=AS_OF, **kwargs)
    report_rollup.rebuild_cm_report_rollups("America/Denver")
    return via_rollup, via_ledger


@pytest.mark.django_db
@pytest.mark.parametrize(
    "first, last",
    [
        (PERIOD.first_day, PERIOD.last_day),  # two whole weeks: the rollup only
        (dt.date(2026, 1, 7), dt.date(2026, 1, 15)),  # cut at both ends: the ledger only
        (dt.date(2026, 1, 1), dt.date(2026, 1, 18)),  # a cut week, then two whole ones
        (dt.date(2026, 1, 5), dt.date(2026, 1, 20)),  # two whole weeks, then a cut one
        (dt.date(2026, 1, 11), dt.date(2026, 1, 11)),  # one day
    ],
)
def test_the_report_is_the_same_from_the_rollup_and_from_the_ledger(data, superuser, first, last):
    """The rollup's and the facts' reading (query 1: statuses, attendees) against the ledger's and the history's."""
    period = reports.ReportPeriod(first, last)
    via_rollup, via_ledger = _weeks_both_ways(superuser, period)
    assert via_rollup == via_ledger
    assert via_rollup["statuses"]["total"] > 0
    assert via_rollup["totals"]["tests"] > 0
    ann_rollup, ann_ledger = _weeks_both_ways(superuser, period, cpss=data["ann"])
    assert ann_rollup == ann_ledger
    cpss_rollup, cpss_ledger = _weeks_both_ways(data["ann"].user, period)
    assert cpss_rollup["weeks"] == cpss_ledger["weeks"] == ann_rollup["weeks"]


@pytest.mark.django_db
def test_reassignment_bulk_update_soft_delete_and_restore(data):
    e1 = data["E1"]
    CMEnrollment.objects.filter(pk=e1.pk).update(
        cpss_provider=data["bob"]
    )  # a CPSS reassignment (a bulk UPDATE, no service)
    assert_exact()
    CMEnrollment.objects.filter(cpss_provider=data["bob"]).update(cpss_provider=None)  # several rows at once
    assert_exact()
    assert CMPointsWeek.objects.filter(cpss_provider_id=None).exclude(negative_tests=0).exists()
    patient = CanonicalPatient.objects.get(pk=data["E4"].canonical_patient_id)
    patient.mark_deleted(reason="test")
    patient.save()
    assert_exact()
    patient.mark_restored()
    patient.save()
    assert_exact()


@pytest.mark.django_db
def test_merge_and_unmerge(data, superuser):
    survivor = CanonicalPatientFactory(first_name="Rosa", last_name="Vega", date_of_birth=dt.date(1985, 6, 1))
    duplicate = CanonicalPatientFactory(first_name="Rosa", last_name="Veiga", date_of_birth=dt.date(1985, 1, 6))
    services.cm_event_record(
        enrollment=CMEnrollmentFactory(cm_patient=CMPatientFactory(canonical_patient=survivor)),
        event_type=PointsEvent.TEST_NEGATIVE,
    )
    records = everything_of(duplicate)
    services.cm_event_record(enrollment=records["enrollment"], event_type=PointsEvent.GROUP_ATTENDANCE)
    assert_exact()
    log = services.canonical_patient_merge(survivor=survivor, duplicate=duplicate, actor=superuser, reason="typo")
    assert_exact()
    services.canonical_patient_unmerge(merge=log, actor=superuser)
    assert_exact()


@pytest.mark.django_db
def test_an_import_keeps_it_exact(export):
    imports.migrate(export())
    assert_exact()
    assert CMPointsWeek.objects.exists()


@pytest.mark.django_db
def test_the_check_command_finds_and_repairs(data):
    out = io.StringIO()
    call_command("check_cm_report_rollups", stdout=out)
    assert "exact" in out.getvalue()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE cm_points_weekly SET negative_tests = negative_tests + 1 WHERE negative_tests > 0")
    with pytest.raises(CommandError, match="rows differ from the ledger"):
        call_command("check_cm_report_rollups", stdout=io.StringIO())
    out = io.StringIO()
    call_command("check_cm_report_rollups", "--repair", stdout=out)
    assert "rebuilt" in out.getvalue()
    assert_exact()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE cm_enrollment_report_facts SET group_weeks = '{}' WHERE cardinality(group_weeks) > 0")
    with pytest.raises(CommandError, match="enrollments' report facts differ"):
        call_command("check_cm_report_rollups", stdout=io.StringIO())
    call_command("check_cm_report_rollups", "--repair", stdout=io.StringIO())
    assert_exact()
    assert facts_of(data["E1"]).group_weeks == [dt.date(2026, 1, 12)]


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_of_one_enrollment_lose_no_group_week():
    """Two transactions insert a group attendance of one enrollment (plain INSERTs: no service lock); the second's
    trigger waits for the first's lock on the facts row and recomputes with what the first committed."""
    enrollment = CMEnrollmentFactory()
    first_inserted, release = threading.Event(), threading.Event()

    def entry(sequence: int, when: dt.datetime) -> None:
        CMPointsTransaction.objects.create(
            enrollment=enrollment,
            canonical_patient_id=enrollment.canonical_patient_id,
            sequence=sequence,
            event_type=PointsEvent.GROUP_ATTENDANCE,
            points=25,
            streak_after=0,
            occurred_at=when,
        )

    def first() -> None:
        try:
            with transaction.atomic():
                entry(101, dt.datetime(2026, 3, 2, 12, tzinfo=dt.UTC))
                first_inserted.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    thread = threading.Thread(target=first)
    thread.start()
    assert first_inserted.wait(timeout=30)
    second = threading.Thread(
        target=lambda: (entry(102, dt.datetime(2026, 3, 9, 12, tzinfo=dt.UTC)), connection.close())
    )
    second.start()
    wait_until_a_session_waits_for_a_lock()  # the second's trigger waits for the first's row lock
    release.set()
    thread.join(timeout=30)
    second.join(timeout=30)
    weeks = CMEnrollmentReportFacts.objects.get(enrollment_id=enrollment.pk).group_weeks
    assert sorted(weeks) == [dt.date(2026, 3, 2), dt.date(2026, 3, 9)]
    assert report_facts.facts_differences() == []
