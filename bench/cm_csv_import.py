"""Benchmark: ``migrate_cm_patients`` end to end, rows/s and peak memory at several sizes.

    .venv/bin/python -m bench.cm_csv_import --patients 5000 20000

For each size it writes the exports with ``bench.cm_csv`` (seed = the size, so sizes do not share ids)
into a temporary folder and runs the importer through ``common.imports.runner.execute`` in a
throw-away database (``bench_<name>``, created and dropped by ``bench.harness``): first for real,
timed without tracing (input rows/s, SQL statements, growth of the process's peak RSS), then the same
files again as a dry run under ``tracemalloc`` (peak Python memory; every row is then "unchanged", the
work is the same staging and the same statements). Memory that does not grow with the size is the
point: the files are streamed into COPY and the report is read back through a server-side cursor.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

from bench.harness import bench_database, setup_django


def run_size(patients: int, ledger_per_enrollment: int) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from bench.cm_csv import generate
    from common.imports.files import ImportFiles
    from common.imports.models import ImportKind
    from common.imports.runner import execute

    with tempfile.TemporaryDirectory() as folder:
        counts = generate(Path(folder), patients=patients, ledger_per_enrollment=ledger_per_enrollment, seed=patients)
        rows = sum(counts.values())
        size_mib = sum(p.stat().st_size for p in Path(folder).iterdir()) / 2**20
        files = ImportFiles.from_folder(folder)

        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            report = execute(kind=ImportKind.CM_PATIENTS, files=files)
            seconds = time.perf_counter() - start
        rss_growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
        assert report.count() == rows, (report.count(), rows)  # every row accounted for

        tracemalloc.start()
        start = time.perf_counter()
        again = execute(kind=ImportKind.CM_PATIENTS, files=files, dry_run=True)
        dry_seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()

    outcomes = ", ".join(f"{o} {report.count(outcome=o):,}" for o in ("created", "matched", "skipped", "conflict"))
    print(
        f"{patients:>8,} patients  {rows:>9,} rows ({size_mib:6.1f} MiB)  {seconds:7.1f} s  "
        f"{rows / seconds:8,.0f} rows/s  "
        f"{len(captured):3d} statements  RSS +{rss_growth:6.1f} MiB  | second run (dry): {dry_seconds:6.1f} s, "
        f"{again.count(outcome='unchanged'):,} unchanged, peak Python memory {peak:6.1f} MiB",
        flush=True,
    )
    print(f"          {outcomes}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.cm_csv_import",
        description="Time migrate_cm_patients on generated exports (bench.cm_csv) of each size, in a throw-away "
        "database: input rows/s, statements, peak RSS growth, and the peak Python memory of a second (dry) run.",
    )
    parser.add_argument("--patients", type=int, nargs="+", default=[5_000, 20_000], help="shared-table rows per run")
    parser.add_argument(
        "--ledger-per-enrollment", type=int, default=20, help="average point transactions per enrollment"
    )
    args = parser.parse_args(argv)
    setup_django()
    with bench_database():
        for patients in args.patients:
            run_size(patients, args.ledger_per_enrollment)


if __name__ == "__main__":
    main()
