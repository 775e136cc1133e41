"""The benchmarks keep running (tiny sizes; no timing is asserted: figures are for people to read)."""

from tests.subprocess_utils import run_python


def test_cm_benchmark_runs_and_prints_figures():
    result = run_python(
        "import runpy, sys; sys.argv = ['bench', '--providers', '2', '--patients-per-provider', '2', '--events', '2'];"
        "runpy.run_module('bench.cm_caseload', run_name='__main__')",
        env={"DJANGO_SETTINGS_MODULE": "crm_project.settings.local"},
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 CPSS, 4 enrollments, 8 ledger rows" in result.stdout
    assert "cpss_caseload_summary" in result.stdout and "queries" in result.stdout


def test_bulk_audit_benchmark_runs_and_finds_the_trail_complete():
    result = run_python(
        "import runpy, sys; sys.argv = ['bench', '--persons', '20', '--calls', '10', '--batch-size', '7'];"
        "runpy.run_module('bench.bulk_audit', run_name='__main__')",
        env={"DJANGO_SETTINGS_MODULE": "crm_project.settings.local"},
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "mode none:" in result.stdout and "mode row:" in result.stdout and "mode statement:" in result.stdout
    # Row-level (put back for the run) and statement-level triggers write the same, complete trail.
    trail = "trail: 20 insert / 20 update / 20 delete events for 20 persons, 10 for 10 calls; values match: True; "
    assert result.stdout.count(trail + "context on every event: True") == 2, result.stdout
    assert "| insert persons |" in result.stdout
