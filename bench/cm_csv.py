"""Generator: the old Supabase CSV exports that ``manage.py migrate_cm_patients`` reads, at any size.

    .venv/bin/python -m bench.cm_csv /tmp/cm_export --patients 10000

Writes ``patients.csv`` (the shared table), ``providers.csv``, ``cm_patients.csv``,
``cm_points_transactions.csv`` and ``contingency_management.csv`` into OUT, streamed row by row (memory
does not grow with the size). What the data holds, per 100 shared-table rows (``--patients``):

* ~72 CM patients with an old enrollment (60 written by CM, no IntakeQ id; 12 also IntakeQ clients),
  20 psychiatry-only IntakeQ clients, ~3 CM rows without an enrollment, 2 enrolled without a date of
  birth (reported, not migrated), 3 second rows of a human already in the file (same name in another
  case, email in upper case: one canonical identity, the two enrollments merged);
* ~10% without email, a few phones that do not parse, names with accents;
* CPSS providers (one per ~25 enrollments, a few listed twice with the email in another case) and
  psychiatrists (not migrated); old enrollments in two programs, some paused, graduated, withdrawn or
  "completed"; 1 in 200 pointing at a patient missing from the file;
* ~``--ledger-per-enrollment`` point transactions per enrollment (escalating negative tests, resets,
  attendance, check-ins, "redemption" entries of an unknown type, bonuses), 1 in 500 pointing at an
  enrollment that is not in the file; 1 enrollment in 20 has an old total or streak that the ledger
  does not support (reported old vs ledger).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import random
import unicodedata
import uuid
from pathlib import Path

FIRST = ["Ann", "José", "Zoë", "Łukasz", "Maria", "John", "Aiyana", "Nguyễn", "Chloé", "Omar", "Priya", "Liam"]
LAST = ["Smith", "García", "Müller", "Nguyen", "O'Brien", "Johnson", "Kowalski", "Søren", "Lee", "Brown", "Martínez"]
STATUSES = ["active"] * 14 + ["paused", "graduated", "withdrawn", "completed"]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _writer(folder: Path, name: str, columns: list[str]):
    stream = open(folder / name, "w", newline="", encoding="utf-8")  # noqa: SIM115 - closed by the caller
    writer = csv.writer(stream)
    writer.writerow(columns)
    return stream, writer


def generate(out: Path, *, patients: int, ledger_per_enrollment: int = 20, seed: int = 1) -> dict[str, int]:
    """Write the five files into ``out``; returns the number of rows of each."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    names = ["patients.csv", "providers.csv", "cm_patients.csv", "cm_points_transactions.csv"]
    counts = dict.fromkeys([*names, "contingency_management.csv"], 0)
    programs = [(_uuid(rng), "Moonlit Contingency Management"), (_uuid(rng), "Moonlit Pilot (closed)")]
    stream, writer = _writer(out, "contingency_management.csv", ["id", "name"])
    for program in programs:
        writer.writerow(program)
        counts["contingency_management.csv"] += 1
    stream.close()

    cpss_count = max(3, patients // 25)
    stream, writer = _writer(out, "providers.csv", ["id", "first_name", "last_name", "email", "phone"])
    cpss_ids = []
    for i in range(cpss_count):
        pid = _uuid(rng)
        cpss_ids.append(pid)
        email = f"cpss{i}@moonlit.example"
        writer.writerow([pid, rng.choice(FIRST), f"Peer{i}", email, f"801-555-{i % 10000:04d}"])
        counts["providers.csv"] += 1
        if i % 40 == 7:  # the same human listed twice, the email in another case
            twin = _uuid(rng)
            cpss_ids.append(twin)
            writer.writerow([twin, "Dup", f"Peer{i}", email.upper(), ""])
            counts["providers.csv"] += 1
    for i in range(max(1, patients // 100)):  # psychiatrists: in the shared table, not CPSS
        writer.writerow([_uuid(rng), "Doc", f"Psychiatrist{i}", f"md{i}@moonlit.example", ""])
        counts["providers.csv"] += 1
    stream.close()

    p_stream, p_writer = _writer(
        out, "patients.csv", ["id", "first_name", "last_name", "date_of_birth", "email", "phone", "intakeq_client_id"]
    )
    e_stream, e_writer = _writer(
        out,
        "cm_patients.csv",
        [
            "id",
            "patient_id",
            "cm_program_id",
            "cpss_provider_id",
            "total_points",
            "current_streak",
            "enrollment_date",
            "status",
            "medicaid_verification",
            "pod_assignment",
            "notes",
        ],
    )
    ledger_columns = ["id", "cm_patient_id", "points", "transaction_type", "description", "created_at"]
    t_stream, t_writer = _writer(out, "cm_points_transactions.csv", ledger_columns)
    start = dt.datetime(2023, 1, 2, 9, 0, tzinfo=dt.UTC)
    recent: list[tuple[str, str, str, str]] = []
    for i in range(patients):
        pid = _uuid(rng)
        roll = rng.random()
        first, last = rng.choice(FIRST), f"{rng.choice(LAST)}{i}"
        dob = (dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(20000))).isoformat()
        ascii_first = unicodedata.normalize("NFKD", first).encode("ascii", "ignore").decode().lower()
        email = "" if rng.random() < 0.1 else f"{ascii_first}.{i}@example.org"
        phone = "555" if rng.random() < 0.01 else f"(801) 555-{rng.randrange(10000):04d}"
        client = ""
        enrolled = True
        if roll < 0.03 and recent:  # a second row of a human already in the file
            first, last, dob, email = recent[rng.randrange(len(recent))]
            first, email = first.upper(), email.upper()
        elif roll < 0.05:
            dob = ""
        elif roll < 0.25:
            client, enrolled = f"IQ{i}", False
        elif roll < 0.37:
            client = f"IQ{i}"
        elif roll < 0.40:
            enrolled = False
        if dob and email and len(recent) < 500:
            recent.append((first, last, dob, email))
        p_writer.writerow([pid, first, last, dob, email, phone, client])
        counts["patients.csv"] += 1
        if not enrolled:
            continue
        eid = _uuid(rng)
        enrolled_at = start + dt.timedelta(days=rng.randrange(600), hours=rng.randrange(8))
        # The ledger, escalating negative tests with resets, and what the old totals said.
        total = streak = 0
        when = enrolled_at
        for _ in range(rng.randrange(ledger_per_enrollment // 2, ledger_per_enrollment * 3 // 2 + 1)):
            when += dt.timedelta(days=rng.randrange(1, 5), minutes=rng.randrange(600))
            kind = rng.random()
            if kind < 0.35:
                kind, points, streak = "negative_test", min(50 + 10 * streak, 100), streak + 1
            elif kind < 0.45:
                kind, points, streak = rng.choice(["positive_test", "missed_test"]), 0, 0
            elif kind < 0.75:
                kind, points = "attendance", 25
            elif kind < 0.9:
                kind, points = "checkin", 10
            elif kind < 0.97 and total >= 20:
                kind, points = "redemption", -20
            else:
                kind, points = "bonus", 25
            total += points
            target = eid if rng.random() >= 0.002 else _uuid(rng)  # 1 in 500 dangling
            t_writer.writerow([_uuid(rng), target, points, kind, "gift card" if points < 0 else "", when.isoformat()])
            counts["cm_points_transactions.csv"] += 1
        if rng.random() < 0.05:
            total, streak = total + 15, streak + 1  # the old cache drifted from its ledger
        patient_ref = pid if rng.random() >= 0.005 else _uuid(rng)  # 1 in 200 dangling
        e_writer.writerow(
            [
                eid,
                patient_ref,
                programs[0][0] if rng.random() < 0.9 else programs[1][0],
                rng.choice(cpss_ids),
                total,
                streak,
                enrolled_at.isoformat(),
                rng.choice(STATUSES),
                '{"verified": true}' if rng.random() < 0.5 else "",
                f"Pod {rng.randrange(1, 9)}",
                "",
            ]
        )
        counts["cm_patients.csv"] += 1
    for stream in (p_stream, e_stream, t_stream):
        stream.close()
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.cm_csv",
        description="Write realistic old Supabase CSV exports for migrate_cm_patients (see the module docstring).",
    )
    parser.add_argument("out", metavar="OUT", type=Path, help="folder to write the five CSV files into")
    parser.add_argument("--patients", type=int, default=10_000, help="rows of the shared patients table")
    parser.add_argument(
        "--ledger-per-enrollment", type=int, default=20, help="average point transactions per enrollment"
    )
    parser.add_argument("--seed", type=int, default=1, help="the same seed and sizes give the same files")
    args = parser.parse_args(argv)
    counts = generate(
        args.out, patients=args.patients, ledger_per_enrollment=args.ledger_per_enrollment, seed=args.seed
    )
    for name, rows in counts.items():
        print(f"{name:<28} {rows:>10,} rows")
    print(f"{'total':<28} {sum(counts.values()):>10,} rows in {args.out}")


if __name__ == "__main__":
    main()
