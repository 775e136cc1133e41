"""The OpenAPI schema and Swagger UI need a login when API_DOCS_PUBLIC is off (production), and are open
when it is on (`make run`)."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from tests.subprocess_utils import PRODUCTION_ENV, run_python

pytestmark = pytest.mark.django_db


@pytest.fixture
def docs_private(settings):
    settings.API_DOCS_PUBLIC = False


def test_private_schema_answers_401_to_anonymous_callers(docs_private, client):
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    yaml = client.get("/api/schema/")  # the schema's default rendering is YAML, errors too
    assert yaml.status_code == 401 and "not_authenticated" in yaml.content.decode()
    assert "paths" not in yaml.content.decode()


def test_private_docs_page_sends_a_browser_to_the_login(docs_private, client):
    response = client.get("/api/docs/")
    assert response.status_code == 302 and response["Location"] == "/admin/login/?next=/api/docs/"
    assert client.get("/api/docs/?script=").status_code == 401  # the start-up script: no redirect


def test_private_docs_open_for_a_signed_in_user_and_a_token(docs_private, navigator_user):
    assert Client().get("/api/docs/").status_code == 302  # not before signing in
    client = Client()
    client.force_login(navigator_user)
    page = client.get("/api/docs/")
    assert page.status_code == 200 and 'id="swagger-ui"' in page.content.decode()
    assert client.get("/api/schema/").status_code == 200
    token = Token.objects.create(user=navigator_user)
    schema = Client().get("/api/schema/?format=json", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert schema.status_code == 200 and "/api/v1/patients/" in schema.json()["paths"]


def test_public_docs_open_to_anyone(settings, client):
    settings.API_DOCS_PUBLIC = True
    schema = client.get("/api/schema/?format=json")
    assert schema.status_code == 200 and "/api/v1/auth/token/rotate/" in schema.json()["paths"]
    page = client.get("/api/docs/")
    assert page.status_code == 200 and "swagger-ui-bundle.js" in page.content.decode()
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")


def test_the_settings_modules_choose_private_in_production_and_open_locally():
    code = (
        "import django; django.setup(); from django.conf import settings;"
        "print(settings.API_DOCS_PUBLIC, settings.REQUIRE_2FA)"
    )
    production = run_python(code, env=PRODUCTION_ENV, drop=("API_DOCS_PUBLIC", "REQUIRE_2FA"))
    assert production.returncode == 0, production.stderr
    assert production.stdout.split()[-2:] == ["False", "True"]
    local = run_python(
        code,
        env={"DJANGO_SETTINGS_MODULE": "crm_project.settings.local"},
        drop=("API_DOCS_PUBLIC", "REQUIRE_2FA", "DATABASE_URL"),
    )
    assert local.returncode == 0, local.stderr
    assert local.stdout.split()[-2:] == ["True", "False"]
