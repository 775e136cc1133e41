"""CM demo data for ``seed_demo``: a program with its schedule, CPSS staff (one close to their caseload
limit, one the demo login ``cpss``), IntakeQ clients, CM patients (some coming from IntakeQ, so the
dual-enrollment list is not empty) and enrollments whose ledgers were written by ``cm_event_record``.

Idempotent: rows are found by natural keys (program name, provider email, IntakeQ client id, patient
name + date of birth) and only what is missing is created; ledgers are written for new enrollments only.
The randomness is seeded, so every run builds the same data.
"""

from __future__ import annotations

import datetime as dt
import random

from django.utils import timezone

from cm_program import services
from cm_program.models import CMEnrollment, CMProgram, CMProvider, IntakeQPatient, PointsEvent
from people.models import User

PROGRAM = "Moonlit Contingency Management"

PROVIDERS = (
    # email, first, last, credentials, max_caseload, demo login
    ("casey.peer@cm.demo.test", "Casey", "Peer", "CPSS-II", 30, "cpss"),
    ("riley.jensen@cm.demo.test", "Riley", "Jensen", "CPSS-I", 6, None),  # close to the limit
    ("jordan.nakamura@cm.demo.test", "Jordan", "Nakamura", "CPSS-I", 30, None),
)

INTAKEQ = (
    # client id, first, last, date of birth, email, phone, enrolled in CM?
    ("IQ-1001", "John", "Smith", "1985-06-15", "john.smith@mail.demo.test", "(801) 555-0101", True),
    ("IQ-1002", "Maria", "Gonzalez", "1979-11-02", "maria.g@mail.demo.test", "(801) 555-0102", True),
    ("IQ-1003", "Ethan", "Brooks", "1990-01-28", "ethan.brooks@mail.demo.test", "(385) 555-0103", True),
    ("IQ-1004", "Aisha", "Khan", "1988-04-09", "aisha.khan@mail.demo.test", "(801) 555-0104", False),
    ("IQ-1005", "Tom", "Whitaker", "1969-08-30", None, "(435) 555-0105", False),
)

NEW_PATIENTS = (
    # first, last, date of birth, source, smartphone
    ("Jessica", "Martinez", "1992-03-22", "acute_care", "yes"),
    ("José", "Hernández", "1987-09-14", "referral", "limited"),
    ("Amanda", "Lee", "1995-12-01", "outpatient", "yes"),
    ("Marcus", "Reed", "1983-05-19", "acute_care", "no"),
    ("Hannah", "Olsen", "1998-07-07", "referral", "yes"),
    ("Derek", "Young", "1976-02-11", "outpatient", "yes"),
    ("Priya", "Patel", "1991-10-23", "acute_care", "limited"),
    ("Kyle", "Anderson", "1989-03-03", "referral", "yes"),
    ("Sofia", "Rossi", "1994-06-30", "outpatient", "yes"),
    ("Nathan", "Price", "1980-12-12", "acute_care", "no"),
)

# Patient index -> provider index. Riley (index 1) ends with 5 active of 6.
ASSIGNMENT = (0, 1, 2, 0, 1, 1, 2, 0, 1, 1, 0, 2, 0)


def seed(*, stdout) -> None:
    rng = random.Random(4)
    now = timezone.now()
    program, _ = CMProgram.objects.get_or_create(
        name=PROGRAM,
        defaults={"description": "Points for verified recovery behaviour, escalating with reset for negative tests."},
    )
    providers = [_provider(email, first, last, cred, cap, login) for email, first, last, cred, cap, login in PROVIDERS]

    created = 0
    index = 0
    for client_id, first, last, dob, email, phone, enrolled in INTAKEQ:
        record, _ = IntakeQPatient.objects.get_or_create(
            intakeq_client_id=client_id,
            defaults={"first_name": first, "last_name": last, "date_of_birth": dob, "email": email, "phone": phone},
        )
        if enrolled:
            cpss = providers[ASSIGNMENT[index]]
            index += 1
            if _enrolled(first, last, dob, program):
                continue
            result = services.cm_patient_enroll_from_intakeq(
                intakeq_patient=record,
                program=program,
                cpss_provider=cpss,
                enrollment_date=now - dt.timedelta(days=rng.randint(20, 60)),
                actor=cpss.user,
                smartphone_access="yes",
            )
            _ledger(result.enrollment, rng=rng, now=now)
            created += 1

    for n, (first, last, dob, source, phone_access) in enumerate(NEW_PATIENTS):
        cpss = providers[ASSIGNMENT[index]]
        index += 1
        if _enrolled(first, last, dob, program):
            continue
        result = services.cm_patient_enroll_new(
            first_name=first,
            last_name=last,
            date_of_birth=dob,
            program=program,
            cpss_provider=cpss,
            enrollment_date=now - dt.timedelta(days=rng.randint(20, 60)),
            actor=cpss.user,
            phone=f"(801) 555-{200 + n:04d}",
            email=f"{first.lower()}.{last.lower()}@cm.demo.test".replace("é", "e").replace("á", "a"),
            insurance_primary="Utah Medicaid",
            enrollment_source=source,
            smartphone_access=phone_access,
        )
        _ledger(result.enrollment, rng=rng, now=now, quiet=(n % 4 == 3))
        created += 1
        if n == 9:
            # Someone who took a break: paused enrollments do not count against the caseload.
            services.cm_enrollment_set_status(
                enrollment=result.enrollment, status="paused", actor=cpss.user, reason="Inpatient stay"
            )
    stdout.write(f"CM: program {program.name!r}, {len(providers)} CPSS, {created} new enrollments.")


def _provider(email, first, last, credentials, max_caseload, login) -> CMProvider:
    user = User.objects.filter(username=login).first() if login else None
    provider = CMProvider.objects.filter(email=email).first()
    if provider is None:
        provider = services.cm_provider_create(
            first_name=first,
            last_name=last,
            email=email,
            credentials=credentials,
            max_caseload=max_caseload,
            hire_date=dt.date(2023, 1, 9),
            user=user if user is not None and not CMProvider.objects.filter(user=user).exists() else None,
        )
    return provider


def _enrolled(first: str, last: str, dob: str, program: CMProgram) -> bool:
    canonical = services._canonical_lookup(
        first_name=first, last_name=last, date_of_birth=dt.date.fromisoformat(dob)
    ).first()
    return (
        canonical is not None and CMEnrollment.objects.filter(canonical_patient=canonical, cm_program=program).exists()
    )


def _ledger(enrollment: CMEnrollment, *, rng: random.Random, now: dt.datetime, quiet: bool = False) -> None:
    """A few weeks of twice-weekly tests, group sessions and check-ins, in the order they happened."""
    actor = enrollment.cpss_provider.user if enrollment.cpss_provider else None
    start = enrollment.enrollment_date
    end = now - dt.timedelta(days=9) if quiet else now - dt.timedelta(hours=2)
    day = start + dt.timedelta(days=1)
    events = []
    while day < end:
        weekday = timezone.localtime(day).weekday()
        if weekday in (0, 3):
            events.append((day, rng.choices(["test_negative", "test_positive", "test_missed"], [8, 1, 1])[0]))
        if weekday == 2 and rng.random() < 0.8:
            events.append((day, PointsEvent.GROUP_ATTENDANCE))
        if weekday == 4:
            events.append((day, PointsEvent.WEEKLY_CHECKIN))
        if weekday == 5 and rng.random() < 0.3:
            events.append((day, PointsEvent.PEER_SUPPORT))
        day += dt.timedelta(days=1)
    entries = [
        services.cm_event_record(enrollment=enrollment, event_type=kind, occurred_at=when, actor=actor)
        for when, kind in events
    ]
    if entries and rng.random() < 0.3:
        services.cm_points_reverse(points_transaction=entries[-1], reason="Recorded twice by mistake", actor=actor)
    if rng.random() < 0.2:
        services.cm_event_record(
            enrollment=enrollment,
            event_type=PointsEvent.MANUAL_ADJUSTMENT,
            points=15,
            reason="Helped set up the peer group room",
            actor=actor,
        )
