"""Start and stop the real programs the scaling tests put in front of the app (PgBouncer, HAProxy, gunicorn).

Each runs from its own configuration in a temporary folder, on a free port of 127.0.0.1, and is stopped
(by its own process id) when the test module ends. Readiness is awaited by connecting, never by sleeping
a fixed time.
"""

from __future__ import annotations

import os
import pwd
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(
    port: int, *, process: subprocess.Popen, log: Path, timeout: float = 60, host: str = "127.0.0.1"
) -> None:
    """Return once ``port`` accepts connections; fail with the program's log if it exits or never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode}:\n{_tail(log)}")
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{process.args[0]} did not listen on {port} within {timeout}s:\n{_tail(log)}")


def _tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace")[-4000:]
    except OSError:
        return "(no log)"


def stop(process: subprocess.Popen) -> None:
    """Stop ``process`` (and the children of its process group) by its own id: TERM, then KILL."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)


def start(args: list[str], *, log: Path, env: dict | None = None, cwd: Path | None = None) -> subprocess.Popen:
    """``args`` in a process group of its own (so ``stop`` reaches its workers too), output to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True)


def unprivileged_folder(prefix: str, *, near: str | None = None) -> tuple[Path, list[str]]:
    """A temporary folder for a program that refuses to run as root (PgBouncer), and the arguments that make
    it drop privileges when this process is root (CI containers): to the owner of ``near`` (the database's
    socket folder, which that account can reach) when it is a folder not owned by root, else ``nobody``.
    The folder then belongs to that account."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() != 0:
        return folder, []
    owner = os.stat(near).st_uid if near and os.path.isdir(near) else 0
    account = pwd.getpwuid(owner) if owner else pwd.getpwnam("nobody")
    os.chown(folder, account.pw_uid, account.pw_gid)
    return folder, ["-u", account.pw_name]


def start_pgbouncer(
    program: str, folder: Path, *, host: str, port: int | str, user: str, pool_size: int = 2, extra: list[str] = ()
) -> tuple[subprocess.Popen, int]:
    """PgBouncer in transaction mode in front of the PostgreSQL at ``host``:``port`` (an address or a socket
    folder), ``pool_size`` server connections per database and user; returns (process, its port).
    ``extra``: arguments before the configuration file (``-u nobody`` from ``unprivileged_folder``)."""
    listen = free_port()
    (folder / "users.txt").write_text(f'"{user}" ""\n')  # trust: the user must be listed, with any password
    ini = folder / "pgbouncer.ini"
    ini.write_text(
        f"""[databases]
* = host={host} port={port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen}
unix_socket_dir =
auth_type = trust
auth_file = {folder / "users.txt"}
pool_mode = transaction
default_pool_size = {pool_size}
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = 200
server_reset_query =
ignore_startup_parameters = extra_float_digits,options
admin_users = {user}
logfile = {folder / "pgbouncer.log"}
pidfile = {folder / "pgbouncer.pid"}
"""
    )
    log = folder / "pgbouncer.out"
    for path in (folder / "users.txt", ini):
        path.chmod(0o644)
    process = start([program, *extra, str(ini)], log=log)
    wait_for_port(listen, process=process, log=folder / "pgbouncer.log")
    return process, listen


def database_env(db: dict) -> dict[str, str]:
    """``DATABASE_URL`` (and ``PGHOST`` for a socket folder, which a URL's host cannot carry through
    django-environ) for a Django ``DATABASES`` entry."""
    from urllib.parse import quote

    user = quote(db.get("USER") or "postgres", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    env = {}
    if host.startswith("/"):
        env["PGHOST"], host = host, ""  # an empty host: libpq reads PGHOST
    env["DATABASE_URL"] = f"postgres://{user}{password}@{host}{port}/{quote(db['NAME'], safe='')}"
    return env


def start_haproxy(program: str, folder: Path, *, bind: str, source: str, servers: dict[str, int]) -> tuple:
    """HAProxy (HTTP, round robin, ``option forwardfor``) listening on ``bind`` (an address of 127.0.0.0/8)
    and reaching the ``servers`` (name -> port on 127.0.0.1) from the address ``source``; (process, port)."""
    listen = free_port()
    lines = "\n".join(f"    server {name} 127.0.0.1:{port}" for name, port in servers.items())
    cfg = folder / "haproxy.cfg"
    cfg.write_text(
        f"""global
    maxconn 200

defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    # Each request is balanced on its own, and the client's address goes to the nodes in X-Forwarded-For.
    option http-server-close
    option forwardfor

frontend web
    bind {bind}:{listen}
    default_backend nodes

backend nodes
    balance roundrobin
    source {source}
{lines}
"""
    )
    log = folder / "haproxy.log"
    process = start([program, "-db", "-f", str(cfg)], log=log)
    wait_for_port(listen, process=process, log=log, host=bind)
    return process, listen
