"""``python -m bench.run`` end to end at a tiny size: it starts gunicorn under production settings, logs
in, times two cases next to their floors and prints (and writes) the table. No assertion on time.

The benchmark database starts as a copy of the (migrated) test database, so ``bench.generate``'s
``migrate`` has nothing to do: migrating a new database took most of this module's time (about 4 of its
4.5 minutes on a busy 2-core machine)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import psycopg
import pytest
from django.db import connection, connections
from psycopg import sql

from bench.generate.__main__ import MARKER
from bench.harness import server_connection
from tests.subprocess_utils import ROOT, database_url


def _database(settings_dict: dict) -> str:
    """The benchmark database's name, derived from this test database's (``test_crm_gw0`` ->
    ``crm_bench_runtest_test_crm_gw0``): two suites (or xdist workers) on one server never share it."""
    return f"crm_bench_runtest_{settings_dict['NAME']}"[:63]


def _drop(settings_dict: dict) -> None:
    with server_connection(settings_dict) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(_database(settings_dict)))
        )


def _copy_of_the_test_database(settings_dict: dict) -> bool:
    """Create the benchmark database from the test database (migrated, reference data in place, no
    other rows between tests), marked as bench.generate marks its own. False when PostgreSQL refuses
    (another session is connected to the test database): bench.generate then creates and migrates it."""
    name = _database(settings_dict)
    with server_connection(settings_dict) as conn:
        try:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(settings_dict["NAME"])
                )
            )
        except psycopg.errors.ObjectInUse:
            return False
        conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(name), sql.Literal(MARKER)))
    return True


def _run(*args: str, env: dict[str, str], timeout: int) -> subprocess.CompletedProcess:
    child = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE")}
    child.update(env)
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, env=child, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def bench_server_url(django_db_setup, django_db_blocker):
    """The benchmark database's name and the DATABASE_URL naming the test server (its database name is not
    the bench's: bench.generate refuses that)."""
    with django_db_blocker.unblock():
        settings_dict = dict(connection.settings_dict)
        connections.close_all()  # a template must have no session connected
    _drop(settings_dict)
    copied = _copy_of_the_test_database(settings_dict)
    database = _database(settings_dict)
    env = {"DATABASE_URL": database_url(settings_dict, name="crm_bench_runtest_dev")}
    generated = _run(
        "bench.generate", "--persons", "300", "--database", database, *([] if copied else ["--drop"]), "--quiet",
        env=env, timeout=600,
    )  # fmt: skip
    assert generated.returncode == 0, generated.stderr[-2000:]
    yield database, env
    _drop(settings_dict)


@pytest.mark.django_db  # the test database is set up: the benchmark database is its copy
def test_bench_run_prints_and_writes_the_table(bench_server_url, tmp_path):
    database, env = bench_server_url
    docs = tmp_path / "PERFORMANCE.md"
    docs.write_text(
        "# Performance\n\nintro\n\n<!-- bench.run results: start -->\nold\n<!-- bench.run results: end -->\n"
    )
    cases = r"GET /api/v1/medical-conditions/ page 1|patients\.Patient changelist$"
    result = _run(
        "bench.run", "--database", database, "--filter", cases, "--n", "2", "--write-docs", str(docs),
        env=env, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "2 cases against http://127.0.0.1:" in out
    assert (
        "| case | HTTP | p50 ms | p95 ms | queries | app CPU ms/req | SQL floor p50 ms | p50 / SQL floor "
        "| HTTP floor p50 ms | p50 / HTTP floor | req/s |"
    ) in out
    rows = {line.split(" | ")[0]: line for line in out.splitlines() if line.startswith("| ")}
    api = rows["| API: GET /api/v1/medical-conditions/ page 1"]
    admin = rows["| admin: patients.Patient changelist"]
    for row in (api, admin):
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[1] == "200"
        assert int(cells[4]) >= 2  # queries counted by the X-Query-Count middleware (session/token + the list)
        assert re.fullmatch(r"[\d,.]+", cells[2]) and re.fullmatch(r"[\d,.]+", cells[6])  # p50 and its floor
        assert re.fullmatch(r"[\d,.]+x", cells[7])  # the ratio
        # The HTTP floor (the same SQL served by a bare WSGI app under the same gunicorn) and its ratio.
        assert re.fullmatch(r"[\d,.]+", cells[8]) and re.fullmatch(r"[\d,.]+x", cells[9])
    assert re.search(r"person [\d,]+, patient [\d,]+", out)  # the sizes of the data set are stated
    written = docs.read_text()
    assert written.startswith("# Performance\n\nintro\n\n<!-- bench.run results: start -->\nMeasured ")
    assert "old" not in written and api in written and written.endswith("<!-- bench.run results: end -->\n")


@pytest.mark.django_db  # the test database is set up: the benchmark database is its copy
def test_bench_run_refuses_a_database_it_did_not_make(bench_server_url):
    _database_name, env = bench_server_url
    result = _run("bench.run", "--database", "postgres", "--list", env=env, timeout=120)
    assert result.returncode != 0
    assert "'postgres' was not made by bench.generate" in result.stderr


def test_bench_run_help_names_the_switches():
    result = _run("bench.run", "--help", env={}, timeout=60)
    assert result.returncode == 0
    for word in ("--filter", "--n", "--write-docs", "API_THROTTLE=false", "REQUIRE_2FA=false", "X-Query-Count"):
        assert word in result.stdout
