"""Factories for the CM models. Ledger entries have no factory on purpose: they are written only by
the services (``cm_event_record``), which keep the enrollment totals equal to the ledger."""

from __future__ import annotations

import datetime as dt

import factory

from cm_program.models import (
    CanonicalPatient,
    CMEnrollment,
    CMPatient,
    CMProgram,
    CMProvider,
    IntakeQLink,
    IntakeQPatient,
)
from tests.factories.people import UserFactory


class CMProgramFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CMProgram
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"CM Program {n}")
    description = "Points for verified behaviour."


class CMProviderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CMProvider

    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.Sequence(lambda n: f"cpss{n}@cm.example.org")
    role = "cpss"
    credentials = "CPSS-I"
    hire_date = dt.date(2022, 5, 2)
    max_caseload = 30

    class Params:
        with_login = factory.Trait(user=factory.SubFactory(UserFactory))


class CanonicalPatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CanonicalPatient

    first_name = factory.Faker("first_name")
    last_name = factory.Sequence(lambda n: f"Patient{n}")
    date_of_birth = factory.Faker("date_of_birth", minimum_age=18, maximum_age=80)


class CMPatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CMPatient

    canonical_patient = factory.SubFactory(CanonicalPatientFactory)
    phone = factory.Sequence(lambda n: f"+1801555{n % 10000:04d}")
    email = factory.Sequence(lambda n: f"cm.patient{n}@example.org")
    enrollment_source = "referral"
    smartphone_access = "yes"


class IntakeQPatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = IntakeQPatient

    intakeq_client_id = factory.Sequence(lambda n: f"IQ-{n:05d}")
    first_name = factory.Faker("first_name")
    last_name = factory.Sequence(lambda n: f"Client{n}")
    date_of_birth = factory.Faker("date_of_birth", minimum_age=18, maximum_age=80)
    email = factory.Sequence(lambda n: f"iq.client{n}@example.org")
    phone = factory.Sequence(lambda n: f"(801) 555-{n % 10000:04d}")


class IntakeQLinkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = IntakeQLink

    canonical_patient = factory.SubFactory(CanonicalPatientFactory)
    intakeq_patient = factory.SubFactory(
        IntakeQPatientFactory,
        first_name=factory.SelfAttribute("..canonical_patient.first_name"),
        last_name=factory.SelfAttribute("..canonical_patient.last_name"),
        date_of_birth=factory.SelfAttribute("..canonical_patient.date_of_birth"),
    )


class CMEnrollmentFactory(factory.django.DjangoModelFactory):
    """An enrollment with an empty ledger (totals 0). Use the services to add points."""

    class Meta:
        model = CMEnrollment

    cm_patient = factory.SubFactory(CMPatientFactory)
    canonical_patient = factory.SelfAttribute("cm_patient.canonical_patient")
    cm_program = factory.SubFactory(CMProgramFactory)
    cpss_provider = factory.SubFactory(CMProviderFactory)
    status = "active"
