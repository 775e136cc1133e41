import json

import pytest

from tests.subprocess_utils import run_python


@pytest.mark.django_db
def test_health_ok_when_database_answers(client):
    response = client.get("/health/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}
    assert response["Cache-Control"].startswith("max-age=0")


def test_health_503_when_database_unreachable():
    # A real process whose DATABASE_URL names a port where nothing listens: no mock of the database.
    code = (
        "import django, json; django.setup();"
        "from django.test import Client;"
        "r = Client().get('/health/');"
        "print(json.dumps({'status': r.status_code, 'body': r.json()}))"
    )
    result = run_python(
        code,
        env={
            "DJANGO_SETTINGS_MODULE": "crm_project.settings.test",
            "DATABASE_URL": "postgres://postgres@127.0.0.1:1/crm",
        },
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out == {"status": 503, "body": {"status": "degraded", "database": "unavailable"}}


@pytest.mark.django_db
def test_health_rejects_post(client):
    assert client.post("/health/").status_code == 405


@pytest.mark.django_db
def test_request_id_is_echoed_or_generated(client):
    assert client.get("/health/", HTTP_X_REQUEST_ID="abc-123")["X-Request-ID"] == "abc-123"
    generated = client.get("/health/", HTTP_X_REQUEST_ID="bad id with spaces")["X-Request-ID"]
    assert generated != "bad id with spaces" and len(generated) == 32
