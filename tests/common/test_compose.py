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
    assert web["environment"]["DJANGO_SETTINGS_MODULE"] == "crm_project.settings.production"
    assert "DATABASE_URL" in web["environment"] and "SECRET_KEY" in web["environment"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "COPY manage.py gunicorn.conf.py ./" in dockerfile
    assert 'CMD ["gunicorn", "-c", "gunicorn.conf.py"]' in dockerfile
    assert web["environment"]["WEB_CONCURRENCY"] == "${WEB_CONCURRENCY:-}"
    assert web["environment"]["GUNICORN_THREADS"] == "${GUNICORN_THREADS:-}"


def test_compose_migrates_as_the_owner_and_serves_as_the_app_role():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    db, migrate, web = (compose["services"][name] for name in ("db", "migrate", "web"))
    # The roles are created when the volume is first initialised.
    assert "./docker/postgres-init:/docker-entrypoint-initdb.d:ro" in db["volumes"]
    init = (ROOT / "docker/postgres-init/10-crm-roles.sh").read_text()
    assert 'CREATE ROLE :"owner" LOGIN' in init and 'CREATE ROLE :"app" LOGIN' in init
    assert 'ALTER DATABASE :"db" OWNER TO :"owner"' in init and "SUPERUSER NOCREATEDB" in init
    assert db["environment"]["CRM_OWNER_USER"] == "${CRM_OWNER_USER:-crm_owner}"
    assert db["environment"]["CRM_APP_USER"] == "${CRM_APP_USER:-crm_app}"
    # One-shot migrate step as the owner, then the grants; web starts only after it succeeded.
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy" and migrate["restart"] == "no"
    assert migrate["environment"]["DATABASE_URL"].startswith("postgres://${CRM_OWNER_USER:-crm_owner}:")
    command = " ".join(migrate["command"])
    assert "manage.py migrate --noinput && python manage.py db_roles --app-role" in command
    assert web["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
    assert web["environment"]["DATABASE_URL"].startswith("postgres://${CRM_APP_USER:-crm_app}:")
    assert web["environment"]["SECRET_KEY"] == migrate["environment"]["SECRET_KEY"]
    # The image's own command only serves: it never migrates as whatever role it runs with.
    cmd = next(line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("CMD"))
    assert "gunicorn.conf.py" in cmd and "migrate" not in cmd


def _gunicorn_config(monkeypatch, **env) -> dict:
    import runpy

    for name in ("WEB_CONCURRENCY", "GUNICORN_THREADS", "GUNICORN_BIND", "PORT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))


def test_gunicorn_config_defaults_and_environment_overrides(monkeypatch):
    import os

    default = _gunicorn_config(monkeypatch)
    assert default["wsgi_app"] == "crm_project.wsgi:application"
    cores = os.cpu_count() or 1
    assert (default["workers"], default["threads"], default["worker_class"]) == (cores + 1, 4, "gthread")
    assert default["bind"] == "0.0.0.0:8000"
    # Empty values (docker-compose's ${WEB_CONCURRENCY:-}) mean "the default".
    assert _gunicorn_config(monkeypatch, WEB_CONCURRENCY="", GUNICORN_THREADS="")["threads"] == 4
    sync = _gunicorn_config(monkeypatch, WEB_CONCURRENCY="5", GUNICORN_THREADS="1", GUNICORN_BIND="127.0.0.1:9000")
    assert (sync["workers"], sync["threads"], sync["worker_class"], sync["bind"]) == (5, 1, "sync", "127.0.0.1:9000")
    assert _gunicorn_config(monkeypatch, PORT="8080")["bind"] == "0.0.0.0:8080"


def test_compose_runs_one_import_worker_as_the_app_role_after_migrate():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    worker, web = compose["services"]["worker"], compose["services"]["web"]
    assert worker["command"] == ["python", "manage.py", "procrastinate", "worker", "--queues", "imports"]
    assert worker["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
    assert worker["environment"]["DATABASE_URL"] == web["environment"]["DATABASE_URL"]
    assert worker["environment"]["SECRET_KEY"] == web["environment"]["SECRET_KEY"]
    makefile = (ROOT / "Makefile").read_text()
    assert "manage.py procrastinate worker --queues imports & worker=$$!" in makefile
    assert "trap 'kill $$worker" in makefile
