"""CPSS providers and their caseload limits, with real concurrent enrollments."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from cm_program import services
from cm_program.models import (
    CanonicalPatient,
    CMEnrollment,
    CMPointsTransaction,
    CMProvider,
)
from common.errors import ConflictError
from tests.cm_program.conftest import run_concurrently
from tests.cm_program.services_support import assert_field_error, counts, enroll
from tests.factories.cm_program import (
    CMPatientFactory,
    CMProgramFactory,
    CMProviderFactory,
)
from tests.relative_dates import FromToday, resolve


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"role": "peer"}, "role"),
        ({"status": "retired"}, "status"),
        ({"max_caseload": -1}, "max_caseload"),
        ({"email": "nope"}, "email"),
        ({"hire_date": FromToday(days=3)}, "hire_date"),
    ],
)
def test_provider_create_refuses_values_outside_the_lists(kwargs, field):
    with pytest.raises(ValidationError) as excinfo:
        services.cm_provider_create(first_name="Casey", last_name="Peer", **resolve(kwargs))
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
