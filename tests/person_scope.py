"""A small world for the Person-scope tests (issue 9, item 1): one Person per program, one in both, one
deleted, a CPSS with a caseload, and one login per role.

The rule under test: every user who is not a superuser sees and uses only the Persons of their own
program (``people.selectors.persons_visible_to``); any other Person's email is answered with the same
neutral 409 as any unusable email, naming nobody and writing nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from django.utils import timezone

from cm_program.models import CMEnrollment
from people.models import Person, User
from people.services import UNUSABLE_EMAIL_MESSAGE
from tests.factories.cm_program import (
    CanonicalPatientFactory,
    CMEnrollmentFactory,
    CMPatientFactory,
    CMProgramFactory,
    CMProviderFactory,
)
from tests.factories.people import PersonContactTypeFactory, PersonFactory

ROLES = ("superuser", "navigator", "crm_supervisor", "cpss", "cm_supervisor")
NAVIGATION_ROLES = ("navigator", "crm_supervisor")
CM_ROLES = ("cpss", "cm_supervisor")

# The one neutral refusal, byte for byte (the API renders JSON without spaces).
NEUTRAL_409 = {
    "error": {"code": "unavailable", "message": UNUSABLE_EMAIL_MESSAGE, "fields": {"email": [UNUSABLE_EMAIL_MESSAGE]}}
}


@dataclass
class ScopeWorld:
    users: dict[str, User]
    cm_only: Person  # a CM patient in the "cpss" login's caseload, unknown to patient navigation
    cm_staff: Person  # the Person of another CPSS (CM-linked, no navigation role)
    nav_only: Person  # a patient-navigation lead, unknown to CM
    both: Person  # a CM patient who is also a patient-navigation lead (linked by a superuser)
    deleted: Person  # a soft-deleted patient-navigation Person

    def visible(self, role: str) -> set[Person]:
        """Who ``role`` may see, as the issue's rule says (deleted rows: those who may restore them)."""
        return {
            "superuser": {self.cm_only, self.cm_staff, self.nav_only, self.both, self.deleted},
            "navigator": {self.nav_only, self.both},
            "crm_supervisor": {self.nav_only, self.both, self.deleted},
            "cm_supervisor": {self.cm_only, self.cm_staff, self.both},
            "cpss": {self.cm_only},
        }[role]


@pytest.fixture
def scope_world(superuser, navigator_user, crm_supervisor_user, cpss_user, cm_supervisor_user) -> ScopeWorld:
    program = CMProgramFactory(name="Scope CM")
    own_cpss = CMProviderFactory(user=cpss_user, first_name="Olga", last_name="Owncpss")
    cm_only = PersonFactory(
        first_name="Carla",
        last_name="Confidential",
        email="carla@cm.example.org",
        phone="+18015550111",
        date_of_birth=dt.date(1980, 1, 2),
    )
    canonical = CanonicalPatientFactory(
        person=cm_only, first_name="Carla", last_name="Confidential", date_of_birth=dt.date(1980, 1, 2)
    )
    CMEnrollmentFactory(
        cm_patient=CMPatientFactory(canonical_patient=canonical), cm_program=program, cpss_provider=own_cpss
    )
    cm_staff = PersonFactory(first_name="Sam", last_name="Staffcpss", email="sam@cm.example.org")
    CMProviderFactory(person=cm_staff, first_name="Sam", last_name="Staffcpss")
    nav_only = PersonFactory(
        first_name="Nina",
        last_name="Navonly",
        email="nina@nav.example.org",
        phone="+18015550122",
        date_of_birth=dt.date(1970, 3, 4),
    )
    PersonContactTypeFactory(person=nav_only)
    both = PersonFactory(first_name="Bo", last_name="Bothways", email="bo@both.example.org")
    CanonicalPatientFactory(person=both, first_name="Bo", last_name="Bothways")
    PersonContactTypeFactory(person=both)
    deleted = PersonFactory(
        first_name="Dora",
        last_name="Deleted",
        email="dora@nav.example.org",
        is_active=False,
        deleted_at=timezone.now(),
        deletion_reason="Entered twice.",
    )
    assert CMEnrollment.objects.filter(cpss_provider__user=cpss_user).count() == 1
    users = {
        "superuser": superuser,
        "navigator": navigator_user,
        "crm_supervisor": crm_supervisor_user,
        "cpss": cpss_user,
        "cm_supervisor": cm_supervisor_user,
    }
    return ScopeWorld(users, cm_only, cm_staff, nav_only, both, deleted)
