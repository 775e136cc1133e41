"""The app served by a real gunicorn process against a throw-away PostgreSQL cluster
(``tests/throwaway_postgres.py``), for the tests that stop, restart or replicate that cluster: the outage
test (``tests/common/test_outage_cluster.py``) and the read-replica test (``tests/scaling/test_replicas.py``).

``seed`` migrates and fills the cluster's database in a child process; ``gunicorn_serving`` starts the
server on a free port, waits until its health check answers and stops it afterwards; ``fetch`` sends one
request to it.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

import pytest

from tests.subprocess_utils import ALWAYS_DROP, ROOT, run_python

GUNICORN = Path(sys.executable).parent / "gunicorn"
TEST_SETTINGS = "crm_project.settings.test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(
    port: int, method: str, path: str, *, headers: dict | None = None, body: bytes | None = None
) -> tuple[int, Message, bytes]:
    """One request to 127.0.0.1:``port`` on a connection of its own: the status, the headers (looked up
    ignoring case, ``get_all`` for repeated ones) and the body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def seed(code: str, *, database_url: str, timeout: int) -> dict:
    """Run ``code`` (a script that calls ``django.setup()``) with the test settings against
    ``database_url``; the JSON object its last line prints."""
    result = run_python(
        code, env={"DJANGO_SETTINGS_MODULE": TEST_SETTINGS, "DATABASE_URL": database_url}, timeout=timeout
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@dataclass(frozen=True)
class Served:
    port: int
    process: subprocess.Popen
    log: Path


@contextmanager
def gunicorn_serving(
    *, database_url: str, log: Path, threads: int, timeout: float, env: dict[str, str] | None = None
) -> Iterator[Served]:
    """gunicorn (one worker, ``threads`` threads) serving the app with the test settings on
    ``database_url`` (and ``env``), its output in ``log``; ready once ``/health/`` answers 200 (within
    ``timeout`` seconds), stopped on exit. Skips the test where gunicorn is not installed."""
    if not GUNICORN.exists():
        pytest.skip(f"gunicorn is not installed next to {sys.executable}")
    port = free_port()
    child_env = {
        **{k: v for k, v in os.environ.items() if k not in ALWAYS_DROP},
        "DJANGO_SETTINGS_MODULE": TEST_SETTINGS,
        "DATABASE_URL": database_url,
        "CONN_MAX_AGE": "60",
        **(env or {}),
    }
    with log.open("w") as out:
        server = subprocess.Popen(
            [str(GUNICORN), "crm_project.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", "1",
             "--threads", str(threads), "--timeout", "60", "--log-level", "info"],
            cwd=ROOT, env=child_env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        _wait_until_serving(server, port, log, timeout)
        yield Served(port=port, process=server, log=log)
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_until_serving(server: subprocess.Popen, port: int, log: Path, timeout: float) -> None:
    ready = threading.Event()

    def probe() -> None:
        while not ready.is_set() and server.poll() is None:
            try:
                if fetch(port, "GET", "/health/")[0] == 200:
                    ready.set()
                    return
            except OSError:
                pass
            ready.wait(0.2)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout=timeout)
    assert ready.is_set(), f"gunicorn did not come up:\n{log.read_text()}"
