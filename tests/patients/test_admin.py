"""Patient-navigation admin: every page loads; adds and edits go through the services."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from common.audit import record_history
from patients.models import CallHistory, LeadStatus, MedicalCondition, Patient, PatientLead, Physician
from people.models import Person
from tests.admin_smoke import admin_url, smoke
from tests.factories.journeys import ClinicalTrialJourneyFactory, EAPJourneyFactory
from tests.factories.patients import (
    CallHistoryFactory,
    HospitalFactory,
    PatientFactory,
    PatientLeadFactory,
    PatientPhysicianRelationshipFactory,
    PhysicianFactory,
    SpecializationFactory,
    seeded_condition,
)
from tests.factories.people import NavigatorFactory, PersonFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def _named(last_name: str):
    return PersonFactory(last_name=last_name)


@pytest.mark.parametrize(
    ("make", "search"),
    [
        (lambda: seeded_condition("GBM"), "glioblastoma"),
        (lambda: HospitalFactory(name="Mercy West"), "mercy"),
        (lambda: SpecializationFactory(name="Pulmonology"), "pulmo"),
        (lambda: PatientLeadFactory(person=_named("Lindqvist")), "lindqvist"),
        (lambda: PatientFactory(person=_named("Okonkwo")), "okonkwo"),
        (lambda: PhysicianFactory(person=_named("Hartmann")), "hartmann"),
        (lambda: PatientPhysicianRelationshipFactory(patient=PatientFactory(person=_named("Moreau"))), "moreau"),
        (lambda: CallHistoryFactory(patient=PatientFactory(person=_named("Tanaka"))), "tanaka"),
    ],
)
def test_admin_pages_load(admin_client, make, search):
    smoke(admin_client, make(), search=search)


def test_patient_change_page_shows_calls_journeys_and_physicians(admin_client):
    patient = PatientFactory()
    CallHistoryFactory(patient=patient, notes="Discussed the DMD gene therapy trial")
    ClinicalTrialJourneyFactory(patient=patient, trial_id="NCT07654321")
    EAPJourneyFactory(patient=patient, eap_number="EAP-31337")
    PatientPhysicianRelationshipFactory(patient=patient)
    body = admin_client.get(admin_url(Patient, "change", patient.pk)).content.decode()
    for text in ("Discussed the DMD gene therapy trial", "NCT07654321", "EAP-31337", "Treating"):
        assert text in body


def _patient_form(**overrides):
    return {
        "first_name": "Ann",
        "last_name": "Lee",
        "email": "  ANN.lee@example.org ",
        "phone": "801-555-0123",
        "date_of_birth": "1980-05-17",
        "medical_condition": str(seeded_condition("DMD").pk),
        "first_contact_date": timezone.localdate().isoformat(),
        **overrides,
    }


def test_adding_a_patient_uses_the_returning_patient_rule(admin_client):
    existing = Person.objects.create(first_name="Ann", last_name="Lee", email="ann.lee@example.org", phone="")
    response = admin_client.post(admin_url(Patient, "add"), _patient_form(), follow=True)
    assert response.status_code == 200
    patient = Patient.objects.get()
    assert patient.person == existing and Person.objects.count() == 1
    existing.refresh_from_db()
    assert existing.phone == "+18015550123"  # blank filled
    body = response.content.decode()
    assert "Registered on the existing person record of" in body
    assert f'href="{admin_url(Person, "change", existing.pk)}"' in body


def test_adding_the_same_patient_twice_is_a_form_error_naming_and_linking_the_existing_one(admin_client):
    first = PatientFactory(person=PersonFactory(first_name="Ann", last_name="Lee", email="ann.lee@example.org"))
    response = admin_client.post(admin_url(Patient, "add"), _patient_form())  # email "  ANN.lee@example.org "
    assert response.status_code == 200
    [error] = response.context["adminform"].form.errors["email"]
    assert "This email belongs to" in error and "Ann Lee" in error and "(ann.lee@example.org)" in error
    body = response.content.decode()
    assert f'href="{admin_url(Person, "change", first.person.pk)}"' in body
    assert f'href="{admin_url(Patient, "change", first.pk)}">open the patient record</a>' in body
    assert Patient.objects.count() == 1 and Person.objects.count() == 2  # the navigator is a Person too


def test_adding_a_patient_with_bad_input_shows_every_field_error(admin_client):
    future = (timezone.localdate() + dt.timedelta(days=2)).isoformat()
    response = admin_client.post(
        admin_url(Patient, "add"), _patient_form(email="nope", phone="000", date_of_birth=future)
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert set(errors) >= {"email", "phone", "date_of_birth"}
    assert not Patient.objects.exists() and not Person.objects.exists()


def test_editing_a_call_keeps_the_old_values(admin_client):
    call = CallHistoryFactory(notes="first notes")
    form = {
        "navigator": str(call.navigator_id),
        "call_date_0": timezone.localtime(call.call_date).strftime("%Y-%m-%d"),
        "call_date_1": timezone.localtime(call.call_date).strftime("%H:%M:%S"),
        "direction": call.direction,
        "outcome": call.outcome,
        "call_duration_minutes": "15",
        "notes": "corrected notes",
    }
    response = admin_client.post(admin_url(CallHistory, "change", call.pk), form)
    assert response.status_code == 302, response.context and response.context["errors"]
    last = record_history(call)[-1]
    assert last.changes["notes"] == ["first notes", "corrected notes"]
    assert (last.username, last.channel) == ("root", "admin")


def test_navigator_voids_a_call_with_a_reason(client, navigator_user):
    call = CallHistoryFactory()
    client.force_login(navigator_user)
    response = client.post(
        admin_url(CallHistory, "changelist"),
        {"action": "soft_delete_selected", "_selected_action": [call.pk], "confirm": "yes", "reason": "wrong patient"},
    )
    assert response.status_code == 302
    stored = CallHistory.all_objects.get(pk=call.pk)
    assert stored.is_void and stored.void_reason == "wrong patient" and stored.voided_by == navigator_user


def test_convert_lead_action(admin_client):
    lead = PatientLeadFactory()
    response = admin_client.post(
        admin_url(PatientLead, "changelist"), {"action": "convert_selected", "_selected_action": [lead.pk]}
    )
    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.status == LeadStatus.CONVERTED and lead.converted_patient.person == lead.person


def test_add_lead_physician_and_condition_through_services(admin_client):
    response = admin_client.post(
        admin_url(PatientLead, "add"),
        {"first_name": "Kim", "last_name": "Ng", "email": "KIM@x.org", "source": "contact_form", "notes": ""},
    )
    assert response.status_code == 302, response.context and response.context["errors"]
    assert PatientLead.objects.get().person.email == "kim@x.org"

    response = admin_client.post(
        admin_url(Physician, "add"),
        {"first_name": "Greg", "last_name": "House", "email": "house@x.org", "job_title": "Head of diagnostics"},
    )
    assert response.status_code == 302, response.context and response.context["errors"]
    assert Physician.objects.get().person.last_name == "House"

    response = admin_client.post(admin_url(MedicalCondition, "add"), {"name": "GLIOBLASTOMA", "abbreviation": "G"})
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    response = admin_client.post(admin_url(MedicalCondition, "add"), {"name": "Cystic fibrosis", "abbreviation": "CF"})
    assert response.status_code == 302
    assert MedicalCondition.objects.filter(abbreviation="CF").exists()


def test_navigator_field_offers_navigators_only(admin_client):
    navigator = NavigatorFactory(last_name="Navi")
    PersonFactory(last_name="Navarro")
    response = admin_client.get(
        "/admin/autocomplete/",
        {"term": "nav", "app_label": "patients", "model_name": "patient", "field_name": "navigator"},
    )
    assert response.status_code == 200
    assert [r["id"] for r in response.json()["results"]] == [str(navigator.pk)]


def test_cm_staff_see_no_patient_navigation_data(client, cpss_user, cm_supervisor_user):
    patient = PatientFactory()
    for user in (cpss_user, cm_supervisor_user):
        client.force_login(user)
        assert client.get(admin_url(Patient, "changelist")).status_code == 403
        assert client.get(admin_url(Patient, "change", patient.pk)).status_code == 403
        assert client.get(admin_url(CallHistory, "changelist")).status_code == 403


@pytest.mark.parametrize("role_fixture", ["navigator_user", "crm_supervisor_user"])
def test_every_navigation_page_loads_for_the_navigation_roles(client, request, role_fixture):
    from journeys.models import JourneyStatusChange
    from journeys.services import journey_open, journey_transition
    from people.models import ContactType, PersonContactType
    from tests.factories.people import PersonContactTypeFactory

    user = request.getfixturevalue(role_fixture)
    client.force_login(user)
    patient = PatientFactory()
    journey = journey_open(patient=patient, kind="clinical_trial", trial_id="NCT01230123")
    journey_transition(journey=journey, to_status="pre_screening")
    eap = journey_open(patient=patient, kind="eap", product="X")
    objects = [
        patient,
        patient.person,
        PersonContactTypeFactory(),
        ContactType.objects.get(code="patient"),
        CallHistoryFactory(patient=patient),
        PatientLeadFactory(),
        PhysicianFactory(),
        PatientPhysicianRelationshipFactory(patient=patient),
        seeded_condition(),
        HospitalFactory(),
        SpecializationFactory(),
        journey,
        eap,
        JourneyStatusChange.objects.filter(ct_journey=journey).first(),
    ]
    assert PersonContactType.objects.exists()
    for obj in objects:
        model = type(obj)
        assert client.get(admin_url(model, "changelist")).status_code == 200, model
        assert client.get(admin_url(model, "change", obj.pk)).status_code == 200, model
        can_add = user.has_perm(f"{model._meta.app_label}.add_{model._meta.model_name}")
        assert client.get(admin_url(model, "add")).status_code == (200 if can_add else 403), model


def test_naming_a_new_primary_physician_in_the_admin_demotes_the_previous_one(admin_client):
    from patients.models import PatientPhysicianRelationship

    first = PatientPhysicianRelationshipFactory(is_primary=True)
    other = PhysicianFactory()
    response = admin_client.post(
        admin_url(PatientPhysicianRelationship, "add"),
        {
            "patient": str(first.patient_id),
            "physician": str(other.pk),
            "relationship_type": "primary_care",
            "is_primary": "on",
            "start_date": timezone.localdate().isoformat(),
        },
    )
    assert response.status_code == 302, response.context and response.context["errors"]
    first.refresh_from_db()
    assert first.is_primary is False
    assert PatientPhysicianRelationship.objects.get(patient=first.patient, is_primary=True).physician == other


@pytest.mark.django_db
def test_renaming_a_condition_in_the_admin_uses_the_service_and_refuses_a_taken_name(client, superuser):
    from patients.models import MedicalCondition

    dmd = MedicalCondition.objects.get(abbreviation="DMD")
    client.force_login(superuser)
    url = f"/admin/patients/medicalcondition/{dmd.pk}/change/"
    response = client.post(url, {"name": "  glioblastoma ", "abbreviation": "DMD", "description": dmd.description})
    assert response.status_code == 200
    assert "A medical condition with this name already exists." in response.content.decode()
    dmd.refresh_from_db()
    assert dmd.name == "Duchenne Muscular Dystrophy"
    response = client.post(url, {"name": "  Duchenne MD  ", "abbreviation": "DMD", "description": "x"})
    assert response.status_code == 302
    dmd.refresh_from_db()
    assert (dmd.name, dmd.description) == ("Duchenne MD", "x")  # trimmed by the service, as through the API
