"""The benchmarks' throw-away databases never replace a database they did not create.

Django's ``setup_databases(interactive=False)`` drops a database of the test name without asking; a benchmark
whose throw-away name was ``crm_bench`` (after ``DATABASE_URL``'s ``crm``) dropped the full-size database that
``bench.generate`` had made under that name.
"""

from __future__ import annotations

import os

import pytest
from django.db import connection
from psycopg import sql

from bench.generate.__main__ import MARKER as GENERATE_MARKER
from bench.harness import THROWAWAY_MARKER, refuse_foreign_database, server_connection
from bench.import_legacy import scratch_database_name


def _probe_name(suffix: str) -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return f"{connection.settings_dict['NAME']}_{worker}_{suffix}"[:63]


@pytest.fixture
def database_with_comment():
    made = []

    def make(suffix: str, comment: str | None) -> str:
        name = _probe_name(suffix)
        with server_connection(connection.settings_dict) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            if comment is not None:
                conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(name), sql.Literal(comment)))
        made.append(name)
        return name

    yield make
    with server_connection(connection.settings_dict) as conn:
        for name in made:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _exists(name: str) -> bool:
    with server_connection(connection.settings_dict) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


@pytest.mark.parametrize(("suffix", "comment"), [("probe_generated", GENERATE_MARKER), ("probe_plain", None)])
def test_a_database_it_did_not_create_is_refused_and_kept(database_with_comment, suffix, comment):
    name = database_with_comment(suffix, comment)
    with pytest.raises(SystemExit) as refused:
        refuse_foreign_database(name, connection.settings_dict)
    assert name in str(refused.value) and "refusing to drop it" in str(refused.value)
    assert _exists(name)


def test_a_throwaway_database_left_by_an_interrupted_run_may_be_replaced(database_with_comment):
    name = database_with_comment("probe_leftover", THROWAWAY_MARKER)
    refuse_foreign_database(name, connection.settings_dict)  # no SystemExit


def test_a_database_that_does_not_exist_may_be_created():
    refuse_foreign_database(_probe_name("probe_absent"), connection.settings_dict)  # no SystemExit


def test_the_legacy_import_bench_is_not_named_like_bench_generates_default():
    assert scratch_database_name("crm") == "crm_legacy_bench" != "crm_bench"
