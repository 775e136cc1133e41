"""Benchmark: possible duplicates (docs/DUPLICATES.md) on a database made by ``python -m bench.generate``.

    createdb -h 127.0.0.1 -U postgres -T crm_bench crm_dup_find_bench      # a copy: this script writes
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm_dup_find_bench .venv/bin/python manage.py migrate
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm_dup_find_bench .venv/bin/python -m bench.duplicates

Prints, for persons and canonical patients: one record's candidates (``common.duplicates.candidates``, what the
API, the admin panel and the selectors run) for ``--samples`` records spread over the table (median, 95th
percentile, worst, and the candidates found); then ``find_duplicates --full`` (time, pairs), and an incremental
run after ``--touch`` records were edited. ``--plant`` first adds that many near-duplicates of existing persons
(a letter of the last name changed, another email, the same date of birth), as imports bring them, so that the
queue has pairs to find (the generator makes none on purpose). It writes: run it on a copy.
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench.harness import setup_django


def _plant(count: int) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO person (id, created_at, updated_at, is_active, deletion_reason, first_name, last_name,
                                email, phone, date_of_birth)
            SELECT gen_random_uuid(), now(), now(), true, '', p.first_name,
                   overlay(p.last_name placing 'x' from greatest(2, length(p.last_name) - 1) for 1),
                   'dup.' || p.email, '', p.date_of_birth
              FROM person p
             WHERE p.is_active AND p.email IS NOT NULL AND p.date_of_birth IS NOT NULL AND length(p.last_name) >= 5
               AND p.email NOT LIKE 'dup.%%'
             ORDER BY p.id
             LIMIT %s
            ON CONFLICT DO NOTHING
            """,
            [count],
        )
        return cursor.rowcount


def _sample_ids(table: str, samples: int) -> list:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")
        total = cursor.fetchone()[0]
        step = max(1, total // samples)
        cursor.execute(
            f"SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM {table}) t "
            f"WHERE (n - 1) %% %s = 0 LIMIT %s",
            [step, samples],
        )
        return [row[0] for row in cursor.fetchall()]


def _one_record(label: str, source, table: str, samples: int) -> None:
    from common.duplicates import candidates

    ids = _sample_ids(table, samples)
    if not ids:
        print(f"{label:<44} no records")
        return
    candidates(source, ids[0])  # warm the connection and the plan
    times, found = [], []
    for record_id in ids:
        start = time.perf_counter()
        result = candidates(source, record_id)
        times.append((time.perf_counter() - start) * 1000)
        found.append(len(result))
    times.sort()
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    print(
        f"{label:<44} {len(ids):>4} records  median {statistics.median(times):7.1f} ms  p95 {p95:7.1f} ms  "
        f"worst {times[-1]:7.1f} ms  candidates: median {statistics.median(found):.0f}, max {max(found)}"
    )


def _touch(table: str, count: int) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET updated_at = now() WHERE id IN (SELECT id FROM {table} ORDER BY id DESC LIMIT %s)",
            [count],
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=200, help="records whose candidates are timed")
    parser.add_argument("--plant", type=int, default=2000, help="near-duplicate persons to add first (0: none)")
    parser.add_argument("--touch", type=int, default=1000, help="records edited before the incremental run")
    parser.add_argument("--skip-full", action="store_true", help="time one record's candidates only")
    args = parser.parse_args()
    setup_django()

    from django.db import connection

    from cm_program.duplicates import CANONICAL_PATIENTS
    from common.duplicates import scan
    from people.duplicates import PERSONS

    with connection.cursor() as cursor:
        cursor.execute("SELECT (SELECT count(*) FROM person), (SELECT count(*) FROM patients_canonical)")
        persons, canonical = cursor.fetchone()
    print(f"database {connection.settings_dict['NAME']}: {persons:,} persons, {canonical:,} canonical patients")
    if args.plant:
        start = time.perf_counter()
        print(f"planted {_plant(args.plant):,} near-duplicate persons in {time.perf_counter() - start:.1f} s")
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE person")

    _one_record("one person's candidates", PERSONS, "person", args.samples)
    _one_record("one canonical patient's candidates", CANONICAL_PATIENTS, "patients_canonical", args.samples)
    if args.skip_full:
        return
    for label, source, table in (
        ("persons", PERSONS, "person"),
        ("canonical", CANONICAL_PATIENTS, "patients_canonical"),
    ):
        report = scan(source, full=True, progress=True)
        print(f"find_duplicates --full {label}: {report.seconds:.1f} s; " + " / ".join(report.lines()[:2]))
        _touch(table, args.touch)
        report = scan(source, progress=True)
        print(
            f"find_duplicates (incremental, {args.touch} edited) {label}: {report.seconds:.1f} s; {report.lines()[0]}"
        )


if __name__ == "__main__":
    main()
