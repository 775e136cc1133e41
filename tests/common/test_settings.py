import json

from tests.subprocess_utils import PRODUCTION_ENV, run_manage, run_python

PRINT_DB = (
    "import django, json; django.setup(); from django.conf import settings;"
    "d = settings.DATABASES['default'];"
    "keys = ('ENGINE', 'NAME', 'USER', 'HOST', 'PORT', 'CONN_MAX_AGE', 'CONN_HEALTH_CHECKS');"
    "print(json.dumps({k: d[k] for k in keys}))"
)


def test_database_url_is_read():
    result = run_python(
        PRINT_DB,
        env={
            "DJANGO_SETTINGS_MODULE": "crm_project.settings.local",
            "DATABASE_URL": "postgres://alice:secret@db.internal:6543/crm_prod",
        },
    )
    assert result.returncode == 0, result.stderr
    db = json.loads(result.stdout.strip().splitlines()[-1])
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["NAME"], db["USER"], db["HOST"], str(db["PORT"])) == ("crm_prod", "alice", "db.internal", "6543")
    assert db["CONN_MAX_AGE"] == 60 and db["CONN_HEALTH_CHECKS"] is True


def test_without_database_url_the_embedded_postgres_is_used():
    result = run_python(PRINT_DB, env={"DJANGO_SETTINGS_MODULE": "crm_project.settings.local"}, drop=("DATABASE_URL",))
    assert result.returncode == 0, result.stderr
    db = json.loads(result.stdout.strip().splitlines()[-1])
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert db["HOST"].endswith(".data/postgres") or "python_PostgresServer" in db["HOST"]
    assert db["NAME"] == "crm"


def test_production_refuses_to_start_without_secret_key():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "SECRET_KEY"}
    result = run_python("import django; django.setup()", env=env, drop=("SECRET_KEY",))
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr and "ImproperlyConfigured" in result.stderr


def test_production_deploy_check_has_no_warnings():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_logs_json_lines_with_request_id():
    code = (
        "import django, logging; django.setup();"
        "from common.logging import request_id_var; request_id_var.set('req-42');"
        "logging.getLogger('crm.test').warning('hello', extra={'patient': 'p1'})"
    )
    result = run_python(code, env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    line = json.loads(result.stdout.strip().splitlines()[-1])
    assert line["message"] == "hello" and line["request_id"] == "req-42" and line["level"] == "WARNING"
    assert line["patient"] == "p1"


PRINT_POOLER = (
    "import django, json; django.setup(); from django.conf import settings;"
    "print(json.dumps({alias: [d.get('DISABLE_SERVER_SIDE_CURSORS', False), d.get('OPTIONS', {})]"
    " for alias, d in settings.DATABASES.items()}))"
)


def test_behind_a_transaction_pooler_cursors_and_prepared_statements_are_off():
    env = {
        "DJANGO_SETTINGS_MODULE": "crm_project.settings.local",
        "DATABASE_URL": "postgres://app@pgbouncer.internal:6432/crm?prepare_threshold=5",
        "DATABASE_POOLER": "transaction",
    }
    result = run_python(PRINT_POOLER, env=env)
    assert result.returncode == 0, result.stderr
    databases = json.loads(result.stdout.strip().splitlines()[-1])
    # Both connections (the requests' and the throttle cache's) are pooled: both are made safe.
    assert databases == {alias: [True, {"prepare_threshold": None}] for alias in ("default", "cache")}

    result = run_python(PRINT_POOLER, env={**env, "DATABASE_POOLER": ""})
    databases = json.loads(result.stdout.strip().splitlines()[-1])
    assert databases["default"][0] is False  # no pooler: server-side cursors as Django's default


def test_an_unknown_pooler_mode_refuses_to_start_naming_the_setting():
    env = {
        "DJANGO_SETTINGS_MODULE": "crm_project.settings.local",
        "DATABASE_URL": "postgres://app@db.internal/crm",
        "DATABASE_POOLER": "statement",
    }
    result = run_python(PRINT_POOLER, env=env)
    assert result.returncode != 0
    assert "DATABASE_POOLER must be one of 'transaction', 'session' or empty, not 'statement'" in result.stderr


PRINT_THROTTLE_CACHE = (
    "import django, json, sys; django.setup(); from django.conf import settings; from django.core.cache import caches;"
    "c = caches['throttle']; key, value = sys.argv[1], sys.argv[2];"
    "c.set(key, value, 60) if value else None;"
    "print(json.dumps([settings.CACHES['throttle']['BACKEND'], c.get(key)]))"
)


def _redis_answers() -> bool:
    import socket

    with socket.socket() as probe:
        probe.settimeout(1)
        try:
            probe.connect(("127.0.0.1", 6379))
        except OSError:
            return False
    return True


def test_redis_url_puts_the_throttle_counters_in_redis_shared_by_every_node():
    """Two processes (two web nodes) with REDIS_URL: a counter one writes, the other reads; without REDIS_URL
    the counters stay in PostgreSQL (DatabaseCache)."""
    import os
    import subprocess
    import sys
    import uuid

    import pytest

    from tests.subprocess_utils import ROOT

    if not _redis_answers():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("no Redis on 127.0.0.1:6379 (CI=true: the machine's Redis is expected)")
        pytest.skip("no Redis on 127.0.0.1:6379")
    env = {
        **{k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
        "DJANGO_SETTINGS_MODULE": "crm_project.settings.local",
        "DATABASE_URL": "postgres://app@db.internal/crm",
        "REDIS_URL": "redis://127.0.0.1:6379/15",
    }
    key = f"test-{uuid.uuid4()}"

    def node(value: str, environment: dict) -> list:
        result = subprocess.run(
            [sys.executable, "-c", PRINT_THROTTLE_CACHE, key, value],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout.strip().splitlines()[-1])

    assert node("7", env) == ["django.core.cache.backends.redis.RedisCache", "7"]
    assert node("", env) == ["django.core.cache.backends.redis.RedisCache", "7"]  # the other node sees it
    without = {**env, "REDIS_URL": ""}
    result = run_python(
        "import django; django.setup(); from django.conf import settings;print(settings.CACHES['throttle']['BACKEND'])",
        env=without,
    )
    assert result.stdout.strip().splitlines()[-1] == "django.core.cache.backends.db.DatabaseCache"
