"""Benchmark: ``import_intakeq`` end to end — rows/s and peak memory of the import and of the matching.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm_intakeq .venv/bin/python -m bench.intakeq_import \\
        --clients 100000

In a throw-away database (``bench_<name>``, dropped afterwards) it writes ``--clients`` IntakeQ clients
with ``bench.intakeq_json`` (30 % of them CM patients, with nicknames, typos, accents dropped, transposed
dates of birth and missing emails), loads those canonical patients (and a CM profile with the shared
email or phone where the generator gave one), then times:

1. the first import (every client created) and, separately, the matching of all of them;
2. the same files again (every client unchanged; the matching grades only what changed since the last
   grading: nothing);

and prints for each the objects per second, the peak Python memory (tracemalloc, which also slows the
run: the times are those of a run without it), the query count, and what the matching proposed and
linked. Memory should not grow with ``--clients``: run two sizes and compare.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from pathlib import Path

from bench.harness import bench_database, setup_django


def load_canonical(path: Path) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE bench_canonical (first_name text, last_name text, date_of_birth date, "
            "email text, phone text)"
        )
        with path.open("rb") as stream, cursor.copy("COPY bench_canonical FROM STDIN (FORMAT csv, HEADER)") as copy:
            while chunk := stream.read(1 << 20):
                copy.write(chunk)
        cursor.execute(
            """
            WITH made AS (
                INSERT INTO patients_canonical (id, first_name, last_name, date_of_birth, created_at, updated_at)
                SELECT gen_random_uuid(), first_name, last_name, date_of_birth, now(), now() FROM bench_canonical
                ON CONFLICT DO NOTHING
                RETURNING id, first_name, last_name, date_of_birth
            )
            INSERT INTO patients_cm (id, canonical_patient_id, email, phone, address_state, preferred_language,
                                     status, created_at, updated_at)
            SELECT gen_random_uuid(), m.id, nullif(b.email, ''), nullif(b.phone, ''), 'UT', 'English', 'active',
                   now(), now()
              FROM made m JOIN bench_canonical b USING (first_name, last_name, date_of_birth)
             WHERE b.email <> '' OR b.phone <> ''
            ON CONFLICT DO NOTHING
            """
        )
        cursor.execute("DROP TABLE bench_canonical")
        cursor.execute("SELECT count(*) FROM patients_canonical")
        return cursor.fetchone()[0]


def run(files, *, match: bool, dry_run: bool, trace: bool):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from common.imports.models import ImportKind
    from common.imports.runner import execute

    if trace:
        tracemalloc.start()
    start = time.perf_counter()
    with CaptureQueriesContext(connection) as captured:
        report = execute(kind=ImportKind.INTAKEQ, files=files, options={"match": match}, dry_run=dry_run)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] if trace else 0
    if trace:
        tracemalloc.stop()
    return report, seconds, peak, len(captured)


def matching(*, trace: bool, full: bool = False):
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from cm_program.imports.matching import match_unlinked_clients

    if trace:
        tracemalloc.start()
    start = time.perf_counter()
    with CaptureQueriesContext(connection) as captured, transaction.atomic():
        counts = match_unlinked_clients(full=full)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] if trace else 0
    if trace:
        tracemalloc.stop()
    return counts, seconds, peak, len(captured)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.intakeq_import", description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20_000, help="IntakeQ clients to generate (20,000).")
    parser.add_argument("--overlap", type=float, default=0.3, help="Share that are CM canonical patients (0.3).")
    args = parser.parse_args(argv)
    setup_django()

    from bench.intakeq_json import generate
    from common.imports.files import ImportFiles

    with tempfile.TemporaryDirectory() as folder, bench_database():
        out = Path(folder)
        counts = generate(out, clients=args.clients, overlap=args.overlap, page_size=100, pages_per_file=100, seed=11)
        size = sum(p.stat().st_size for p in out.glob("clients-*.json"))
        canonical = load_canonical(out / "canonical.csv")
        files = ImportFiles.from_paths(sorted(out.glob("clients-*.json")))
        objects = counts["objects"]
        print(
            f"{objects:,} client objects in {counts['files']} files ({size / 2**20:.1f} MiB), "
            f"{canonical:,} canonical patients"
        )

        def line(label: str, rows: int, seconds: float, peak: int | None, queries: int, extra: str = "") -> None:
            memory = "     -    " if peak is None else f"{peak / 2**20:6.1f} MiB"
            print(
                f"  {label:<38} {rows:>9,} rows  {seconds:7.2f} s  {rows / seconds:>9,.0f} rows/s  "
                f"peak {memory}  {queries:5d} queries  {extra}",
                flush=True,
            )

        # Times without tracemalloc (it slows Python); peak memory from a dry run with it.
        _, _, import_peak, _ = run(files, match=False, dry_run=True, trace=True)
        report, seconds, _, queries = run(files, match=False, dry_run=False, trace=False)
        outcome = ", ".join(f"{o} {n:,}" for o, n in sorted(report.as_dict()["counts"]["clients-0001.json"].items()))
        line("import, first run (files 1..n)", objects, seconds, import_peak, queries, f"[file 1: {outcome}]")

        found, seconds, _, queries = matching(trace=False)
        _, _, match_peak, _ = matching(trace=True, full=True)  # grades every pair again: the same work
        bands = ", ".join(f"{b} {found.get(f'{b}_new', 0):,}" for b in ("certain", "probable", "possible"))
        line(
            "matching (all unlinked clients)",
            found["clients"],
            seconds,
            match_peak,
            queries,
            f"[{found['pairs']:,} pairs graded; new: {bands}; linked {found['linked']:,}]",
        )

        report, seconds, _, queries = run(files, match=True, dry_run=False, trace=False)
        totals = {}
        for per_file in report.as_dict()["counts"].values():
            for outcome, n in per_file.items():
                totals[outcome] = totals.get(outcome, 0) + n
        line(
            "second run: import + matching",
            objects,
            seconds,
            None,
            queries,
            "[" + ", ".join(f"{o} {n:,}" for o, n in sorted(totals.items())) + "]",
        )
        _, _, peak, _ = run(files, match=True, dry_run=True, trace=True)
        print(f"  peak Python memory of a whole run (import + matching, traced): {peak / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
