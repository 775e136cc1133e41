"""Benchmark: the CM screens on a large program.

    .venv/bin/python -m bench.cm_caseload --providers 100 --patients-per-provider 25 --events 20

Builds N CPSS providers, each with a caseload of enrollments and a ledger of events (bulk inserts),
then times the reads the CM desk and the supervisors' page make: the CPSS caseload summary, the
complete patient view, the dual-enrollment list, the patient pool for billing (a JSON page and every row,
as the CSV reads them), the CM program report (last 12 weeks), and recording one event through the service.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random

from bench.harness import bench_database, measure, setup_django


def build(providers: int, per_provider: int, events: int) -> None:
    from django.utils import timezone

    from cm_program.models import (
        CanonicalPatient,
        CMEnrollment,
        CMPatient,
        CMPointsTransaction,
        CMProgram,
        CMProvider,
        IntakeQLink,
        IntakeQPatient,
    )

    rng = random.Random(7)
    now = timezone.now()
    program = CMProgram.objects.create(name="Bench program")
    cpss = CMProvider.objects.bulk_create(
        CMProvider(
            first_name=f"P{i}", last_name=f"Provider{i:04d}", email=f"p{i}@bench.test", max_caseload=per_provider + 5
        )
        for i in range(providers)
    )
    total = providers * per_provider
    canon = CanonicalPatient.objects.bulk_create(
        CanonicalPatient(
            first_name=f"F{i}", last_name=f"Patient{i:06d}", date_of_birth=dt.date(1980, 1, 1) + dt.timedelta(days=i)
        )
        for i in range(total)
    )
    profiles = CMPatient.objects.bulk_create(CMPatient(canonical_patient=c, phone="+18015550100") for c in canon)
    iq = IntakeQPatient.objects.bulk_create(
        IntakeQPatient(
            intakeq_client_id=f"IQ{i}", first_name=c.first_name, last_name=c.last_name, date_of_birth=c.date_of_birth
        )
        for i, c in enumerate(canon[: total // 3])
    )
    IntakeQLink.objects.bulk_create(
        IntakeQLink(canonical_patient=c, intakeq_patient=q) for c, q in zip(canon, iq, strict=False)
    )
    enrollments = CMEnrollment.objects.bulk_create(
        CMEnrollment(canonical_patient=c, cm_patient=p, cm_program=program, cpss_provider=cpss[i // per_provider])
        for i, (c, p) in enumerate(zip(canon, profiles, strict=True))
    )
    rows = []
    for enrollment in enrollments:
        streak = 0
        for seq in range(events):
            event = rng.choice(["group_attendance", "test_negative", "weekly_checkin"])
            points = {"group_attendance": 25, "test_negative": 50, "weekly_checkin": 10}[event]
            streak = streak + 1 if event == "test_negative" else streak
            rows.append(
                CMPointsTransaction(
                    enrollment=enrollment,
                    canonical_patient_id=enrollment.canonical_patient_id,
                    sequence=seq + 1,
                    event_type=event,
                    points=points,
                    streak_after=streak,
                    occurred_at=now - dt.timedelta(days=rng.randint(0, 60)),
                )
            )
        enrollment.total_points = sum(r.points for r in rows[-events:])
        enrollment.current_streak = streak
    for start in range(0, len(rows), 20_000):
        CMPointsTransaction.objects.bulk_create(rows[start : start + 20_000])
    CMEnrollment.objects.bulk_update(enrollments, ["total_points", "current_streak"], batch_size=5000)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cm_caseload", description=__doc__.split("\n\n")[0])
    parser.add_argument("--providers", type=int, default=100, help="CPSS providers (default 100)")
    parser.add_argument("--patients-per-provider", type=int, default=25, help="active enrollments each (default 25)")
    parser.add_argument("--events", type=int, default=20, help="ledger entries per enrollment (default 20)")
    args = parser.parse_args()
    setup_django()
    import time

    with bench_database():
        started = time.perf_counter()
        build(args.providers, args.patients_per_provider, args.events)
        enrollments = args.providers * args.patients_per_provider
        print(
            f"CM data: {args.providers} CPSS, {enrollments} enrollments, {enrollments * args.events} ledger rows "
            f"(built in {time.perf_counter() - started:.1f} s)"
        )
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        from cm_program.models import CanonicalPatient, CMEnrollment
        from cm_program.selectors import complete_patient_view, cpss_caseload_summary, dual_enrollments
        from cm_program.services import cm_event_record

        patient = CanonicalPatient.objects.order_by("last_name").first()
        enrollment = CMEnrollment.objects.order_by("id").first()
        measure("cpss_caseload_summary (every CPSS)", lambda: cpss_caseload_summary())
        measure("complete_patient_view (one patient)", lambda: complete_patient_view(patient))
        measure("dual_enrollments (first 50)", lambda: list(dual_enrollments()[:50]))
        measure("dual_enrollments count", lambda: dual_enrollments().count())
        from cm_program import billing

        today = dt.date.today()
        period = billing.BillingPeriod(today - dt.timedelta(days=30), today)
        measure("patient pool, first page (50)", lambda: list(billing.pool_page_enrollments(period=period)[:50]))
        measure(
            "patient pool, every row (CSV batches)", lambda: sum(1 for _ in billing.iter_patient_pool(period=period))
        )
        from cm_program import reports
        from people.models import User

        everyone = User(username="bench-report", is_superuser=True, is_active=True)  # unsaved: the scope only
        last_weeks = reports.default_period()
        measure(
            "CM program report (every CPSS, last 12 weeks)",
            lambda: reports.cm_program_report(user=everyone, period=last_weeks),
        )
        measure(
            "cm_event_record (weekly check-in)",
            lambda: cm_event_record(enrollment=enrollment, event_type="weekly_checkin"),
            repeat=20,
        )


if __name__ == "__main__":
    main()
