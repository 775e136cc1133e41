"""Whatever a script sends to /api/v1/cm/, the answer is a 4xx in the error shape, never a 500, and a
refused request writes nothing: malformed JSON, other media types, wrong types, unknown choices, huge
strings, bad or unknown UUIDs in the path."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from rest_framework import serializers

from cm_program.api import serializers as s
from cm_program.models import (
    CanonicalPatient,
    CMEnrollment,
    CMPatient,
    CMPointsTransaction,
    CMProgram,
    CMProvider,
    IntakeQLink,
    IntakeQPatient,
)
from tests.cm_program.api_support import API, World, error, lonely_canonical_patient, world
from tests.factories.cm_program import CMPatientFactory

__all__ = ["world"]

pytestmark = pytest.mark.django_db

MODELS = (
    CanonicalPatient,
    CMPatient,
    CMProvider,
    CMProgram,
    CMEnrollment,
    CMPointsTransaction,
    IntakeQPatient,
    IntakeQLink,
)


def snapshot() -> list:
    # Every row of every CM table: "nothing written" means not even an updated_at moved.
    return [sorted(map(str, model.objects.values_list())) for model in MODELS]


# name -> (method, url, a valid body). Valid bodies make sure that the one field a test
# spoils is the only thing wrong with the request.
Write = Callable[[World], tuple[str, str, dict]]
WRITES: dict[str, Write] = {
    "canonical-patients create": lambda w: (
        "post",
        f"{API}/canonical-patients/",
        {"first_name": "New", "last_name": "Person", "date_of_birth": "1990-01-01"},
    ),
    "canonical-patients update": lambda w: (
        "patch",
        f"{API}/canonical-patients/{w.own.canonical_patient.pk}/",
        {},
    ),
    "patients create": lambda w: (
        "post",
        f"{API}/patients/",
        {"canonical_patient": str(lonely_canonical_patient().pk)},
    ),
    "patients update": lambda w: ("patch", f"{API}/patients/{w.own.cm_patient.pk}/", {}),
    "providers create": lambda w: (
        "post",
        f"{API}/providers/",
        {"first_name": "Sam", "last_name": "Lee"},
    ),
    "providers update": lambda w: ("patch", f"{API}/providers/{w.cpss.pk}/", {}),
    "programs create": lambda w: ("post", f"{API}/programs/", {"name": "Another"}),
    "programs update": lambda w: ("patch", f"{API}/programs/{w.program.pk}/", {}),
    "enrollments create": lambda w: (
        "post",
        f"{API}/enrollments/",
        {"cm_patient": str(CMPatientFactory().pk)},
    ),
    "enrollments update": lambda w: (
        "patch",
        f"{API}/enrollments/{w.own.enrollment.pk}/",
        {},
    ),
    "enrollments status": lambda w: (
        "post",
        f"{API}/enrollments/{w.own.enrollment.pk}/status/",
        {"status": "paused"},
    ),
    "enrollments events": lambda w: (
        "post",
        f"{API}/enrollments/{w.own.enrollment.pk}/events/",
        {"event_type": "weekly_checkin"},
    ),
    "ledger reverse": lambda w: (
        "post",
        f"{API}/enrollments/{w.own.enrollment.pk}/ledger/{w.own_entry().pk}/reverse/",
        {"reason": "Entered twice."},
    ),
    "intakeq-patients create": lambda w: (
        "post",
        f"{API}/intakeq-patients/",
        {"first_name": "Tom", "last_name": "Whitaker"},
    ),
    "intakeq-patients update": lambda w: (
        "patch",
        f"{API}/intakeq-patients/{w.free_iq.pk}/",
        {},
    ),
    "intakeq-links create": lambda w: (
        "post",
        f"{API}/intakeq-links/",
        {"canonical_patient": str(lonely_canonical_patient().pk), "intakeq_patient": str(w.free_iq.pk)},
    ),
    "intakeq-links update": lambda w: (
        "patch",
        f"{API}/intakeq-links/{w.own_iq.intakeq_link.pk}/",
        {},
    ),
    "enroll": lambda w: (
        "post",
        f"{API}/enroll/",
        {
            "first_name": "Amanda",
            "last_name": "Lee",
            "date_of_birth": "1995-12-01",
            "cpss_provider": str(w.cpss.pk),
        },
    ),
    "enroll-from-intakeq": lambda w: (
        "post",
        f"{API}/enroll-from-intakeq/",
        {"intakeq_patient": str(w.free_iq.pk)},
    ),
}


# Field names per endpoint and kind, read from the serializers once (no database needed).
_SERIALIZERS = {
    "canonical-patients create": s.CMCanonicalPatientCreateSerializer,
    "canonical-patients update": s.CMCanonicalPatientUpdateSerializer,
    "patients create": s.CMPatientCreateSerializer,
    "patients update": s.CMPatientUpdateSerializer,
    "providers create": s.CMProviderInputSerializer,
    "providers update": s.CMProviderInputSerializer,
    "programs create": s.CMProgramInputSerializer,
    "programs update": s.CMProgramInputSerializer,
    "enrollments create": s.CMEnrollmentCreateSerializer,
    "enrollments update": s.CMEnrollmentUpdateSerializer,
    "enrollments status": s.CMEnrollmentStatusSerializer,
    "enrollments events": s.CMEventSerializer,
    "ledger reverse": s.CMReverseSerializer,
    "intakeq-patients create": s.CMIntakeQPatientInputSerializer,
    "intakeq-patients update": s.CMIntakeQPatientInputSerializer,
    "intakeq-links create": s.CMIntakeQLinkCreateSerializer,
    "intakeq-links update": s.CMIntakeQLinkUpdateSerializer,
    "enroll": s.CMEnrollNewSerializer,
    "enroll-from-intakeq": s.CMEnrollFromIntakeQSerializer,
}
_FIELDS = {
    name: {
        "text": [
            field_name
            for field_name, field in serializer_class().fields.items()
            if isinstance(field, serializers.CharField) and not field.read_only
        ],
        "choice": [
            field_name
            for field_name, field in serializer_class().fields.items()
            if isinstance(field, serializers.ChoiceField) and not field.read_only
        ],
    }
    for name, serializer_class in _SERIALIZERS.items()
}
TEXT_CASES = [(name, field) for name, kinds in _FIELDS.items() for field in kinds["text"]]
CHOICE_CASES = [(name, field) for name, kinds in _FIELDS.items() for field in kinds["choice"]]


def _send(world: World, prepared: tuple[str, str, dict], body=None, **kwargs):
    method, url, valid = prepared
    client = world.client("superuser")
    if "content_type" in kwargs:
        return getattr(client, method)(url, body, **kwargs)
    return getattr(client, method)(url, {**valid, **(body or {})}, format="json")


def test_the_field_lists_cover_every_free_text_and_choice_field():
    assert len(TEXT_CASES) > 40 and len(CHOICE_CASES) > 10
    assert set(_SERIALIZERS) == set(WRITES)


@pytest.mark.parametrize("name", WRITES)
def test_malformed_json_is_400_parse_error(world, name):
    prepared = WRITES[name](world)  # may create the rows it targets: snapshot after
    before = snapshot()
    response = _send(world, prepared, '{"first_name": "Ann", ', content_type="application/json")
    assert response.status_code == 400
    problem = error(response)
    assert problem["code"] == "parse_error" and problem["message"].startswith("JSON parse error")
    assert snapshot() == before


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
@pytest.mark.parametrize("name", WRITES)
def test_other_media_types_are_415(world, name, content_type):
    prepared = WRITES[name](world)  # may create the rows it targets: snapshot after
    before = snapshot()
    response = _send(world, prepared, "first_name=Ann", content_type=content_type)
    assert response.status_code == 415
    assert error(response) == {
        "code": "unsupported_media_type",
        "message": f'Unsupported media type "{content_type}" in request.',
    }
    assert snapshot() == before


@pytest.mark.parametrize("body", ["[]", '"hello"', "42", "null"])
@pytest.mark.parametrize("name", WRITES)
def test_a_body_that_is_not_an_object_is_400(world, name, body):
    prepared = WRITES[name](world)  # may create the rows it targets: snapshot after
    before = snapshot()
    response = _send(world, prepared, body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert error(response)["code"] in ("invalid", "parse_error")
    assert snapshot() == before


@pytest.mark.parametrize(("name", "field"), TEXT_CASES)
def test_a_100000_character_string_is_400_naming_the_field(world, name, field):
    prepared = WRITES[name](world)  # may create the rows it targets: snapshot after
    before = snapshot()
    response = _send(world, prepared, {field: "x" * 100_000})
    assert response.status_code == 400, response.content
    assert "no more than" in " ".join(error(response)["fields"][field])
    assert snapshot() == before


@pytest.mark.parametrize(("name", "field"), TEXT_CASES)
def test_a_list_where_text_belongs_is_400_naming_the_field(world, name, field):
    prepared = WRITES[name](world)  # may create the rows it targets: snapshot after
    before = snapshot()
    response = _send(world, prepared, {field: ["x"]})
    assert response.status_code == 400, response.content
    assert error(response)["fields"][field] == ["Not a valid string."]
    assert snapshot() == before


@pytest.mark.parametrize(("name", "field"), CHOICE_CASES)
def test_an_unknown_choice_is_400_naming_the_field(world, name, field):
    prepared = WRITES[name](world)  # may create the rows it targets: snapshot after
    before = snapshot()
    response = _send(world, prepared, {field: "no_such_choice"})
    assert response.status_code == 400, response.content
    assert error(response)["fields"][field] == ['"no_such_choice" is not a valid choice.']
    assert snapshot() == before


@pytest.mark.parametrize(
    "name, body, field",
    [
        ("canonical-patients create", {"date_of_birth": 19900101}, "date_of_birth"),
        ("canonical-patients create", {"first_name": {"a": 1}}, "first_name"),
        ("canonical-patients update", {"date_of_birth": True}, "date_of_birth"),
        ("patients update", {"consent_date": "soon"}, "consent_date"),
        ("providers create", {"max_caseload": "ten"}, "max_caseload"),
        ("providers update", {"max_caseload": 1.5}, "max_caseload"),
        ("providers update", {"max_caseload": 10**20}, "max_caseload"),
        ("providers update", {"hire_date": False}, "hire_date"),
        ("providers update", {"user": 5}, "user"),
        ("providers update", {"canonical_provider_id": "nope"}, "canonical_provider_id"),
        ("programs update", {"is_active": "maybe"}, "is_active"),
        ("programs update", {"points_group_attendance": "lots"}, "points_group_attendance"),
        ("programs update", {"points_negative_test_cap": 10**12}, "points_negative_test_cap"),
        ("enrollments create", {"cm_patient": 12}, "cm_patient"),
        ("enrollments create", {"enrollment_date": "last week"}, "enrollment_date"),
        ("enrollments update", {"medicaid_verification": "yes"}, "medicaid_verification"),
        ("enrollments update", {"medicaid_verification": {"x": "y" * 20_000}}, "medicaid_verification"),
        ("enrollments update", {"status": True}, "status"),
        ("enrollments events", {"event_type": "manual_adjustment", "points": "ten", "reason": "r"}, "points"),
        ("enrollments events", {"occurred_at": 1700000000}, "occurred_at"),
        ("intakeq-links create", {"confidence_score": []}, "confidence_score"),
        ("intakeq-links update", {"confidence_score": "NaN"}, "confidence_score"),
        ("intakeq-links update", {"confidence_score": "1e5"}, "confidence_score"),
        ("enroll", {"cpss_provider": {"id": "x"}}, "cpss_provider"),
        ("enroll", {"date_of_birth": "1995-02-30"}, "date_of_birth"),
        ("enroll-from-intakeq", {"intakeq_patient": "x' OR 1=1 --"}, "intakeq_patient"),
    ],
)
def test_wrong_types_are_400_naming_the_field(world, name, body, field):
    prepared = WRITES[name](world)  # may create the rows it targets: snapshot after
    before = snapshot()
    response = _send(world, prepared, body)
    assert response.status_code == 400, response.content
    assert field in error(response)["fields"], error(response)
    assert snapshot() == before


DETAIL_URLS = (
    "canonical-patients/{id}/",
    "canonical-patients/{id}/complete/",
    "patients/{id}/",
    "providers/{id}/",
    "providers/{id}/restore/",
    "programs/{id}/",
    "programs/{id}/restore/",
    "enrollments/{id}/",
    "enrollments/{id}/status/",
    "enrollments/{id}/events/",
    "enrollments/{id}/ledger/",
    "enrollments/{own}/ledger/{id}/",
    "enrollments/{own}/ledger/{id}/reverse/",
    "intakeq-patients/{id}/",
    "intakeq-links/{id}/",
)


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "1", "00000000-0000-0000-0000-00000000000Z", "x" * 5000, "%00"])
@pytest.mark.parametrize("path", DETAIL_URLS)
def test_bad_uuids_in_the_path_are_404(world, path, bad_id):
    url = f"{API}/" + path.format(id=bad_id, own=world.own.enrollment.pk)
    client = world.client("superuser")
    for method in ("get", "post", "patch", "delete"):
        response = getattr(client, method)(url, {}, format="json")
        assert response.status_code == 404, (method, url[:120], response.content)
        assert error(response)["code"] == "not_found"


@pytest.mark.parametrize("path", DETAIL_URLS)
def test_unknown_ids_are_404_for_every_method_a_path_has(world, path):
    url = f"{API}/" + path.format(id="6f1c2d3e-4b5a-4978-8a6b-5c4d3e2f1a09", own=world.own.enrollment.pk)
    client = world.client("superuser")
    before = snapshot()
    answered = set()
    for method in ("get", "post", "patch", "delete"):
        body = None if method == "get" else {"reason": "x", "status": "paused"}
        response = getattr(client, method)(url, body, format="json")
        assert response.status_code in (404, 405), (method, url, response.content)
        assert error(response)["code"] in ("not_found", "method_not_allowed")
        answered.add(response.status_code)
    assert 404 in answered
    assert snapshot() == before


@pytest.mark.parametrize(
    "query",
    [
        "search=" + "x" * 100_000,
        "search=%00",
        "ordering=%00",
        "ordering=-nope,last_name",
        "page=0",
        "page=-1",
        "page=abc",
        "page=99999999999999999999",
        "page_size=-5",
        "page_size=abc",
        "page_size=100000000000000000000",
        "status=%00",
        "cpss_provider=1",
        "date_of_birth=1990-13-45",
        "total_points_min=1e999",
        "confidence_score_min=abc",
        "has_cm_patient=maybe",
    ],
)
@pytest.mark.parametrize(
    "path",
    [
        "canonical-patients/",
        "patients/",
        "providers/",
        "providers/caseloads/",
        "programs/",
        "enrollments/",
        "intakeq-patients/",
        "intakeq-links/",
        "dual-enrollments/",
    ],
)
def test_odd_query_strings_never_500(world, path, query):
    response = world.client("superuser").get(f"{API}/{path}?{query}")
    assert response.status_code in (200, 400, 404), response.content[:300]
    if response.status_code != 200:
        assert error(response)["code"] in ("invalid", "not_found")
    else:
        assert set(response.json()) == {"count", "count_is", "next", "previous", "results"}


@pytest.mark.parametrize("role", ["cm_supervisor", "cpss", "navigator"])
@pytest.mark.parametrize(
    "path",
    [
        "canonical-patients/",
        "canonical-patients/{patient}/",
        "patients/",
        "providers/",
        "programs/",
        "enrollments/",
        "enrollments/{enrollment}/",
        "enrollments/{enrollment}/events/",
        "enrollments/{enrollment}/ledger/",
        "intakeq-links/",
        "enroll/",
        "enroll-from-intakeq/",
        "dual-enrollments/",
    ],
)
def test_options_and_head_never_fail(world, path, role):
    url = f"{API}/" + path.format(patient=world.own.canonical_patient.pk, enrollment=world.own.enrollment.pk)
    client = world.client(role)
    options = client.options(url)
    supervisors_only = path in ("enroll/", "enroll-from-intakeq/", "dual-enrollments/")
    expected = 403 if role == "navigator" or (role == "cpss" and supervisors_only) else 200
    assert options.status_code == expected, options.content
    if expected == 200:
        assert options.json()["name"]
    head = client.head(url)
    assert head.status_code in (200, 403, 405) and head.content == b""
