"""The CM document's two flows: POST /api/v1/cm/enroll/ (scenario 1) and /enroll-from-intakeq/ (scenario 2)."""

from __future__ import annotations

import datetime as dt

import pytest

from cm_program import services
from cm_program.models import CanonicalPatient, CMEnrollment, CMPatient, CMPointsTransaction, IntakeQLink
from common.audit import record_history
from people.models import Person
from tests.cm_program.api_support import API, error, lonely_canonical_patient, world
from tests.factories.cm_program import CMProgramFactory, CMProviderFactory, IntakeQPatientFactory

__all__ = ["world"]

pytestmark = pytest.mark.django_db

ENROLL = f"{API}/enroll/"
FROM_INTAKEQ = f"{API}/enroll-from-intakeq/"


def counts() -> dict[str, int]:
    return {
        "canonical": CanonicalPatient.objects.count(),
        "person": Person.all_objects.count(),
        "cm_patient": CMPatient.objects.count(),
        "link": IntakeQLink.objects.count(),
        "enrollment": CMEnrollment.objects.count(),
        "ledger": CMPointsTransaction.objects.count(),
    }


@pytest.fixture
def sup(world):
    return world.client("cm_supervisor")


def scenario_1(world, **overrides):
    """The document's scenario 1 payload, with its own field names."""
    return {
        "first_name": "Amanda",
        "last_name": "Lee",
        "date_of_birth": "1995-12-01",
        "phone": "(801) 555-0177",
        "email": "amanda@email.com",
        "insurance_primary": "Utah Medicaid",
        "enrollment_source": "acute_care",
        "smartphone_access": "yes",
        "cm_program_id": str(world.program.pk),
        "cpss_provider_id": str(world.cpss.pk),
        **overrides,
    }


# ---------------------------------------------------------------------------------------------------
# Scenario 1


def test_scenario_1_creates_identity_profile_and_enrollment(sup, world):
    before = counts()
    response = sup.post(ENROLL, scenario_1(world), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {
        "canonical_patient",
        "cm_patient",
        "enrollment",
        "intakeq_link",
        "created",
        "person_conflicts",
    }
    canonical = CanonicalPatient.objects.get(pk=body["canonical_patient"]["id"])
    assert (canonical.first_name, canonical.last_name, str(canonical.date_of_birth)) == ("Amanda", "Lee", "1995-12-01")
    assert body["canonical_patient"]["cm_patient"] == body["cm_patient"]["id"]
    profile = body["cm_patient"]
    assert (profile["phone"], profile["email"], profile["insurance_primary"]) == (
        "+18015550177",
        "amanda@email.com",
        "Utah Medicaid",
    )
    assert (profile["enrollment_source"], profile["smartphone_access"]) == ("acute_care", "yes")
    enrollment = body["enrollment"]
    assert (enrollment["canonical_patient"], enrollment["cm_patient"]) == (str(canonical.pk), profile["id"])
    assert (enrollment["cm_program"], enrollment["cpss_provider"]) == (str(world.program.pk), str(world.cpss.pk))
    assert (enrollment["total_points"], enrollment["status"]) == (25, "active")
    assert body["intakeq_link"] is None
    assert body["created"] == {"canonical_patient": True, "cm_patient": True, "intakeq_link": False, "person": True}
    assert body["person_conflicts"] == {}
    assert counts() == {**before, "canonical": before["canonical"] + 1, "person": before["person"] + 1,
                        "cm_patient": before["cm_patient"] + 1, "enrollment": before["enrollment"] + 1,
                        "ledger": before["ledger"] + 1}  # fmt: skip
    # Written by the API user, through the API channel.
    for row in (canonical, CMPatient.objects.get(pk=profile["id"]), CMEnrollment.objects.get(pk=enrollment["id"])):
        insert = record_history(row)[0]
        assert (insert.action, insert.username, insert.channel) == ("insert", "cmsup", "api")


def test_scenario_1_twice_is_409_with_the_enrollment_and_writes_nothing(sup, world):
    first = sup.post(ENROLL, scenario_1(world), format="json").json()
    before = counts()
    again = sup.post(ENROLL, scenario_1(world, first_name="AMANDA ", phone=None), format="json")
    assert again.status_code == 409
    problem = error(again)
    assert problem["existing_id"] == first["enrollment"]["id"]
    assert problem["message"].startswith("Amanda Lee (1995-12-01) is already enrolled in Moonlit CM")
    assert counts() == before


def test_scenario_1_with_a_full_caseload_is_409_and_leaves_nothing(sup, world):
    full = CMProviderFactory(max_caseload=0, first_name="Full", last_name="House")
    before = counts()
    response = sup.post(ENROLL, scenario_1(world, cpss_provider_id=str(full.pk)), format="json")
    assert response.status_code == 409
    assert error(response)["existing_id"] == str(full.pk)
    assert error(response)["fields"] == {"cpss_provider": ["Full House is at capacity (0 of 0 active enrollments)."]}
    assert counts() == before  # not even the canonical patient or Person


def test_scenario_1_reuses_an_existing_identity(sup, world):
    """A known human joining a second program: the identity and CM profile are reused, not duplicated."""
    second = CMProgramFactory(name="Second program")
    response = sup.post(
        ENROLL,
        {
            "canonical_patient": str(world.own.canonical_patient.pk),
            "cm_program": str(second.pk),
            "cpss_provider": str(world.cpss.pk),
            "smartphone_access": "limited",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["canonical_patient"]["id"] == str(world.own.canonical_patient.pk)
    assert body["cm_patient"]["id"] == str(world.own.cm_patient.pk)
    assert body["cm_patient"]["smartphone_access"] == "limited"  # was empty: filled
    assert body["created"] == {"canonical_patient": False, "cm_patient": False, "intakeq_link": False, "person": False}


def test_scenario_1_reports_person_conflicts(world):
    # A Person of patient navigation: only a superuser, who sees both programs, links it to CM (a CM
    # supervisor gets the neutral refusal: tests/people/test_person_scope.py).
    Person.objects.create(first_name="Amanda", last_name="Lee", email="amanda@email.com", phone="+18015550100")
    response = world.client("superuser").post(ENROLL, scenario_1(world), format="json")
    assert response.status_code == 201
    assert response.json()["person_conflicts"] == {"phone": {"stored": "+18015550100", "given": "+18015550177"}}
    assert response.json()["created"]["person"] is False


@pytest.mark.parametrize(
    "overrides, field, message",
    [
        ({"cpss_provider_id": None}, "cpss_provider", "This field may not be null."),
        ({"first_name": None}, "first_name", "This field may not be null."),
        ({"date_of_birth": "2999-12-01"}, "date_of_birth", "The date of birth cannot be in the future."),
        ({"date_of_birth": "1800-01-01"}, "date_of_birth", "cannot be before 1900"),
        ({"smartphone_access": "sometimes"}, "smartphone_access", '"sometimes" is not a valid choice.'),
        ({"enrollment_source": "existing_patient"}, "enrollment_source", None),
        ({"email": "jessica@"}, "email", "is not a valid email address"),
        ({"phone": "555"}, "phone", "is not a valid phone number"),
        ({"cpss_provider_id": "not-a-uuid"}, "cpss_provider", "Must be a valid UUID."),
        ({"cpss_provider_id": "00000000-0000-0000-0000-000000000000"}, "cpss_provider", "does not exist"),
        ({"cm_program_id": 7}, "cm_program", "Must be a valid UUID."),
        ({"cm_program_id": {"id": "x"}}, "cm_program", "Must be a valid UUID."),
        ({"last_name": "L" * 100_000}, "last_name", "Ensure this field has no more than 200 characters."),
        ({"insurance_primary": ["Medicaid"]}, "insurance_primary", "Not a valid string."),
        ({"first_name": "Amanda\x00"}, "first_name", "Null characters are not allowed."),
        ({"canonical_patient": "00000000-0000-0000-0000-000000000000"}, "canonical_patient", "does not exist"),
        ({"preferred_language": "x" * 101}, "preferred_language", "no more than 100 characters"),
    ],
)
def test_scenario_1_bad_input_is_400_naming_the_field_and_writes_nothing(sup, world, overrides, field, message):
    before = counts()
    response = sup.post(ENROLL, scenario_1(world, **overrides), format="json")
    if message is None:  # accepted by the shape, a valid choice: the service decides (here: fine)
        assert response.status_code == 201
        return
    assert response.status_code == 400, response.content
    problem = error(response)
    assert problem["code"] == "invalid"
    assert message in " ".join(problem["fields"][field]), problem
    assert counts() == before


def test_scenario_1_requires_the_identity_or_a_canonical_patient(sup, world):
    response = sup.post(ENROLL, {"cpss_provider": str(world.cpss.pk)}, format="json")
    assert response.status_code == 400
    assert error(response)["fields"] == {
        "first_name": ["This field is required (or give canonical_patient)."],
        "last_name": ["This field is required (or give canonical_patient)."],
        "date_of_birth": ["This field is required (or give canonical_patient)."],
    }
    both = sup.post(
        ENROLL,
        {
            "canonical_patient": str(world.own.canonical_patient.pk),
            "first_name": "X",
            "cpss_provider": str(world.cpss.pk),
        },
        format="json",
    )
    assert both.status_code == 400 and list(error(both)["fields"]) == ["first_name"]


# ---------------------------------------------------------------------------------------------------
# Scenario 2


def test_scenario_2_links_inherits_contact_data_and_enrolls(sup, world):
    before = counts()
    response = sup.post(
        FROM_INTAKEQ,
        {"intakeq_patient_id": str(world.free_iq.pk), "cpss_provider": str(world.cpss.pk), "confidence_score": 1.0},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    iq = world.free_iq
    assert (body["canonical_patient"]["first_name"], body["canonical_patient"]["date_of_birth"]) == (
        "Aisha",
        "1988-04-09",
    )
    assert body["canonical_patient"]["intakeq_patient"] == str(iq.pk)
    assert body["cm_patient"]["enrollment_source"] == "existing_patient"
    assert body["cm_patient"]["email"] == iq.email
    assert body["cm_patient"]["phone"].startswith("+1801555")
    link = body["intakeq_link"]
    assert (link["intakeq_patient"], link["confidence_score"], link["linked_by_username"]) == (str(iq.pk), 1.0, "cmsup")
    assert body["enrollment"]["cpss_provider"] == str(world.cpss.pk) and body["enrollment"]["total_points"] == 25
    assert body["created"] == {"canonical_patient": True, "cm_patient": True, "intakeq_link": True, "person": True}
    assert counts() == {key: value + (0 if key == "ledger" else 1) for key, value in before.items()} | {
        "ledger": before["ledger"] + 1
    }
    # The patient now appears in the dual-enrollment list.
    dual = sup.get(f"{API}/dual-enrollments/").json()
    assert body["canonical_patient"]["id"] in {row["id"] for row in dual["results"]}


def test_scenario_2_finds_the_intakeq_record_by_name_and_date_of_birth(sup, world):
    response = sup.post(
        FROM_INTAKEQ, {"first_name": "aisha", "last_name": "KHAN ", "date_of_birth": "1988-04-09"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["intakeq_link"]["intakeq_patient"] == str(world.free_iq.pk)
    assert response.json()["enrollment"]["cpss_provider"] is None  # the document's scenario 2 names no CPSS


def test_scenario_2_lookup_misses_and_ambiguities_are_400(sup, world):
    missing = sup.post(
        FROM_INTAKEQ, {"first_name": "Nobody", "last_name": "Here", "date_of_birth": "1990-01-01"}, format="json"
    )
    assert missing.status_code == 400
    assert error(missing)["fields"] == {
        "intakeq_patient": ["No IntakeQ patient has this name and date of birth; give intakeq_patient (its id)."]
    }
    IntakeQPatientFactory(first_name="Aisha", last_name="Khan", date_of_birth=dt.date(1988, 4, 9))
    twice = sup.post(
        FROM_INTAKEQ, {"first_name": "Aisha", "last_name": "Khan", "date_of_birth": "1988-04-09"}, format="json"
    )
    assert twice.status_code == 400
    assert "Several IntakeQ patients" in error(twice)["fields"]["intakeq_patient"][0]
    partial = sup.post(FROM_INTAKEQ, {"first_name": "Aisha"}, format="json")
    assert partial.status_code == 400 and set(error(partial)["fields"]) == {"last_name", "date_of_birth"}


def test_scenario_2_conflicts_are_409_and_leave_nothing(sup, world):
    # The IntakeQ record was linked by hand (a fuzzy match) to a canonical patient of another name.
    record = IntakeQPatientFactory(first_name="Jon", last_name="Smyth", date_of_birth=dt.date(1985, 6, 15), email=None)
    other_link, _ = services.intakeq_link_create(
        canonical_patient=lonely_canonical_patient(), intakeq_patient=record, confidence_score="0.70"
    )
    before = counts()
    linked_elsewhere = sup.post(FROM_INTAKEQ, {"intakeq_patient": str(record.pk)}, format="json")
    assert linked_elsewhere.status_code == 409
    assert error(linked_elsewhere)["existing_id"] == str(other_link.pk)
    assert list(error(linked_elsewhere)["fields"]) == ["intakeq_patient"]
    # Already enrolled (the same human, same program).
    enrolled = sup.post(
        FROM_INTAKEQ, {"intakeq_patient": str(world.other_iq.intakeq_link.intakeq_patient_id)}, format="json"
    )
    assert enrolled.status_code == 409
    assert error(enrolled)["existing_id"] == str(world.other_iq.enrollment.pk)
    assert counts() == before


@pytest.mark.parametrize(
    "body, field, message",
    [
        ({"confidence_score": 0.8}, "confidence_score", "exact match"),
        (
            {"enrollment_source": "referral"},
            "enrollment_source",
            "A patient coming from IntakeQ is an existing_patient.",
        ),
        ({"canonical_patient": None}, "canonical_patient", "Scenario 2 finds or creates the canonical patient"),
        ({"first_name": "Aisha"}, "intakeq_patient", "not both"),
        ({"cpss_provider": 12}, "cpss_provider", "Must be a valid UUID."),
        ({"link_notes": "n" * 10_001}, "link_notes", "no more than 10000 characters"),
    ],
)
def test_scenario_2_bad_input(sup, world, body, field, message):
    before = counts()
    response = sup.post(FROM_INTAKEQ, {"intakeq_patient": str(world.free_iq.pk), **body}, format="json")
    assert response.status_code == 400, response.content
    assert message in " ".join(error(response)["fields"][field]), error(response)
    assert counts() == before


def test_scenario_2_refuses_an_intakeq_record_without_a_date_of_birth(sup, world):
    record = IntakeQPatientFactory(date_of_birth=None)
    response = sup.post(FROM_INTAKEQ, {"intakeq_patient": str(record.pk)}, format="json")
    assert response.status_code == 400
    assert error(response)["fields"] == {"intakeq_patient": ["The IntakeQ record has no date of birth to match on."]}


def test_a_cpss_cannot_enroll(world):
    cpss = world.client("cpss")
    for url, body in ((ENROLL, scenario_1(world)), (FROM_INTAKEQ, {"intakeq_patient": str(world.free_iq.pk)})):
        response = cpss.post(url, body, format="json")
        assert response.status_code == 403
        assert error(response) == {
            "code": "permission_denied",
            "message": "You do not have permission to perform this action.",
        }


def test_enroll_endpoints_accept_only_post(sup):
    for url in (ENROLL, FROM_INTAKEQ):
        response = sup.get(url)
        assert response.status_code == 405 and error(response)["code"] == "method_not_allowed"
