"""The conventions every API endpoint shares: auth, error shape, pagination, schema."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from tests.factories.people import PersonFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(navigator_user) -> APIClient:
    client = APIClient()
    client.force_authenticate(navigator_user)
    return client


def test_anonymous_gets_401_in_the_error_shape():
    response = APIClient().get("/api/v1/persons/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Token")


def test_token_from_drf_create_token_authenticates(navigator_user, capsys):
    call_command("drf_create_token", navigator_user.username)
    key = capsys.readouterr().out.split()[2]
    client = APIClient()
    assert client.get("/api/v1/persons/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    bad = client.get("/api/v1/persons/", HTTP_AUTHORIZATION="Token not-a-real-key")
    assert bad.status_code == 401 and bad.json()["error"]["message"] == "Invalid token."


def test_role_without_the_model_permission_gets_403(cpss_user):
    client = APIClient()
    client.force_authenticate(cpss_user)
    response = client.get("/api/v1/persons/")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_bad_uuid_and_unknown_paths_are_json_404(api):
    for url in (
        "/api/v1/persons/not-a-uuid/",
        "/api/v1/persons/00000000-0000-0000-0000-000000000000/",
        "/api/v1/nope/",
    ):
        response = api.get(url)
        assert response.status_code == 404, url
        assert response.json()["error"]["code"] == "not_found", url


def test_method_not_allowed_has_the_error_shape(api):
    response = api.put("/api/v1/persons/", {"first_name": "x"}, format="json")
    assert response.status_code == 405
    assert response.json()["error"] == {"code": "method_not_allowed", "message": 'Method "PUT" not allowed.'}


def test_pagination_shape_page_size_cap_and_bad_page(api):
    PersonFactory.create_batch(3)
    body = api.get("/api/v1/persons/?page_size=2").json()
    assert set(body) == {"count", "count_is", "next", "previous", "results"}
    assert body["count"] == 3 and len(body["results"]) == 2 and body["previous"] is None and "cursor=" in body["next"]
    # Above the maximum is refused by name (it used to be capped at 500 silently: see test_pagination.py).
    too_big = api.get("/api/v1/persons/?page_size=100000")
    assert too_big.status_code == 400 and set(too_big.json()["error"]["fields"]) == {"page_size"}
    missing = api.get("/api/v1/persons/?page=99")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("rows", [1, 50])
def test_list_query_count_does_not_grow_with_rows(api, rows):
    PersonFactory.create_batch(rows)
    with CaptureQueriesContext(connection) as ctx:
        response = api.get(f"/api/v1/persons/?page_size={rows}")
    assert response.status_code == 200 and len(response.json()["results"]) == rows
    # auth permission lookups + count + page: the same at 1 and at 50 rows
    # savepoint + auth + permission lookups + count + page + release: the same at 1 and at 50 rows
    assert len(ctx.captured_queries) <= 7, [q["sql"] for q in ctx.captured_queries]


def test_search_and_ordering(api):
    PersonFactory(first_name="Zed", last_name="Alpha", email="zed@example.org")
    PersonFactory(first_name="Amy", last_name="Beta", email="amy@example.org")
    results = api.get("/api/v1/persons/?search=zed").json()["results"]
    assert [p["email"] for p in results] == ["zed@example.org"]
    ordered = api.get("/api/v1/persons/?ordering=-last_name").json()["results"]
    assert [p["last_name"] for p in ordered] == ["Beta", "Alpha"]


def test_schema_and_swagger_ui_are_served_without_a_cdn(client, navigator_user):
    schema = client.get("/api/schema/?format=json")
    assert schema.status_code == 200
    operation = schema.json()["paths"]["/api/v1/persons/{id}/"]["get"]
    assert {"200", "401", "403", "404"} <= set(operation["responses"])
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "drf_spectacular_sidecar" in html and "cdn.jsdelivr" not in html


def test_unknown_api_address_with_a_session_cookie_is_json_404_not_a_csrf_page(navigator_user):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(navigator_user)
    response = client.patch("/api/v1/persons/%F0%BD%AE%9C/", data="{}", content_type="application/json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_csrf_refusal_under_the_api_is_json(navigator_user):
    from django.test import Client

    from common.views import csrf_failure

    client = Client()
    request = client.get("/api/v1/persons/").wsgi_request
    response = csrf_failure(request, reason="CSRF token missing.")
    assert response.status_code == 403
    assert b'"permission_denied"' in response.content and b"CSRF token missing." in response.content
