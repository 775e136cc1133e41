"""Control characters never get into stored text, whichever way it comes in (API, admin, services called by
commands), and stored text that already holds them is printed escaped by the management commands.

Refused: C0 controls and DEL, C1 controls, NUL, lone surrogates. Multi-line fields (notes, descriptions,
reasons, addresses) keep tab, line feed and carriage return; single-line ones (names, ids) do not."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from cm_program import services as cm
from cm_program.models import CanonicalPatient, CMEnrollment
from common.validation import check_text, control_character_problem, printable
from journeys import services as journeys
from patients import services as patients
from patients.models import CallHistory, Patient
from people import services as people
from tests.admin_smoke import admin_url
from tests.factories.cm_program import CMProgramFactory, CMProviderFactory
from tests.factories.journeys import ClinicalTrialJourneyFactory
from tests.factories.patients import PatientFactory
from tests.factories.people import NavigatorFactory
from tests.navigation_api import API, assert_error, client_for, written_rows

ESC = "\x1b[2J"  # "clear the screen"
C1_CSI = "\x9b31m"
BAD = [ESC, C1_CSI, "\x00", "\x07", "\x7f", "\ud800"]


@pytest.mark.parametrize("bad", BAD)
def test_the_shared_check_refuses_control_characters_and_names_them(bad):
    problem = control_character_problem(f"Ann{bad}Lee")
    assert problem is not None and f"U+{ord(bad[0]):04X}" in problem and "position 4" in problem
    with pytest.raises(ValidationError) as caught:
        check_text(f"Ann{bad}", field="first_name")
    assert list(caught.value.message_dict) == ["first_name"]


def test_multi_line_text_keeps_tab_and_line_breaks_single_line_text_does_not():
    notes = "Called twice.\r\nLeft a message:\tback Monday."
    assert control_character_problem(notes, multiline=True) is None
    assert "single-line" in control_character_problem(notes)
    assert control_character_problem(f"Notes{ESC}", multiline=True) is not None


def test_printable_escapes_what_a_terminal_would_obey():
    assert printable(f"Ann{ESC}\u2028Lee\ud800\tx\n") == "Ann\\x1b[2J\\u2028Lee\\ud800\\x09x\\x0a"
    assert printable("José O'Brien-Łukasz") == "José O'Brien-Łukasz"


# --- The services (what the admin and the commands call) -------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "write, field",
    [
        (lambda: people.person_create(first_name=f"Ann{ESC}", last_name="Lee"), "first_name"),
        (
            lambda: patients.patient_register(first_name="Ann", last_name=f"Lee{C1_CSI}", email=None),
            "last_name",
        ),
        (lambda: patients.medical_condition_create(name="New", description="About\x00it"), "description"),
        (lambda: patients.hospital_create(name="General\nHospital"), "name"),
        (lambda: patients.specialization_create(name=f"Neuro{ESC}"), "name"),
        (
            lambda: patients.lead_create(first_name="Lou", last_name="Reed", email=None, notes=f"Met at{ESC}"),
            "notes",
        ),
        (
            lambda: patients.call_log(
                patient=PatientFactory(), navigator=NavigatorFactory(), outcome="reached", notes="Hi\x07"
            ),
            "notes",
        ),
        (
            lambda: journeys.journey_open(patient=PatientFactory(), kind="eap", product=f"Compound{C1_CSI}"),
            "product",
        ),
        (
            lambda: journeys.journey_transition(
                journey=ClinicalTrialJourneyFactory(), to_status="pre_screening", note=f"Sent{ESC}"
            ),
            "note",
        ),
        (
            lambda: patients.patient_soft_delete(patient=PatientFactory(), reason=f"Duplicate{ESC}"),
            "reason",
        ),
        (
            lambda: cm.canonical_patient_create(first_name=f"Jo{ESC}", last_name="Doe", date_of_birth="1990-01-01"),
            "first_name",
        ),
        (lambda: cm.cm_program_create(name="Another", description=f"Weekly{ESC}"), "description"),
        (lambda: cm.cm_provider_create(first_name="Sam", last_name="Lee", credentials="CP\x85SS"), "credentials"),
        (
            lambda: cm.intakeq_patient_create(first_name="Tom", last_name="W", intakeq_client_id="IQ\t9"),
            "intakeq_client_id",
        ),
    ],
)
def test_services_refuse_control_characters_naming_the_field_and_write_nothing(write, field):
    with pytest.raises(ValidationError) as caught:
        write()
    assert field in caught.value.message_dict, caught.value.message_dict
    assert any("U+" in message for message in caught.value.message_dict[field])


@pytest.mark.django_db
def test_services_keep_line_breaks_in_notes():
    call = patients.call_log(
        patient=PatientFactory(), navigator=NavigatorFactory(), outcome="reached", notes="Line one.\nLine\ttwo."
    )
    assert CallHistory.objects.get(pk=call.pk).notes == "Line one.\nLine\ttwo."


@pytest.mark.django_db
def test_cm_event_and_reversal_reasons_refuse_control_characters():
    program, cpss = CMProgramFactory(), CMProviderFactory()
    result = cm.cm_patient_enroll_new(
        first_name="Jo", last_name="Doe", date_of_birth="1990-01-01", program=program, cpss_provider=cpss
    )
    with pytest.raises(ValidationError) as caught:
        cm.cm_event_record(
            enrollment=result.enrollment, event_type="manual_adjustment", points=5, reason=f"Bus pass{ESC}"
        )
    assert "reason" in caught.value.message_dict
    entry = result.enrollment.points_transactions.get()
    with pytest.raises(ValidationError):
        cm.cm_points_reverse(points_transaction=entry, reason="Oops\x00")
    assert result.enrollment.points_transactions.count() == 1


# --- The admin --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_admin_shows_a_form_error_and_saves_nothing(client, superuser):
    client.force_login(superuser)
    before = written_rows()
    response = client.post(admin_url(Patient, "add"), {"first_name": f"Ann{ESC}", "last_name": "Lee", "email": ""})
    assert response.status_code == 200
    [message] = response.context["adminform"].form.errors["first_name"]
    assert "control character U+001B" in message
    assert written_rows() == before


# --- The API ------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_api_refuses_line_breaks_in_names_and_keeps_them_in_notes(superuser):
    api = client_for(superuser)
    before = written_rows()
    refused = api.post(f"{API}/persons/", {"first_name": "Ann\nLee", "last_name": "X\tY"}, format="json")
    error = assert_error(refused, 400, "invalid", fields=("first_name", "last_name"))
    assert "single-line" in error["fields"]["first_name"][0]
    assert written_rows() == before
    patient, navigator = PatientFactory(), NavigatorFactory()
    body = {"patient": str(patient.pk), "navigator": str(navigator.pk), "outcome": "reached", "direction": "inbound"}
    logged = api.post(f"{API}/call-history/", {**body, "notes": "Line one.\r\nLine\ttwo."}, format="json")
    assert logged.status_code == 201, logged.content
    assert CallHistory.objects.get(pk=logged.json()["id"]).notes == "Line one.\r\nLine\ttwo."


# --- Commands print stored text escaped -----------------------------------------------------------------------


@pytest.mark.django_db
def test_cm_check_ledger_prints_names_stored_with_control_characters_escaped():
    program, cpss = CMProgramFactory(name="Moonlit CM"), CMProviderFactory()
    result = cm.cm_patient_enroll_new(
        first_name="Jo", last_name="Doe", date_of_birth="1990-01-01", program=program, cpss_provider=cpss
    )
    # A row written before control characters were refused (or by raw SQL: PostgreSQL itself refuses only
    # NUL), and a totals mismatch for the check to report.
    CanonicalPatient.objects.filter(pk=result.canonical_patient.pk).update(first_name=f"Jo{ESC}\x9b1m")
    CMEnrollment.objects.filter(pk=result.enrollment.pk).update(total_points=999)
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("cm_check_ledger", stdout=out)
    report = out.getvalue()
    assert "\x1b" not in report and "\x9b" not in report
    assert f"{result.enrollment.pk}  Jo\\x1b[2J\\x9b1m Doe (1990-01-01) in Moonlit CM: points stored 999" in report
