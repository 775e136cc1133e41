from __future__ import annotations

import datetime as dt

import factory
from django.utils import timezone

from patients.follow_up import refresh_follow_up
from patients.models import (
    CallDirection,
    CallHistory,
    CallOutcome,
    Hospital,
    LeadSource,
    LeadStatus,
    MedicalCondition,
    Patient,
    PatientLead,
    PatientPhysicianRelationship,
    PatientStatus,
    Physician,
    RelationshipType,
    Specialization,
)
from tests.factories.people import NavigatorFactory, PersonFactory


class MedicalConditionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MedicalCondition

    name = factory.Sequence(lambda n: f"Condition {n}")
    abbreviation = factory.Sequence(lambda n: f"C{n}")
    description = "A condition made by a test."


def seeded_condition(abbreviation: str = "DMD") -> MedicalCondition:
    """One of the conditions shipped by the data migration (DMD, GBM, IPF)."""
    return MedicalCondition.objects.get(abbreviation=abbreviation)


class HospitalFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Hospital

    name = factory.Sequence(lambda n: f"General Hospital {n}")
    city = "Salt Lake City"
    country = "United States"
    address = factory.Faker("street_address")


class SpecializationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Specialization

    name = factory.Sequence(lambda n: f"Specialty {n}")


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    person = factory.SubFactory(PersonFactory)
    medical_condition = factory.LazyFunction(seeded_condition)
    navigator = factory.SubFactory(NavigatorFactory)
    first_contact_date = factory.LazyFunction(lambda: timezone.localdate() - dt.timedelta(days=60))
    status = PatientStatus.ACTIVE


class PatientLeadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PatientLead

    person = factory.SubFactory(PersonFactory)
    medical_condition = factory.LazyFunction(seeded_condition)
    source = LeadSource.LANDING_PAGE
    landing_page_url = "https://example.org/trials/dmd"
    status = LeadStatus.NEW


class PhysicianFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Physician

    person = factory.SubFactory(PersonFactory)
    hospital = factory.SubFactory(HospitalFactory)
    specialization = factory.SubFactory(SpecializationFactory)
    job_title = "Attending physician"
    medical_license_number = factory.Sequence(lambda n: f"LIC-{n:06d}")


class PatientPhysicianRelationshipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PatientPhysicianRelationship

    patient = factory.SubFactory(PatientFactory)
    physician = factory.SubFactory(PhysicianFactory)
    relationship_type = RelationshipType.TREATING
    is_primary = False
    start_date = factory.LazyFunction(lambda: timezone.localdate() - dt.timedelta(days=30))


class CallHistoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CallHistory

    patient = factory.SubFactory(PatientFactory)
    navigator = factory.LazyAttribute(lambda o: o.patient.navigator or NavigatorFactory())
    direction = CallDirection.OUTBOUND
    call_date = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=1))
    outcome = CallOutcome.REACHED
    call_duration_minutes = 12
    notes = "Discussed trial options."

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        # As the call services do: the patient's follow-up columns follow their calls.
        call = super()._create(model_class, *args, **kwargs)
        refresh_follow_up(patient_ids=[call.patient_id])
        return call
