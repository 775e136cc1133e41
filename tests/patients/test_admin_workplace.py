"""The navigators' workplace in the admin: the patient hub, logging and voiding calls, converting leads,
duplicate emails on add, the "my patients" list and its filters, the admin index links."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib import admin
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from journeys.services import journey_open, journey_transition
from patients import services
from patients.models import CallHistory, LeadStatus, Patient, PatientLead, Physician
from people.models import Person
from tests.admin_smoke import admin_url
from tests.factories.patients import (
    CallHistoryFactory,
    PatientFactory,
    PatientLeadFactory,
    PatientPhysicianRelationshipFactory,
    PhysicianFactory,
    seeded_condition,
)
from tests.factories.people import NavigatorFactory, PersonFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def me(navigator_user) -> Person:
    """The navigator login's own Person, holding the navigator role."""
    return NavigatorFactory(user=navigator_user, first_name="Nina", last_name="Navigator")


@pytest.fixture
def nav_client(client, navigator_user, me):
    client.force_login(navigator_user)
    return client


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def days_ago(n: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=n)


def today_plus(n: int) -> dt.date:
    return timezone.localdate() + dt.timedelta(days=n)


def result_pks(response) -> set:
    return {row.pk for row in response.context["cl"].result_list}


# --- The patient page: the hub --------------------------------------------------------------------------


def test_patient_page_is_the_hub(nav_client, me):
    person = PersonFactory(
        first_name="Ann",
        last_name="Lee",
        email="ann.lee@example.org",
        phone="+18015550123",
        date_of_birth=dt.date(1980, 5, 17),
    )
    patient = PatientFactory(person=person, navigator=me)
    CallHistoryFactory(patient=patient, navigator=me, call_date=days_ago(9), notes="Oldest call")
    CallHistoryFactory(
        patient=patient, navigator=me, call_date=days_ago(1), notes="Newest call", reminder_date=today_plus(-1)
    )
    CallHistoryFactory(patient=patient, navigator=me, call_date=days_ago(4), notes="Middle call")
    ct = journey_open(patient=patient, kind="clinical_trial", trial_id="NCT07654321", trial_name="Gene therapy")
    journey_transition(journey=ct, to_status="pre_screening", note="records asked")
    journey_open(patient=patient, kind="eap", product="Compound X", eap_number="EAP-31337")
    doctor = PhysicianFactory(person=PersonFactory(last_name="Hartmann"))
    PatientPhysicianRelationshipFactory(patient=patient, physician=doctor, is_primary=True)

    response = nav_client.get(admin_url(Patient, "change", patient.pk))
    assert response.status_code == 200
    body = response.content.decode()
    # Contact block at the top, before the calls.
    contact = body.index('id="contact"')
    assert contact < body.index('id="calls"') < body.index('id="ct-journeys"') < body.index('id="physicians"')
    assert '<a href="mailto:ann.lee@example.org">ann.lee@example.org</a>' in body
    assert "+1 801-555-0123" in body and "May 17, 1980" in body
    assert f'href="{admin_url(Person, "change", person.pk)}"' in body
    assert "overdue" in body  # the follow-up of the latest call was yesterday
    # Calls newest first, and the quick form with the navigator preset to the user's Person.
    assert body.index("Newest call") < body.index("Middle call") < body.index("Oldest call")
    assert 'id="log-call-form"' in body
    assert re.search(rf'<option value="{me.pk}" selected>Nina Navigator</option>', body)
    # Journeys with their current status, physicians, audit history.
    assert "NCT07654321" in body and "Pre-screening" in body and admin_url(type(ct), "change", ct.pk) in body
    assert "EAP-31337" in body and "Pending" in body
    assert "Dr. " in body and "Hartmann" in body and "primary" in body
    assert f'href="{admin_url(Patient, "history", patient.pk)}"' in body and "Audit history" in body


def test_patient_page_caps_the_calls_and_its_queries_do_not_grow(admin_client, django_assert_num_queries):
    patient = PatientFactory()
    CallHistoryFactory(patient=patient, call_date=days_ago(1))
    url = admin_url(Patient, "change", patient.pk)
    with CaptureQueriesContext(connection) as few:
        admin_client.get(url)
    for n in range(32):
        CallHistoryFactory(patient=patient, call_date=days_ago(n + 5))
    with django_assert_num_queries(len(few.captured_queries)):
        response = admin_client.get(url)
    body = response.content.decode()
    assert len(response.context["calls"]) == 10
    assert "The 10 most recent of 33 calls." in body
    assert f"{admin_url(CallHistory, 'changelist')}?patient={patient.pk}" in body
    listed = admin_client.get(admin_url(CallHistory, "changelist"), {"patient": str(patient.pk)})
    assert listed.context["cl"].result_count == 33 and "Patient" in listed.content.decode()


def test_log_a_call_from_the_patient_page_defaults_to_me_and_now(nav_client, navigator_user, me):
    patient = PatientFactory(navigator=me)
    CallHistoryFactory(patient=patient, navigator=me, call_date=days_ago(3), notes="Earlier call")
    response = nav_client.post(
        reverse("admin:patients_patient_log_call", args=[patient.pk]),
        {
            "call-direction": "inbound",
            "call-outcome": "reached",
            "call-call_duration_minutes": "12",
            "call-notes": "Asked about the DMD trial",
            "call-reminder_date": today_plus(7).isoformat(),
            "call-call_date": "",
            "call-navigator": "",
        },
    )
    assert response.status_code == 302
    assert response.url == admin_url(Patient, "change", patient.pk) + "#calls"
    call = CallHistory.objects.filter(patient=patient).order_by("-call_date").first()
    assert (call.direction, call.outcome, call.call_duration_minutes, call.notes) == (
        "inbound",
        "reached",
        12,
        "Asked about the DMD trial",
    )
    assert (call.navigator, call.created_by, call.reminder_date) == (me, navigator_user, today_plus(7))
    assert abs((timezone.now() - call.call_date).total_seconds()) < 60
    page = nav_client.get(response.url).content.decode()
    assert "Logged the inbound call with" in page
    assert page.index("Asked about the DMD trial") < page.index("Earlier call")  # at the top


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"call-reminder_date": "2001-01-01"}, "reminder_date", "A follow-up cannot be before the call."),
        ({"call-call_date": "2999-01-01T10:00"}, "call_date", "A call cannot be logged in the future."),
        ({"call-outcome": ""}, "outcome", "This field is required."),
        ({"call-call_duration_minutes": "-5"}, "call_duration_minutes", "greater than or equal to 0"),
        ({"call-direction": "sideways"}, "direction", "Select a valid choice."),
    ],
)
def test_a_refused_call_shows_why_and_logs_nothing(nav_client, me, fields, field, message):
    patient = PatientFactory(navigator=me)
    data = {"call-direction": "outbound", "call-outcome": "voicemail", **fields}
    response = nav_client.post(reverse("admin:patients_patient_log_call", args=[patient.pk]), data)
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    assert "The call was not logged." in response.content.decode()
    assert not CallHistory.all_objects.filter(patient=patient).exists()


def test_a_user_who_is_not_a_navigator_names_the_navigator(admin_client):
    patient = PatientFactory()
    url = reverse("admin:patients_patient_log_call", args=[patient.pk])
    response = admin_client.post(url, {"call-direction": "outbound", "call-outcome": "reached"})
    assert response.status_code == 200
    assert response.context["form"].errors["navigator"] == ["Name the navigator who made or took the call."]
    response = admin_client.post(
        url, {"call-direction": "outbound", "call-outcome": "reached", "call-navigator": str(patient.navigator_id)}
    )
    assert response.status_code == 302
    assert CallHistory.objects.get(patient=patient).navigator == patient.navigator


def test_cm_staff_cannot_log_calls_or_open_the_hub(client, cpss_user):
    patient = PatientFactory()
    client.force_login(cpss_user)
    url = reverse("admin:patients_patient_log_call", args=[patient.pk])
    assert client.post(url, {"call-direction": "outbound", "call-outcome": "reached"}).status_code == 403
    assert client.get(admin_url(Patient, "change", patient.pk)).status_code == 403
    assert not CallHistory.objects.exists()


# --- Voiding calls ----------------------------------------------------------------------------------------


def test_voiding_a_call_asks_for_a_reason_and_keeps_it(nav_client, navigator_user, me):
    call = CallHistoryFactory(patient=PatientFactory(navigator=me), navigator=me, notes="Logged on the wrong patient")
    url = reverse("admin:patients_callhistory_void", args=[call.pk])
    page = nav_client.get(url)
    assert page.status_code == 200 and "Logged on the wrong patient" in page.content.decode()
    response = nav_client.post(url, {"reason": "   "})
    assert response.status_code == 200 and response.context["form"].errors["reason"] == ["This field is required."]
    assert CallHistory.objects.filter(pk=call.pk).exists()

    response = nav_client.post(url, {"reason": "wrong patient"})
    assert response.status_code == 302
    assert response.url == admin_url(Patient, "change", call.patient_id) + "#calls"
    stored = CallHistory.all_objects.get(pk=call.pk)
    assert (stored.is_void, stored.void_reason, stored.voided_by) == (True, "wrong patient", navigator_user)
    hub = nav_client.get(response.url).content.decode()
    assert "Logged on the wrong patient" not in hub and "Voided:" in hub
    # Still on record: the call list shows it as void.
    listed = nav_client.get(admin_url(CallHistory, "changelist"), {"patient": str(call.patient_id), "void": "yes"})
    assert result_pks(listed) == {call.pk} and "crm-void" in listed.content.decode()
    # Voiding twice changes nothing.
    assert nav_client.post(url, {"reason": "again"}).status_code == 302
    assert CallHistory.all_objects.get(pk=call.pk).void_reason == "wrong patient"


def test_the_call_page_offers_void_and_a_void_call_says_so(nav_client, me):
    call = CallHistoryFactory(patient=PatientFactory(navigator=me), navigator=me)
    body = nav_client.get(admin_url(CallHistory, "change", call.pk)).content.decode()
    assert reverse("admin:patients_callhistory_void", args=[call.pk]) in body and "Void this call" in body
    services.call_void(call=call, reason="duplicate entry")
    body = nav_client.get(admin_url(CallHistory, "change", call.pk)).content.decode()
    assert "This call is void since" in body and "duplicate entry" in body and "Void this call" not in body


def test_navigators_hard_delete_nothing(nav_client, navigator_user):
    request = RequestFactory().get("/admin/")
    request.user = navigator_user
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label not in ("people", "patients", "journeys"):
            continue
        assert not model_admin.has_delete_permission(request), model
        assert "delete_selected" not in model_admin.get_actions(request), model
    call = CallHistoryFactory()
    assert nav_client.get(admin_url(CallHistory, "delete", call.pk)).status_code == 403
    assert nav_client.post(admin_url(CallHistory, "delete", call.pk), {"post": "yes"}).status_code == 403
    assert CallHistory.all_objects.filter(pk=call.pk).exists()


# --- Leads ------------------------------------------------------------------------------------------------


def test_convert_a_lead_from_its_page(nav_client, me):
    lead = PatientLeadFactory(person=PersonFactory(first_name="Hiro", last_name="Tanaka"), status="qualified")
    body = nav_client.get(admin_url(PatientLead, "change", lead.pk)).content.decode()
    convert_url = reverse("admin:patients_patientlead_convert", args=[lead.pk])
    assert f'href="{convert_url}"' in body and "Convert to patient" in body

    page = nav_client.get(convert_url)
    assert page.status_code == 200
    assert re.search(rf'<option value="{me.pk}" selected>Nina Navigator</option>', page.content.decode())
    response = nav_client.post(convert_url, {"navigator": str(me.pk), "first_contact_date": ""})
    lead.refresh_from_db()
    assert lead.status == LeadStatus.CONVERTED
    patient = lead.converted_patient
    assert response.status_code == 302 and response.url == admin_url(Patient, "change", patient.pk)
    assert (patient.person, patient.navigator) == (lead.person, me)
    hub = nav_client.get(response.url).content.decode()
    assert "Hiro Tanaka is now a patient." in hub

    # Converting again is harmless: it opens the same patient.
    again = nav_client.post(convert_url, {"navigator": str(me.pk)}, follow=True)
    assert again.redirect_chain[-1][0] == admin_url(Patient, "change", patient.pk)
    assert "This lead was converted on" in again.content.decode()
    assert Patient.objects.filter(person=lead.person).count() == 1
    body = nav_client.get(admin_url(PatientLead, "change", lead.pk)).content.decode()
    assert "Open the patient" in body and convert_url not in body


def test_convert_action_links_each_new_patient(nav_client):
    leads = [PatientLeadFactory(), PatientLeadFactory()]
    response = nav_client.post(
        admin_url(PatientLead, "changelist"),
        {"action": "convert_selected", "_selected_action": [lead.pk for lead in leads]},
        follow=True,
    )
    body = response.content.decode()
    assert "Converted to patients:" in body
    for lead in leads:
        lead.refresh_from_db()
        assert f'href="{admin_url(Patient, "change", lead.converted_patient_id)}"' in body


def test_cm_staff_cannot_convert_leads(client, cpss_user):
    lead = PatientLeadFactory()
    client.force_login(cpss_user)
    assert client.post(reverse("admin:patients_patientlead_convert", args=[lead.pk]), {}).status_code == 403
    assert PatientLead.objects.get(pk=lead.pk).status == LeadStatus.NEW


# --- Duplicate emails on add -------------------------------------------------------------------------------


def _lead_form(email: str) -> dict:
    return {"first_name": "Kim", "last_name": "Ng", "email": email, "source": "contact_form", "notes": ""}


def test_a_lead_for_someone_who_is_a_patient_links_to_the_patient(nav_client):
    patient = PatientFactory(person=PersonFactory(first_name="Kim", last_name="Ng", email="kim@x.org"))
    response = nav_client.post(admin_url(PatientLead, "add"), _lead_form("  KIM@X.org "))
    assert response.status_code == 200
    [error] = response.context["adminform"].form.errors["email"]
    assert "They are a patient already" in error
    body = response.content.decode()
    assert f'href="{admin_url(Person, "change", patient.person_id)}"' in body
    assert f'href="{admin_url(Patient, "change", patient.pk)}"' in body
    assert not PatientLead.objects.exists() and Person.objects.filter(email="kim@x.org").count() == 1


def test_a_second_open_lead_links_to_the_first(nav_client):
    lead = PatientLeadFactory(person=PersonFactory(email="kim@x.org"))
    response = nav_client.post(admin_url(PatientLead, "add"), _lead_form("Kim@X.org"))
    assert response.status_code == 200
    assert "already has an open lead" in response.context["adminform"].form.errors["email"][0]
    assert f'href="{admin_url(PatientLead, "change", lead.pk)}">open the lead</a>' in response.content.decode()
    assert PatientLead.objects.count() == 1


def test_a_lead_for_a_known_person_reuses_them(nav_client):
    lost = PatientLeadFactory(person=PersonFactory(first_name="Kim", last_name="Ng", email="kim@x.org"))
    services.lead_set_status(lead=lost, status="lost")
    response = nav_client.post(admin_url(PatientLead, "add"), _lead_form(" kim@x.org"), follow=True)
    assert response.status_code == 200
    assert "Recorded on the existing person record of" in response.content.decode()
    assert Person.objects.filter(email="kim@x.org").count() == 1
    assert PatientLead.objects.filter(person=lost.person).count() == 2


def test_a_deleted_person_s_email_asks_to_restore_them(admin_client):
    person = PersonFactory(email="gone@x.org")
    from people.services import person_soft_delete

    person_soft_delete(person=person, reason="duplicate")
    form = {
        "first_name": "G",
        "last_name": "One",
        "email": "GONE@x.org",
        "first_contact_date": timezone.localdate().isoformat(),
    }
    response = admin_client.post(admin_url(Patient, "add"), form)
    assert response.status_code == 200
    assert "deleted: restore them" in response.context["adminform"].form.errors["email"][0]
    assert not Patient.all_objects.exists()


def test_a_second_physician_record_links_to_the_first(admin_client):
    doctor = PhysicianFactory(person=PersonFactory(email="house@x.org"))
    response = admin_client.post(
        admin_url(Physician, "add"), {"first_name": "Greg", "last_name": "House", "email": "HOUSE@x.org "}
    )
    assert response.status_code == 200
    assert f'href="{admin_url(Physician, "change", doctor.pk)}"' in response.content.decode()
    assert Physician.objects.count() == 1


# --- The patient list ---------------------------------------------------------------------------------------


def test_a_navigator_s_patient_list_opens_on_my_patients(nav_client, me):
    mine = {PatientFactory(navigator=me).pk, PatientFactory(navigator=me).pk}
    other_navigator = NavigatorFactory(last_name="Rossi")
    theirs = PatientFactory(navigator=other_navigator)
    unassigned = PatientFactory(navigator=None)
    url = admin_url(Patient, "changelist")

    response = nav_client.get(url)
    assert result_pks(response) == mine
    body = response.content.decode()
    assert re.search(r'<li class="selected">\s*<a href="\?navigator=mine"[^>]*>My patients</a>', body)
    assert 'href="?navigator=all"' in body  # "All" has to say so
    assert result_pks(nav_client.get(url, {"navigator": "all"})) == {*mine, theirs.pk, unassigned.pk}
    assert result_pks(nav_client.get(url, {"navigator": str(other_navigator.pk)})) == {theirs.pk}
    assert result_pks(nav_client.get(url, {"navigator": "none"})) == {unassigned.pk}


def test_a_supervisor_s_patient_list_opens_on_everyone(client, crm_supervisor_user):
    patients = {PatientFactory().pk, PatientFactory().pk}
    client.force_login(crm_supervisor_user)
    response = client.get(admin_url(Patient, "changelist"))
    assert result_pks(response) == patients
    assert "My patients" not in response.content.decode()


def test_follow_up_filters(nav_client, me):
    def patient_with_reminder(days: int | None, **kwargs):
        patient = PatientFactory(navigator=me, **kwargs)
        CallHistoryFactory(
            patient=patient,
            navigator=me,
            call_date=days_ago(20),
            reminder_date=today_plus(days) if days is not None else None,
        )
        return patient.pk

    overdue, today, soon, later, none = (patient_with_reminder(d) for d in (-3, 0, 4, 20, None))
    closed_overdue = patient_with_reminder(-3, status="closed")
    never_called = PatientFactory(navigator=me).pk
    url = admin_url(Patient, "changelist")
    assert result_pks(nav_client.get(url, {"follow_up": "overdue"})) == {overdue}
    assert result_pks(nav_client.get(url, {"follow_up": "due"})) == {overdue, today}
    assert result_pks(nav_client.get(url, {"follow_up": "today"})) == {today}
    assert result_pks(nav_client.get(url, {"follow_up": "week"})) == {soon}
    assert result_pks(nav_client.get(url, {"follow_up": "none"})) == {none, never_called}
    assert closed_overdue in result_pks(nav_client.get(url))
    assert later in result_pks(nav_client.get(url))


def test_status_condition_and_journey_filters(nav_client, me):
    screening = PatientFactory(navigator=me, medical_condition=seeded_condition("GBM"))
    journey = journey_open(patient=screening, kind="clinical_trial", trial_id="NCT01230123")
    journey_transition(journey=journey, to_status="pre_screening")
    journey_transition(journey=journey, to_status="screening")
    eap_patient = PatientFactory(navigator=me)
    journey_open(patient=eap_patient, kind="eap", product="X")
    withdrawn = PatientFactory(navigator=me, status="inactive")
    ended = journey_open(patient=withdrawn, kind="eap", product="Y")
    journey_transition(journey=ended, to_status="withdrawn")
    nothing = PatientFactory(navigator=me)
    url = admin_url(Patient, "changelist")
    assert result_pks(nav_client.get(url, {"journey": "ct:screening"})) == {screening.pk}
    assert result_pks(nav_client.get(url, {"journey": "eap:pending"})) == {eap_patient.pk}
    assert result_pks(nav_client.get(url, {"journey": "open"})) == {screening.pk, eap_patient.pk}
    assert result_pks(nav_client.get(url, {"journey": "none"})) == {nothing.pk}
    assert result_pks(nav_client.get(url, {"status__exact": "inactive"})) == {withdrawn.pk}
    gbm = seeded_condition("GBM").pk
    assert result_pks(nav_client.get(url, {"medical_condition__id__exact": str(gbm)})) == {screening.pk}


@pytest.mark.parametrize("term", ["lindqvist", "ANNA LINDQVIST", "Anna.L@Example.org", "(801) 555-0199", "5550199"])
def test_search_by_name_email_and_phone_however_typed(nav_client, me, term):
    person = PersonFactory(first_name="Anna", last_name="Lindqvist", email="anna.l@example.org", phone="+18015550199")
    anna = PatientFactory(person=person, navigator=me)
    PatientFactory(navigator=me)
    response = nav_client.get(admin_url(Patient, "changelist"), {"q": term})
    assert result_pks(response) == {anna.pk}


@pytest.mark.parametrize(
    "params",
    [
        {"navigator": "banana"},
        {"follow_up": "someday"},
        {"journey": "ct:nope"},
        {"journey": "x"},
        {"deleted": "maybe"},
    ],
)
def test_bad_filter_values_are_not_errors(nav_client, params):
    response = nav_client.get(admin_url(Patient, "changelist"), params)
    assert response.status_code == 302 and response.url.endswith("?e=1")


@pytest.mark.parametrize("params", [{"patient": "nope"}, {"within": "9"}, {"void": "?"}, {"navigator": "1"}])
def test_bad_call_filter_values_are_not_errors(nav_client, params):
    response = nav_client.get(admin_url(CallHistory, "changelist"), params)
    assert response.status_code == 302 and response.url.endswith("?e=1")


# --- The admin index: each role's way in -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role_fixture", "shown", "hidden"),
    [
        ("navigator_user", ["My patients", "My follow-ups due"], ["Navigator caseloads"]),
        ("crm_supervisor_user", ["Navigator caseloads"], ["My patients", "My follow-ups due"]),
        ("superuser", ["Navigator caseloads"], ["My patients"]),
        ("cpss_user", [], ["Navigator caseloads", "My patients"]),
        ("cm_supervisor_user", [], ["Navigator caseloads", "My patients"]),
    ],
)
def test_the_admin_index_links_each_role_to_its_pages(client, request, role_fixture, shown, hidden):
    client.force_login(request.getfixturevalue(role_fixture))
    body = client.get("/admin/").content.decode()
    workplace = body[body.index('id="workplace-links"') :] if 'id="workplace-links"' in body else ""
    for title in shown:
        assert f">{title}</a>" in workplace
    for title in hidden:
        assert f">{title}</a>" not in body


def test_my_follow_ups_link_opens_the_filtered_list(nav_client, me):
    due = PatientFactory(navigator=me)
    CallHistoryFactory(patient=due, navigator=me, call_date=days_ago(3), reminder_date=today_plus(-1))
    PatientFactory(navigator=me)
    response = nav_client.get(reverse("admin:patients_my_follow_ups"), follow=True)
    assert response.redirect_chain[0][0].endswith("?navigator=mine&follow_up=due")
    assert result_pks(response) == {due.pk}


# --- Record history and every custom page for every role ---------------------------------------------------


def test_the_history_page_shows_who_changed_what(nav_client, me):
    patient = PatientFactory(navigator=me, status="active")
    form = {
        "medical_condition": str(patient.medical_condition_id),
        "navigator": str(me.pk),
        "status": "inactive",
        "first_contact_date": patient.first_contact_date.isoformat(),
    }
    assert nav_client.post(admin_url(Patient, "change", patient.pk), form).status_code == 302
    response = nav_client.get(admin_url(Patient, "history", patient.pk))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="audit-trail"' in body
    assert "<td>nav</td>" in body and "<td>admin</td>" in body  # who, through which channel
    assert "<strong>status</strong>: active &rarr; inactive" in body


def _custom_pages():
    patient = PatientFactory()
    call = CallHistoryFactory(patient=patient)
    lead = PatientLeadFactory()
    journey = journey_open(patient=patient, kind="clinical_trial", trial_id="NCT01230999")
    return {
        "caseload": reverse("admin:patients_caseload"),
        "caseload_csv": reverse("admin:patients_caseload_csv"),
        "my_follow_ups": reverse("admin:patients_my_follow_ups"),
        "log_call": reverse("admin:patients_patient_log_call", args=[patient.pk]),
        "void": reverse("admin:patients_callhistory_void", args=[call.pk]),
        "convert": reverse("admin:patients_patientlead_convert", args=[lead.pk]),
        "move": reverse("admin:journeys_clinicaltrialjourney_move", args=[journey.pk, "pre_screening"]),
    }


ALL_WORK_PAGES = {"log_call", "void", "convert", "move"}


@pytest.mark.parametrize(
    ("role_fixture", "allowed"),
    [
        ("superuser", {"caseload", "caseload_csv", "my_follow_ups", *ALL_WORK_PAGES}),
        ("crm_supervisor_user", {"caseload", "caseload_csv", "my_follow_ups", *ALL_WORK_PAGES}),
        ("navigator_user", {"my_follow_ups", *ALL_WORK_PAGES}),
        ("cpss_user", {"my_follow_ups"}),  # a redirect to a list they are then refused
        ("cm_supervisor_user", {"my_follow_ups"}),
    ],
)
def test_every_custom_page_loads_for_the_roles_that_may_open_it(client, request, role_fixture, allowed):
    client.force_login(request.getfixturevalue(role_fixture))
    for name, url in _custom_pages().items():
        status = client.get(url).status_code
        expected = (302 if name == "my_follow_ups" else 200) if name in allowed else 403
        assert status == expected, f"{role_fixture} {name}: {status}"


def test_custom_pages_of_missing_records_do_not_fail(admin_client):
    import uuid

    for name in ("patients_patient_log_call", "patients_callhistory_void", "patients_patientlead_convert"):
        response = admin_client.get(reverse(f"admin:{name}", args=[uuid.uuid4()]))
        assert response.status_code == 302 and response.url == "/admin/", name
    response = admin_client.get(reverse("admin:journeys_clinicaltrialjourney_move", args=["nope", "screening"]))
    assert response.status_code == 302


def test_patient_page_shows_each_journey_since_its_latest_step_in_the_same_queries(
    admin_client, django_assert_num_queries
):
    """The "Since" column is the date of the journey's latest step; the journeys cost the same queries
    whether the patient has none or several with their timelines (no prefetch of every step)."""
    patient = PatientFactory()
    url = admin_url(Patient, "change", patient.pk)
    with CaptureQueriesContext(connection) as none:
        admin_client.get(url)
    ct = journey_open(patient=patient, kind="clinical_trial", trial_id="NCT07654322", trial_name="Trial")
    ct.status_changes.update(changed_at=timezone.now() - dt.timedelta(days=10))  # opened 10 days ago
    stepped = timezone.now() - dt.timedelta(days=3)
    journey_transition(journey=ct, to_status="pre_screening", at=stepped)
    journey_open(patient=patient, kind="eap", product="Compound Y")
    with django_assert_num_queries(len(none.captured_queries)):
        response = admin_client.get(url)
    [row] = response.context["ct_journeys"]
    assert row["last_step_at"] == stepped and ct.status_changes.count() == 2
    [eap_row] = response.context["eap_journeys"]
    assert eap_row["last_step_at"] is not None
