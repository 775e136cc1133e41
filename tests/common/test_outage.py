"""A database that cannot be reached: 503 everywhere, in the API's JSON shape under /api/, a plain page
elsewhere, never Django's error page. Real processes whose DATABASE_URL names a port where nothing
listens (no mock of the database); tests/common/test_outage_cluster.py stops and restarts a real
server under a request loop."""

from __future__ import annotations

import json

import pytest
from django.db import InterfaceError, OperationalError
from django.test import RequestFactory
from rest_framework.request import Request

from common.api.exceptions import api_exception_handler
from common.outage import DatabaseUnavailableMiddleware, server_error
from crm_project import urls
from tests.subprocess_utils import run_python

# No read replica either (when the suite runs with DATABASE_REPLICA_URLS): only the unreachable primary.
DOWN = {
    "DJANGO_SETTINGS_MODULE": "crm_project.settings.test",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:1/crm",
    "DATABASE_REPLICA_URLS": "",
}

REQUESTS = """
import django, json; django.setup()
from django.test import Client
token = {"HTTP_AUTHORIZATION": "Token 0123456789abcdef0123456789abcdef01234567"}
session = Client(raise_request_exception=False)
session.cookies["sessionid"] = "x" * 32  # a logged-in browser: the session is read from the database
anonymous = Client(raise_request_exception=False)
calls = {
    "api list with token": lambda: anonymous.get("/api/v1/patients/", **token),
    "api post with token": lambda: anonymous.post(
        "/api/v1/call-history/", {"outcome": "reached"}, content_type="application/json", **token),
    "api anonymous": lambda: anonymous.get("/api/v1/persons/"),
    "api session": lambda: session.get("/api/v1/patients/"),
    "api schema": lambda: session.get("/api/schema/"),
    "admin index": lambda: session.get("/admin/"),
    "admin changelist": lambda: session.get("/admin/patients/patient/"),
    "admin post": lambda: session.post("/admin/patients/patient/add/", {"x": "1"}),
    "health": lambda: anonymous.get("/health/"),
    "health with session": lambda: session.get("/health/"),
}
out = {}
for name, call in calls.items():
    r = call()
    out[name] = {
        "status": r.status_code,
        "type": r["Content-Type"],
        "retry_after": r.get("Retry-After"),
        "body": r.content.decode(),
    }
print(json.dumps(out))
"""


def test_every_page_answers_503_while_the_database_is_unreachable():
    result = run_python(REQUESTS, env=DOWN)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])

    for name in ("api list with token", "api post with token", "api anonymous", "api session", "api schema"):
        response = out[name]
        assert (response["status"], response["type"], response["retry_after"]) == (503, "application/json", "10"), name
        assert json.loads(response["body"]) == {
            "error": {
                "code": "database_unavailable",
                "message": "The database is temporarily unavailable. Nothing was saved; retry shortly.",
            }
        }, name
    for name in ("admin index", "admin changelist", "admin post"):
        response = out[name]
        assert (response["status"], response["retry_after"]) == (503, "10"), name
        assert response["type"] == "text/html; charset=utf-8", name
        assert "Healthcare CRM is temporarily unavailable" in response["body"], name
        assert "Traceback" not in response["body"] and "Server Error" not in response["body"], name
    for name in ("health", "health with session"):
        assert out[name]["status"] == 503, name
        assert json.loads(out[name]["body"]) == {"status": "degraded", "database": "unavailable"}, name


# The three places a lost database is answered, each given the exception it would see (no database
# involved): the DRF exception handler, the middleware's process_exception, and handler500.


@pytest.mark.parametrize("exc", [OperationalError("server closed the connection"), InterfaceError("closed")])
def test_the_api_exception_handler_answers_503_in_the_error_shape(exc):
    request = Request(RequestFactory().get("/api/v1/patients/"))
    response = api_exception_handler(exc, {"request": request, "view": None})
    assert response.status_code == 503 and response["Retry-After"] == "10"
    assert response.data == {
        "error": {
            "code": "database_unavailable",
            "message": "The database is temporarily unavailable. Nothing was saved; retry shortly.",
        }
    }


def test_the_middleware_answers_503_for_database_errors_only():
    middleware = DatabaseUnavailableMiddleware(lambda request: None)
    page = middleware.process_exception(RequestFactory().get("/admin/"), OperationalError("down"))
    assert (page.status_code, page["Retry-After"], page["Cache-Control"]) == (503, "10", "no-store")
    assert "Healthcare CRM is temporarily unavailable" in page.content.decode()
    assert middleware.process_exception(RequestFactory().get("/admin/"), ValueError("a bug")) is None


def test_handler500_answers_503_for_the_database_and_json_500_for_other_api_errors():
    assert urls.handler500 == "common.outage.server_error"
    factory = RequestFactory()
    try:
        raise OperationalError("connection refused")
    except OperationalError:
        api, admin = server_error(factory.get("/api/v1/patients/")), server_error(factory.get("/admin/"))
    assert (api.status_code, json.loads(api.content)["error"]["code"]) == (503, "database_unavailable")
    assert admin.status_code == 503 and "temporarily unavailable" in admin.content.decode()
    try:
        raise ValueError("a bug")
    except ValueError:
        api, admin = server_error(factory.get("/api/v1/patients/")), server_error(factory.get("/admin/"))
    assert (api.status_code, json.loads(api.content)) == (
        500,
        {"error": {"code": "server_error", "message": "Internal server error."}},
    )
    assert admin.status_code == 500 and "Traceback" not in admin.content.decode()
