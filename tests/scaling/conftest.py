"""Tests that start real processes past the one the suite runs in: a streaming replica, PgBouncer, two web
nodes behind HAProxy, several task workers (docs/SCALING.md).

They are slow (seconds each) and prove the deployment rather than the code paths the rest of the suite
covers, so they run **once per CI run**: in ``make test``, which sets ``CRM_SCALING_TESTS=1``; the second
pass of ``.ci/run`` (the suite again on the machine's PostgreSQL) skips them. Run them by hand with
``CRM_SCALING_TESTS=1 .venv/bin/pytest tests/scaling -n 0``.

The programs they need (``pgbouncer``, ``haproxy``) are installed by ``scripts/ensure-services`` where
the machine allows; a test whose program is missing skips with the reason, and **fails** under
``CI=true`` (a CI machine is expected to have what ``make test`` installs).
"""

from __future__ import annotations

import os
import shutil

import pytest

ENABLED = os.environ.get("CRM_SCALING_TESTS") == "1"
IN_CI = os.environ.get("CI", "").lower() == "true"


def pytest_collection_modifyitems(config, items):
    if ENABLED:
        return
    skip = pytest.mark.skip(reason="scaling tests run once per CI run, in `make test` (set CRM_SCALING_TESTS=1)")
    for item in items:
        if "tests/scaling/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(skip)


def find_program(name: str) -> str | None:
    """The path of a program from PATH or the Debian package's sbin folder, or None."""
    return shutil.which(name) or next(
        (path for path in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.access(path, os.X_OK)), None
    )


def require_program(name: str) -> str:
    """The program's path; skips the test where it is missing (fails under CI=true), saying how to get it."""
    path = find_program(name)
    if path is None:
        message = f"{name} not found: run scripts/ensure-services (needs root and apt-get), or install Debian's {name}"
        if IN_CI:
            pytest.fail(message + " (CI=true: a missing program fails rather than skips)")
        pytest.skip(message)
    return path
