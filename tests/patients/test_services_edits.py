"""The edit services added for the API: lookups, physicians, leads, and edits spanning a role and its
Person. Same contract as every service: validate before writing, conflicts carry the existing id, the
actor is in the audit trail."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from common.audit import record_history
from common.errors import ConflictError
from patients import services
from patients.models import LeadStatus, PatientStatus
from people.models import Person
from tests.factories.patients import (
    HospitalFactory,
    MedicalConditionFactory,
    PatientFactory,
    PatientLeadFactory,
    PhysicianFactory,
    SpecializationFactory,
    seeded_condition,
)
from tests.navigation_api import written_rows

pytestmark = pytest.mark.django_db


def test_medical_condition_update_keeps_names_unique_ignoring_case(crm_supervisor_user):
    condition = MedicalConditionFactory(name="Rare thing", abbreviation="RT")
    updated = services.medical_condition_update(
        medical_condition=condition, data={"name": "  Rare disease ", "description": "d"}, actor=crm_supervisor_user
    )
    assert (updated.name, updated.abbreviation, updated.description) == ("Rare disease", "RT", "d")
    assert record_history(condition)[-1].username == "crmsup"
    with pytest.raises(ConflictError) as caught:
        services.medical_condition_update(medical_condition=condition, data={"name": "GLIOBLASTOMA"})
    assert caught.value.existing_id == seeded_condition("GBM").pk
    with pytest.raises(ConflictError) as caught:
        services.medical_condition_update(medical_condition=condition, data={"abbreviation": "ipf"})
    assert caught.value.field == "abbreviation"
    with pytest.raises(ValidationError) as invalid:
        services.medical_condition_update(medical_condition=condition, data={"name": " ", "abbreviation": "x" * 21})
    assert set(invalid.value.message_dict) == {"name", "abbreviation"}
    condition.refresh_from_db()
    assert condition.name == "Rare disease"


def test_hospital_create_and_update_one_per_name_city_country():
    hospital = services.hospital_create(name=" Mercy ", city="Ogden", country="US")
    assert (hospital.name, hospital.city) == ("Mercy", "Ogden")
    with pytest.raises(ConflictError) as caught:
        services.hospital_create(name="MERCY", city="ogden", country="us")
    assert caught.value.existing_id == hospital.pk
    other = services.hospital_create(name="Mercy", city="Provo", country="US")
    with pytest.raises(ConflictError):
        services.hospital_update(hospital=other, data={"city": "OGDEN"})
    assert services.hospital_update(hospital=other, data={"address": "1 Main St"}).address == "1 Main St"
    with pytest.raises(ValidationError):
        services.hospital_create(name="")


def test_specialization_create_and_rename():
    neurology = services.specialization_create(name="Neurology")
    with pytest.raises(ConflictError) as caught:
        services.specialization_create(name=" neurology ")
    assert caught.value.existing_id == neurology.pk
    assert services.specialization_update(specialization=neurology, data={"name": "Neuro-oncology"}).name == (
        "Neuro-oncology"
    )
    SpecializationFactory(name="Pulmonology")
    with pytest.raises(ConflictError):
        services.specialization_update(specialization=neurology, data={"name": "PULMONOLOGY"})


def test_physician_update_refuses_retired_lookups_and_deleted_physicians():
    physician = PhysicianFactory()
    closed = HospitalFactory(is_active=False, deletion_reason="closed")
    with pytest.raises(ValidationError) as caught:
        services.physician_update(physician=physician, data={"hospital": closed, "job_title": "x" * 151})
    assert set(caught.value.message_dict) == {"hospital", "job_title"}
    # A retired hospital the physician already has does not block other edits.
    physician.hospital.is_active = False
    physician.hospital.deletion_reason = "closed"
    physician.hospital.save()
    assert services.physician_update(physician=physician, data={"job_title": "Chief"}).job_title == "Chief"
    services.physician_soft_delete(physician=physician, reason="left")
    with pytest.raises(ValidationError) as caught:
        services.physician_update(physician=physician, data={"job_title": "Head"})
    assert "physician" in caught.value.message_dict


def test_lead_update_edits_and_moves_status_through_lead_set_status():
    lead = PatientLeadFactory()
    updated = services.lead_update(lead=lead, data={"notes": "Called", "status": LeadStatus.LOST, "source": "event"})
    assert (updated.notes, updated.status, updated.source) == ("Called", LeadStatus.LOST, "event")
    with pytest.raises(ValidationError) as caught:
        services.lead_update(lead=lead, data={"status": LeadStatus.CONVERTED})
    assert "status" in caught.value.message_dict
    retired = MedicalConditionFactory(is_active=False, deletion_reason="merged")
    with pytest.raises(ValidationError) as caught:
        services.lead_update(lead=lead, data={"medical_condition": retired, "landing_page_url": "nope"})
    assert set(caught.value.message_dict) == {"medical_condition", "landing_page_url"}


def test_update_with_person_saves_both_or_neither_and_reports_both():
    patient = PatientFactory(person__first_name="Ann", status=PatientStatus.ACTIVE)
    services.update_with_person(
        person=patient.person,
        person_data={"first_name": "Anne"},
        update=lambda: services.patient_update(patient=patient, data={"status": PatientStatus.CLOSED}),
    )
    patient.refresh_from_db()
    assert (Person.objects.get(pk=patient.person_id).first_name, patient.status) == ("Anne", PatientStatus.CLOSED)
    before = written_rows()
    with pytest.raises(ValidationError) as caught:
        services.update_with_person(
            person=patient.person,
            person_data={"first_name": "Annie", "phone": "12"},
            update=lambda: services.patient_update(patient=patient, data={"status": "zombie"}),
        )
    assert set(caught.value.message_dict) == {"phone", "status"}
    assert written_rows() == before
    # The person's update succeeded on its own, but the patient's failed: neither is kept.
    with pytest.raises(ValidationError):
        services.update_with_person(
            person=patient.person,
            person_data={"last_name": "Changed"},
            update=lambda: services.patient_update(patient=patient, data={"status": "zombie"}),
        )
    assert Person.objects.get(pk=patient.person_id).last_name != "Changed"
