"""Real task-queue workers for tests/scaling/test_workers.py: ``manage.py procrastinate worker`` processes,
as production starts them, on the test's own database (committed data: transactional tests only).

Their timing settings are shortened (heartbeat every second, taken for dead after three, stalled jobs
looked for every second) so a killed worker's job comes back in seconds rather than a minute.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from django.db import connection

from tests import subprocess_utils

ROOT = Path(__file__).resolve().parents[2]
FAST_TIMING = {
    "TASK_HEARTBEAT_SECONDS": "1",
    "TASK_STALLED_AFTER_SECONDS": "3",
    "TASK_STALLED_CHECK_SECONDS": "1",
    "TASK_CLIENT_CHECK_SECONDS": "1",
}


def database_url() -> str:
    """The test database (``test_<name>``, per xdist worker) as a DATABASE_URL a child process reads."""
    return subprocess_utils.database_url(connection.settings_dict)


def wait_for(condition: Callable[[], object], *, timeout: float, what: str, logs: Callable[[], str] = str):
    """Poll ``condition`` until it returns something true; fail naming ``what`` (and the workers' logs)."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{logs()}")
        time.sleep(0.2)


class Workers:
    """Start, kill and stop worker processes; every one still running is stopped at ``close``."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self, name: str, **env: str) -> subprocess.Popen:
        environment = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "crm_project.settings.test",
            "DATABASE_URL": database_url(),
            "PYTHONUNBUFFERED": "1",
            **FAST_TIMING,
            **env,
        }
        log = (self.log_dir / f"{name}.log").open("wb")
        process = subprocess.Popen(
            # The production command line (Makefile `run`, docker-compose.yml's worker), plus a name.
            [sys.executable, "manage.py", "procrastinate", "worker", "--queues", "imports", "--name", name],
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.processes[name] = process
        return process

    def kill(self, name: str) -> None:
        """SIGKILL: no graceful shutdown, no last heartbeat, no unregistering; as a lost machine."""
        process = self.processes[name]
        process.send_signal(signal.SIGKILL)
        process.wait(30)

    def logs(self) -> str:
        parts = []
        for name, process in self.processes.items():
            text = (self.log_dir / f"{name}.log").read_text(errors="replace")[-4000:]
            parts.append(f"--- worker {name} (exit {process.poll()}) ---\n{text}")
        return "\n".join(parts)

    def close(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
