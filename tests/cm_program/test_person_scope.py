"""The Person scope in reverse (issue 9, item 1): CM staff cannot attach a CM identity to, or learn about,
a Person known only to patient navigation.

Every CM flow that links a canonical patient to a Person (``canonical_patient_find_or_create``: a new
canonical patient, scenario 1, scenario 2 from an IntakeQ record, the admin's "Enroll in CM") finds the
Person by email, else by an unambiguous name + date of birth. For a CM supervisor only CM people count:
a navigation Person's email is the neutral 409 (naming nobody, writing nothing), a name + date of birth
that only a navigation Person matches is no match. A superuser links the two programs.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from cm_program.models import CanonicalPatient, CMEnrollment, CMPatient, CMProgram, IntakeQLink
from people.models import Person
from people.services import UNUSABLE_EMAIL_MESSAGE
from tests.factories.cm_program import CMProgramFactory, CMProviderFactory, IntakeQPatientFactory
from tests.factories.people import PersonContactTypeFactory, PersonFactory
from tests.navigation_api import client_for
from tests.person_scope import NEUTRAL_409, scope_world

__all__ = ["scope_world"]

pytestmark = pytest.mark.django_db

CM_API = "/api/v1/cm"


def _counts() -> dict[str, int]:
    return {
        "person": Person.all_objects.count(),
        "canonical": CanonicalPatient.objects.count(),
        "cm_patient": CMPatient.objects.count(),
        "link": IntakeQLink.objects.count(),
        "enrollment": CMEnrollment.objects.count(),
    }


def _enroll_new(scope_world, **person) -> dict:
    return {
        "first_name": "Probe",
        "last_name": "Person",
        "date_of_birth": "1991-09-09",
        "phone": "(801) 555-0199",
        "cm_program_id": str(CMProgram.objects.get(name="Scope CM").pk),
        "cpss_provider_id": str(scope_world.users["cpss"].cm_provider.pk),
        **person,
    }


def test_a_cm_supervisor_cannot_attach_cm_records_to_a_navigation_person_by_email(scope_world):
    api = client_for(scope_world.users["cm_supervisor"])
    before = _counts()
    answers = [
        api.post(f"{CM_API}/enroll/", _enroll_new(scope_world, email=" Nina@NAV.example.org"), format="json"),
        api.post(
            f"{CM_API}/canonical-patients/",
            {
                "first_name": "Probe",
                "last_name": "Person",
                "date_of_birth": "1991-09-09",
                "email": "nina@nav.example.org",
            },
            format="json",
        ),
        # A deleted navigation Person: the same answer, byte for byte.
        api.post(f"{CM_API}/enroll/", _enroll_new(scope_world, email="dora@nav.example.org"), format="json"),
    ]
    for response in answers:
        assert response.status_code == 409, response.content
        assert json.loads(response.content) == NEUTRAL_409
        for stored in ("Nina", "Navonly", "+18015550122", "1970-03-04", str(scope_world.nav_only.pk)):
            assert stored not in response.content.decode()
    assert len({response.content for response in answers}) == 1
    assert _counts() == before
    assert not CanonicalPatient.objects.filter(person=scope_world.nav_only).exists()
    # A CPSS does not enroll at all.
    cpss = client_for(scope_world.users["cpss"])
    assert (
        cpss.post(
            f"{CM_API}/enroll/", _enroll_new(scope_world, email="nina@nav.example.org"), format="json"
        ).status_code
        == 403
    )

    # A superuser links the CM enrollment to the navigation Person; the differences are reported to them.
    root = client_for(scope_world.users["superuser"])
    response = root.post(f"{CM_API}/enroll/", _enroll_new(scope_world, email="nina@nav.example.org"), format="json")
    assert response.status_code == 201, response.content
    assert CanonicalPatient.objects.get(pk=response.json()["canonical_patient"]["id"]).person == scope_world.nav_only
    assert response.json()["person_conflicts"]["first_name"] == {"stored": "Nina", "given": "Probe"}


def test_an_intakeq_record_with_a_navigation_person_s_email_is_the_neutral_refusal(client, scope_world):
    record = IntakeQPatientFactory(first_name="Ira", last_name="Intake", email="nina@nav.example.org")
    before = _counts()
    api = client_for(scope_world.users["cm_supervisor"])
    response = api.post(f"{CM_API}/enroll-from-intakeq/", {"intakeq_patient_id": str(record.pk)}, format="json")
    assert response.status_code == 409 and json.loads(response.content) == NEUTRAL_409
    assert _counts() == before

    # The admin's "Enroll in CM" says the same, and links nothing.
    client.force_login(scope_world.users["cm_supervisor"])
    program = CMProgram.objects.get(name="Scope CM")
    done = client.post(
        reverse("admin:cm_program_intakeqpatient_changelist"),
        {"action": "enroll_in_cm", "_selected_action": [str(record.pk)], "apply": "1", "program": program.pk},
    )
    assert done.status_code == 302
    assert [str(m) for m in get_messages(done.wsgi_request)] == [f"Not enrolled: Ira Intake: {UNUSABLE_EMAIL_MESSAGE}"]
    assert _counts() == before

    # A superuser links the IntakeQ patient's CM identity to the navigation Person.
    linked = client_for(scope_world.users["superuser"]).post(
        f"{CM_API}/enroll-from-intakeq/", {"intakeq_patient_id": str(record.pk)}, format="json"
    )
    assert linked.status_code == 201, linked.content
    assert IntakeQLink.objects.get(intakeq_patient=record).canonical_patient.person == scope_world.nav_only


def test_a_name_and_birth_date_match_with_a_navigation_person_is_no_match_for_cm_staff(scope_world):
    """Without an email, the CM identity flow matches an unambiguous name + date of birth. A navigation
    Person does not count for a CM supervisor: a new Person is made (refusing would itself say that
    someone of that name and birth date is on file in patient navigation)."""
    navigation = PersonFactory(
        first_name="Ulla", last_name="Unmailed", email=None, phone="+18015550133", date_of_birth=dt.date(1975, 6, 7)
    )
    PersonContactTypeFactory(person=navigation)
    payload = {"first_name": "Ulla", "last_name": "Unmailed", "date_of_birth": "1975-06-07", "phone": ""}
    api = client_for(scope_world.users["cm_supervisor"])
    response = api.post(f"{CM_API}/enroll/", _enroll_new(scope_world, **payload), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["created"]["person"] is True and body["person_conflicts"] == {}
    canonical = CanonicalPatient.objects.get(pk=body["canonical_patient"]["id"])
    assert canonical.person != navigation and canonical.person.phone == ""
    assert "+18015550133" not in response.content.decode()
    assert not CanonicalPatient.objects.filter(person=navigation).exists()

    # A superuser's match links the navigation Person (another human of the same kind here).
    other = PersonFactory(first_name="Vera", last_name="Unmailed", email=None, date_of_birth=dt.date(1975, 6, 7))
    PersonContactTypeFactory(person=other)
    root = client_for(scope_world.users["superuser"])
    identity = root.post(
        f"{CM_API}/canonical-patients/",
        {"first_name": "Vera", "last_name": "Unmailed", "date_of_birth": "1975-06-07"},
        format="json",
    )
    assert identity.status_code == 201, identity.content
    assert CanonicalPatient.objects.get(pk=identity.json()["id"]).person == other


@pytest.mark.django_db(transaction=True)
def test_a_navigator_and_a_cm_supervisor_registering_one_new_email_at_once_share_nothing(
    navigator_user, cm_supervisor_user
):
    """Both programs register the same, so far unknown, email at the same moment: the first to commit
    gets the Person, the other the neutral refusal; never one Person in both programs."""
    from cm_program import services as cm_services
    from patients import services as patient_services
    from tests.cm_program.conftest import run_concurrently

    program = CMProgramFactory(name="Race CM")
    cpss = CMProviderFactory()
    outcomes = run_concurrently(
        lambda: patient_services.patient_register(
            first_name="Rae", last_name="Race", email="rae.race@example.org", actor=navigator_user
        ),
        lambda: cm_services.cm_patient_enroll_new(
            first_name="Rae",
            last_name="Race",
            date_of_birth="1990-01-01",
            program=program,
            cpss_provider=cpss,
            email="rae.race@example.org",
            actor=cm_supervisor_user,
        ),
    )
    kinds = sorted(kind for kind, _ in outcomes)
    assert kinds == ["error", "ok"], outcomes
    [refusal] = [value for kind, value in outcomes if kind == "error"]
    assert (getattr(refusal, "code", None), getattr(refusal, "message", None)) == (
        "unavailable",
        UNUSABLE_EMAIL_MESSAGE,
    )
    assert refusal.existing_id is None
    person = Person.all_objects.get(email="rae.race@example.org")
    in_navigation = person.role_periods.exists()
    in_cm = CanonicalPatient.objects.filter(person=person).exists()
    assert in_navigation != in_cm  # one program only
    assert Person.all_objects.filter(last_name="Race").count() == 1
