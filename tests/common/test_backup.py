"""A backup restores: dump with the server's own pg_dump, restore into a new database, compare counts and
the points ledger (docs/OPERATIONS.md). Runs on whichever server the suite uses (the embedded
PostgreSQL 18, or the machine's PostgreSQL 15 in CI) and skips, saying why, when no client tools of the
server's major version are installed."""

from __future__ import annotations

import re
import subprocess
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from cm_program import services
from cm_program.models import PointsEvent
from common.backup import BackupCheckError, backup_check, find_client_tools
from tests.factories.cm_program import CMProgramFactory, CMProviderFactory
from tests.factories.patients import CallHistoryFactory, PatientFactory

pytestmark = pytest.mark.django_db(transaction=True)  # pg_dump sees committed rows only


@pytest.fixture(autouse=True)
def _client_tools_of_the_servers_version():
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version_num")
        major = int(cursor.fetchone()[0]) // 10000
    tools, seen = find_client_tools(major)
    if tools is None:
        pytest.skip(f"no pg_dump/pg_restore of PostgreSQL {major} (the test server's version); found: {seen}")


def _data():
    program, cpss = CMProgramFactory(name="Moonlit CM"), CMProviderFactory()
    enrollments = [
        services.cm_patient_enroll_new(
            first_name=first, last_name="Lee", date_of_birth="1990-01-01", program=program, cpss_provider=cpss
        ).enrollment
        for first in ("Ann", "Bob")
    ]
    services.cm_event_record(enrollment=enrollments[0], event_type=PointsEvent.TEST_NEGATIVE)
    services.cm_event_record(enrollment=enrollments[0], event_type=PointsEvent.TEST_NEGATIVE)
    CallHistoryFactory.create_batch(3, patient=PatientFactory())
    return enrollments


def _databases() -> set[str]:
    """This database's restore checks (``<name>_restorecheck_<hex>``): only those, since other test workers and
    other suites on a shared server create and drop their own databases meanwhile."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT datname FROM pg_database WHERE starts_with(datname, %s)",
            [f"{connection.settings_dict['NAME']}_restorecheck_"],
        )
        return {row[0] for row in cursor.fetchall()}


def test_a_dump_restores_with_every_row_and_a_ledger_that_agrees(tmp_path):
    _data()
    before = _databases()
    report = backup_check(output=tmp_path / "crm.dump")

    assert report.ok, (report.count_mismatches, report.ledger_discrepancies)
    assert report.source_counts == report.restored_counts
    assert report.restored_counts["cm_points_transactions"] == 4  # two enrollment bonuses, two negatives
    assert report.restored_counts["cm_enrollments"] == 2 and report.restored_counts["call_history"] == 3
    assert report.restored_counts["person"] >= 3 and report.restored_counts["django_migrations"] > 10
    assert report.enrollments_checked == 2 and report.ledger_discrepancies == []
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version_num")
        major = int(cursor.fetchone()[0]) // 10000
    version = subprocess.run([str(report.tools_dir / "pg_dump"), "--version"], capture_output=True, text=True).stdout
    assert re.search(rf"\(PostgreSQL\) {major}\b", version), version
    # The verified dump is kept where asked; the restored copy is gone.
    assert (tmp_path / "crm.dump").stat().st_size == report.dump_bytes > 0
    assert _databases() == before


def test_the_command_reports_success_and_fails_on_a_ledger_that_disagrees():
    enrollments = _data()
    out = StringIO()
    call_command("backup_check", stdout=out)
    assert "Restore verified:" in out.getvalue() and "2 enrollments agree with their points ledger" in out.getvalue()

    # Totals that no longer match the ledger are found in the restored copy, and fail the check.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE cm_enrollments SET total_points = 999 WHERE id = %s", [enrollments[1].pk])
    out = StringIO()
    with pytest.raises(CommandError, match="1 enrollment\\(s\\) disagreeing with their ledger"):
        call_command("backup_check", stdout=out)
    assert f"ledger disagrees in the restored copy: {enrollments[1].pk}: points stored 999, ledger 25" in out.getvalue()


def test_no_client_tools_of_the_servers_version_is_a_clear_error(tmp_path, monkeypatch):
    # Only an empty directory and nothing else to find: the error names the version it looked for.
    monkeypatch.setattr("common.backup.candidate_tool_dirs", lambda major, extra=(): [tmp_path])
    with pytest.raises(BackupCheckError, match=r"no pg_dump/pg_restore of PostgreSQL \d+ \(the server's version"):
        backup_check()
