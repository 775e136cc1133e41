"""Run the project in a child process with a given environment (settings are read at start-up)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Never hand test-only switches (set by the browser tests) to a child that runs deployment checks.
ALWAYS_DROP = ("DJANGO_ALLOW_ASYNC_UNSAFE",)


def run_python(code: str, *, env: dict[str, str], drop: tuple[str, ...] = (), timeout: int = 60):
    child_env = {k: v for k, v in os.environ.items() if k not in drop and k not in ALWAYS_DROP}
    child_env.update(env)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=child_env, capture_output=True, text=True, timeout=timeout
    )


def run_manage(*args: str, env: dict[str, str], drop: tuple[str, ...] = (), timeout: int = 120):
    child_env = {k: v for k, v in os.environ.items() if k not in drop and k not in ALWAYS_DROP}
    child_env.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=child_env, capture_output=True, text=True, timeout=timeout
    )


PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "crm_project.settings.production",
    "SECRET_KEY": "a-production-secret-key-that-is-long-and-random-enough-0123456789-abcdef",
    "ALLOWED_HOSTS": "crm.example.org",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:1/crm",
}


def database_url(settings_dict: dict, *, name: str | None = None) -> str:
    """A ``DATABASE_URL`` for a child process naming the same server as ``settings_dict`` (e.g. the test
    database: ``connection.settings_dict``); a Unix-socket directory goes in the path, as django-environ
    reads it."""
    from urllib.parse import quote

    user = quote(settings_dict["USER"] or "", safe="")
    password = f":{quote(settings_dict['PASSWORD'], safe='')}" if settings_dict.get("PASSWORD") else ""
    host, port = settings_dict["HOST"] or "", settings_dict["PORT"] or ""
    database = quote(name or settings_dict["NAME"], safe="")
    if host.startswith("/"):
        return f"postgres://{user}{password}@:{port or 5432}/{host}/{database}"
    return f"postgres://{user}{password}@{host}{f':{port}' if port else ''}/{database}"
