"""The services added for the REST API (the admin writes these rows through its model forms): creating an
identity that must be new, correcting one, a CM profile that must be new, link updates, the IntakeQ
mirror, programs, and the selector that picks the program when a caller names none."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from cm_program import selectors, services
from cm_program.models import CMPatient, CMProgram, IntakeQPatient
from common.audit import record_history
from common.errors import ConflictError
from people.models import Person
from tests.factories.cm_program import (
    CanonicalPatientFactory,
    CMPatientFactory,
    CMProgramFactory,
    IntakeQLinkFactory,
    IntakeQPatientFactory,
)
from tests.factories.people import UserFactory

pytestmark = pytest.mark.django_db


def test_canonical_patient_create_refuses_a_known_human_and_leaves_nothing():
    existing = CanonicalPatientFactory(first_name="José", last_name="Hernández", date_of_birth=dt.date(1987, 9, 14))
    assert existing.person_id is None
    persons = Person.all_objects.count()
    with pytest.raises(ConflictError) as excinfo:
        services.canonical_patient_create(
            first_name="jose ", last_name="HERNANDEZ", date_of_birth="1987-09-14", email="jose@example.org"
        )
    assert excinfo.value.existing_id == existing.pk
    existing.refresh_from_db()
    # The find-or-create inside linked a Person before the refusal; the transaction took it back.
    assert existing.person_id is None and Person.all_objects.count() == persons


def test_canonical_patient_create_new():
    actor = UserFactory()
    identity = services.canonical_patient_create(
        first_name="Lena", last_name="Fischer", date_of_birth=dt.date(1990, 7, 4), actor=actor
    )
    assert identity.created and identity.person_created
    assert record_history(identity.canonical_patient)[0].user_id == str(actor.pk)


def test_canonical_patient_update_corrects_and_refuses_someone_elses_identity():
    patient = CanonicalPatientFactory(first_name="Jesica", last_name="Martinez", date_of_birth=dt.date(1992, 3, 22))
    other = CanonicalPatientFactory(first_name="Marcus", last_name="Reed", date_of_birth=dt.date(1983, 5, 19))
    actor = UserFactory()
    corrected = services.canonical_patient_update(canonical_patient=patient, first_name=" Jessica ", actor=actor)
    assert corrected.first_name == "Jessica"
    assert record_history(patient)[-1].changes["first_name"] == ["Jesica", "Jessica"]
    with pytest.raises(ConflictError) as excinfo:
        services.canonical_patient_update(
            canonical_patient=patient, first_name="MARCUS", last_name="reed", date_of_birth="1983-05-19"
        )
    assert excinfo.value.existing_id == other.pk
    with pytest.raises(ValidationError) as invalid:
        services.canonical_patient_update(canonical_patient=patient, last_name="  ")
    assert invalid.value.message_dict == {"last_name": ["This field is required."]}
    with pytest.raises(ValidationError) as future:
        services.canonical_patient_update(
            canonical_patient=patient, date_of_birth=timezone.localdate() + dt.timedelta(1)
        )
    assert "date_of_birth" in future.value.message_dict
    patient.refresh_from_db()
    assert (patient.first_name, patient.last_name, patient.date_of_birth) == (
        "Jessica",
        "Martinez",
        dt.date(1992, 3, 22),
    )


def test_cm_patient_profile_create_is_one_per_canonical_patient():
    profile = CMPatientFactory()
    with pytest.raises(ConflictError) as excinfo:
        services.cm_patient_profile_create(canonical_patient=profile.canonical_patient, phone="(801) 555-0100")
    assert excinfo.value.existing_id == profile.pk and excinfo.value.field == "canonical_patient"
    profile.refresh_from_db()
    assert profile.phone != "+18015550100"  # not "filled" either
    fresh = services.cm_patient_profile_create(
        canonical_patient=CanonicalPatientFactory(), phone="(801) 555-0100", smartphone_access="no"
    )
    assert (fresh.phone, fresh.smartphone_access, fresh.status) == ("+18015550100", "no", "active")
    with pytest.raises(ValidationError) as invalid:
        services.cm_patient_profile_create(canonical_patient=CanonicalPatientFactory(), smartphone_access="maybe")
    assert "smartphone_access" in invalid.value.message_dict
    assert CMPatient.objects.count() == 2


def test_intakeq_link_update_changes_confidence_and_notes_only():
    link = IntakeQLinkFactory(confidence_score=Decimal("0.70"))
    updated = services.intakeq_link_update(link=link, confidence_score="0.95", notes="  Confirmed by phone. ")
    assert (updated.confidence_score, updated.notes) == (Decimal("0.95"), "Confirmed by phone.")
    for bad in ("1.01", "-0.01", "0.955", "abc"):
        with pytest.raises(ValidationError) as excinfo:
            services.intakeq_link_update(link=link, confidence_score=bad)
        assert "confidence_score" in excinfo.value.message_dict
    link.refresh_from_db()
    assert link.confidence_score == Decimal("0.95")


def test_intakeq_patient_create_and_update():
    record = services.intakeq_patient_create(
        first_name=" Tom ",
        last_name="Whitaker",
        intakeq_client_id="IQ-9",
        email="Tom@Example.org ",
        phone=" (435) 555-0105",
    )
    assert (record.first_name, record.email, record.phone) == ("Tom", "tom@example.org", "(435) 555-0105")
    with pytest.raises(ConflictError) as excinfo:
        services.intakeq_patient_create(first_name="T", last_name="W", intakeq_client_id="IQ-9")
    assert excinfo.value.existing_id == record.pk and excinfo.value.field == "intakeq_client_id"
    other = IntakeQPatientFactory(intakeq_client_id="IQ-10")
    with pytest.raises(ConflictError):
        services.intakeq_patient_update(intakeq_patient=other, intakeq_client_id="IQ-9")
    for changes, field in (
        ({"email": "nope"}, "email"),
        ({"date_of_birth": timezone.localdate() + dt.timedelta(days=1)}, "date_of_birth"),
        ({"first_name": ""}, "first_name"),
    ):
        with pytest.raises(ValidationError) as invalid:
            services.intakeq_patient_update(intakeq_patient=other, **changes)
        assert field in invalid.value.message_dict
    updated = services.intakeq_patient_update(intakeq_patient=other, date_of_birth="1970-01-02")
    assert updated.date_of_birth == dt.date(1970, 1, 2)
    assert IntakeQPatient.objects.get(pk=other.pk).intakeq_client_id == "IQ-10"


def test_cm_program_create_and_update_keep_the_schedule_sane():
    program = services.cm_program_create(name="Stimulant CM", points_negative_test_base=20, points_negative_test_cap=60)
    assert (program.points_negative_test_base, program.points_negative_test_cap, program.is_active) == (20, 60, True)
    with pytest.raises(ConflictError) as excinfo:
        services.cm_program_create(name="stimulant cm ")
    assert excinfo.value.existing_id == program.pk
    for changes, field in (
        ({"points_negative_test_cap": 10}, "points_negative_test_cap"),
        ({"points_weekly_checkin": -1}, "points_weekly_checkin"),
        ({"points_weekly_checkin": True}, "points_weekly_checkin"),
        ({"is_active": "no"}, "is_active"),
        ({"name": " "}, "name"),
    ):
        with pytest.raises(ValidationError) as invalid:
            services.cm_program_update(program=program, **changes)
        assert field in invalid.value.message_dict, changes
    program.refresh_from_db()
    assert (program.points_negative_test_cap, program.points_weekly_checkin, program.is_active) == (60, 10, True)
    off = services.cm_program_update(program=program, is_active=False)
    assert off.is_active is False and CMProgram.objects.get(pk=program.pk).is_active is False


def test_cm_program_sole_active():
    assert selectors.cm_program_sole_active() is None
    first = CMProgramFactory(name="One")
    assert selectors.cm_program_sole_active() == first
    second = CMProgramFactory(name="Two")
    assert selectors.cm_program_sole_active() is None
    services.cm_program_update(program=second, is_active=False)
    assert selectors.cm_program_sole_active() == first
