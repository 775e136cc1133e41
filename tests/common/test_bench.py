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
