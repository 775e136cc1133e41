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
