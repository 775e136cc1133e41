"""The CM part of the OpenAPI schema: valid, free of drf-spectacular warnings, every operation with its
error responses; and the browsable API (session login) renders every CM list."""

from __future__ import annotations

import pytest
from django.urls import include, path
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

from tests.cm_program.api_support import API, world

__all__ = ["world"]

CM_PATHS = {
    "/api/v1/cm/canonical-patients/": {"get", "post"},
    "/api/v1/cm/canonical-patients/{id}/": {"get", "patch"},
    "/api/v1/cm/canonical-patients/{id}/complete/": {"get"},
    "/api/v1/cm/canonical-patients/{id}/duplicates/": {"get"},
    "/api/v1/cm/canonical-patients/{id}/not-duplicate/": {"post"},
    "/api/v1/cm/patients/": {"get", "post"},
    "/api/v1/cm/patients/{id}/": {"get", "patch"},
    "/api/v1/cm/providers/": {"get", "post"},
    "/api/v1/cm/providers/{id}/": {"get", "patch", "delete"},
    "/api/v1/cm/providers/{id}/restore/": {"post"},
    "/api/v1/cm/providers/caseloads/": {"get"},
    "/api/v1/cm/programs/": {"get", "post"},
    "/api/v1/cm/programs/{id}/": {"get", "patch", "delete"},
    "/api/v1/cm/programs/{id}/restore/": {"post"},
    "/api/v1/cm/enrollments/": {"get", "post"},
    "/api/v1/cm/enrollments/{id}/": {"get", "patch"},
    "/api/v1/cm/enrollments/{id}/status/": {"post"},
    "/api/v1/cm/enrollments/{id}/events/": {"post"},
    "/api/v1/cm/enrollments/{enrollment_id}/ledger/": {"get"},
    "/api/v1/cm/enrollments/{enrollment_id}/ledger/{id}/": {"get"},
    "/api/v1/cm/enrollments/{enrollment_id}/ledger/{id}/reverse/": {"post"},
    "/api/v1/cm/intakeq-patients/": {"get", "post"},
    "/api/v1/cm/intakeq-patients/{id}/": {"get", "patch"},
    "/api/v1/cm/intakeq-links/": {"get", "post"},
    "/api/v1/cm/intakeq-links/{id}/": {"get", "patch"},
    "/api/v1/cm/intakeq-match-candidates/": {"get"},
    "/api/v1/cm/intakeq-match-candidates/{id}/": {"get"},
    "/api/v1/cm/intakeq-match-candidates/{id}/accept/": {"post"},
    "/api/v1/cm/intakeq-match-candidates/{id}/reject/": {"post"},
    "/api/v1/cm/enroll/": {"post"},
    "/api/v1/cm/enroll-from-intakeq/": {"post"},
    "/api/v1/cm/dual-enrollments/": {"get"},
    "/api/v1/cm/canonical-patients/merge/": {"post"},
    "/api/v1/cm/merges/": {"get"},
    "/api/v1/cm/merges/{id}/": {"get"},
    "/api/v1/cm/merges/{id}/undo/": {"post"},
    "/api/v1/cm/reports/patient-pool/": {"get"},
}


@pytest.fixture(scope="module")
def cm_schema():
    GENERATOR_STATS.reset()
    generator = SchemaGenerator(patterns=[path("api/v1/cm/", include("cm_program.api.urls"))])
    schema = generator.get_schema(request=None, public=True)
    warnings = dict(GENERATOR_STATS._warn_cache)
    errors = dict(GENERATOR_STATS._error_cache)
    GENERATOR_STATS.reset()
    return schema, warnings, errors


def test_cm_schema_is_valid_and_has_no_warnings(cm_schema):
    schema, warnings, errors = cm_schema
    validate_schema(schema)
    assert warnings == {} and errors == {}


def test_every_cm_operation_is_documented_with_its_errors(cm_schema):
    schema, _, _ = cm_schema
    operations = {url: set(item) - {"parameters"} for url, item in schema["paths"].items()}
    assert operations == CM_PATHS
    for url, methods in CM_PATHS.items():
        for method in methods:
            responses = schema["paths"][url][method]["responses"]
            expected = {"401", "403", "404", "400"}
            if method in ("post", "patch"):
                expected |= {"409", "415"}
            assert expected <= set(responses), (url, method, sorted(responses))
            success = {code for code in responses if code.startswith("2")}
            assert len(success) == 1, (url, method, success)
            if method != "delete":
                assert "content" in responses[success.pop()], (url, method)


def test_documented_answers_of_the_flows(cm_schema):
    schema, _, _ = cm_schema
    for url in ("/api/v1/cm/enroll/", "/api/v1/cm/enroll-from-intakeq/"):
        operation = schema["paths"][url]["post"]
        assert operation["responses"]["201"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/CMEnrollResult"
        }
        assert "existing_id" in operation["description"]
    result = schema["components"]["schemas"]["CMEnrollResult"]["properties"]
    assert {"canonical_patient", "cm_patient", "enrollment", "intakeq_link", "created"} <= set(result)
    events = schema["paths"]["/api/v1/cm/enrollments/{id}/events/"]["post"]
    assert "201" in events["responses"] and "requestBody" in events


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
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
        "enroll/",
        "enroll-from-intakeq/",
    ],
)
def test_browsable_api_renders_for_a_session_login(client, world, url):
    client.force_login(world.users["cm_supervisor"])
    response = client.get(f"{API}/{url}", HTTP_ACCEPT="text/html")
    assert response.status_code in (200, 405)  # the two flows are POST only
    assert response["Content-Type"].startswith("text/html")
    assert b"Healthcare CRM" in response.content or b"Django REST framework" in response.content


@pytest.mark.django_db
def test_browsable_api_renders_a_detail_and_the_ledger(client, world):
    client.force_login(world.users["cpss"])
    for url in (
        f"{API}/enrollments/{world.own.enrollment.pk}/",
        f"{API}/enrollments/{world.own.enrollment.pk}/ledger/",
        f"{API}/canonical-patients/{world.own.canonical_patient.pk}/complete/",
    ):
        response = client.get(url, HTTP_ACCEPT="text/html")
        assert response.status_code == 200, url
        assert str(world.own.enrollment.pk).encode() in response.content


@pytest.mark.django_db
def test_cm_paths_answer_without_their_trailing_slash(client):
    from django.urls import resolve

    for url in (
        "/api/v1/cm/enroll",
        "/api/v1/cm/enroll-from-intakeq",
        "/api/v1/cm/enrollments",
        "/api/v1/cm/canonical-patients",
        "/api/v1/cm/dual-enrollments",
    ):
        assert resolve(url).url_name.startswith("cm-"), url
        assert resolve(url + "/").url_name == resolve(url).url_name
    schema = client.get("/api/schema/?format=json").json()
    assert "/api/v1/cm/enroll/" in schema["paths"] and "/api/v1/cm/enroll" not in schema["paths"]
