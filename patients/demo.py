"""Demo patient-navigation data: hospitals, physicians, leads in every status, patients with calls.

Everything goes through the services, so the demo data obeys the same rules as real data (and fills
the audit trail). Deterministic (fixed random seed) and idempotent: when the demo patients exist
already, nothing is added.
"""

from __future__ import annotations

import datetime as dt
import random

from django.utils import timezone

from patients.models import (
    CallDirection,
    CallOutcome,
    Hospital,
    LeadSource,
    LeadStatus,
    MedicalCondition,
    Patient,
    PatientLead,
    RelationshipType,
    Specialization,
)
from patients.services import (
    call_log,
    lead_convert,
    lead_create,
    lead_set_status,
    patient_physician_link,
    patient_register,
    patient_update,
    physician_register,
)
from people.models import User
from people.selectors import navigators

SEED = 2026
DEMO_DOMAIN = "demo-patient.example.org"
PATIENT_COUNT = 120
LEAD_COUNT = 60

FIRST_NAMES = [
    "Liam",
    "Olivia",
    "Noah",
    "Emma",
    "Oliver",
    "Ava",
    "Elijah",
    "Sophia",
    "Lucas",
    "Mia",
    "Mateo",
    "Amelia",
    "Levi",
    "Harper",
    "Ezra",
    "Evelyn",
    "Luca",
    "Aria",
    "Kai",
    "Chloe",
    "Yusuf",
    "Fatima",
    "Hiro",
    "Yuki",
    "Sven",
    "Ingrid",
    "Pieter",
    "Anouk",
    "Jonas",
    "Marta",
    "Diego",
    "Lucia",
    "Kwame",
    "Ama",
    "Ravi",
    "Priya",
]
LAST_NAMES = [
    "Smith",
    "Johnson",
    "Garcia",
    "Martinez",
    "Nguyen",
    "Kim",
    "Patel",
    "Okafor",
    "Jansen",
    "de",
    "Vries",
    "Müller",
    "Schmidt",
    "Rossi",
    "Bianchi",
    "Silva",
    "Santos",
    "Novak",
    "Kowalski",
    "Andersson",
    "Nilsson",
    "OBrien",
    "Murphy",
    "Dubois",
    "Laurent",
    "Haddad",
    "Cohen",
    "Tanaka",
    "Sato",
    "Mensah",
    "Boateng",
]

HOSPITALS = (
    ("Massachusetts General Hospital", "Boston", "United States", "55 Fruit St"),
    ("UCSF Medical Center", "San Francisco", "United States", "505 Parnassus Ave"),
    ("Charité – Universitätsmedizin", "Berlin", "Germany", "Charitéplatz 1"),
    ("Amsterdam UMC", "Amsterdam", "Netherlands", "Meibergdreef 9"),
    ("Karolinska University Hospital", "Stockholm", "Sweden", "Eugeniavägen 3"),
)
SPECIALIZATIONS = ("Neurology", "Neuro-oncology", "Pediatric neurology", "Pulmonology", "Medical oncology")

CONDITION_SPECIALTY = {"DMD": "Pediatric neurology", "GBM": "Neuro-oncology", "IPF": "Pulmonology"}


def _email(prefix: str, i: int) -> str:
    return f"{prefix}{i:03d}@{DEMO_DOMAIN}"


def _name(rng: random.Random) -> tuple[str, str]:
    return rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)


def _phone(i: int) -> str:
    return f"+1801555{1000 + i:04d}"


def _dob(rng: random.Random, condition: str) -> dt.date:
    # DMD is a childhood disease; GBM and IPF mostly strike adults.
    age = rng.randint(4, 17) if condition == "DMD" else rng.randint(35, 82)
    return timezone.localdate() - dt.timedelta(days=age * 365 + rng.randint(0, 364))


def seed(*, stdout) -> None:
    if Patient.all_objects.filter(person__email__endswith=f"@{DEMO_DOMAIN}").exists():
        stdout.write("patients: demo data present, nothing to do.")
        return
    rng = random.Random(SEED)
    actor = User.objects.filter(username="navigator").first()
    team = list(navigators().order_by("email"))
    conditions = {c.abbreviation: c for c in MedicalCondition.objects.filter(abbreviation__in=CONDITION_SPECIALTY)}
    now = timezone.now()
    today = timezone.localdate()

    hospitals = [
        Hospital.all_objects.get_or_create(name=name, city=city, country=country, defaults={"address": address})[0]
        for name, city, country, address in HOSPITALS
    ]
    specializations = {name: Specialization.all_objects.get_or_create(name=name)[0] for name in SPECIALIZATIONS}
    physicians = []
    for i in range(12):
        first, last = _name(rng)
        specialty = SPECIALIZATIONS[i % len(SPECIALIZATIONS)]
        physicians.append(
            physician_register(
                first_name=first,
                last_name=last,
                email=_email("dr", i),
                phone=_phone(900 + i),
                hospital=hospitals[i % len(hospitals)],
                specialization=specializations[specialty],
                job_title="Attending physician" if i % 3 else "Head of department",
                medical_license_number=f"MD-{40000 + i * 37}",
                actor=actor,
            ).physician
        )
    by_specialty: dict[str, list] = {}
    for physician in physicians:
        by_specialty.setdefault(physician.specialization.name, []).append(physician)

    # Leads in every status. Converted leads become patients (through the conversion rule).
    statuses = [LeadStatus.NEW, LeadStatus.CONTACTED, LeadStatus.QUALIFIED, LeadStatus.LOST, LeadStatus.CONVERTED]
    sources = list(LeadSource.values)
    for i in range(LEAD_COUNT):
        first, last = _name(rng)
        abbreviation = rng.choice(list(conditions))
        lead = lead_create(
            first_name=first,
            last_name=last,
            email=_email("lead", i),
            phone=_phone(i),
            date_of_birth=_dob(rng, abbreviation),
            medical_condition=conditions[abbreviation],
            source=sources[i % len(sources)],
            landing_page_url=f"https://example.org/trials/{abbreviation.lower()}" if i % 2 == 0 else "",
            actor=actor,
        ).lead
        status = statuses[i % len(statuses)]
        if status == LeadStatus.CONVERTED:
            lead_convert(lead=lead, navigator=team[i % len(team)], actor=actor)
        elif status == LeadStatus.LOST:
            lead_set_status(lead=lead, status=LeadStatus.CONTACTED, actor=actor)
            lead_set_status(lead=lead, status=LeadStatus.LOST, actor=actor)
        elif status != LeadStatus.NEW:
            lead_set_status(lead=lead, status=status, actor=actor)

    # Patients registered directly (physician referrals, phone calls), with their calls.
    for i in range(PATIENT_COUNT):
        first, last = _name(rng)
        abbreviation = rng.choice(list(conditions))
        first_contact = today - dt.timedelta(days=rng.randint(20, 400))
        patient = patient_register(
            first_name=first,
            last_name=last,
            email=_email("patient", i),
            phone=_phone(200 + i),
            date_of_birth=_dob(rng, abbreviation),
            medical_condition=conditions[abbreviation],
            navigator=team[i % len(team)],
            first_contact_date=first_contact,
            initial_consult_date=first_contact + dt.timedelta(days=rng.randint(1, 14)),
            actor=actor,
        ).patient
        specialists = by_specialty.get(CONDITION_SPECIALTY[abbreviation]) or physicians
        patient_physician_link(
            patient=patient,
            physician=rng.choice(specialists),
            relationship_type=RelationshipType.TREATING,
            is_primary=True,
            start_date=first_contact,
            actor=actor,
        )
        _calls(rng, patient, now=now, actor=actor)
        if i % 17 == 16:
            patient_update(patient=patient, data={"status": rng.choice(["inactive", "closed"])}, actor=actor)

    # Returning people: a few lost leads come back through a physician, typing their email differently.
    for i in (3, 8, 13):
        lead = PatientLead.objects.select_related("person").get(person__email=_email("lead", i))
        patient_register(
            first_name=lead.person.first_name,
            last_name=lead.person.last_name,
            email=f"  {lead.person.email.upper()} ",
            medical_condition=lead.medical_condition,
            navigator=team[i % len(team)],
            actor=actor,
        )

    stdout.write(
        f"patients: {len(physicians)} physicians, {LEAD_COUNT} leads, "
        f"{Patient.objects.filter(person__email__endswith=f'@{DEMO_DOMAIN}').count()} patients."
    )


def _calls(rng: random.Random, patient: Patient, *, now: dt.datetime, actor) -> None:
    """0-6 calls over the last two months; the latest sets a follow-up that is sometimes overdue."""
    count = rng.randint(0, 6)
    when = sorted(now - dt.timedelta(days=rng.uniform(0.2, 60)) for _ in range(count))
    for n, call_date in enumerate(when):
        outcome = rng.choice(
            [CallOutcome.REACHED] * 4 + [CallOutcome.VOICEMAIL, CallOutcome.NO_ANSWER, CallOutcome.CALLBACK_REQUESTED]
        )
        last = n == count - 1
        reminder = None
        if last and rng.random() < 0.7:
            reminder = timezone.localdate(call_date) + dt.timedelta(days=rng.randint(2, 21))
        call_log(
            patient=patient,
            navigator=patient.navigator,
            direction=rng.choice([CallDirection.OUTBOUND, CallDirection.OUTBOUND, CallDirection.INBOUND]),
            outcome=outcome,
            call_date=call_date,
            call_duration_minutes=rng.randint(3, 45) if outcome == CallOutcome.REACHED else 0,
            reminder_date=reminder,
            notes=rng.choice(
                [
                    "Discussed open trials for the condition.",
                    "Sent the eligibility checklist by email.",
                    "Patient asked about travel support.",
                    "Left a message; will try again.",
                    "Physician records received.",
                ]
            ),
            actor=actor,
        )
