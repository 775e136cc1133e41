"""The navigation report's cohort tables (``lead_cohort``, ``eap_cohort``; migration 0015): after every path that
writes leads, journeys, their timelines or patients, each table equals what Python computes from the ORM (an
independent statement of the pipeline's definitions, docs/REPORTS.md) and its from-scratch view; the report's
pipeline read from them equals the Python cohort counts on random data; ``check_report_rollups`` covers them."""

from __future__ import annotations

import datetime as dt
import io
import random
import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.utils import timezone

from journeys import services as journeys
from journeys.models import ClinicalTrialJourney, EAPJourney, JourneyStatusChange
from journeys.transitions import CTStatus, EAPStatus
from patients.models import LeadStatus, Patient, PatientLead
from patients.report_rollups import report_rollup_mismatches
from patients.reports import CT_ENROLLED, EAP_APPROVED, EAP_EXITS, EAP_SUBMITTED, ReportPeriod, navigation_report
from patients.services import leads as lead_services
from people.merge import person_merge
from tests.concurrency import wait_until_a_session_waits_for_a_lock
from tests.factories.journeys import ClinicalTrialJourneyFactory, EAPJourneyFactory, JourneyStatusChangeFactory
from tests.factories.patients import PatientFactory, PatientLeadFactory
from tests.factories.people import NavigatorFactory

pytestmark = pytest.mark.django_db


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


# ---------------------------------------------------------------------------------------------------------------
# The definitions, in Python


def expected_leads() -> set[tuple]:
    rows = set()
    for lead in PatientLead.objects.select_related("converted_patient"):
        converted = lead.status == LeadStatus.CONVERTED
        journeys_after = (
            ClinicalTrialJourney.objects.filter(patient_id=lead.converted_patient_id, created_at__gte=lead.created_at)
            if converted
            else ClinicalTrialJourney.objects.none()
        )
        enrolled = any(
            j.status in CT_ENROLLED or (j.status == CTStatus.WITHDRAWN and j.enrollment_date is not None)
            for j in journeys_after
        )
        navigator = lead.converted_patient.navigator_id if lead.converted_patient else None
        rows.add((lead.pk, lead.created_at, navigator, converted, journeys_after.exists(), enrolled))
    return rows


def expected_eap() -> set[tuple]:
    rows = set()
    for journey in EAPJourney.objects.select_related("patient"):  # the manager leaves deleted journeys out
        steps = set(JourneyStatusChange.objects.filter(eap_journey=journey).values_list("to_status", flat=True))
        exited = journey.status in EAP_EXITS
        submitted = journey.status in EAP_SUBMITTED or (exited and EAPStatus.SUBMITTED in steps)
        approved = journey.status in EAP_APPROVED or (exited and EAPStatus.APPROVED in steps)
        rows.add((journey.pk, journey.created_at, journey.patient.navigator_id, submitted, approved))
    return rows


def stored(table: str) -> set[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table}")
        rows = cursor.fetchall()
    assert len(rows) == len(set(rows)), table
    return set(rows)


def exact() -> bool:
    assert stored("lead_cohort") == expected_leads()
    assert stored("eap_cohort") == expected_eap()
    assert [m for m in report_rollup_mismatches() if m.table.endswith("_cohort")] == []
    return True


def flags(table: str, key) -> tuple:
    column = "lead_id" if table == "lead_cohort" else "journey_id"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} WHERE {column} = %s", [key])
        row = cursor.fetchone()
    return row[2:] if row else None


# ---------------------------------------------------------------------------------------------------------------
# Every write path


def test_the_lead_and_journey_services_keep_the_cohorts_exact():
    a = NavigatorFactory()
    lead = lead_services.lead_create(first_name="Lee", last_name="Lead", email="lee@example.org").lead
    assert exact() and flags("lead_cohort", lead.pk) == (None, False, False, False)
    patient = lead_services.lead_convert(lead=lead, navigator=a).patient
    assert exact() and flags("lead_cohort", lead.pk) == (a.pk, True, False, False)
    ct = journeys.journey_open(patient=patient, kind="clinical_trial", trial_id="NCT00000001")
    assert exact() and flags("lead_cohort", lead.pk) == (a.pk, True, True, False)
    for step in (CTStatus.PRE_SCREENING, CTStatus.SCREENING, CTStatus.ENROLLED):
        ct = journeys.journey_transition(journey=ct, to_status=step)
    assert exact() and flags("lead_cohort", lead.pk) == (a.pk, True, True, True)
    ct = journeys.journey_transition(journey=ct, to_status=CTStatus.WITHDRAWN)  # enrolled before: still counts
    assert exact() and flags("lead_cohort", lead.pk) == (a.pk, True, True, True)
    journeys.journey_soft_delete(journey=ct, reason="opened for the wrong patient")
    assert exact() and flags("lead_cohort", lead.pk) == (a.pk, True, False, False)
    journeys.journey_restore(journey=ct)
    assert exact() and flags("lead_cohort", lead.pk) == (a.pk, True, True, True)

    eap = journeys.journey_open(patient=patient, kind="eap", product="Compound Y")
    assert exact() and flags("eap_cohort", eap.pk) == (a.pk, False, False)
    eap = journeys.journey_transition(journey=eap, to_status=EAPStatus.SUBMITTED)
    assert exact() and flags("eap_cohort", eap.pk) == (a.pk, True, False)
    eap = journeys.journey_transition(journey=eap, to_status=EAPStatus.APPROVED)
    assert exact() and flags("eap_cohort", eap.pk) == (a.pk, True, True)
    eap = journeys.journey_transition(journey=eap, to_status=EAPStatus.WITHDRAWN)  # its timeline says approved
    assert exact() and flags("eap_cohort", eap.pk) == (a.pk, True, True)
    journeys.journey_soft_delete(journey=eap, reason="duplicate dossier")
    assert exact() and flags("eap_cohort", eap.pk) is None


def test_bulk_updates_raw_sql_and_navigator_changes_keep_the_cohorts_exact():
    a, b = NavigatorFactory(), NavigatorFactory()
    patient = PatientFactory(navigator=a)
    lead = PatientLeadFactory(
        person=patient.person, status=LeadStatus.CONVERTED, converted_patient=patient, converted_at=timezone.now()
    )
    ct = ClinicalTrialJourneyFactory(patient=patient)
    eap = EAPJourneyFactory(patient=patient, status=EAPStatus.DECLINED)
    assert exact() and flags("lead_cohort", lead.pk) == (a.pk, True, True, False)
    assert flags("eap_cohort", eap.pk) == (a.pk, False, False)
    JourneyStatusChangeFactory(ct_journey=None, eap_journey=eap, from_status="pending", to_status="submitted")
    assert exact() and flags("eap_cohort", eap.pk) == (a.pk, True, False)
    Patient.objects.filter(pk=patient.pk).update(navigator=b)
    assert exact() and flags("lead_cohort", lead.pk)[0] == b.pk and flags("eap_cohort", eap.pk)[0] == b.pk
    Patient.objects.filter(pk=patient.pk).update(navigator=None)
    assert exact() and flags("eap_cohort", eap.pk)[0] is None
    ClinicalTrialJourney.objects.filter(pk=ct.pk).update(created_at=lead.created_at - dt.timedelta(days=1))
    assert exact() and flags("lead_cohort", lead.pk)[1:] == (True, False, False)  # opened before the lead came in
    ClinicalTrialJourney.objects.filter(pk=ct.pk).update(
        created_at=lead.created_at, status=CTStatus.ENROLLED, enrollment_date=timezone.localdate()
    )
    assert exact() and flags("lead_cohort", lead.pk)[1:] == (True, True, True)
    PatientLead.objects.filter(pk=lead.pk).update(created_at=lead.created_at + dt.timedelta(hours=1))
    assert exact() and flags("lead_cohort", lead.pk)[1:] == (True, False, False)
    today = timezone.localdate()
    EAPJourney.objects.filter(pk=eap.pk).update(status=EAPStatus.ACTIVE, approval_date=today, enrollment_date=today)
    assert exact() and flags("eap_cohort", eap.pk)[1:] == (True, True)
    EAPJourney.objects.filter(pk=eap.pk).update(status=EAPStatus.WITHDRAWN)
    assert exact() and flags("eap_cohort", eap.pk)[1:] == (True, False)
    with connection.cursor() as cursor:  # raw SQL: a step moved to another journey, then deleted
        other = EAPJourneyFactory(patient=PatientFactory(navigator=a), status=EAPStatus.DECLINED)
        cursor.execute(
            "UPDATE journey_status_change SET eap_journey_id = %s WHERE eap_journey_id = %s", [other.pk, eap.pk]
        )
        assert exact() and flags("eap_cohort", eap.pk)[1:] == (False, False)
        assert flags("eap_cohort", other.pk)[1:] == (True, False)
        cursor.execute("DELETE FROM journey_status_change WHERE eap_journey_id = %s", [other.pk])
        cursor.execute("DELETE FROM patient_lead WHERE id = %s", [lead.pk])
    assert exact() and flags("lead_cohort", lead.pk) is None and flags("eap_cohort", other.pk)[1:] == (False, False)


def test_merging_two_patients_keeps_the_cohorts_exact():
    a, b = NavigatorFactory(), NavigatorFactory()
    survivor, duplicate = PatientFactory(navigator=a), PatientFactory(navigator=b)
    lead = PatientLeadFactory(
        person=survivor.person, status=LeadStatus.CONVERTED, converted_patient=survivor, converted_at=timezone.now()
    )
    ClinicalTrialJourneyFactory(patient=duplicate, status=CTStatus.ENROLLED, enrollment_date=timezone.localdate())
    eap = EAPJourneyFactory(patient=duplicate)
    assert exact() and flags("lead_cohort", lead.pk) == (a.pk, True, False, False)
    assert flags("eap_cohort", eap.pk)[0] == b.pk
    person_merge(survivor=survivor.person, duplicate=duplicate.person, reason="one human")
    assert exact()
    assert flags("lead_cohort", lead.pk) == (a.pk, True, True, True)  # the duplicate's journey is the survivor's now
    assert flags("eap_cohort", eap.pk)[0] == a.pk


def test_random_leads_and_journeys_give_the_python_cohorts():
    rng = random.Random(5)
    navigators = [NavigatorFactory() for _ in range(3)]
    patients = [PatientFactory(navigator=rng.choice([*navigators, None])) for _ in range(10)]
    start = utc(2026, 9, 1)
    for patient in patients:
        for _ in range(rng.randrange(0, 3)):
            lead = PatientLeadFactory(status=LeadStatus.LOST)
            at = start + dt.timedelta(hours=rng.randrange(0, 24 * 90))
            if rng.random() < 0.7:
                PatientLead.objects.filter(pk=lead.pk).update(
                    status=LeadStatus.CONVERTED, converted_patient=patient, converted_at=at
                )
            PatientLead.objects.filter(pk=lead.pk).update(created_at=at)
        for _ in range(rng.randrange(0, 3)):
            status = rng.choice([CTStatus.REFERRED, CTStatus.SCREENING, CTStatus.ENROLLED, CTStatus.WITHDRAWN])
            enrolled = (
                timezone.localdate()
                if status == CTStatus.ENROLLED or (status == CTStatus.WITHDRAWN and rng.random() < 0.6)
                else None
            )
            ct = ClinicalTrialJourneyFactory(patient=patient, status=status, enrollment_date=enrolled)
            ClinicalTrialJourney.objects.filter(pk=ct.pk).update(
                created_at=start + dt.timedelta(hours=rng.randrange(0, 24 * 90)),
                is_active=rng.random() < 0.9,
                deletion_reason="test",
            )
        for _ in range(rng.randrange(0, 3)):
            today = timezone.localdate()
            eap = EAPJourneyFactory(
                patient=patient,
                status=rng.choice(EAPStatus.values),
                approval_date=today,
                enrollment_date=today,
                completion_date=today,
            )
            for step in rng.sample(["submitted", "approved"], rng.randrange(0, 3)):
                JourneyStatusChangeFactory(ct_journey=None, eap_journey=eap, from_status="pending", to_status=step)
            EAPJourney.objects.filter(pk=eap.pk).update(
                created_at=start + dt.timedelta(hours=rng.randrange(0, 24 * 90)),
                is_active=rng.random() < 0.9,
                deletion_reason="test",
            )
    for _ in range(3):
        PatientLeadFactory()  # open leads: no navigator
    Patient.objects.filter(pk=patients[0].pk).update(navigator=navigators[1])
    assert exact()
    assert len(stored("lead_cohort")) > 10 and len(stored("eap_cohort")) > 5

    leads, eaps = expected_leads(), expected_eap()
    for period in (
        ReportPeriod(dt.date(2026, 9, 7), dt.date(2026, 11, 29)),
        ReportPeriod(dt.date(2026, 9, 16), dt.date(2026, 10, 14)),
    ):
        for navigator in (None, *navigators):
            report = navigation_report(period=period, navigator=navigator)
            mine = [
                r for r in leads if period.start <= r[1] < period.end and (navigator is None or r[2] == navigator.pk)
            ]
            assert (
                report.leads.created,
                report.leads.converted,
                report.leads.ct_referred,
                report.leads.ct_enrolled,
            ) == (len(mine), sum(r[3] for r in mine), sum(r[4] for r in mine), sum(r[5] for r in mine))
            mine = [
                r for r in eaps if period.start <= r[1] < period.end and (navigator is None or r[2] == navigator.pk)
            ]
            assert (report.eap.opened, report.eap.submitted, report.eap.approved) == (
                len(mine),
                sum(r[3] for r in mine),
                sum(r[4] for r in mine),
            )


def test_check_report_rollups_finds_and_repairs_the_cohorts():
    patient = PatientFactory()
    PatientLeadFactory(
        person=patient.person, status=LeadStatus.CONVERTED, converted_patient=patient, converted_at=timezone.now()
    )
    EAPJourneyFactory(patient=patient)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE lead_cohort SET ct_referred = NOT ct_referred")
        cursor.execute("DELETE FROM eap_cohort")
    out = io.StringIO()
    with pytest.raises(CommandError, match=r"2 problem\(s\) found"):
        call_command("check_report_rollups", stdout=out)
    assert out.getvalue().splitlines() == [
        "lead_cohort: 1 rows stored but not computed, 1 computed but not stored",
        "eap_cohort: 0 rows stored but not computed, 1 computed but not stored",
    ]
    call_command("check_report_rollups", "--repair", stdout=io.StringIO())
    assert exact()


@pytest.mark.django_db(transaction=True)
def test_a_journey_opened_while_the_patient_changes_navigator_leaves_exact_cohorts(transactional_db):
    """The journey's trigger locks the patient: the navigator change waits for it, then its trigger sees the
    journey (without the lock it would rewrite the lead's row from a snapshot without the journey)."""
    a, b = NavigatorFactory(), NavigatorFactory()
    patient = PatientFactory(navigator=a)
    lead = PatientLeadFactory(
        person=patient.person, status=LeadStatus.CONVERTED, converted_patient=patient, converted_at=timezone.now()
    )
    opened = threading.Event()

    def navigator_opens_a_trial() -> None:
        try:
            with transaction.atomic():
                ClinicalTrialJourneyFactory(patient=patient)
                opened.set()
                wait_until_a_session_waits_for_a_lock()
        finally:
            connection.close()

    first = threading.Thread(target=navigator_opens_a_trial)
    first.start()
    assert opened.wait(timeout=30)
    Patient.objects.filter(pk=patient.pk).update(navigator=b)
    first.join(timeout=30)
    assert exact()
    assert flags("lead_cohort", lead.pk) == (b.pk, True, True, False)
