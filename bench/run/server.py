"""Start gunicorn with the project's configuration and production settings, and read its workers' CPU."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_environment(
    database_url: str, port: int, *, workers: int | None, threads: int | None, statement_timeout: float = 60
) -> dict[str, str]:
    """Production settings with the switches that a benchmark on plain HTTP needs (docs/PERFORMANCE.md)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "crm_project.settings.production",
        "DATABASE_URL": database_url,
        "SECRET_KEY": os.environ.get("SECRET_KEY") or "bench-run-only-" + "x" * 40,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",  # plain HTTP on the loopback
        "SECURE_COOKIES": "false",  # the session cookie must travel over plain HTTP
        "REQUIRE_2FA": "false",  # the bench superuser logs in with a password alone
        "API_THROTTLE": "false",  # thousands of requests a minute from one user
        "BENCH_QUERY_COUNT": "true",  # X-Query-Count on every response (common.query_count)
        "LOG_LEVEL": "WARNING",
        "GUNICORN_ACCESS_LOG": "",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        # libpq reads PGOPTIONS: a query past this is cancelled, and its case shows the error, not a hang.
        "PGOPTIONS": f"-c statement_timeout={int(statement_timeout * 1000)}",
    }
    if workers is not None:
        env["WEB_CONCURRENCY"] = str(workers)
    if threads is not None:
        env["GUNICORN_THREADS"] = str(threads)
    return env


def ensure_static(env: dict[str, str]) -> None:
    """Production serves the admin's assets from a collectstatic manifest: build it once if missing."""
    if (ROOT / "staticfiles" / "staticfiles.json").exists():
        return
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
    )


class Server:
    """gunicorn with ``gunicorn.conf.py``: the CRM (``app`` None), or another WSGI ``app`` ("module:name")
    with ``extra_env`` (the HTTP floor, ``bench.run.floor_app``)."""

    def __init__(
        self,
        database_url: str,
        *,
        workers=None,
        threads=None,
        statement_timeout: float = 60,
        log=None,
        app: str | None = None,
        extra_env: dict[str, str] | None = None,
    ):
        self.port = free_port()
        self.env = server_environment(
            database_url, self.port, workers=workers, threads=threads, statement_timeout=statement_timeout
        )
        self.env.update(extra_env or {})
        self.app = app
        self.log = log
        self.process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        if self.app is None:
            ensure_static(self.env)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), *([self.app] if self.app else [])],
            cwd=ROOT,
            env=self.env,
            stdout=self.log or subprocess.DEVNULL,
            stderr=self.log or subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode} (see its log)")
            try:
                with urllib.request.urlopen(self.base_url + "/health/", timeout=5) as response:
                    if response.status == 200 and len(self.worker_pids()) >= int(self.env.get("WEB_CONCURRENCY", 1)):
                        return
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"gunicorn did not answer /health/ within {timeout:.0f} s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def worker_pids(self) -> list[int]:
        if self.process is None:
            return []
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[1]) == self.process.pid:  # fields[1] is the parent pid
                pids.append(int(entry.name))
        return pids

    def worker_cpu_seconds(self) -> float:
        """user + system CPU of the workers so far (their threads included)."""
        total = 0
        for pid in self.worker_pids():
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / CLOCK_TICKS

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
