"""The CM desk in a real browser: a CPSS records a negative test and sees points and streak change, and
is refused patient navigation; a CM supervisor reads the caseload page and downloads its CSV, enrolls
an IntakeQ patient and opens the dual-enrollment list and the complete patient view."""

from __future__ import annotations

import csv
import io
import re

import pytest

from cm_program import services
from common import roles
from tests.browser.conftest import admin_login, assert_count, expect
from tests.conftest import make_user
from tests.factories.cm_program import CMProgramFactory, CMProviderFactory, IntakeQPatientFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def enroll(program, provider, first: str, last: str, dob: str, **profile):
    return services.cm_patient_enroll_new(
        first_name=first, last_name=last, date_of_birth=dob, program=program, cpss_provider=provider, **profile
    ).enrollment


def test_cpss_records_a_negative_test_and_cannot_open_patient_navigation(page, screenshot):
    casey = make_user("casey", roles.CPSS)
    provider = CMProviderFactory(user=casey, first_name="Casey", last_name="Peer", max_caseload=30)
    program = CMProgramFactory(name="Moonlit Contingency Management")
    enrollment = enroll(
        program,
        provider,
        "Jessica",
        "Martinez",
        "1992-03-22",
        phone="+18015550123",
        email="jessica@example.org",
        insurance_primary="Utah Medicaid",
        smartphone_access="yes",
    )
    services.cm_event_record(enrollment=enrollment, event_type="test_negative", actor=casey)
    services.cm_event_record(enrollment=enrollment, event_type="group_attendance", actor=casey)
    enroll(program, provider, "Marcus", "Reed", "1983-05-19")

    admin_login(page, "casey")
    assert page.locator("#workplace-links").inner_text().count("My caseload") == 1
    page.click("#workplace-links >> text=My caseload")
    page.click("text=Martinez, Jessica")
    expect(page.locator("#cm-total-points")).to_have_text("100")  # bonus 25 + negative 50 + attendance 25
    expect(page.locator("#cm-streak")).to_have_text("1")
    expect(page.locator("#cm-identity")).to_contain_text("Utah Medicaid")
    screenshot(page, "1-enrollment-before")

    page.select_option("#id_event-event_type", "test_negative")
    page.click("#cm-record-submit")
    page.wait_for_selector(".messagelist .success")
    expect(page.locator(".messagelist .success")).to_have_text(
        "Drug test: negative recorded for Jessica Martinez (1992-03-22): +60 points. Total 160 points, streak 2."
    )
    expect(page.locator("#cm-total-points")).to_have_text("160")
    expect(page.locator("#cm-streak")).to_have_text("2")
    newest = page.locator("#cm-ledger tbody tr").first
    expect(newest).to_contain_text("Drug test: negative")
    expect(newest).to_contain_text("+60")
    screenshot(page, "2-enrollment-after-negative-test")

    # An adjustment without a reason is refused on the page, and nothing changes.
    page.select_option("#id_event-event_type", "manual_adjustment")
    page.fill("#id_event-points", "15")
    page.click("#cm-record-submit")
    expect(page.locator("#cm-record-event")).to_contain_text("A manual adjustment needs a reason.")
    expect(page.locator("#cm-total-points")).to_have_text("160")
    screenshot(page, "3-adjustment-refused")

    response = page.goto("/admin/people/person/")
    assert response.status == 403
    expect(page.locator("body")).to_contain_text("403 Forbidden")
    screenshot(page, "4-patient-navigation-refused")


def test_cm_supervisor_reads_the_caseload_page_and_downloads_the_csv(page, screenshot):
    make_user("morgan", roles.CM_SUPERVISORS)
    program = CMProgramFactory(name="Moonlit Contingency Management")
    casey = CMProviderFactory(first_name="Casey", last_name="Peer", max_caseload=30, credentials="CPSS-II")
    riley = CMProviderFactory(first_name="Riley", last_name="Jensen", max_caseload=10)
    jordan = CMProviderFactory(first_name="Jordan", last_name="Nakamura", max_caseload=3)
    for i, provider in enumerate([casey] * 4 + [riley] * 9 + [jordan] * 3):
        enrollment = enroll(program, provider, f"Patient{i}", "Demo", f"19{70 + i}-01-15")
        if i % 3:
            services.cm_event_record(enrollment=enrollment, event_type="test_negative")

    admin_login(page, "morgan")
    page.click("#workplace-links >> text=CPSS caseloads")
    rows = page.locator("#caseloads tbody tr")
    assert_count(rows, 3)
    bars = {
        rows.nth(i).locator("th a").inner_text(): rows.nth(i).locator(".cm-bar").get_attribute("class")
        for i in range(3)
    }
    assert bars == {"Riley Jensen": "cm-bar warning", "Jordan Nakamura": "cm-bar danger", "Casey Peer": "cm-bar normal"}
    riley_row = page.locator(f'tr[data-provider="{riley.pk}"]')
    expect(riley_row).to_contain_text("90%")
    expect(riley_row).to_contain_text("9 / 10")
    screenshot(page, "1-caseloads")

    with page.expect_download() as info:
        page.click("#cm-caseload-csv")
    download = info.value
    assert re.fullmatch(r"cpss-caseloads-\d{4}-\d{2}-\d{2}\.csv", download.suggested_filename)
    with open(download.path(), encoding="utf-8") as handle:
        table = list(csv.reader(io.StringIO(handle.read())))
    assert table[0][:2] == ["CPSS", "Email"] and len(table) == 4
    by_name = {row[0]: row for row in table[1:]}
    assert by_name["Riley Jensen"][4:7] == ["9", "10", "90"]
    assert by_name["Jordan Nakamura"][4:7] == ["3", "3", "100"]

    # A figure opens the matching list: Riley's active patients.
    page.locator(f'tr[data-provider="{riley.pk}"] a.cm-active').click()
    page.wait_for_url(f"**/cmenrollment/?cpss={riley.pk}&status__exact=active")
    assert_count(page.locator("#result_list tbody tr"), 9)
    screenshot(page, "2-riley-active-enrollments")


def test_cm_supervisor_enrolls_an_intakeq_patient_and_sees_the_dual_enrollment(page, screenshot):
    make_user("morgan", roles.CM_SUPERVISORS)
    program = CMProgramFactory(name="Moonlit Contingency Management")
    casey = CMProviderFactory(first_name="Casey", last_name="Peer", max_caseload=30)
    IntakeQPatientFactory(
        intakeq_client_id="IQ-1001",
        first_name="John",
        last_name="Smith",
        date_of_birth="1985-06-15",
        email="john.smith@example.org",
        phone="(801) 555-0101",
    )
    IntakeQPatientFactory(intakeq_client_id="IQ-1004", first_name="Aisha", last_name="Khan")

    admin_login(page, "morgan")
    page.goto("/admin/cm_program/intakeqpatient/")
    page.locator("#result_list tr", has_text="IQ-1001").locator("input.action-select").check()
    page.select_option("select[name=action]", "enroll_in_cm")
    page.click("button[name=index]")
    page.wait_for_selector("#cm-enroll-form")
    page.select_option("#id_program", str(program.pk))
    page.select_option("#id_cpss_provider", str(casey.pk))
    screenshot(page, "1-enroll-form")
    page.click("#cm-enroll-form input[type=submit]")
    expect(page.locator(".messagelist")).to_contain_text(
        "Enrolled 1 in Moonlit Contingency Management with Casey Peer: John Smith."
    )
    screenshot(page, "2-enrolled")

    page.goto("/admin/")
    page.click("#workplace-links >> text=Dual enrollments")
    assert_count(page.locator("#dual-enrollments tbody tr"), 1)
    screenshot(page, "3-dual-enrollments")
    page.click("text=Smith, John")
    expect(page.locator("#cm-intakeq")).to_contain_text("IQ-1001")
    expect(page.locator("#cm-enrollments")).to_contain_text("Casey Peer")
    screenshot(page, "4-complete-patient-view")
