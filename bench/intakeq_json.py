"""Generator: IntakeQ's ``GET /clients?includeProfile=true`` JSON for ``import_intakeq``, of any size.

    .venv/bin/python -m bench.intakeq_json OUT --clients 100000

writes into the folder OUT:

* ``clients-0001.json``, ...: pages of ``--page-size`` client objects (``[...]`` each), ``--pages-per-file``
  pages concatenated per file, as a script that saves every page of the API one after the other would;
* ``canonical.csv`` (``first_name,last_name,date_of_birth,email,phone``): the canonical patients of CM that
  ``--overlap`` of the clients are (the benchmark ``bench.intakeq_import`` loads them before the import).

What makes it realistic for the matching: a client who is a CM patient differs from their canonical row
the way EMR records do — the same name in other case or without accents, a nickname ("Kate" for
"Katherine") or a typo (two letters swapped), day and month of birth transposed, no email — and about a
third of the CM patients have the same email or phone in both systems. Clients come with IntakeQ's
fields (insurance, address, ``DateCreated``, ``LastActivityDate``), ``DateOfBirth`` in Unix milliseconds
(one in ten as an ISO date), 5 % archived; 1 % appear again on a later page (an overlapping export,
name in other case) and 0.1 % are broken (no last name, a date that is not one), to be reported.
Deterministic for a given ``--seed``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import random
import sys
from pathlib import Path

from bench.generate.names import Names, fold, phone, street

# Nicknames that trigram similarity still relates to the full name (prefixes), and some it does not.
NICKNAMES = {
    "Katherine": "Kate",
    "Elizabeth": "Liz",
    "Jennifer": "Jen",
    "Matthew": "Matt",
    "Michael": "Mike",
    "Robert": "Rob",
    "William": "Will",
    "Daniel": "Dan",
    "Anthony": "Tony",
    "Patricia": "Pat",
    "Jessica": "Jess",
    "Christopher": "Chris",
    "Alexander": "Alex",
    "Nicolás": "Nico",
    "Sebastián": "Seba",
}
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
INSURERS = ("Medicaid", "SelectHealth", "Molina", "Aetna", "UnitedHealthcare", "")


def _typo(name: str, rng: random.Random) -> str:
    if len(name) < 4:
        return name + name[-1]
    i = rng.randrange(1, len(name) - 2)
    return name[:i] + name[i + 1] + name[i] + name[i + 2 :]


def _birth(rng: random.Random) -> dt.date:
    return dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 62))


def _millis(date: dt.date) -> int:
    return int((dt.datetime(date.year, date.month, date.day, tzinfo=dt.UTC) - EPOCH).total_seconds() * 1000)


def _client(client_id: int, first: str, last: str, born: dt.date | None, email: str | None, tel: str | None, rng):
    created = dt.datetime(2018, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=rng.randrange(0, 60 * 24 * 365 * 7))
    return {
        "ClientId": client_id,
        "FirstName": first,
        "LastName": last,
        "MiddleName": "",
        "Email": email or "",
        "Phone": tel or "",
        "MobilePhone": tel or "",
        "DateOfBirth": None if born is None else (born.isoformat() if rng.random() < 0.1 else _millis(born)),
        "Gender": rng.choice(("Male", "Female", "Other", "")),
        "Archived": rng.random() < 0.05,
        "DateCreated": int(created.timestamp() * 1000),
        "LastActivityDate": int((created + dt.timedelta(days=rng.randrange(0, 900))).timestamp() * 1000),
        "PrimaryInsuranceCompany": rng.choice(INSURERS),
        "PrimaryInsurancePolicyNumber": f"P{rng.randrange(10**8):08d}",
        "StreetAddress": street(rng),
        "City": "Salt Lake City",
        "StateShort": "UT",
        "PostalCode": f"84{rng.randrange(1000):03d}",
        "Country": "USA",
        "ExternalClientId": "",
        "Tags": [],
    }


def generate(out: Path, *, clients: int, overlap: float, page_size: int, pages_per_file: int, seed: int) -> dict:
    """Write the files; returns counts of what was written."""
    rng = random.Random(seed)
    names = Names(tail=4_000)
    out.mkdir(parents=True, exist_ok=True)
    counts = {"clients": 0, "objects": 0, "canonical": 0, "repeated": 0, "broken": 0, "files": 0}
    repeats: list[dict] = []
    used_identities: set[tuple[str, str, dt.date]] = set()
    with open(out / "canonical.csv", "w", newline="", encoding="utf-8") as canonical_file:
        canonical = csv.writer(canonical_file)
        canonical.writerow(["first_name", "last_name", "date_of_birth", "email", "phone"])
        page: list[dict] = []
        file_pages: list[str] = []

        def flush_page() -> None:
            nonlocal page
            if page:
                file_pages.append(json.dumps(page, ensure_ascii=False))
                page = []
            if len(file_pages) >= pages_per_file:
                flush_file()

        def flush_file() -> None:
            nonlocal file_pages
            if file_pages:
                counts["files"] += 1
                (out / f"clients-{counts['files']:04d}.json").write_text("\n".join(file_pages), encoding="utf-8")
                file_pages = []

        for number in range(1, clients + 1):
            first, last = names.pick(rng)
            born = _birth(rng)
            email = f"{fold(first)}.{fold(last)}{number}@example.org".lower() if rng.random() < 0.8 else None
            tel = phone(rng) if rng.random() < 0.85 else None
            c_first, c_last, c_born, c_email, c_tel = first, last, born, email, tel
            if rng.random() < overlap and (first, last, born) not in used_identities:
                used_identities.add((first, last, born))
                # The same human in CM: the client's record differs the way EMR records do.
                kind = rng.random()
                if kind < 0.15:
                    c_first = NICKNAMES.get(first, first[:3])
                elif kind < 0.30:
                    c_last = _typo(last, rng)
                elif kind < 0.40:
                    c_first, c_last = fold(first).upper(), fold(last).lower()
                elif kind < 0.50 and born.day <= 12 and born.day != born.month:
                    c_born = dt.date(born.year, born.day, born.month)
                elif kind < 0.55:
                    c_born = None
                shares = rng.random()
                cm_email = email if shares < 0.35 else None
                cm_phone = tel if 0.2 < shares < 0.5 else None
                if rng.random() < 0.15:
                    c_email = None  # missing in the EMR
                canonical.writerow([first, last, born.isoformat(), cm_email or "", cm_phone or ""])
                counts["canonical"] += 1
            obj = _client(number, c_first, c_last, c_born, c_email, c_tel, rng)
            if rng.random() < 0.001:
                if rng.random() < 0.5:
                    obj["LastName"] = ""
                else:
                    obj["DateOfBirth"] = "31/02/1980"
                counts["broken"] += 1
            page.append(obj)
            counts["clients"] += 1
            if rng.random() < 0.01:
                again = dict(obj)
                again["FirstName"] = str(again["FirstName"]).upper()
                repeats.append(again)
            if repeats and rng.random() < 0.02:
                page.append(repeats.pop(0))
                counts["repeated"] += 1
            if len(page) >= page_size:
                flush_page()
        page.extend(repeats)
        counts["repeated"] += len(repeats)
        flush_page()
        flush_file()
    counts["objects"] = counts["clients"] + counts["repeated"]
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.intakeq_json",
        description="Write IntakeQ client JSON (GET /clients pages) and the matching canonical patients (CSV).",
    )
    parser.add_argument("out", type=Path, help="Folder to write clients-NNNN.json and canonical.csv into.")
    parser.add_argument("--clients", type=int, default=10_000, help="Distinct IntakeQ clients (default 10,000).")
    parser.add_argument(
        "--overlap", type=float, default=0.3, help="Share of clients who are also CM canonical patients (0.3)."
    )
    parser.add_argument("--page-size", type=int, default=100, help="Clients per API page (100, as IntakeQ).")
    parser.add_argument("--pages-per-file", type=int, default=100, help="Pages concatenated in one file (100).")
    parser.add_argument("--seed", type=int, default=11, help="Random seed (same seed, same files).")
    args = parser.parse_args(argv)
    if args.clients < 1 or not 0 <= args.overlap <= 1 or args.page_size < 1 or args.pages_per_file < 1:
        parser.error("--clients, --page-size and --pages-per-file must be positive; --overlap within 0..1")
    counts = generate(
        args.out,
        clients=args.clients,
        overlap=args.overlap,
        page_size=args.page_size,
        pages_per_file=args.pages_per_file,
        seed=args.seed,
    )
    print(
        f"{args.out}: {counts['objects']:,} client objects ({counts['clients']:,} clients, {counts['repeated']:,} "
        f"repeated, {counts['broken']:,} broken) in {counts['files']:,} files; "
        f"{counts['canonical']:,} canonical patients in canonical.csv",
        file=sys.stdout,
    )


if __name__ == "__main__":
    main()
