"""Medical conditions, hospitals, specializations, physicians and leads through the API."""

from __future__ import annotations

import pytest

from patients.models import LeadStatus, MedicalCondition, Patient, PatientLead
from people.models import ContactType, PersonContactType
from tests.factories.patients import (
    HospitalFactory,
    MedicalConditionFactory,
    PatientFactory,
    PatientLeadFactory,
    PhysicianFactory,
    SpecializationFactory,
    seeded_condition,
)
from tests.factories.people import NavigatorFactory, PersonFactory
from tests.navigation_api import API, assert_error, client_for, ids, written_rows

pytestmark = pytest.mark.django_db


@pytest.fixture
def nav(navigator_user):
    return client_for(navigator_user)


@pytest.fixture
def sup(crm_supervisor_user):
    return client_for(crm_supervisor_user)


# --- /medical-conditions/ ------------------------------------------------------------------------------------


def test_condition_crud_with_soft_delete(sup):
    created = sup.post(
        f"{API}/medical-conditions", {"name": " Amyotrophic Lateral Sclerosis ", "abbreviation": "ALS"}, format="json"
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["name"], body["abbreviation"], body["description"], body["is_active"]) == (
        "Amyotrophic Lateral Sclerosis",
        "ALS",
        "",
        True,
    )
    url = f"{API}/medical-conditions/{body['id']}"
    patched = sup.patch(url, {"description": "Motor neurone disease."}, format="json")
    assert patched.status_code == 200 and patched.json()["description"] == "Motor neurone disease."
    put = sup.put(url, {"name": "ALS (motor neurone disease)", "abbreviation": "ALS"}, format="json")
    assert put.status_code == 200 and put.json()["name"] == "ALS (motor neurone disease)"
    assert put.json()["description"] == "Motor neurone disease."
    assert sup.delete(url).status_code == 204
    condition = MedicalCondition.all_objects.get(pk=body["id"])
    assert condition.is_active is False and condition.deletion_reason == "Deleted through the API by crmsup."
    assert body["id"] not in ids(sup.get(f"{API}/medical-conditions/"))
    assert ids(sup.get(f"{API}/medical-conditions/", {"is_active": "false"})) == {body["id"]}
    assert sup.get(url).json()["is_active"] is False
    assert sup.post(f"{url}/restore").json()["is_active"] is True


def test_condition_list_defaults_to_active_and_takes_is_active(nav):
    retired = MedicalConditionFactory(is_active=False, deletion_reason="merged")
    active = ids(nav.get(f"{API}/medical-conditions/", {"is_active": "true"}))
    assert {str(seeded_condition(a).pk) for a in ("DMD", "GBM", "IPF")} <= active
    assert str(retired.pk) not in active
    assert ids(nav.get(f"{API}/medical-conditions/")) == active
    assert ids(nav.get(f"{API}/medical-conditions/", {"search": "glio"})) == {str(seeded_condition("GBM").pk)}


@pytest.mark.parametrize("name", ["glioblastoma", "GLIOBLASTOMA", " Glioblastoma "])
def test_a_duplicate_condition_name_in_any_case_is_409(sup, name):
    existing = MedicalCondition.all_objects.get(name__iexact="glioblastoma")
    before = written_rows()
    error = assert_error(
        sup.post(f"{API}/medical-conditions/", {"name": name}, format="json"), 409, "conflict", fields=("name",)
    )
    assert error["existing_id"] == str(existing.pk)
    assert written_rows() == before


def test_renaming_onto_another_condition_or_a_deleted_one_is_409(sup):
    retired = MedicalConditionFactory(name="Old name", is_active=False, deletion_reason="merged")
    condition = MedicalConditionFactory(name="Some condition")
    response = sup.patch(f"{API}/medical-conditions/{condition.pk}/", {"name": "old NAME"}, format="json")
    assert assert_error(response, 409, "conflict")["existing_id"] == str(retired.pk)
    dmd = seeded_condition("DMD")
    abbreviation = sup.patch(f"{API}/medical-conditions/{condition.pk}/", {"abbreviation": "dmd"}, format="json")
    assert assert_error(abbreviation, 409, "conflict", fields=("abbreviation",))["existing_id"] == str(dmd.pk)


def test_bad_condition_input(sup):
    assert_error(sup.post(f"{API}/medical-conditions/", {}, format="json"), 400, "invalid", fields=("name",))
    assert_error(
        sup.post(f"{API}/medical-conditions/", {"name": "x" * 201}, format="json"), 400, "invalid", fields=("name",)
    )
    assert_error(
        sup.post(f"{API}/medical-conditions/", {"name": "   "}, format="json"), 400, "invalid", fields=("name",)
    )


# --- /hospitals/, /specializations/ --------------------------------------------------------------------------


def test_hospitals_create_update_conflict_delete_restore(nav, sup):
    created = nav.post(f"{API}/hospitals/", {"name": "St. Mary", "city": "Provo", "country": "US"}, format="json")
    assert created.status_code == 201, created.content
    hospital_id = created.json()["id"]
    duplicate = nav.post(f"{API}/hospitals/", {"name": "st. mary", "city": "PROVO", "country": "us"}, format="json")
    assert assert_error(duplicate, 409, "conflict")["existing_id"] == hospital_id
    other_city = nav.post(f"{API}/hospitals/", {"name": "St. Mary", "city": "Ogden", "country": "US"}, format="json")
    assert other_city.status_code == 201
    moved = nav.patch(f"{API}/hospitals/{other_city.json()['id']}/", {"city": "provo"}, format="json")
    assert assert_error(moved, 409, "conflict")["existing_id"] == hospital_id
    assert nav.patch(f"{API}/hospitals/{hospital_id}/", {"address": "1 Main St"}, format="json").json()["address"] == (
        "1 Main St"
    )
    assert ids(nav.get(f"{API}/hospitals/", {"city": "provo"})) == {hospital_id}
    assert sup.delete(f"{API}/hospitals/{hospital_id}/", {"reason": "Closed"}, format="json").status_code == 204
    assert hospital_id not in ids(nav.get(f"{API}/hospitals/"))
    assert sup.post(f"{API}/hospitals/{hospital_id}/restore/").json()["is_active"] is True


def test_specializations_create_conflict_rename(nav):
    created = nav.post(f"{API}/specializations/", {"name": "Neurology"}, format="json")
    assert created.status_code == 201 and created.json()["name"] == "Neurology"
    dup = nav.post(f"{API}/specializations/", {"name": "NEUROLOGY"}, format="json")
    assert assert_error(dup, 409, "conflict", fields=("name",))["existing_id"] == created.json()["id"]
    renamed = nav.put(f"{API}/specializations/{created.json()['id']}", {"name": "Neuro-oncology"}, format="json")
    assert renamed.status_code == 200 and renamed.json()["name"] == "Neuro-oncology"
    assert_error(nav.post(f"{API}/specializations/", {"name": ""}, format="json"), 400, "invalid", fields=("name",))


# --- /physicians/ --------------------------------------------------------------------------------------------


def test_register_a_physician_reusing_the_person(nav):
    person = PersonFactory(first_name="Greg", last_name="House", email="house@example.org")
    hospital, specialization = HospitalFactory(), SpecializationFactory()
    response = nav.post(
        f"{API}/physicians",
        {
            "first_name": "Greg",
            "last_name": "House",
            "email": "HOUSE@example.org",
            "hospital": str(hospital.pk),
            "specialization": str(specialization.pk),
            "job_title": "Head of diagnostics",
            "medical_license_number": "NJ-1",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["person_reused"] is True and body["person"]["id"] == str(person.pk)
    assert body["hospital"] == str(hospital.pk) and body["hospital_name"] == hospital.name
    assert body["specialization_name"] == specialization.name and body["job_title"] == "Head of diagnostics"
    assert PersonContactType.objects.filter(person=person, contact_type__code=ContactType.PHYSICIAN).exists()
    again = nav.post(
        f"{API}/physicians/", {"first_name": "G", "last_name": "H", "email": "house@example.org"}, format="json"
    )
    assert assert_error(again, 409, "conflict", fields=("email",))["existing_id"] == body["id"]


def test_edit_a_physician_and_refuse_a_deleted_hospital(nav):
    physician = PhysicianFactory()
    closed = HospitalFactory(is_active=False, deletion_reason="closed")
    response = nav.patch(
        f"{API}/physicians/{physician.pk}/", {"job_title": "Chief", "last_name": "Renamed"}, format="json"
    )
    assert response.status_code == 200 and response.json()["job_title"] == "Chief"
    assert response.json()["last_name"] == "Renamed"
    refused = nav.patch(f"{API}/physicians/{physician.pk}/", {"hospital": str(closed.pk)}, format="json")
    assert_error(refused, 400, "invalid", fields=("hospital",))
    physician.refresh_from_db()
    assert physician.hospital_id != closed.pk
    assert ids(nav.get(f"{API}/physicians/", {"hospital": str(physician.hospital_id)})) == {str(physician.pk)}


# --- /leads/ -------------------------------------------------------------------------------------------------


def lead_body(**overrides):
    return {
        "first_name": "Lee",
        "last_name": "Ad",
        "email": "lead@example.org",
        "source": "landing_page",
        "landing_page_url": "https://example.org/trials",
        "medical_condition": str(seeded_condition().pk),
        **overrides,
    }


def test_record_a_lead_and_the_second_open_one_is_409(nav):
    response = nav.post(f"{API}/leads/", lead_body(), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["source"], body["person_reused"], body["existing_patient"]) == (
        "new",
        "landing_page",
        False,
        None,
    )
    assert body["medical_condition_name"] == seeded_condition().name
    again = nav.post(f"{API}/leads", lead_body(email="LEAD@example.org"), format="json")
    assert assert_error(again, 409, "conflict")["existing_id"] == body["id"]


def test_a_lead_for_an_existing_patient_names_the_patient(nav):
    patient = PatientFactory(person__email="known@example.org")
    body = nav.post(f"{API}/leads/", lead_body(email="known@example.org"), format="json").json()
    assert body["existing_patient"] == str(patient.pk) and body["person_reused"] is True


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"source": "billboard"}, "source"),
        ({"landing_page_url": "not a url"}, "landing_page_url"),
        ({"email": "x@"}, "email"),
        ({"medical_condition": "00000000-0000-0000-0000-000000000000"}, "medical_condition"),
    ],
)
def test_bad_leads_are_400(nav, overrides, field):
    before = written_rows()
    assert_error(nav.post(f"{API}/leads/", lead_body(**overrides), format="json"), 400, "invalid", fields=(field,))
    assert written_rows() == before


def test_lead_status_moves_but_conversion_has_its_own_action(nav):
    lead = PatientLeadFactory()
    moved = nav.patch(f"{API}/leads/{lead.pk}/", {"status": "qualified", "notes": "Eligible age."}, format="json")
    assert (
        moved.status_code == 200
        and moved.json()["status"] == "qualified"
        and moved.json()["notes"] == ("Eligible age.")
    )
    refused = nav.patch(f"{API}/leads/{lead.pk}/", {"status": "converted"}, format="json")
    assert_error(refused, 400, "invalid", fields=("status",))
    assert ids(nav.get(f"{API}/leads/", {"status": "qualified"})) == {str(lead.pk)}
    assert_error(nav.delete(f"{API}/leads/{lead.pk}/"), 405, "method_not_allowed")


def test_convert_a_lead_twice(nav):
    navigator = NavigatorFactory()
    lead = PatientLeadFactory()
    url = f"{API}/leads/{lead.pk}/convert"
    first = nav.post(url, {"navigator": str(navigator.pk)}, format="json")
    assert first.status_code == 201, first.content
    body = first.json()
    patient = Patient.objects.get(person=lead.person)
    assert body["id"] == str(patient.pk) and body["patient_created"] is True
    assert body["navigator"] == str(navigator.pk) and body["person"]["id"] == str(lead.person_id)
    assert body["lead"]["status"] == "converted" and body["lead"]["converted_patient"] == str(patient.pk)
    second = nav.post(url, {}, format="json")
    assert second.status_code == 200 and second.json()["id"] == str(patient.pk)
    assert second.json()["patient_created"] is False
    assert Patient.objects.filter(person=lead.person).count() == 1
    lead.refresh_from_db()
    assert lead.status == LeadStatus.CONVERTED
    after = nav.patch(f"{API}/leads/{lead.pk}/", {"status": "lost"}, format="json")
    assert_error(after, 400, "invalid", fields=("status",))


def test_converting_with_a_navigator_who_is_not_one_is_400(nav):
    lead = PatientLeadFactory()
    response = nav.post(f"{API}/leads/{lead.pk}/convert/", {"navigator": str(PersonFactory().pk)}, format="json")
    assert_error(response, 400, "invalid", fields=("navigator",))
    assert PatientLead.objects.get(pk=lead.pk).status == LeadStatus.NEW
    assert not Patient.objects.filter(person=lead.person).exists()


def test_retired_lookups_stay_readable_by_navigators(nav, sup):
    condition = MedicalConditionFactory()
    patient = PatientFactory(medical_condition=condition)
    assert sup.delete(f"{API}/medical-conditions/{condition.pk}/").status_code == 204
    assert nav.get(f"{API}/patients/{patient.pk}/").json()["medical_condition"] == str(condition.pk)
    shown = nav.get(f"{API}/medical-conditions/{condition.pk}/")
    assert shown.status_code == 200 and shown.json()["is_active"] is False
    assert ids(nav.get(f"{API}/medical-conditions/", {"is_active": "false"})) == {str(condition.pk)}
    assert_error(nav.post(f"{API}/medical-conditions/{condition.pk}/restore/"), 403, "permission_denied")
