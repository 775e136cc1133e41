"""The CM resources under /api/v1/cm/: canonical patients, CM profiles, providers, programs, the IntakeQ
mirror and links. Success and each error code, bodies asserted. Enrollments and the ledger are in
test_api_enrollments.py, the two enrollment flows in test_api_enroll.py, the role matrix in
test_api_scope.py and malformed input in test_api_robustness.py."""

from __future__ import annotations

import datetime as dt

import pytest

from cm_program.models import CanonicalPatient, CMPatient, CMProgram, CMProvider, IntakeQLink, IntakeQPatient
from common.audit import record_history
from people.models import Person
from tests.cm_program.api_support import API, error, ids, lonely_canonical_patient, world
from tests.factories.cm_program import CMEnrollmentFactory, CMProviderFactory, IntakeQPatientFactory
from tests.factories.people import UserFactory
from tests.relative_dates import FromToday, resolve

__all__ = ["world"]

pytestmark = pytest.mark.django_db


@pytest.fixture
def sup(world):
    return world.client("cm_supervisor")


# ---------------------------------------------------------------------------------------------------
# Canonical patients


def test_canonical_patient_detail_body(world, sup):
    patient = world.own_iq.canonical_patient
    body = sup.get(f"{API}/canonical-patients/{patient.pk}/").json()
    assert body == {
        "id": str(patient.pk),
        "first_name": "John",
        "last_name": "Smith",
        "date_of_birth": "1985-06-15",
        "person": str(patient.person_id),
        "cm_patient": str(world.own_iq.cm_patient.pk),
        "intakeq_link": str(world.own_iq.intakeq_link.pk),
        "intakeq_patient": str(world.own_iq.intakeq_link.intakeq_patient_id),
        "created_at": body["created_at"],
        "updated_at": body["updated_at"],
    }


def test_canonical_patient_list_filters_search_and_ordering(world, sup):
    assert ids(sup.get(f"{API}/canonical-patients/?has_intakeq_link=true")) == {
        str(world.own_iq.canonical_patient.pk),
        str(world.other_iq.canonical_patient.pk),
    }
    # Names compare as the identity does: case, accents and spaces ignored.
    assert ids(sup.get(f"{API}/canonical-patients/?first_name=JÉSSICA &last_name=martinez")) == {
        str(world.own.canonical_patient.pk)
    }
    assert ids(sup.get(f"{API}/canonical-patients/?date_of_birth=1983-05-19")) == {
        str(world.other.canonical_patient.pk)
    }
    assert ids(sup.get(f"{API}/canonical-patients/?search=gonz")) == {str(world.other_iq.canonical_patient.pk)}
    names = [p["last_name"] for p in sup.get(f"{API}/canonical-patients/?ordering=-last_name").json()["results"]]
    assert names == ["Smith", "Reed", "Martinez", "Gonzalez"]
    page = sup.get(f"{API}/canonical-patients/?page_size=3&page=2").json()
    assert (
        page["count"] == 4 and len(page["results"]) == 1 and page["next"] is None and "page_size=3" in page["previous"]
    )


def test_canonical_patient_create(sup, world):
    response = sup.post(
        f"{API}/canonical-patients/",
        {"first_name": " Amanda ", "last_name": "Lee", "date_of_birth": "1995-12-01", "email": "Amanda@Example.org"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    patient = CanonicalPatient.objects.get(pk=body["id"])
    assert (body["first_name"], body["last_name"], body["date_of_birth"]) == ("Amanda", "Lee", "1995-12-01")
    assert body["person"] == str(patient.person_id) and patient.person.email == "amanda@example.org"
    assert body["cm_patient"] is None and body["intakeq_link"] is None
    history = record_history(patient)
    assert history[0].action == "insert" and history[0].username == "cmsup" and history[0].channel == "api"


def test_canonical_patient_create_duplicate_is_409_with_the_existing_id(sup, world):
    before = (CanonicalPatient.objects.count(), Person.all_objects.count())
    # Case, accents and surrounding spaces do not make another human.
    response = sup.post(
        f"{API}/canonical-patients/",
        {"first_name": "JESSICA ", "last_name": "Martínez", "date_of_birth": "1992-03-22"},
        format="json",
    )
    assert response.status_code == 409
    assert error(response) == {
        "code": "conflict",
        "message": "The canonical patient Jessica Martinez (1992-03-22) already exists.",
        "existing_id": str(world.own.canonical_patient.pk),
    }
    assert (CanonicalPatient.objects.count(), Person.all_objects.count()) == before


@pytest.mark.parametrize(
    "body, field, message",
    [
        ({"last_name": "Lee", "date_of_birth": "1995-12-01"}, "first_name", "This field is required."),
        ({"first_name": "  ", "last_name": "Lee", "date_of_birth": "1995-12-01"}, "first_name", "may not be blank"),
        ({"first_name": "A", "last_name": "Lee", "date_of_birth": "2999-01-01"}, "date_of_birth", "future"),
        ({"first_name": "A", "last_name": "Lee", "date_of_birth": "22/03/1992"}, "date_of_birth", "wrong format"),
        ({"first_name": "A", "last_name": "Lee", "date_of_birth": "1995-12-01", "email": "nope"}, "email", "valid"),
        ({"first_name": "A", "last_name": "Lee", "date_of_birth": "1995-12-01", "phone": "12"}, "phone", "phone"),
        (
            {"first_name": "A", "last_name": "Lee", "date_of_birth": "1995-12-01", "nickname": "x"},
            "nickname",
            "Unknown",
        ),
    ],
)
def test_canonical_patient_create_bad_input_is_400_naming_the_field(sup, world, body, field, message):
    before = CanonicalPatient.objects.count()
    response = sup.post(f"{API}/canonical-patients/", body, format="json")
    assert response.status_code == 400
    problem = error(response)
    assert problem["code"] == "invalid" and message in " ".join(problem["fields"][field]), problem
    assert CanonicalPatient.objects.count() == before


def test_canonical_patient_correction_and_its_conflict(sup, world):
    url = f"{API}/canonical-patients/{world.own.canonical_patient.pk}/"
    response = sup.patch(url, {"first_name": "Jessika"}, format="json")
    assert response.status_code == 200 and response.json()["first_name"] == "Jessika"
    clash = sup.patch(url, {"first_name": "marcus", "last_name": "reed", "date_of_birth": "1983-05-19"}, format="json")
    assert clash.status_code == 409
    assert error(clash)["existing_id"] == str(world.other.canonical_patient.pk)
    refused = sup.patch(url, {"person": None}, format="json")
    assert refused.status_code == 400 and "person" in error(refused)["fields"]
    world.own.canonical_patient.refresh_from_db()
    assert (world.own.canonical_patient.first_name, world.own.canonical_patient.last_name) == ("Jessika", "Martinez")


def test_canonical_patients_are_not_deleted_or_put(sup, world):
    url = f"{API}/canonical-patients/{world.own.canonical_patient.pk}/"
    for method in ("delete", "put"):
        response = getattr(sup, method)(url, {}, format="json")
        assert response.status_code == 405
        assert error(response)["code"] == "method_not_allowed"
    assert CanonicalPatient.objects.filter(pk=world.own.canonical_patient.pk).exists()


def test_complete_patient_view_of_a_dual_enrolled_patient(world):
    result = world.own_iq
    body = world.client("cpss").get(f"{API}/canonical-patients/{result.canonical_patient.pk}/complete/").json()
    assert set(body) == {"identity", "cm", "intakeq_link", "intakeq", "enrollment", "enrollments"}
    assert body["identity"]["id"] == str(result.canonical_patient.pk)
    assert body["cm"]["id"] == str(result.cm_patient.pk) and body["cm"]["enrollment_source"] == "existing_patient"
    assert body["intakeq"]["intakeq_client_id"] == "IQ-1001"
    assert body["intakeq_link"]["confidence_score"] == 1.0
    assert body["enrollment"]["id"] == str(result.enrollment.pk)
    assert body["enrollment"]["cpss_provider_detail"] == {
        "id": str(world.cpss.pk),
        "first_name": "Casey",
        "last_name": "Peer",
        "credentials": "CPSS-I",
    }
    assert [e["id"] for e in body["enrollments"]] == [str(result.enrollment.pk)]


def test_complete_view_of_a_patient_without_cm_data(sup):
    patient = lonely_canonical_patient()
    body = sup.get(f"{API}/canonical-patients/{patient.pk}/complete/").json()
    assert body["cm"] is None and body["intakeq"] is None and body["intakeq_link"] is None
    assert body["enrollment"] is None and body["enrollments"] == []


# ---------------------------------------------------------------------------------------------------
# CM profiles


def test_cm_profile_create_update_and_conflict(sup, world):
    patient = lonely_canonical_patient()
    response = sup.post(
        f"{API}/patients/",
        {
            "canonical_patient_id": str(patient.pk),
            "phone": "(801) 555-0123",
            "email": "Aisha@Example.org",
            "insurance_primary": "Utah Medicaid",
            "enrollment_source": "referral",
            "smartphone_access": "limited",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["canonical_patient"] == str(patient.pk)
    assert body["canonical_patient_detail"]["last_name"] == "Khan"
    assert (body["phone"], body["email"], body["smartphone_access"]) == ("+18015550123", "aisha@example.org", "limited")
    assert (body["address_state"], body["preferred_language"], body["status"]) == ("UT", "English", "active")

    again = sup.post(f"{API}/patients/", {"canonical_patient": str(patient.pk)}, format="json")
    assert again.status_code == 409
    assert error(again) == {
        "code": "conflict",
        "message": f"{patient} already has a CM profile.",
        "fields": {"canonical_patient": [f"{patient} already has a CM profile."]},
        "existing_id": body["id"],
    }

    changed = sup.patch(
        f"{API}/patients/{body['id']}/", {"status": "withdrawn", "address_city": "Ogden"}, format="json"
    )
    assert changed.status_code == 200
    assert (changed.json()["status"], changed.json()["address_city"]) == ("withdrawn", "Ogden")
    history = record_history(CMPatient.objects.get(pk=body["id"]))
    assert history[-1].changes["status"] == ["active", "withdrawn"] and history[-1].username == "cmsup"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"smartphone_access": "sometimes"}, "smartphone_access"),
        ({"status": "archived"}, "status"),
        ({"status": None}, "status"),
        ({"enrollment_source": "walk_in"}, "enrollment_source"),
        ({"email": "not-an-email"}, "email"),
        ({"emergency_contact_phone": "call me"}, "emergency_contact_phone"),
        ({"consent_date": "2999-01-01T00:00:00Z"}, "consent_date"),
        ({"canonical_patient": "00000000-0000-0000-0000-000000000000"}, "canonical_patient"),
        ({"total_points": 5}, "total_points"),
    ],
)
def test_cm_profile_update_bad_input(sup, world, body, field):
    url = f"{API}/patients/{world.own.cm_patient.pk}/"
    before = CMPatient.objects.values().get(pk=world.own.cm_patient.pk)
    response = sup.patch(url, body, format="json")
    assert response.status_code == 400, response.content
    assert field in error(response)["fields"]
    assert CMPatient.objects.values().get(pk=world.own.cm_patient.pk) == before


def test_cm_profiles_filter_by_status_and_cannot_be_deleted(sup, world):
    assert ids(sup.get(f"{API}/patients/?enrollment_source=existing_patient")) == {
        str(world.own_iq.cm_patient.pk),
        str(world.other_iq.cm_patient.pk),
    }
    assert ids(sup.get(f"{API}/patients/?status=withdrawn")) == set()
    response = sup.delete(f"{API}/patients/{world.own.cm_patient.pk}/")
    assert response.status_code == 405 and error(response)["code"] == "method_not_allowed"


# ---------------------------------------------------------------------------------------------------
# Providers


def test_provider_create_with_a_login_and_the_conflicts(sup, world):
    login = UserFactory(username="sam")
    response = sup.post(
        f"{API}/providers/",
        {
            "first_name": "Sam",
            "last_name": "Lee",
            "email": "Sam.Lee@CM.example.org",
            "phone": "801-555-0150",
            "credentials": "CPSS-I",
            "hire_date": "2024-02-01",
            "max_caseload": 12,
            "username": "sam",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body == {
        **body,
        "email": "sam.lee@cm.example.org",
        "phone": "+18015550150",
        "role": "cpss",
        "status": "active",
        "max_caseload": 12,
        "active_enrollments": 0,
        "user": str(login.pk),
        "username": "sam",
        "person": None,
    }
    duplicate = sup.post(
        f"{API}/providers/", {"first_name": "S", "last_name": "L", "email": "sam.lee@cm.example.org"}, format="json"
    )
    assert duplicate.status_code == 409 and error(duplicate)["existing_id"] == body["id"]
    assert error(duplicate)["fields"] == {"email": ["A CM provider with email sam.lee@cm.example.org already exists."]}
    taken = sup.post(f"{API}/providers/", {"first_name": "S", "last_name": "L", "user": str(login.pk)}, format="json")
    assert taken.status_code == 409 and error(taken)["existing_id"] == body["id"]
    unknown = sup.post(f"{API}/providers/", {"first_name": "S", "last_name": "L", "username": "ghost"}, format="json")
    assert unknown.status_code == 400 and "username" in error(unknown)["fields"]
    assert CMProvider.objects.filter(first_name="S").count() == 0


def test_provider_caseload_rules_come_from_the_service(sup, world):
    url = f"{API}/providers/{world.cpss.pk}/"
    low = sup.patch(url, {"max_caseload": 1}, format="json")
    assert low.status_code == 400
    assert error(low)["fields"] == {
        "max_caseload": ["Casey Peer holds 2 active enrollments; the maximum cannot be lower."]
    }
    negative = sup.patch(url, {"max_caseload": -1}, format="json")
    assert negative.status_code == 400 and "max_caseload" in error(negative)["fields"]
    bad_role = sup.patch(url, {"role": "boss"}, format="json")
    assert bad_role.status_code == 400 and "role" in error(bad_role)["fields"]
    deactivate = sup.delete(url)
    assert deactivate.status_code == 400
    assert error(deactivate)["fields"]["status"] == [
        "Casey Peer holds 2 active enrollments; reassign them before deactivating."
    ]
    world.cpss.refresh_from_db()
    assert (world.cpss.max_caseload, world.cpss.status) == (30, "active")
    detail = sup.get(url).json()
    assert (detail["active_enrollments"], detail["username"]) == (2, "cpss")


def test_provider_soft_delete_and_restore(sup, world):
    provider = CMProviderFactory(first_name="Free", last_name="Agent")
    url = f"{API}/providers/{provider.pk}/"
    response = sup.delete(url)
    assert response.status_code == 204 and response.content == b""
    provider.refresh_from_db()
    assert provider.status == "inactive"
    assert sup.get(url).json()["status"] == "inactive"  # the row stays
    assert str(provider.pk) in ids(sup.get(f"{API}/providers/?status=inactive"))
    restored = sup.post(f"{url}restore/")
    assert restored.status_code == 200 and restored.json()["status"] == "active"
    assert [entry.changes.get("status") for entry in record_history(provider)][-2:] == [
        ["active", "inactive"],
        ["inactive", "active"],
    ]


def test_caseloads(sup, world):
    body = sup.get(f"{API}/providers/caseloads/").json()
    rows = {row["cpss_provider"]: row for row in body["results"]}
    assert body["count"] == 2
    assert rows[str(world.cpss.pk)] == {
        "cpss_provider": str(world.cpss.pk),
        "cpss_provider_detail": {
            "id": str(world.cpss.pk),
            "first_name": "Casey",
            "last_name": "Peer",
            "credentials": "CPSS-I",
        },
        "active_enrollments": 2,
        "max_caseload": 30,
        "places_left": 28,
        "load_ratio": 0.07,
        "without_event_7_days": 1,  # the IntakeQ patient has only the enrollment bonus
        "points_this_week": rows[str(world.cpss.pk)]["points_this_week"],
    }


# ---------------------------------------------------------------------------------------------------
# Programs


def test_program_create_update_conflict_and_schedule_rules(sup, world):
    response = sup.post(
        f"{API}/programs/",
        {"name": "Stimulant CM", "points_negative_test_base": 20, "points_negative_test_cap": 60},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body == {
        **body,
        "name": "Stimulant CM",
        "is_active": True,
        "points_negative_test_base": 20,
        "points_negative_test_cap": 60,
        "points_group_attendance": 25,
    }
    clash = sup.post(f"{API}/programs/", {"name": "stimulant cm"}, format="json")
    assert clash.status_code == 409 and error(clash)["existing_id"] == body["id"]
    below = sup.patch(f"{API}/programs/{body['id']}/", {"points_negative_test_cap": 10}, format="json")
    assert below.status_code == 400
    assert error(below)["fields"] == {
        "points_negative_test_cap": ["The cap of the negative-test schedule cannot be below its base value."]
    }
    negative = sup.patch(f"{API}/programs/{body['id']}/", {"points_weekly_checkin": -5}, format="json")
    assert negative.status_code == 400 and "points_weekly_checkin" in error(negative)["fields"]
    assert CMProgram.objects.get(pk=body["id"]).points_negative_test_cap == 60


def test_program_soft_delete_stops_new_enrollments_and_restore(sup, world):
    url = f"{API}/programs/{world.program.pk}/"
    assert sup.delete(url).status_code == 204
    world.program.refresh_from_db()
    assert world.program.is_active is False
    assert ids(sup.get(f"{API}/programs/?is_active=false")) == {str(world.program.pk)}
    refused = sup.post(
        f"{API}/enroll/",
        {
            "first_name": "Amanda",
            "last_name": "Lee",
            "date_of_birth": "1995-12-01",
            "cm_program": str(world.program.pk),
            "cpss_provider": str(world.cpss.pk),
        },
        format="json",
    )
    assert refused.status_code == 400
    assert error(refused)["fields"] == {"cm_program": ["The program Moonlit CM is not active."]}
    restored = sup.post(f"{url}restore/")
    assert restored.status_code == 200 and restored.json()["is_active"] is True


# ---------------------------------------------------------------------------------------------------
# IntakeQ mirror


def test_intakeq_patient_create_and_client_id_conflict(sup, world):
    response = sup.post(
        f"{API}/intakeq-patients/",
        {
            "intakeq_client_id": "IQ-2001",
            "first_name": "Tom",
            "last_name": "Whitaker",
            "date_of_birth": "1969-08-30",
            "phone": "(435) 555-0105",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body == {
        **body,
        "intakeq_client_id": "IQ-2001",
        "date_of_birth": "1969-08-30",
        "email": None,
        "phone": "(435) 555-0105",  # kept as the EMR writes it
        "intakeq_link": None,
        "canonical_patient": None,
    }
    again = sup.post(
        f"{API}/intakeq-patients/", {"intakeq_client_id": "IQ-2001", "first_name": "T", "last_name": "W"}, format="json"
    )
    assert again.status_code == 409
    assert error(again)["existing_id"] == body["id"] and "intakeq_client_id" in error(again)["fields"]
    rename = sup.patch(f"{API}/intakeq-patients/{body['id']}/", {"intakeq_client_id": "IQ-1001"}, format="json")
    assert rename.status_code == 409
    assert error(rename)["existing_id"] == str(world.own_iq.intakeq_link.intakeq_patient_id)
    assert IntakeQPatient.objects.get(pk=body["id"]).intakeq_client_id == "IQ-2001"


def test_intakeq_patient_lookup_as_scenario_2_step_1(sup, world):
    IntakeQPatientFactory(first_name="John", last_name="Smith", date_of_birth=dt.date(1990, 1, 1))
    found = sup.get(f"{API}/intakeq-patients/?first_name=john&last_name=SMITH&date_of_birth=1985-06-15").json()
    assert [row["intakeq_client_id"] for row in found["results"]] == ["IQ-1001"]
    assert found["results"][0]["canonical_patient"] == str(world.own_iq.canonical_patient.pk)
    assert ids(sup.get(f"{API}/intakeq-patients/?linked=false")) >= {str(world.free_iq.pk)}
    assert str(world.free_iq.pk) not in ids(sup.get(f"{API}/intakeq-patients/?linked=true"))


@pytest.mark.parametrize(
    "body, field",
    [
        ({"last_name": "W"}, "first_name"),
        ({"first_name": "T", "last_name": "W", "email": "x@"}, "email"),
        (
            {
                "first_name": "T",
                "last_name": "W",
                "date_of_birth": FromToday(days=2, iso=True),
            },
            "date_of_birth",
        ),
        ({"first_name": "T", "last_name": "W", "canonical_patient": None}, "canonical_patient"),
    ],
)
def test_intakeq_patient_bad_input(sup, world, body, field):
    before = IntakeQPatient.objects.count()
    response = sup.post(f"{API}/intakeq-patients/", resolve(body), format="json")
    assert response.status_code == 400 and field in error(response)["fields"], response.content
    assert IntakeQPatient.objects.count() == before


# ---------------------------------------------------------------------------------------------------
# IntakeQ links


def test_link_create_with_a_fuzzy_score(sup, world):
    patient = lonely_canonical_patient()
    response = sup.post(
        f"{API}/intakeq-links/",
        {
            "canonical_patient_id": str(patient.pk),
            "intakeq_patient_id": str(world.free_iq.pk),
            "confidence_score": "0.85",
            "notes": "Same phone, name spelled differently.",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body == {
        **body,
        "canonical_patient": str(patient.pk),
        "intakeq_patient": str(world.free_iq.pk),
        "confidence_score": 0.85,
        "linked_by": str(world.users["cm_supervisor"].pk),
        "linked_by_username": "cmsup",
        "notes": "Same phone, name spelled differently.",
    }
    assert body["intakeq_patient_detail"]["intakeq_client_id"] == "IQ-1004"
    changed = sup.patch(f"{API}/intakeq-links/{body['id']}/", {"confidence_score": 1}, format="json")
    assert changed.status_code == 200 and changed.json()["confidence_score"] == 1.0


def test_link_conflicts_carry_the_existing_link(sup, world):
    existing = world.own_iq.intakeq_link
    same_pair = sup.post(
        f"{API}/intakeq-links/",
        {"canonical_patient": str(existing.canonical_patient_id), "intakeq_patient": str(existing.intakeq_patient_id)},
        format="json",
    )
    assert same_pair.status_code == 409
    assert error(same_pair)["existing_id"] == str(existing.pk)
    assert error(same_pair)["message"] == "These two records are already linked."
    elsewhere = sup.post(
        f"{API}/intakeq-links/",
        {"canonical_patient": str(lonely_canonical_patient().pk), "intakeq_patient": str(existing.intakeq_patient_id)},
        format="json",
    )
    assert elsewhere.status_code == 409
    assert error(elsewhere)["existing_id"] == str(existing.pk)
    assert list(error(elsewhere)["fields"]) == ["intakeq_patient"]
    assert IntakeQLink.objects.count() == 2


@pytest.mark.parametrize(
    "score, message",
    [
        (1.5, "The confidence score is between 0.00 and 1.00."),
        (10, "Ensure that there are no more than 1 digits before the decimal point."),
        (-0.1, "The confidence score is between 0.00 and 1.00."),
        (0.333, "Ensure that there are no more than 2 decimal places."),
        ("high", "A valid number is required."),
    ],
)
def test_link_confidence_outside_its_range_is_400(sup, world, score, message):
    response = sup.post(
        f"{API}/intakeq-links/",
        {
            "canonical_patient": str(lonely_canonical_patient().pk),
            "intakeq_patient": str(world.free_iq.pk),
            "confidence_score": score,
        },
        format="json",
    )
    assert response.status_code == 400
    assert error(response)["fields"] == {"confidence_score": [message]}
    assert IntakeQLink.objects.count() == 2


def test_links_are_not_deleted_and_their_ends_are_fixed(sup, world):
    link = world.own_iq.intakeq_link
    response = sup.delete(f"{API}/intakeq-links/{link.pk}/")
    assert response.status_code == 405
    moved = sup.patch(f"{API}/intakeq-links/{link.pk}/", {"intakeq_patient": str(world.free_iq.pk)}, format="json")
    assert moved.status_code == 400
    assert error(moved)["fields"] == {
        "intakeq_patient": ["A link's two ends are fixed; link the right records instead."]
    }
    link.refresh_from_db()
    assert link.intakeq_patient_id != world.free_iq.pk


def test_dual_enrollment_rows(sup, world):
    body = sup.get(f"{API}/dual-enrollments/?search=smith").json()
    assert body["count"] == 1
    assert body["results"][0] == {
        "id": str(world.own_iq.canonical_patient.pk),
        "first_name": "John",
        "last_name": "Smith",
        "date_of_birth": "1985-06-15",
        "has_intakeq": True,
        "has_cm": True,
        "cm_patient": str(world.own_iq.cm_patient.pk),
        "cm_status": "active",
        "intakeq_patient": str(world.own_iq.intakeq_link.intakeq_patient_id),
        "intakeq_patient_detail": {
            "id": str(world.own_iq.intakeq_link.intakeq_patient_id),
            "intakeq_client_id": "IQ-1001",
            "first_name": "John",
            "last_name": "Smith",
            "date_of_birth": "1985-06-15",
        },
    }
    # A CM-only patient is not dual enrolled.
    CMEnrollmentFactory(cm_program=world.program)
    assert sup.get(f"{API}/dual-enrollments/").json()["count"] == 2


def test_caseloads_of_an_empty_page_is_an_empty_list(sup, world):
    # A filter that matches no CPSS gave an empty id list, which Django cannot render as SQL (a 500 once).
    body = sup.get(f"{API}/providers/caseloads/?search=nobody-by-this-name").json()
    assert body["results"] == []
