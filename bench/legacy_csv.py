"""Write realistic legacy CRM CSV exports of any size, for ``import_legacy_crm`` and its benchmark.

    .venv/bin/python -m bench.legacy_csv /tmp/legacy --contacts 100000 --patients 60000

Writes ``medical_condition.csv``, ``contact.csv``, ``patient.csv`` and ``eap_dossier.csv`` in the
contract's columns (in a shuffled order, with an extra column the importer must ignore), with what
real exports hold: emails repeated in mixed case and with spaces (the same human twice), contacts and
patients without an email, accented names, phones in many formats and some that do not parse,
option-set texts given by name or abbreviation in any case (and a few the lookup does not know),
patients whose lookup condition disagrees with their contact's, dangling ``contact_record`` and EAP
``patient`` references, a few unparseable dates, NCT ids well- and ill-formed. Deterministic for a
given ``--seed``. Needs no database: it only writes files.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import random
import unicodedata
from pathlib import Path

CONDITIONS = [
    ("Glioblastoma", "GBM"),
    ("Amyotrophic Lateral Sclerosis", "ALS"),
    ("Duchenne Muscular Dystrophy", "DMD"),
    ("Idiopathic Pulmonary Fibrosis", "IPF"),
    ("Cystic Fibrosis", "CF"),
    ("Huntington's Disease", "HD"),
    ("Spinal Muscular Atrophy", "SMA"),
    ("Pancreatic Cancer", "PDAC"),
    ("Acute Myeloid Leukemia", "AML"),
    ("Multiple Myeloma", "MM"),
    ("Diffuse Intrinsic Pontine Glioma", "DIPG"),
    ("Mesothelioma", "MESO"),
    ("Sickle Cell Disease", "SCD"),
    ("Fabry Disease", "FD"),
    ("Pompe Disease", "PD"),
    ("Batten Disease", "CLN"),
    ("Rett Syndrome", "RTT"),
    ("Ewing Sarcoma", "ES"),
    ("Neuroblastoma", "NB"),
    ("Friedreich's Ataxia", "FA"),
]
FIRST = [
    "Ann",
    "José",
    "Zoë",
    "Łukasz",
    "Mária",
    "Chloé",
    "Søren",
    "Ahmed",
    "Mei",
    "Olga",
    "Björn",
    "Ngozi",
    "Priya",
    "Jürgen",
    "Ana",
    "Tom",
    "Élodie",
    "Kofi",
]
LAST = [
    *[
        "Müller",
        "García",
        "O'Brien",
        "Nguyen",
        "Smith",
        "Kowalski",
        "Jensen",
        "Dubois",
        "Rossi",
        "Okafor",
        "Núñez",
        "Schäfer",
        "Peña",
    ],
    "Van Dijk",
]
HOSPITALS = ["St. Mary Hospital", "Mayo Clinic", "Johns Hopkins Hospital", "Cleveland Clinic", "Mass General",
             "UCSF Medical Center", "Charité", "Karolinska", "Hôpital Necker", "Erasmus MC"]  # fmt: skip
OTHER_TYPES = ["caregiver", "pharmacist", "nurse", "patient organisation"]
CONTACT_COLUMNS = ["contactid", "firstname", "lastname", "email", "phone", "medical_condition", "contact_type",
                   "booking_date", "reminder_date", "no_show", "hospital", "job_title", "medical_license_number",
                   "legacy_owner"]  # fmt: skip
PATIENT_COLUMNS = ["patientid", "firstname", "lastname", "email", "contact_record", "medical_condition",
                   "first_contact_date", "initial_consult_date", "trial_id", "ct_referral_date", "eligible",
                   "ineligible_reason", "ct_outcome"]  # fmt: skip


def _phone(rng: random.Random) -> str:
    area, exchange, line = (
        rng.choice([201, 212, 312, 415, 617, 804, 801, 919]),
        rng.randint(200, 999),
        rng.randint(0, 9999),
    )
    roll = rng.random()
    if roll < 0.03:
        return rng.choice(["12", "n/a", "call reception", "555"])
    if roll < 0.08:
        return f"+31 20 {rng.randint(100, 999)} {rng.randint(1000, 9999)}"
    return rng.choice(
        [f"({area}) {exchange}-{line:04d}", f"{area}-{exchange}-{line:04d}", f"+1 {area} {exchange} {line:04d}",
         f"{area}{exchange}{line:04d}", f"1-{area}-{exchange}-{line:04d}"]
    )  # fmt: skip


def _address(first: str, last: str, tag: str) -> str:
    text = unicodedata.normalize("NFKD", f"{first}.{last}.{tag}").encode("ascii", "ignore").decode()
    return f"{text}@example.org".lower().replace(" ", "").replace("'", "")


def _mixed_case(rng: random.Random, email: str) -> str:
    return rng.choice([email.upper(), email.title(), f" {email} ", email.capitalize()])


def _date(rng: random.Random, start: dt.date, days: int) -> dt.date:
    return start + dt.timedelta(days=rng.randint(0, days))


def generate(out: Path, *, contacts: int, patients: int, seed: int = 11) -> dict[str, int]:
    """Write the four files into ``out``; returns their row counts."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "medical_condition.csv", "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["abbreviation", "medical conditon id", "name"])
        for index, (name, abbreviation) in enumerate(CONDITIONS, start=1):
            writer.writerow([abbreviation, f"mc-{index}", name])
    # contact i -> (email, condition index, booking) for the patients that point at it; kept compact.
    leads: list[int] = []
    emails: list[str | None] = []
    names: list[tuple[str, str]] = []
    conditions: list[int] = []
    bookings: list[dt.date | None] = []
    with open(out / "contact.csv", "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(CONTACT_COLUMNS)
        for i in range(contacts):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            roll = rng.random()
            kind = "patient - lead" if roll < 0.75 else "physician" if roll < 0.9 else rng.choice(OTHER_TYPES)
            if rng.random() < 0.08:
                email = None
            elif i > 10 and rng.random() < 0.05:  # the same human again, typed differently
                email = emails[rng.randrange(i)]
                email = _mixed_case(rng, email) if email else None
            else:
                email = _address(first, last, str(i))
            condition = rng.randrange(len(CONDITIONS))
            name, abbreviation = CONDITIONS[condition]
            text = rng.choice([name, name.lower(), name.upper(), abbreviation, abbreviation.lower()])
            if rng.random() < 0.02:
                text = rng.choice(["Moonpox", "Unknown", "Other rare disease"])
            booking = _date(rng, dt.date(2019, 1, 1), 1800) if kind == "patient - lead" and rng.random() < 0.7 else None
            booking_text = f"{booking} {rng.randint(8, 17):02d}:{rng.choice(['00', '30'])}" if booking else ""
            if booking and rng.random() < 0.005:
                booking_text = booking.strftime("%d/%m/%Y")  # unparseable: the row is reported, not imported
            reminder = booking + dt.timedelta(days=rng.randint(1, 21)) if booking and rng.random() < 0.6 else ""
            physician = kind == "physician"
            writer.writerow([
                f"C{i:07d}", first, last, email or "", _phone(rng) if rng.random() < 0.8 else "",
                text if not physician else "", kind, booking_text, reminder,
                rng.choice(["yes", "no", "", "no"]) if booking else "",
                rng.choice(HOSPITALS) if physician else "",
                rng.choice(["Neurologist", "Oncologist", ""]) if physician else "",
                f"L-{rng.randint(10000, 99999)}" if physician else "", rng.choice(["alice", "bob"]),
            ])  # fmt: skip
            emails.append(email.strip().lower() if email else None)
            names.append((first, last))
            conditions.append(condition)
            bookings.append(booking)
            if kind == "patient - lead" and booking_text != (booking.strftime("%d/%m/%Y") if booking else None):
                leads.append(i)
    rng.shuffle(leads)
    eap_rows = []
    with open(out / "patient.csv", "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(PATIENT_COLUMNS)
        for j in range(patients):
            roll = rng.random()
            contact = leads[j] if roll < 0.85 and j < len(leads) else None
            first, last = rng.choice(FIRST), rng.choice(LAST)
            if contact is not None:
                record = f"C{contact:07d}"
                first, last = names[contact]
                if rng.random() < 0.02:
                    first = first.upper()  # the same name, typed in capitals
                elif rng.random() < 0.01:
                    first = rng.choice(FIRST)  # a different name: reported, the stored one kept
                email = emails[contact]
                email = _mixed_case(rng, email) if email and rng.random() < 0.3 else email
                condition = conditions[contact]
                start = bookings[contact] or dt.date(2019, 6, 1)
            else:
                record = f"C9{j:07d}" if roll < 0.9 else ""  # dangling, or none
                email = _address(first, last, f"p{j}")
                email = None if rng.random() < 0.1 else email
                condition = rng.randrange(len(CONDITIONS))
                start = dt.date(2019, 6, 1)
            lookup = f"mc-{condition + 1}"
            if rng.random() < 0.05:
                lookup = f"mc-{(condition + 3) % len(CONDITIONS) + 1}"  # disagrees with the contact's option set
            elif rng.random() < 0.01:
                lookup = "mc-999"
            first_contact = start + dt.timedelta(days=rng.randint(0, 30))
            consult = first_contact + dt.timedelta(days=rng.randint(0, 60)) if rng.random() < 0.7 else ""
            has_trial = rng.random() < 0.4
            trial = ""
            if has_trial and rng.random() < 0.8:
                trial = f"NCT{rng.randint(0, 99999999):08d}" if rng.random() < 0.95 else "NCT-unknown"
            referral = first_contact + dt.timedelta(days=rng.randint(1, 90)) if has_trial and rng.random() < 0.7 else ""
            eligible = rng.choice(["true", "false", "", ""]) if has_trial else ""
            writer.writerow([
                f"P{j:07d}", first, last, email or "", record, lookup, first_contact, consult, trial, referral,
                eligible, rng.choice(["", "", "age out of range"]) if eligible == "false" else "",
                rng.choice(["", "screening ongoing", "enrolled at site 3", "declined"]) if has_trial else "",
            ])  # fmt: skip
            if rng.random() < 0.1:
                eap_rows.append((j, first_contact))
    with open(out / "eap_dossier.csv", "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["eap_number", "patient", "product", "eap_enrollment_date"])
        for n, (j, first_contact) in enumerate(eap_rows):
            patient = f"P{j:07d}" if rng.random() > 0.01 else f"P9{j:07d}"
            enrolled = first_contact + dt.timedelta(days=rng.randint(30, 200)) if rng.random() < 0.5 else ""
            writer.writerow([f"EAP-{n:06d}", patient, rng.choice(["Drug A", "Drug B", "Compound X-12"]), enrolled])
    return {
        "medical_condition.csv": len(CONDITIONS),
        "contact.csv": contacts,
        "patient.csv": patients,
        "eap_dossier.csv": len(eap_rows),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.legacy_csv",
        description="Write legacy CRM CSV exports (medical_condition, contact, patient, eap_dossier) of any "
        "size into OUT_DIR, with duplicates in mixed case, missing emails, dangling references, conflicting "
        "conditions, accents and bad values, for import_legacy_crm.",
    )
    parser.add_argument(
        "out", metavar="OUT_DIR", type=Path, help="folder to write the CSV files into (made if missing)"
    )
    parser.add_argument("--contacts", type=int, default=10_000, help="rows of contact.csv (default 10,000)")
    parser.add_argument("--patients", type=int, default=6_000, help="rows of patient.csv (default 6,000)")
    parser.add_argument("--seed", type=int, default=11, help="random seed (same seed, same files)")
    args = parser.parse_args(argv)
    counts = generate(args.out, contacts=args.contacts, patients=args.patients, seed=args.seed)
    print(", ".join(f"{name} {rows:,} rows" for name, rows in counts.items()) + f" -> {args.out}")


if __name__ == "__main__":
    main()
