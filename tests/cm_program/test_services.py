"""The CM services: identity, the document's two flows, caseload limits, and the points ledger."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from cm_program import services
from cm_program.models import (
    CanonicalPatient,
    CMEnrollment,
    CMPatient,
    CMPointsTransaction,
    CMProvider,
    IntakeQLink,
)
from cm_program.selectors import streak_from_ledger
from common.audit import record_history
from common.errors import ConflictError
from people.models import Person
from tests.cm_program.conftest import run_concurrently
from tests.factories.cm_program import (
    CMEnrollmentFactory,
    CMPatientFactory,
    CMProgramFactory,
    CMProviderFactory,
    IntakeQPatientFactory,
)
from tests.factories.people import PersonFactory


def counts() -> dict[str, int]:
    return {
        "canonical": CanonicalPatient.objects.count(),
        "person": Person.all_objects.count(),
        "cm_patient": CMPatient.objects.count(),
        "link": IntakeQLink.objects.count(),
        "enrollment": CMEnrollment.objects.count(),
        "ledger": CMPointsTransaction.objects.count(),
        "provider": CMProvider.objects.count(),
    }


def assert_field_error(excinfo, field: str, text: str = "") -> None:
    errors = excinfo.value.message_dict
    assert field in errors, errors
    assert text in " ".join(errors[field]), errors


def enroll(program, cpss, first="Jessica", last="Martinez", dob="1992-03-22", **kwargs):
    return services.cm_patient_enroll_new(
        first_name=first, last_name=last, date_of_birth=dob, program=program, cpss_provider=cpss, **kwargs
    )


# ---------------------------------------------------------------------------------------------------
# Canonical identity


@pytest.mark.django_db
def test_find_or_create_creates_the_identity_and_its_person(superuser):
    identity = services.canonical_patient_find_or_create(
        first_name="  Jessica ",
        last_name="Martinez",
        date_of_birth="1992-03-22",
        email=" Jessica@Email.com ",
        phone="(801) 555-0123",
        actor=superuser,
    )
    canonical = identity.canonical_patient
    assert identity.created and identity.person_created
    assert (canonical.first_name, canonical.last_name, canonical.date_of_birth) == (
        "Jessica",
        "Martinez",
        dt.date(1992, 3, 22),
    )
    person = Person.objects.get()
    assert canonical.person == person
    assert (person.first_name, person.email, person.phone, person.date_of_birth) == (
        "Jessica",
        "jessica@email.com",
        "+18015550123",
        dt.date(1992, 3, 22),
    )
    assert record_history(canonical)[0].username == "root"


@pytest.mark.django_db
def test_find_or_create_returns_the_same_row_ignoring_case_accents_and_spaces():
    first = services.canonical_patient_find_or_create(
        first_name="José", last_name="Hernández", date_of_birth=dt.date(1987, 9, 14)
    )
    for given_first, given_last in [("jose ", "HERNANDEZ"), ("  JOSÉ", "hernández"), ("Jose", "Hernandez")]:
        again = services.canonical_patient_find_or_create(
            first_name=given_first, last_name=given_last, date_of_birth="1987-09-14"
        )
        assert again.canonical_patient.pk == first.canonical_patient.pk
        assert not again.created and not again.person_created
    assert CanonicalPatient.objects.count() == 1 and Person.objects.count() == 1
    assert CanonicalPatient.objects.get().first_name == "José"


@pytest.mark.django_db
def test_existing_person_found_by_email_is_linked_and_never_overwritten():
    person = PersonFactory(
        first_name="Jess", last_name="Martinez", email="jessica@email.com", phone="", date_of_birth=None
    )
    identity = services.canonical_patient_find_or_create(
        first_name="Jessica",
        last_name="Martinez",
        date_of_birth="1992-03-22",
        email="JESSICA@email.com",
        phone="801-555-0123",
    )
    person.refresh_from_db()
    assert identity.person == person and not identity.person_created
    assert identity.person_conflicts == {"first_name": ("Jess", "Jessica")}
    # The stored name stays; empty fields are filled.
    assert (person.first_name, person.phone, person.date_of_birth) == ("Jess", "+18015550123", dt.date(1992, 3, 22))
    assert Person.objects.count() == 1


@pytest.mark.django_db
def test_person_matched_by_name_and_birthday_only_when_unambiguous():
    solo = PersonFactory(first_name="Marcus", last_name="Reed", email=None, date_of_birth=dt.date(1983, 5, 19))
    identity = services.canonical_patient_find_or_create(
        first_name="marcus", last_name="reed", date_of_birth="1983-05-19"
    )
    assert identity.person == solo and not identity.person_created

    PersonFactory(first_name="Kim", last_name="Twin", email=None, date_of_birth=dt.date(1990, 1, 1))
    PersonFactory(first_name="Kim", last_name="Twin", email=None, date_of_birth=dt.date(1990, 1, 1))
    ambiguous = services.canonical_patient_find_or_create(
        first_name="Kim", last_name="Twin", date_of_birth="1990-01-01"
    )
    assert ambiguous.person_created
    assert Person.objects.filter(last_name="Twin").count() == 3


@pytest.mark.django_db
def test_email_of_another_canonical_patient_is_a_conflict():
    first = services.canonical_patient_find_or_create(
        first_name="Ann", last_name="Lee", date_of_birth="1990-01-01", email="ann@x.org"
    )
    before = counts()
    with pytest.raises(ConflictError) as excinfo:
        services.canonical_patient_find_or_create(
            first_name="Bob", last_name="Lee", date_of_birth="1960-01-01", email="ANN@x.org"
        )
    assert excinfo.value.existing_id == first.canonical_patient.pk and excinfo.value.field == "email"
    assert counts() == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "field", "text"),
    [
        ({"date_of_birth": timezone.localdate() + dt.timedelta(days=1)}, "date_of_birth", "future"),
        ({"date_of_birth": "1899-12-31"}, "date_of_birth", "1900"),
        ({"date_of_birth": "22/03/1992"}, "date_of_birth", "not a date"),
        ({"first_name": "   "}, "first_name", "required"),
        ({"last_name": ""}, "last_name", "required"),
        ({"email": "not-an-email"}, "email", "not a valid email"),
        ({"phone": "12"}, "phone", "phone"),
    ],
)
def test_find_or_create_refuses_bad_input_and_writes_nothing(kwargs, field, text):
    given = {"first_name": "Ann", "last_name": "Lee", "date_of_birth": "1990-01-01", **kwargs}
    with pytest.raises(ValidationError) as excinfo:
        services.canonical_patient_find_or_create(**given)
    assert_field_error(excinfo, field, text)
    assert counts()["canonical"] == 0 and counts()["person"] == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_find_or_create_for_one_human_gives_one_row_and_one_person():
    spellings = [("José", "Hernández"), ("jose", "hernandez"), (" JOSE ", "HERNANDEZ"), ("José", "Hernandez")]
    calls = [
        (
            lambda f=f, last=last: services.canonical_patient_find_or_create(
                first_name=f, last_name=last, date_of_birth="1987-09-14", email="jose@x.org"
            )
        )
        for f, last in spellings
    ]
    results = run_concurrently(*calls)
    assert [status for status, _ in results] == ["ok"] * 4, results
    ids = {value.canonical_patient.pk for _, value in results}
    assert len(ids) == 1
    assert sum(value.created for _, value in results) == 1
    assert CanonicalPatient.objects.count() == 1 and Person.objects.count() == 1
    assert CanonicalPatient.objects.get().person == Person.objects.get(email="jose@x.org")


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
        ({"consent_date": timezone.now() + dt.timedelta(days=2)}, "consent_date"),
        ({"enrollment_date": timezone.now() + dt.timedelta(days=2)}, "enrollment_date"),
        ({"cpss": None}, "cpss_provider"),
    ],
)
def test_enroll_new_refuses_bad_input_and_writes_nothing(program, cpss, kwargs, field):
    kwargs = {"cpss": cpss, **kwargs}
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


# ---------------------------------------------------------------------------------------------------
# Providers and caseloads


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"role": "peer"}, "role"),
        ({"status": "retired"}, "status"),
        ({"max_caseload": -1}, "max_caseload"),
        ({"email": "nope"}, "email"),
        ({"hire_date": timezone.localdate() + dt.timedelta(days=3)}, "hire_date"),
    ],
)
def test_provider_create_refuses_values_outside_the_lists(kwargs, field):
    with pytest.raises(ValidationError) as excinfo:
        services.cm_provider_create(first_name="Casey", last_name="Peer", **kwargs)
    assert_field_error(excinfo, field)
    assert CMProvider.objects.count() == 0


@pytest.mark.django_db
def test_provider_email_is_unique_ignoring_case():
    first = services.cm_provider_create(first_name="Casey", last_name="Peer", email="Casey@CM.org ")
    assert (first.email, first.role, first.status, first.max_caseload) == ("casey@cm.org", "cpss", "active", 30)
    with pytest.raises(ConflictError) as excinfo:
        services.cm_provider_create(first_name="Other", last_name="Peer", email="casey@cm.org")
    assert excinfo.value.existing_id == first.pk


@pytest.mark.django_db
def test_a_cpss_at_capacity_takes_no_one_and_nothing_is_written(program):
    cpss = CMProviderFactory(max_caseload=2)
    enroll(program, cpss, first="A", last="One")
    enroll(program, cpss, first="B", last="Two")
    before = counts()
    with pytest.raises(ConflictError) as excinfo:
        enroll(program, cpss, first="C", last="Three")
    assert (excinfo.value.existing_id, excinfo.value.field) == (cpss.pk, "cpss_provider")
    assert "2 of 2" in excinfo.value.message
    assert counts() == before  # not even the canonical identity of the refused patient


@pytest.mark.django_db
def test_paused_enrollments_free_a_place_and_resuming_needs_one(program):
    cpss = CMProviderFactory(max_caseload=1)
    first = enroll(program, cpss, first="A", last="One").enrollment
    services.cm_enrollment_set_status(enrollment=first, status="paused", reason="hospital stay")
    second = enroll(program, cpss, first="B", last="Two").enrollment
    with pytest.raises(ConflictError):
        services.cm_enrollment_set_status(enrollment=first, status="active")
    first.refresh_from_db()
    assert first.status == "paused" and second.status == "active"


@pytest.mark.django_db
def test_max_caseload_cannot_drop_below_the_active_caseload(program):
    cpss = CMProviderFactory(max_caseload=5)
    enroll(program, cpss, first="A", last="One")
    enroll(program, cpss, first="B", last="Two")
    with pytest.raises(ValidationError) as excinfo:
        services.cm_provider_update(provider=cpss, max_caseload=1)
    assert_field_error(excinfo, "max_caseload", "2 active")
    with pytest.raises(ValidationError) as excinfo:
        services.cm_provider_update(provider=cpss, status="inactive")
    assert_field_error(excinfo, "status", "reassign")
    assert services.cm_provider_update(provider=cpss, max_caseload=2).max_caseload == 2


@pytest.mark.django_db
def test_reassigning_to_a_full_cpss_is_refused(program, cpss):
    full = CMProviderFactory(max_caseload=1)
    enroll(program, full, first="A", last="One")
    moving = enroll(program, cpss, first="B", last="Two").enrollment
    with pytest.raises(ConflictError) as excinfo:
        services.cm_enrollment_assign_cpss(enrollment=moving, cpss_provider=full)
    assert excinfo.value.existing_id == full.pk
    moving.refresh_from_db()
    assert moving.cpss_provider == cpss


@pytest.mark.django_db(transaction=True)
def test_two_enrollments_racing_for_the_last_place_one_wins():
    program = CMProgramFactory(name="Race program")
    cpss = CMProviderFactory(max_caseload=3)
    for first, last in [("A", "One"), ("B", "Two")]:
        enroll(program, cpss, first=first, last=last)
    cara, dan = CMPatientFactory(), CMPatientFactory()

    results = run_concurrently(
        lambda: services.cm_enrollment_create(cm_patient=cara, program=program, cpss_provider=cpss),
        lambda: services.cm_enrollment_create(cm_patient=dan, program=program, cpss_provider=cpss),
    )
    statuses = sorted(status for status, _ in results)
    assert statuses == ["error", "ok"], results
    error = next(value for status, value in results if status == "error")
    assert isinstance(error, ConflictError) and error.existing_id == cpss.pk and error.field == "cpss_provider"
    assert CMEnrollment.objects.filter(cpss_provider=cpss, status="active").count() == 3
    # The loser left nothing behind (no enrollment, no bonus entry).
    assert CMEnrollment.objects.filter(cm_patient__in=[cara, dan]).count() == 1
    assert CMPointsTransaction.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_two_new_patients_racing_for_the_last_place_through_scenario_1():
    program = CMProgramFactory(name="Race program")
    cpss = CMProviderFactory(max_caseload=1)
    results = run_concurrently(
        lambda: enroll(program, cpss, first="Cara", last="Racer", dob="1990-01-01"),
        lambda: enroll(program, cpss, first="Dan", last="Racer", dob="1991-01-01"),
    )
    assert sorted(status for status, _ in results) == ["error", "ok"], results
    assert CMEnrollment.objects.filter(cpss_provider=cpss, status="active").count() == 1
    # The loser's identity was rolled back with it.
    assert CanonicalPatient.objects.filter(last_name="Racer").count() == 1


# ---------------------------------------------------------------------------------------------------
# Points and streaks


@pytest.fixture
def enrollment(program, cpss):
    return enroll(program, cpss).enrollment


def record(enrollment, event_type, **kwargs):
    return services.cm_event_record(enrollment=enrollment, event_type=event_type, **kwargs)


@pytest.mark.django_db
def test_negative_tests_escalate_to_the_cap_and_a_positive_resets(enrollment, cpss):
    awarded = [record(enrollment, "test_negative").points for _ in range(7)]
    assert awarded == [50, 60, 70, 80, 90, 100, 100]
    assert enrollment.current_streak == 7
    positive = record(enrollment, "test_positive")
    assert (positive.points, positive.streak_after) == (0, 0)
    assert record(enrollment, "test_negative").points == 50
    assert record(enrollment, "test_negative").points == 60
    missed = record(enrollment, "test_missed")
    assert (missed.points, missed.streak_after) == (0, 0)
    assert record(enrollment, "test_negative").points == 50
    enrollment.refresh_from_db()
    assert enrollment.total_points == 25 + sum(awarded) + 50 + 60 + 50
    assert enrollment.current_streak == 1
    sequences = list(CMPointsTransaction.objects.filter(enrollment=enrollment).values_list("sequence", flat=True))
    assert sequences == list(range(1, 14))


@pytest.mark.django_db
def test_activities_earn_the_programs_values_and_keep_the_streak(enrollment, cpss):
    record(enrollment, "test_negative")
    values = {
        kind: record(enrollment, kind, actor=cpss.user).points
        for kind in ("group_attendance", "weekly_checkin", "peer_support")
    }
    assert values == {"group_attendance": 25, "weekly_checkin": 10, "peer_support": 20}
    enrollment.refresh_from_db()
    assert (enrollment.total_points, enrollment.current_streak) == (25 + 50 + 55, 1)
    assert record(enrollment, "test_negative").points == 60
    assert CMPointsTransaction.objects.filter(recorded_by=cpss.user).count() == 3


@pytest.mark.django_db
def test_the_schedule_is_the_programs_data(cpss):
    program = CMProgramFactory(
        name="Strict",
        points_negative_test_base=10,
        points_negative_test_increment=5,
        points_negative_test_cap=20,
        points_group_attendance=3,
        points_enrollment_bonus=0,
    )
    enrollment = enroll(program, cpss).enrollment
    assert CMPointsTransaction.objects.count() == 0  # no bonus in this program
    assert [record(enrollment, "test_negative").points for _ in range(4)] == [10, 15, 20, 20]
    assert record(enrollment, "group_attendance").points == 3


@pytest.mark.django_db
def test_manual_adjustments_need_a_reason_and_keep_the_balance_positive(enrollment):
    before = counts()
    with pytest.raises(ValidationError) as excinfo:
        record(enrollment, "manual_adjustment", points=10)
    assert_field_error(excinfo, "reason", "reason")
    with pytest.raises(ValidationError) as excinfo:
        record(enrollment, "manual_adjustment", points=10, reason="   ")
    assert_field_error(excinfo, "reason")
    with pytest.raises(ValidationError) as excinfo:
        record(enrollment, "manual_adjustment", points=0, reason="nothing")
    assert_field_error(excinfo, "points")
    with pytest.raises(ValidationError) as excinfo:
        record(enrollment, "manual_adjustment", points=-26, reason="prize redeemed")
    assert_field_error(excinfo, "points", "below zero")
    assert counts() == before

    entry = record(enrollment, "manual_adjustment", points=-20, reason="Prize redeemed: bus pass")
    enrollment.refresh_from_db()
    assert (entry.points, entry.reason, enrollment.total_points) == (-20, "Prize redeemed: bus pass", 5)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"event_type": "bingo"}, "event_type"),
        ({"event_type": "enrollment_bonus"}, "event_type"),
        ({"event_type": "reversal"}, "event_type"),
        ({"event_type": "group_attendance", "points": 500}, "points"),
        ({"event_type": "group_attendance", "occurred_at": timezone.now() + dt.timedelta(hours=2)}, "occurred_at"),
    ],
)
def test_bad_events_are_refused_and_nothing_is_written(enrollment, kwargs, field):
    before = counts()
    with pytest.raises(ValidationError) as excinfo:
        services.cm_event_record(enrollment=enrollment, **kwargs)
    assert_field_error(excinfo, field)
    assert counts() == before
    enrollment.refresh_from_db()
    assert enrollment.total_points == 25


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["paused", "graduated", "withdrawn"])
def test_no_events_for_an_enrollment_that_is_not_active(enrollment, status):
    services.cm_enrollment_set_status(enrollment=enrollment, status=status)
    before = counts()
    with pytest.raises(ValidationError) as excinfo:
        record(enrollment, "group_attendance")
    assert_field_error(excinfo, "enrollment", status)
    assert counts() == before
    enrollment.refresh_from_db()
    assert enrollment.total_points == 25


@pytest.mark.django_db
def test_status_changes_follow_the_allowed_moves_and_are_audited(enrollment, superuser):
    services.cm_enrollment_set_status(enrollment=enrollment, status="paused", actor=superuser, reason="Travel")
    services.cm_enrollment_set_status(enrollment=enrollment, status="active", actor=superuser)
    services.cm_enrollment_set_status(enrollment=enrollment, status="graduated", actor=superuser)
    with pytest.raises(ValidationError) as excinfo:
        services.cm_enrollment_set_status(enrollment=enrollment, status="active")
    assert_field_error(excinfo, "status", "graduated to active")
    with pytest.raises(ValidationError) as excinfo:
        services.cm_enrollment_set_status(enrollment=enrollment, status="finished")
    assert_field_error(excinfo, "status")
    moves = [e.changes["status"] for e in record_history(enrollment) if "status" in e.changes and e.action == "update"]
    assert moves == [["active", "paused"], ["paused", "active"], ["active", "graduated"]]
    paused = next(e for e in record_history(enrollment) if e.changes.get("status") == ["active", "paused"])
    assert paused.username == "root" and paused.context["reason"] == "Travel"


@pytest.mark.django_db
def test_a_reversal_cancels_an_entry_and_replays_the_streak(enrollment, superuser):
    first = record(enrollment, "test_negative")
    record(enrollment, "test_negative")
    positive = record(enrollment, "test_positive")
    assert enrollment.current_streak == 0
    reversal = services.cm_points_reverse(
        points_transaction=positive, reason="Lab retest was negative", actor=superuser
    )
    enrollment.refresh_from_db()
    assert (reversal.event_type, reversal.points, reversal.reverses, reversal.streak_after) == (
        "reversal",
        0,
        positive,
        2,
    )
    assert enrollment.current_streak == 2
    assert record(enrollment, "test_negative").points == 70  # the escalation continues

    undo = services.cm_points_reverse(points_transaction=first, reason="Wrong patient", actor=superuser)
    enrollment.refresh_from_db()
    assert undo.points == -50 and enrollment.total_points == 25 + 50 + 60 + 70 - 50
    assert enrollment.current_streak == 2
    first.refresh_from_db()
    assert first.points == 50  # the original entry is untouched

    with pytest.raises(ConflictError) as excinfo:
        services.cm_points_reverse(points_transaction=first, reason="again")
    assert excinfo.value.existing_id == undo.pk
    with pytest.raises(ValidationError) as excinfo:
        services.cm_points_reverse(points_transaction=undo, reason="undo the undo")
    assert_field_error(excinfo, "points_transaction")
    with pytest.raises(ValidationError) as excinfo:
        services.cm_points_reverse(points_transaction=positive, reason="")
    assert_field_error(excinfo, "reason")


@pytest.mark.django_db(transaction=True)
def test_concurrent_events_on_one_enrollment_are_serialised():
    program = CMProgramFactory(name="Concurrent events")
    enrollment = enroll(program, CMProviderFactory()).enrollment
    results = run_concurrently(*[lambda: record(enrollment, "test_negative") for _ in range(3)])
    assert [status for status, _ in results] == ["ok"] * 3, results
    enrollment.refresh_from_db()
    assert sorted(value.points for _, value in results) == [50, 60, 70]
    assert (enrollment.total_points, enrollment.current_streak) == (25 + 180, 3)


@pytest.mark.django_db
def test_random_event_sequences_keep_the_totals_equal_to_the_ledger(program, cpss):
    """200 random events, adjustments, reversals and pauses against an independent model of the rules."""
    rng = random.Random(20260401)
    enrollment = enroll(program, cpss).enrollment
    model_entries: list[dict] = [{"id": None, "type": "enrollment_bonus", "points": 25, "reversed": False}]
    status = "active"

    def model_streak() -> int:
        streak = 0
        for e in model_entries:
            if e["reversed"] or e["type"] == "reversal":
                continue
            if e["type"] == "test_negative":
                streak += 1
            elif e["type"] in ("test_positive", "test_missed"):
                streak = 0
        return streak

    kinds = ["test_negative"] * 5 + [
        "test_positive",
        "test_missed",
        "group_attendance",
        "weekly_checkin",
        "peer_support",
    ]
    for _ in range(200):
        roll = rng.random()
        total = sum(e["points"] for e in model_entries)
        if roll < 0.05:
            status = "paused" if status == "active" else "active"
            services.cm_enrollment_set_status(enrollment=enrollment, status=status)
        elif status != "active":
            with pytest.raises(ValidationError):
                record(enrollment, rng.choice(kinds))
        elif roll < 0.15:
            candidates = [e for e in model_entries if e["id"] and not e["reversed"] and e["type"] != "reversal"]
            if candidates:
                target = rng.choice(candidates)
                if total - target["points"] >= 0:
                    entry = services.cm_points_reverse(
                        points_transaction=CMPointsTransaction.objects.get(pk=target["id"]), reason="correction"
                    )
                    target["reversed"] = True
                    model_entries.append(
                        {"id": entry.pk, "type": "reversal", "points": -target["points"], "reversed": False}
                    )
        elif roll < 0.22:
            points = rng.randint(-40, 40) or 5
            if total + points >= 0:
                entry = record(enrollment, "manual_adjustment", points=points, reason="adjusted")
                model_entries.append({"id": entry.pk, "type": "manual_adjustment", "points": points, "reversed": False})
        else:
            kind = rng.choice(kinds)
            streak = model_streak()
            expected = {
                "test_negative": min(50 + 10 * streak, 100),
                "test_positive": 0,
                "test_missed": 0,
                "group_attendance": 25,
                "weekly_checkin": 10,
                "peer_support": 20,
            }[kind]
            entry = record(enrollment, kind)
            assert entry.points == expected, (kind, streak)
            model_entries.append({"id": entry.pk, "type": kind, "points": expected, "reversed": False})

        enrollment.refresh_from_db()
        assert enrollment.total_points == sum(e["points"] for e in model_entries)
        assert enrollment.current_streak == model_streak()

    ledger = list(CMPointsTransaction.objects.filter(enrollment=enrollment).order_by("sequence"))
    assert len(ledger) == len(model_entries) > 100
    assert enrollment.total_points == sum(e.points for e in ledger)
    assert enrollment.current_streak == streak_from_ledger(ledger) == ledger[-1].streak_after
    assert [e.sequence for e in ledger] == list(range(1, len(ledger) + 1))
    assert enrollment.total_points >= 0


@pytest.mark.django_db
def test_totals_repair_sets_the_ledgers_values(enrollment):
    record(enrollment, "test_negative")
    CMEnrollment.objects.filter(pk=enrollment.pk).update(total_points=999, current_streak=7)
    assert services.cm_enrollment_totals_repair(enrollment=enrollment) == (75, 1)
    enrollment.refresh_from_db()
    assert (enrollment.total_points, enrollment.current_streak) == (75, 1)


@pytest.mark.django_db
def test_factory_enrollment_starts_with_an_empty_ledger():
    enrollment = CMEnrollmentFactory()
    assert enrollment.canonical_patient == enrollment.cm_patient.canonical_patient
    assert (enrollment.total_points, enrollment.points_transactions.count()) == (0, 0)
