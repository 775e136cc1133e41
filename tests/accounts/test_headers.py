"""Security headers: Content-Security-Policy (django-csp), Permissions-Policy, and no caching of API
answers; and the project's templates keep to what the policy allows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories.people import PersonFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def _directives(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part for part in (p.strip() for p in header.split(";")) if part}


@pytest.mark.parametrize("url", ["/admin/login/", "/admin/", "/api/v1/persons/", "/api/docs/", "/health/", "/nope/"])
def test_every_response_has_a_strict_csp_and_a_permissions_policy(admin_client, url):
    response = admin_client.get(url)
    csp = _directives(response)
    assert csp["script-src"] == "script-src 'self'" and csp["style-src"] == "style-src 'self'"
    assert csp["default-src"] == "default-src 'self'" and csp["object-src"] == "object-src 'none'"
    assert csp["frame-ancestors"] == "frame-ancestors 'none'"
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    policy = response["Permissions-Policy"]
    for feature in ("camera=()", "microphone=()", "geolocation=()", "payment=()", "usb=()"):
        assert feature in policy


def _token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def test_authenticated_api_answers_are_never_stored(crm_supervisor_user):
    person = PersonFactory()
    client = _token_client(crm_supervisor_user)
    answers = {
        "list": client.get("/api/v1/persons/"),
        "detail": client.get(f"/api/v1/persons/{person.pk}/"),
        "history": client.get(f"/api/v1/persons/{person.pk}/history/"),
        "created": client.post("/api/v1/persons/", {"first_name": "Ann", "last_name": "Lee"}, format="json"),
        "invalid (400)": client.post("/api/v1/persons/", {"first_name": ""}, format="json"),
        "not found (404)": client.get("/api/v1/persons/00000000-0000-0000-0000-000000000000/"),
        "not allowed (405)": client.put("/api/v1/contact-types/", {}, format="json"),
        "unknown address (404)": client.get("/api/v1/no-such-thing/"),
        "token info": client.get("/api/v1/auth/token/"),
    }
    statuses = {name: response.status_code for name, response in answers.items()}
    assert statuses == {
        "list": 200,
        "detail": 200,
        "history": 200,
        "created": 201,
        "invalid (400)": 400,
        "not found (404)": 404,
        "not allowed (405)": 405,
        "unknown address (404)": 404,
        "token info": 200,
    }
    for name, response in answers.items():
        assert response["Cache-Control"] == "no-store", name


def test_refusals_are_not_stored_either(cpss_user):
    assert _token_client(cpss_user).get("/api/v1/persons/")["Cache-Control"] == "no-store"  # 403
    assert APIClient().get("/api/v1/persons/")["Cache-Control"] == "no-store"  # 401


# --- The project's templates keep to the policy ---------------------------------------------------------

INLINE = [
    (re.compile(r"\sstyle\s*=", re.I), "a style attribute"),
    (re.compile(r"<style", re.I), "a <style> element"),
    (re.compile(r"<script(?![^>]*\ssrc=)[^>]*>", re.I), "an inline <script>"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "an inline event handler"),
    (re.compile(r"javascript:", re.I), "a javascript: URL"),
]


def _project_sources() -> list[Path]:
    apps = ("templates", "common", "people", "patients", "journeys", "cm_program", "accounts")
    files = [p for app in apps for p in (ROOT / app).rglob("*") if p.suffix in (".html", ".py")]
    return [p for p in files if "migrations" not in p.parts]


def test_no_template_or_admin_markup_relies_on_inline_code_or_styles():
    found = []
    for path in _project_sources():
        text = path.read_text()
        if path.suffix == ".py":  # markup built in Python: format_html / mark_safe strings and widget attrs
            text = "\n".join(re.findall(r"(['\"]<[^'\"]*['\"])", text)) + "\n".join(
                re.findall(r"attrs=\{[^}]*\"style\"", text)
            )
        for pattern, what in INLINE:
            for match in pattern.finditer(text):
                found.append(f"{path.relative_to(ROOT)}: {what}: {match.group(0)!r}")
    assert not found, "The Content-Security-Policy blocks these:\n" + "\n".join(found)
