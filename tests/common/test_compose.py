"""docker-compose.yml cannot be started here (no Docker engine); check its shape instead."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_compose_has_db_with_volume_and_healthcheck_and_web_waiting_for_it():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    db, web = compose["services"]["db"], compose["services"]["web"]
    assert db["image"] == "postgres:15"
    assert "healthcheck" in db and "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert any(v.startswith("pgdata:") for v in db["volumes"]) and "pgdata" in compose["volumes"]
    assert web["depends_on"]["db"]["condition"] == "service_healthy"
    assert web["environment"]["DJANGO_SETTINGS_MODULE"] == "crm_project.settings.production"
    assert "DATABASE_URL" in web["environment"] and "SECRET_KEY" in web["environment"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "migrate --noinput" in dockerfile and "gunicorn crm_project.wsgi" in dockerfile
