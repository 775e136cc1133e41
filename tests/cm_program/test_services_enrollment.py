"""The CM document's two enrollment flows: a new CM patient (scenario 1), an IntakeQ patient joining CM
(scenario 2), and the IntakeQ link they write."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from cm_program import services
from cm_program.models import (
    CanonicalPatient,
    CMEnrollment,
    CMPatient,
    CMPointsTransaction,
    IntakeQLink,
)
from common.errors import ConflictError
from tests.cm_program.services_support import assert_field_error, counts, enroll
from tests.factories.cm_program import (
    CMProgramFactory,
    CMProviderFactory,
    IntakeQPatientFactory,
)
from tests.relative_dates import FromNow, resolve

# ---------------------------------------------------------------------------------------------------
# Scenario 1: a new CM patient


@pytest.mark.django_db
def test_enroll_new_follows_the_documents_scenario_1(program, cpss, superuser):
    result = enroll(
        program,
        cpss,
        phone="(801) 555-0123",
        email="jessica@email.com",
        insurance_primary="Utah Medicaid",
        enrollment_source="acute_care",
        smartphone_access="yes",
        actor=superuser,
    )
    assert result.canonical_created and result.cm_patient_created and result.person_created
    assert result.intakeq_link is None and not result.intakeq_link_created
    profile = CMPatient.objects.get()
    assert profile.canonical_patient == result.canonical_patient
    assert (profile.phone, profile.email, profile.insurance_primary, profile.enrollment_source) == (
        "+18015550123",
        "jessica@email.com",
        "Utah Medicaid",
        "acute_care",
    )
    assert (profile.smartphone_access, profile.address_state, profile.preferred_language, profile.status) == (
        "yes",
        "UT",
        "English",
        "active",
    )
    enrollment = CMEnrollment.objects.get()
    assert (enrollment.canonical_patient, enrollment.cm_patient, enrollment.cm_program, enrollment.cpss_provider) == (
        result.canonical_patient,
        profile,
        program,
        cpss,
    )
    # The enrollment bonus is the first ledger entry, and the totals say so.
    entry = CMPointsTransaction.objects.get()
    assert (entry.event_type, entry.points, entry.sequence, entry.recorded_by) == ("enrollment_bonus", 25, 1, superuser)
    assert (enrollment.status, enrollment.total_points, enrollment.current_streak) == ("active", 25, 0)


@pytest.mark.django_db
def test_enrolling_twice_in_the_same_program_is_refused_naming_the_enrollment(program, cpss):
    first = enroll(program, cpss)
    before = counts()
    with pytest.raises(ConflictError) as excinfo:
        enroll(program, cpss, first="jessica ", last="MARTÍNEZ")
    assert excinfo.value.existing_id == first.enrollment.pk
    assert str(first.enrollment.pk) in excinfo.value.message and excinfo.value.field == "cm_program"
    assert counts() == before


@pytest.mark.django_db
def test_a_second_program_reuses_the_identity_and_cm_profile(program, cpss):
    first = enroll(program, cpss, phone="801-555-0123")
    second = enroll(CMProgramFactory(name="Evening program"), cpss, phone="801-555-9999", insurance_primary="DMBA")
    assert second.canonical_patient == first.canonical_patient and second.cm_patient == first.cm_patient
    assert not second.canonical_created and not second.cm_patient_created
    profile = CMPatient.objects.get()
    # The stored phone stays; an empty field is filled.
    assert (profile.phone, profile.insurance_primary) == ("+18015550123", "DMBA")
    assert CMEnrollment.objects.count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"smartphone_access": "sometimes"}, "smartphone_access"),
        ({"status": "deleted"}, "status"),
        ({"enrollment_source": "walk_in"}, "enrollment_source"),
        ({"dob": "2999-01-01"}, "date_of_birth"),
        ({"phone": "555"}, "phone"),
        ({"email": "jessica@"}, "email"),
        ({"consent_date": FromNow(days=2)}, "consent_date"),
        ({"enrollment_date": FromNow(days=2)}, "enrollment_date"),
        ({"cpss": None}, "cpss_provider"),
    ],
)
def test_enroll_new_refuses_bad_input_and_writes_nothing(program, cpss, kwargs, field):
    kwargs = {"cpss": cpss, **resolve(kwargs)}
    before = counts()
    with pytest.raises(ValidationError) as excinfo:
        enroll(program, kwargs.pop("cpss"), **kwargs)
    assert_field_error(excinfo, field)
    assert counts() == before


@pytest.mark.django_db
def test_enrolling_into_an_inactive_program_or_with_an_inactive_cpss_is_refused(program, cpss):
    retired = CMProviderFactory(status="inactive")
    with pytest.raises(ValidationError) as excinfo:
        enroll(program, retired)
    assert_field_error(excinfo, "cpss_provider", "inactive")
    closed = CMProgramFactory(name="Closed", is_active=False)
    with pytest.raises(ValidationError) as excinfo:
        enroll(closed, cpss)
    assert_field_error(excinfo, "cm_program", "not active")
    assert counts()["canonical"] == 0 and counts()["enrollment"] == 0


# ---------------------------------------------------------------------------------------------------
# Scenario 2: an IntakeQ patient joins CM


@pytest.mark.django_db
def test_enroll_from_intakeq_follows_the_documents_scenario_2(program, cpss, superuser):
    intakeq = IntakeQPatientFactory(
        first_name="John",
        last_name="Smith",
        date_of_birth=dt.date(1985, 6, 15),
        email="John.Smith@Mail.com",
        phone="(801) 555-0177",
    )
    result = services.cm_patient_enroll_from_intakeq(
        intakeq_patient=intakeq, program=program, cpss_provider=cpss, actor=superuser, smartphone_access="limited"
    )
    link = IntakeQLink.objects.get()
    assert (link.canonical_patient, link.intakeq_patient, link.confidence_score, link.linked_by) == (
        result.canonical_patient,
        intakeq,
        Decimal("1.00"),
        superuser,
    )
    assert result.intakeq_link == link and result.intakeq_link_created
    canonical = CanonicalPatient.objects.get()
    assert (canonical.first_name, canonical.last_name, canonical.date_of_birth) == (
        "John",
        "Smith",
        dt.date(1985, 6, 15),
    )
    profile = CMPatient.objects.get()
    assert (profile.phone, profile.email, profile.enrollment_source, profile.smartphone_access) == (
        "+18015550177",
        "john.smith@mail.com",
        "existing_patient",
        "limited",
    )
    assert canonical.person.email == "john.smith@mail.com"
    enrollment = CMEnrollment.objects.get()
    assert (enrollment.cm_patient, enrollment.cpss_provider, enrollment.total_points) == (profile, cpss, 25)


@pytest.mark.django_db
def test_enroll_from_intakeq_without_a_cpss_waits_for_assignment(program):
    result = services.cm_patient_enroll_from_intakeq(intakeq_patient=IntakeQPatientFactory(), program=program)
    assert result.enrollment.cpss_provider is None and result.enrollment.status == "active"


@pytest.mark.django_db
def test_an_intakeq_patient_linked_elsewhere_is_refused_naming_the_link(program, cpss):
    intakeq = IntakeQPatientFactory(first_name="John", last_name="Smith", date_of_birth=dt.date(1985, 6, 15))
    someone_else = services.canonical_patient_find_or_create(
        first_name="Johnny", last_name="Smith", date_of_birth="1985-06-15"
    ).canonical_patient
    link, created = services.intakeq_link_create(
        canonical_patient=someone_else, intakeq_patient=intakeq, confidence_score="0.80"
    )
    assert created and link.confidence_score == Decimal("0.80")
    before = counts()
    with pytest.raises(ConflictError) as excinfo:
        services.cm_patient_enroll_from_intakeq(intakeq_patient=intakeq, program=program, cpss_provider=cpss)
    assert (excinfo.value.existing_id, excinfo.value.field) == (link.pk, "intakeq_patient")
    assert counts() == before


@pytest.mark.django_db
def test_enroll_from_intakeq_twice_is_refused_as_already_enrolled(program, cpss):
    intakeq = IntakeQPatientFactory()
    first = services.cm_patient_enroll_from_intakeq(intakeq_patient=intakeq, program=program, cpss_provider=cpss)
    with pytest.raises(ConflictError) as excinfo:
        services.cm_patient_enroll_from_intakeq(intakeq_patient=intakeq, program=program, cpss_provider=cpss)
    assert excinfo.value.existing_id == first.enrollment.pk
    assert IntakeQLink.objects.count() == 1 and CMEnrollment.objects.count() == 1


@pytest.mark.django_db
def test_enroll_from_intakeq_refuses_a_record_without_birthday(program, cpss):
    with pytest.raises(ValidationError) as excinfo:
        services.cm_patient_enroll_from_intakeq(
            intakeq_patient=IntakeQPatientFactory(date_of_birth=None), program=program, cpss_provider=cpss
        )
    assert_field_error(excinfo, "intakeq_patient", "date of birth")
    assert counts()["canonical"] == 0


@pytest.mark.django_db
@pytest.mark.parametrize("score", ["1.01", "-0.01", "abc", 2, "0.555"])
def test_link_confidence_outside_0_to_1_is_refused(score):
    canonical = services.canonical_patient_find_or_create(
        first_name="Ann", last_name="Lee", date_of_birth="1990-01-01"
    ).canonical_patient
    with pytest.raises(ValidationError) as excinfo:
        services.intakeq_link_create(
            canonical_patient=canonical, intakeq_patient=IntakeQPatientFactory(), confidence_score=score
        )
    assert_field_error(excinfo, "confidence_score")
    assert IntakeQLink.objects.count() == 0


@pytest.mark.django_db
def test_a_canonical_patient_has_one_intakeq_record():
    canonical = services.canonical_patient_find_or_create(
        first_name="Ann", last_name="Lee", date_of_birth="1990-01-01"
    ).canonical_patient
    link, _ = services.intakeq_link_create(canonical_patient=canonical, intakeq_patient=IntakeQPatientFactory())
    again, created = services.intakeq_link_create(canonical_patient=canonical, intakeq_patient=link.intakeq_patient)
    assert again == link and not created
    with pytest.raises(ConflictError) as excinfo:
        services.intakeq_link_create(canonical_patient=canonical, intakeq_patient=IntakeQPatientFactory())
    assert (excinfo.value.existing_id, excinfo.value.field) == (link.pk, "canonical_patient")
