"""Patient navigation in a real browser: the navigators' and CRM supervisors' daily work in the admin.

Each test saves screenshots under tests/browser/screenshots/ so a person can look at the pages.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from django.utils import timezone

from journeys.services import journey_open, journey_transition
from patients.models import CallHistory, LeadStatus, Patient, PatientLead
from tests.browser.conftest import admin_login, assert_count, expect
from tests.factories.patients import (
    CallHistoryFactory,
    PatientFactory,
    PatientLeadFactory,
    PatientPhysicianRelationshipFactory,
    PhysicianFactory,
    seeded_condition,
)
from tests.factories.people import NavigatorFactory, PersonFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def days_ago(n: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=n)


@pytest.fixture
def me(navigator_user):
    """The ``nav`` login's Person, a patient navigator."""
    return NavigatorFactory(user=navigator_user, first_name="Nina", last_name="Navigator")


def _person(first: str, last: str, n: int, **kwargs):
    return PersonFactory(
        first_name=first,
        last_name=last,
        email=f"{first}.{last}@example.org".lower(),
        phone=f"+1801555{n:04d}",
        **kwargs,
    )


def _patient_with_history(navigator, first="Marta", last="Nilsson", n=142) -> Patient:
    patient = PatientFactory(
        person=_person(first, last, n, date_of_birth=dt.date(1961, 3, 9)),
        navigator=navigator,
        medical_condition=seeded_condition("GBM"),
    )
    CallHistoryFactory(patient=patient, navigator=navigator, call_date=days_ago(12), notes="First contact call.")
    CallHistoryFactory(
        patient=patient,
        navigator=navigator,
        call_date=days_ago(5),
        outcome="voicemail",
        call_duration_minutes=1,
        notes="Left a voicemail about the records.",
        reminder_date=timezone.localdate() - dt.timedelta(days=1),
    )
    journey = journey_open(
        patient=patient, kind="clinical_trial", trial_id="NCT05139056", trial_name="CAR-T for recurrent GBM"
    )
    journey_transition(journey=journey, to_status="pre_screening", note="Records requested.")
    journey_open(patient=patient, kind="eap", product="ONC201 (dordaviprone)", eap_number="EAP-2026-0057")
    doctor = PhysicianFactory(person=_person("Kwame", "Boateng", 901))
    PatientPhysicianRelationshipFactory(patient=patient, physician=doctor, is_primary=True)
    return patient


def test_navigator_logs_a_call_from_the_patient_page(page, screenshot, me):
    patient = _patient_with_history(me)
    PatientFactory(person=_person("Liam", "Garcia", 143), navigator=me)
    PatientFactory(person=_person("Someone", "Else", 144))  # another navigator's patient

    admin_login(page, "nav")
    page.get_by_role("link", name="My patients").click()
    page.wait_for_url("**/admin/patients/patient/")
    rows = page.locator("#result_list tbody tr")
    rows.first.wait_for()
    assert_count(rows, 2)
    expect(page.locator("#result_list")).not_to_contain_text("Someone Else")
    screenshot(page, "my-patients")

    page.get_by_role("link", name="Marta Nilsson").click()
    page.wait_for_url(f"**/admin/patients/patient/{patient.pk}/change/")
    expect(page.locator("#contact")).to_contain_text("marta.nilsson@example.org")
    page.get_by_label("Inbound").check()
    page.select_option("#id_call-outcome", "reached")
    page.fill("#id_call-call_duration_minutes", "14")
    page.fill("#id_call-reminder_date", (timezone.localdate() + dt.timedelta(days=7)).isoformat())
    page.fill("#id_call-notes", "Discussed the screening visit; she will bring her latest MRI.")
    page.locator("#log-call-form input[type=submit]").click()
    page.wait_for_url(f"**/admin/patients/patient/{patient.pk}/change/#calls")

    expect(page.locator(".messagelist")).to_contain_text("Logged the inbound call with Marta Nilsson (reached).")
    newest = page.locator("#call-list tbody tr").first
    for text in ("Discussed the screening visit", "Nina Navigator", "Inbound"):
        expect(newest).to_contain_text(text)
    assert_count(page.locator("#call-list tbody tr"), 3)
    call = CallHistory.objects.filter(patient=patient).order_by("-call_date").first()
    assert (call.navigator, call.outcome, call.call_duration_minutes) == (me, "reached", 14)
    screenshot(page, "patient-hub-after-logging-a-call")


def test_a_duplicate_email_is_caught_on_add(page, screenshot, me):
    existing = PatientFactory(person=_person("Ann", "Lee", 150), navigator=me)
    admin_login(page, "nav")

    page.goto("/admin/patients/patient/add/")
    page.fill("#id_first_name", "Ann")
    page.fill("#id_last_name", "Lee")
    page.fill("#id_email", "  ANN.Lee@Example.ORG ")
    page.locator("input[name=_save]").click()
    expect(page.locator(".field-email .errorlist")).to_contain_text(
        "This email belongs to Ann Lee (ann.lee@example.org)"
    )
    screenshot(page, "duplicate-email-on-patient-add")
    assert Patient.objects.count() == 1

    page.goto("/admin/people/person/add/")
    page.fill("#id_first_name", "Annie")
    page.fill("#id_last_name", "Lee")
    page.fill("#id_email", "ann.LEE@example.org")
    page.locator("input[name=_save]").click()
    expect(page.locator(".field-email .errorlist")).to_contain_text("A person with this email already exists: Ann Lee")
    screenshot(page, "duplicate-email-on-person-add")

    page.get_by_role("link", name="open the patient record").click()
    page.wait_for_url(f"**/admin/patients/patient/{existing.pk}/change/")
    expect(page.locator("h1")).to_have_text("Ann Lee")


def test_a_lead_is_converted_to_a_patient(page, screenshot, me):
    lead = PatientLeadFactory(
        person=_person("Hiro", "Tanaka", 160), status="qualified", medical_condition=seeded_condition("DMD")
    )
    admin_login(page, "nav")
    page.goto("/admin/patients/patientlead/")
    page.get_by_role("link", name="Hiro Tanaka", exact=True).click()
    page.locator("#convert-lead").click()
    expect(page.locator(".field-navigator")).to_contain_text("Nina Navigator")  # the navigator converting it
    screenshot(page, "convert-lead")
    page.locator("#convert-lead-form input[type=submit]").click()
    page.wait_for_url("**/admin/patients/patient/*/change/")

    lead.refresh_from_db()
    assert lead.status == LeadStatus.CONVERTED and lead.converted_patient.navigator == me
    expect(page.locator(".messagelist")).to_contain_text("Hiro Tanaka is now a patient.")
    expect(page.locator("h1")).to_have_text("Hiro Tanaka")
    expect(page.locator("#contact")).to_contain_text("Nina Navigator")
    screenshot(page, "converted-patient")
    assert PatientLead.objects.get(pk=lead.pk).converted_patient_id == lead.converted_patient_id


def test_a_journey_moves_to_its_next_status_with_a_note(page, screenshot, me):
    patient = _patient_with_history(me)
    journey = patient.ct_journeys.get()
    journey_transition(journey=journey, to_status="screening", note="Screening visit booked.")
    admin_login(page, "nav")
    page.goto(f"/admin/patients/patient/{patient.pk}/change/")
    page.get_by_role("link", name="NCT05139056").click()
    moves = page.locator("#journey-moves")
    expect(moves).to_contain_text("Move to Enrolled")
    expect(moves).not_to_contain_text("Move to Completed")

    page.get_by_role("link", name="Move to Enrolled").click()
    page.fill("#id_note", "Consent signed; first infusion on Monday.")
    screenshot(page, "journey-move-note")
    page.locator("#journey-move-form input[type=submit]").click()
    page.wait_for_url(f"**/admin/journeys/clinicaltrialjourney/{journey.pk}/change/")

    expect(page.locator(".messagelist")).to_contain_text("Moved to Enrolled.")
    timeline = page.locator("#status_changes-group")
    expect(timeline).to_contain_text("Consent signed; first infusion on Monday.")
    expect(timeline).to_contain_text("Enrolled")
    expect(moves).to_contain_text("Move to Completed")
    expect(moves).not_to_contain_text("Move to Enrolled")
    journey.refresh_from_db()
    assert (journey.status, journey.enrollment_date) == ("enrolled", timezone.localdate())
    screenshot(page, "journey-after-move")


def test_a_supervisor_opens_the_caseloads_and_downloads_the_csv(page, screenshot, crm_supervisor_user):
    team = [
        NavigatorFactory(first_name=first, last_name=last, email=f"{first.lower()}@crm.test")
        for first, last in (("Nina", "Navigator"), ("Paolo", "Rossi"), ("Amara", "Okafor"))
    ]
    for i, navigator in enumerate(team):
        for n in range(3 + 4 * i):
            patient = PatientFactory(navigator=navigator)
            CallHistoryFactory(
                patient=patient,
                navigator=navigator,
                call_date=days_ago(2 + n),
                reminder_date=timezone.localdate() - dt.timedelta(days=1) if n % 3 == 0 else None,
            )
    admin_login(page, "crmsup")
    page.get_by_role("link", name="Navigator caseloads").click()
    page.wait_for_url("**/admin/patients/patient/caseload/")
    rows = page.locator("#caseloads tbody tr")
    assert_count(rows, 3)
    assert [rows.nth(i).locator("th").inner_text() for i in range(3)] == [
        "Nina Navigator",  # by last name
        "Amara Okafor",
        "Paolo Rossi",
    ]
    assert_count(page.locator("#caseloads .crm-bar"), 3)
    screenshot(page, "caseloads")

    with page.expect_download() as info:
        page.locator("#caseload-csv").click()
    download = info.value
    assert download.suggested_filename == f"navigator-caseloads-{timezone.localdate():%Y-%m-%d}.csv"
    table = list(csv.reader(io.StringIO(Path(download.path()).read_text())))
    assert table[0][:3] == ["Navigator", "Email", "Active patients"]
    assert table[1:] == [
        ["Nina Navigator", "nina@crm.test", "3", "3", "3", "1"],
        ["Amara Okafor", "amara@crm.test", "11", "5", "11", "4"],
        ["Paolo Rossi", "paolo@crm.test", "7", "5", "7", "3"],
    ]

    # Each figure opens the list behind it.
    rows.nth(1).locator("td.num a").last.click()  # Amara Okafor's overdue follow-ups
    page.wait_for_url("**/admin/patients/patient/?*follow_up=overdue*")
    assert_count(page.locator("#result_list tbody tr"), 4)
    screenshot(page, "caseload-overdue-list")
