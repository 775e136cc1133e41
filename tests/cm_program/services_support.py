"""Helpers of the CM service tests (tests/cm_program/test_services_*.py)."""

from __future__ import annotations

from cm_program import services
from cm_program.models import (
    CanonicalPatient,
    CMEnrollment,
    CMPatient,
    CMPointsTransaction,
    CMProvider,
    IntakeQLink,
)
from people.models import Person


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
