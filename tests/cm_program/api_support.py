"""Fixtures of the CM API tests: a login per role (authenticated by token, as scripts are), and a small
CM world with two CPSS so that every test can tell "own caseload" from "someone else's"."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from cm_program import services
from cm_program.models import CMPointsTransaction, CMProgram, CMProvider, IntakeQPatient
from cm_program.services import CMEnrollmentResult
from common import roles
from people.models import User
from tests.conftest import make_user
from tests.factories.cm_program import (
    CanonicalPatientFactory,
    CMProgramFactory,
    CMProviderFactory,
    IntakeQPatientFactory,
)

ROLES = ("superuser", "cm_supervisor", "cpss", "navigator", "crm_supervisor")
NEVER_CM = ("navigator", "crm_supervisor")

API = "/api/v1/cm"


def token_client(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def error(response) -> dict[str, Any]:
    """The error object of a 4xx, after checking it has the API's one shape."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"code", "message"} <= set(body["error"]), body
    return body["error"]


def ids(response) -> set[str]:
    body = response.json()
    assert set(body) == {"count", "count_is", "next", "previous", "results"}, body
    return {row["id"] for row in body["results"]}


@dataclass
class World:
    program: CMProgram
    users: dict[str, User]
    cpss: CMProvider  # the provider of the "cpss" login
    other_cpss: CMProvider  # another CPSS with their own login
    own: CMEnrollmentResult  # a new CM patient of the "cpss" login's caseload
    other: CMEnrollmentResult  # a patient of the other CPSS
    own_iq: CMEnrollmentResult  # an IntakeQ patient of the "cpss" login's caseload (dual enrolled)
    other_iq: CMEnrollmentResult  # an IntakeQ patient of the other CPSS (dual enrolled)
    free_iq: IntakeQPatient  # an IntakeQ client who is not in CM

    def client(self, role: str | None) -> APIClient:
        return token_client(self.users[role] if role else None)

    def own_entry(self) -> CMPointsTransaction:
        return self.own.enrollment.points_transactions.order_by("sequence").last()

    def other_entry(self) -> CMPointsTransaction:
        return self.other.enrollment.points_transactions.order_by("sequence").last()


def build_world() -> World:
    users = {
        "superuser": make_user("root", superuser=True),
        "cm_supervisor": make_user("cmsup", roles.CM_SUPERVISORS),
        "cpss": make_user("cpss", roles.CPSS),
        "navigator": make_user("nav", roles.PATIENT_NAVIGATORS),
        "crm_supervisor": make_user("crmsup", roles.CRM_SUPERVISORS),
    }
    other_login = make_user("cpss_other", roles.CPSS)
    program = CMProgramFactory(name="Moonlit CM")
    cpss = CMProviderFactory(user=users["cpss"], first_name="Casey", last_name="Peer", email="casey@cm.example.org")
    other_cpss = CMProviderFactory(
        user=other_login, first_name="Riley", last_name="Jensen", email="riley@cm.example.org"
    )

    def new(first, last, dob, provider, **profile):
        return services.cm_patient_enroll_new(
            first_name=first,
            last_name=last,
            date_of_birth=dob,
            program=program,
            cpss_provider=provider,
            enrollment_source="acute_care",
            **profile,
        )

    own = new("Jessica", "Martinez", "1992-03-22", cpss, phone="(801) 555-0123", email="jessica@example.org")
    other = new("Marcus", "Reed", "1983-05-19", other_cpss)
    iq_own = IntakeQPatientFactory(
        intakeq_client_id="IQ-1001", first_name="John", last_name="Smith", date_of_birth=dt.date(1985, 6, 15)
    )
    iq_other = IntakeQPatientFactory(
        intakeq_client_id="IQ-1002", first_name="Maria", last_name="Gonzalez", date_of_birth=dt.date(1979, 11, 2)
    )
    own_iq = services.cm_patient_enroll_from_intakeq(intakeq_patient=iq_own, program=program, cpss_provider=cpss)
    other_iq = services.cm_patient_enroll_from_intakeq(
        intakeq_patient=iq_other, program=program, cpss_provider=other_cpss
    )
    for result in (own, other):
        services.cm_event_record(enrollment=result.enrollment, event_type="test_negative")
    free_iq = IntakeQPatientFactory(
        intakeq_client_id="IQ-1004", first_name="Aisha", last_name="Khan", date_of_birth=dt.date(1988, 4, 9)
    )
    return World(program, users, cpss, other_cpss, own, other, own_iq, other_iq, free_iq)


@pytest.fixture
def world(db) -> World:
    return build_world()


def lonely_canonical_patient():
    """A canonical patient without a CM profile or link (targets of profile and link creation)."""
    return CanonicalPatientFactory(first_name="Aisha", last_name="Khan", date_of_birth=dt.date(1988, 4, 9))
