"""Contingency management: programs, CPSS staff with caseloads, canonical identities with CM profiles,
the IntakeQ mirror and its links for a share of them, enrollments, and the points ledger.

The ledger is the truth and the enrollment's ``total_points`` / ``current_streak`` a cache of it, so
both come from one simulation of each enrollment's events, run by the service rules (escalating
negative-test schedule, resets, reversals that cancel an entry, adjustments that never take the
balance below zero). The ledger is written first and records each enrollment's totals for the
enrollments table, written next (foreign keys are only checked when re-created after the load).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from bench.generate.navigation import Table
from bench.generate.plan import DAY, Plan
from bench.generate.rand import NULL, Weighted, boolean, day, seconds_to_ordinal, split, ts

PROGRAMS = (
    # name, description, active, schedule (group, base, increment, cap, weekly, peer, bonus)
    ("Stimulant use CM — Salt Lake", "Twelve-week stimulant program with escalating rewards.", True,
     (25, 50, 10, 100, 10, 20, 25)),
    ("Opioid use CM — Provo", "Opioid program paired with MOUD.", True, (20, 40, 15, 120, 5, 15, 50)),
    ("Pilot 2021", "The first pilot cohort (closed).", False, (25, 50, 10, 100, 10, 20, 0)),
)  # fmt: skip
SCHEDULE = ("group_attendance", "test_negative_base", "test_negative_increment", "test_negative_cap")
SCHEDULE += ("weekly_checkin", "peer_support", "enrollment_bonus")
EVENTS = Weighted(
    ("weekly_checkin", "group_attendance", "test_negative", "test_positive", "test_missed", "peer_support",
     "manual_adjustment", "reversal"),
    (30, 25, 25, 5, 4, 8, 1.5, 1.5),
)  # fmt: skip
MAIN_STATUS = Weighted(("active", "paused", "graduated", "withdrawn"), (70, 8, 12, 10))
INSURERS = ("Medicaid", "Medicaid", "Molina Healthcare", "SelectHealth", "Healthy U", "Uninsured", None)
LANGUAGES = Weighted(("English", "Spanish", "Vietnamese", "Tongan", "Navajo"), (80, 15, 2, 2, 1))


@dataclass(frozen=True)
class Enrollment:
    c: int  # CM identity
    program: int  # index into PROGRAMS
    status: str
    start: float
    stop: float  # when events stopped (end of the calendar while active)
    provider: int | None


def _joined(plan: Plan, c: int) -> float:
    """When CM identity ``c`` joined: within the last three years, after their person was created."""
    created = plan.person_created(plan.layout.cm_person(c))
    base = max(created, plan.end - 3 * 365 * DAY)
    return base + plan.draw.u("cm-joined", c) * (plan.end - base) * 0.95


def enrollment(plan: Plan, e: int) -> Enrollment:
    cm = plan.sizes.cm_identities
    rng = plan.draw.at("enrollment", e)
    c = e if e < cm else e - cm
    provider = None if rng.random() < 0.02 else (c * 7) % plan.layout.cpss
    joined = _joined(plan, c)
    if e < cm:
        program = 0 if rng.random() < 0.75 else 1
        status = MAIN_STATUS.pick(rng)
        start = joined
    else:  # a second, earlier enrollment in the closed pilot
        program, status = 2, "graduated" if rng.random() < 0.6 else "withdrawn"
        start = max(plan.start, joined - rng.uniform(200, 700) * DAY)
    stop = plan.end if status == "active" else start + rng.random() * (min(plan.end, start + 365 * DAY) - start)
    return Enrollment(c, program, status, start, stop, provider)


def programs(plan: Plan) -> Table:
    from cm_program.models import CMProgram

    program_id = plan.ids.of("program")
    created = ts(plan.start)
    rows = []
    for n, (name, description, active, schedule) in enumerate(PROGRAMS):
        plan.lookups.programs.append((program_id(n), dict(zip(SCHEDULE, schedule, strict=True))))
        rows.append((program_id(n), created, created, name, description, boolean(active), *map(str, schedule)))
    columns = ("id", "created_at", "updated_at", "name", "description", "is_active", "points_group_attendance")
    columns += ("points_negative_test_base", "points_negative_test_increment", "points_negative_test_cap")
    columns += ("points_weekly_checkin", "points_peer_support", "points_enrollment_bonus")
    return Table(CMProgram, columns, iter(rows), len(rows))


def providers(plan: Plan) -> Table:
    from cm_program.models import CMProvider

    def rows():
        for p in range(plan.layout.cpss):
            i = plan.layout.cpss_start + p
            a = plan.person(i)
            rng = plan.draw.at("provider", p)
            created = ts(a.created)
            yield (
                plan.provider_id(p), created, created,
                plan.ids.of("canonical_provider")(p) if rng.random() < 0.5 else NULL, a.first, a.last, a.email,
                a.phone or NULL, "supervisor" if p % 20 == 19 else "cpss", rng.choice(("CPSS-I", "CPSS-II", "CPSS")),
                day(seconds_to_ordinal(a.created)), "inactive" if rng.random() < 0.03 else "active",
                str(rng.randint(30, 40)), plan.cpss_user(p), plan.person_id(i),
            )  # fmt: skip

    columns = ("id", "created_at", "updated_at", "canonical_provider_id", "first_name", "last_name", "email")
    columns += ("phone", "role", "credentials", "hire_date", "status", "max_caseload", "user_id", "person_id")
    return Table(CMProvider, columns, rows(), plan.layout.cpss)


def canonical_patients(plan: Plan) -> Table:
    from cm_program.models import CanonicalPatient

    def rows():
        for c, i, a in plan.cm_identities():
            created = ts(_joined(plan, c))
            yield (
                plan.canonical_id(c), created, created, a.first, a.last, day(a.dob), plan.person_id(i),
                "t", NULL, NULL, "", NULL,
            )  # fmt: skip

    columns = ("id", "created_at", "updated_at", "first_name", "last_name", "date_of_birth", "person_id")
    # Generated identities are never deleted nor merged (the merge is for the duplicates found later).
    columns += ("is_active", "deleted_at", "deleted_by_id", "deletion_reason", "merged_into_id")
    return Table(CanonicalPatient, columns, rows(), plan.sizes.cm_identities)


NOT_ARCHIVED = boolean(False)


def intakeq_patients(plan: Plan) -> Table:
    """The EMR mirror: the linked identities' IntakeQ rows, then psychiatry-only clients."""
    from cm_program.models import IntakeQPatient

    def rows():
        for c, _, a in plan.cm_identities():
            q = plan.layout.intakeq_linked_to(c)
            if q is None:
                continue
            synced = ts(max(plan.start, _joined(plan, c) - plan.draw.u("intakeq", q) * 365 * DAY))
            yield (plan.intakeq_id(q), synced, synced, str(300_000 + q), a.first, a.last, day(a.dob),
                   a.email or NULL, a.phone or NULL, NOT_ARCHIVED, NULL)  # fmt: skip
        for q in range(plan.layout.intakeq_linked, plan.layout.intakeq):
            rng = plan.draw.at("intakeq", q)
            first, last = plan.names.pick(rng)
            synced = ts(plan.start + rng.random() * plan.span)
            dob = day(plan.as_of.toordinal() - rng.randint(18, 80) * 365) if rng.random() < 0.9 else NULL
            email = f"client{q}@example.net" if rng.random() < 0.8 else NULL
            yield (plan.intakeq_id(q), synced, synced, str(300_000 + q), first, last, dob, email, NULL,
                   NOT_ARCHIVED, NULL)  # fmt: skip

    columns = ("id", "created_at", "updated_at", "intakeq_client_id", "first_name", "last_name", "date_of_birth")
    # Not archived, and no raw API object: rows of the mirror's sync before `import_intakeq` kept them.
    return Table(IntakeQPatient, (*columns, "email", "phone", "archived", "raw"), rows(), plan.layout.intakeq)


def intakeq_links(plan: Plan) -> Table:
    from cm_program.models import IntakeQLink

    link_id = plan.ids.of("intakeq_link")

    def rows():
        for c in range(plan.sizes.cm_identities):
            q = plan.layout.intakeq_linked_to(c)
            if q is None:
                continue
            rng = plan.draw.at("intakeq-link", c)
            linked = ts(_joined(plan, c))
            confidence = f"{rng.randint(80, 100) / 100:.2f}"
            note = "Matched on name and date of birth." if rng.random() < 0.3 else NULL
            yield (link_id(c), linked, linked, plan.canonical_id(c), plan.intakeq_id(q), linked,
                   plan.cm_supervisor_user, confidence, note)  # fmt: skip

    columns = ("id", "created_at", "updated_at", "canonical_patient_id", "intakeq_patient_id", "linked_date")
    return Table(IntakeQLink, (*columns, "linked_by", "confidence_score", "notes"), rows(), plan.layout.intakeq_linked)


def cm_profiles(plan: Plan) -> Table:
    from bench.generate import names
    from cm_program.models import CMPatient

    def rows():
        for c, _, a in plan.cm_identities():
            rng = plan.draw.at("cm-profile", c)
            joined = _joined(plan, c)
            created = ts(joined)
            insurer = rng.choice(INSURERS)
            medicaid = f"UT{rng.randrange(10**9):09d}" if insurer == "Medicaid" else NULL
            linked = plan.layout.intakeq_linked_to(c) is not None
            source = "existing_patient" if linked else rng.choice(("acute_care", "outpatient", "referral"))
            contact = " ".join(plan.names.pick(rng))
            yield (
                plan.cm_patient_id(c), created, created, plan.canonical_id(c), a.phone or NULL, a.email or NULL,
                insurer or NULL, medicaid, source, ts(joined + 600), rng.choice(("yes", "yes", "limited", "no")),
                contact, names.phone(rng), names.street(rng), rng.choice(names.CITIES), "UT",
                f"84{rng.randrange(1000):03d}", LANGUAGES.pick(rng), enrollment(plan, c).status,
            )  # fmt: skip

    columns = ("id", "created_at", "updated_at", "canonical_patient_id", "phone", "email", "insurance_primary")
    columns += ("medicaid_id", "enrollment_source", "consent_date", "smartphone_access", "emergency_contact_name")
    columns += ("emergency_contact_phone", "address_street", "address_city", "address_state", "address_zip")
    return Table(CMPatient, (*columns, "preferred_language", "status"), rows(), plan.sizes.cm_identities)


# --- The ledger ---------------------------------------------------------------------------------------


@dataclass
class Entry:
    event_type: str
    points: int
    reason: str
    reverses: int | None  # local index of the cancelled entry
    streak_after: int
    at: float


def _replay_streak(entries: list[Entry], cancelled: set[int]) -> int:
    """``cm_program.selectors.streak_from_ledger`` over local indexes."""
    streak = 0
    for n, entry in enumerate(entries):
        if n in cancelled or entry.event_type == "reversal":
            continue
        if entry.event_type == "test_negative":
            streak += 1
        elif entry.event_type in ("test_positive", "test_missed"):
            streak = 0
    return streak


def simulate(plan: Plan, e: int, count: int, enr: Enrollment) -> list[Entry]:
    """``count`` ledger entries of enrollment ``e`` by the services' rules, oldest first."""
    if count <= 0:
        return []
    rng = plan.draw.at("ledger", e)
    schedule = plan.lookups.programs[enr.program][1]
    times = sorted(enr.start + rng.random() * (enr.stop - enr.start) for _ in range(count))
    entries: list[Entry] = []
    cancelled: set[int] = set()
    total = streak = 0
    for n, at in enumerate(times):
        if n == 0 and schedule["enrollment_bonus"] > 0:
            entry = Entry(
                "enrollment_bonus", schedule["enrollment_bonus"], "Welcome to the program.", None, 0, enr.start
            )
        else:
            kind = EVENTS.pick(rng)
            if kind == "reversal":
                targets = [
                    k for k, old in enumerate(entries)
                    if k not in cancelled and old.event_type not in ("reversal", "enrollment_bonus")
                    and 0 < old.points <= total
                ]  # fmt: skip
                kind = "weekly_checkin" if not targets else kind
            if kind == "reversal":
                target = targets[int(rng.random() * len(targets))]
                cancelled.add(target)
                entry = Entry("reversal", -entries[target].points, "Entered on the wrong patient.", target,
                              _replay_streak(entries, cancelled), at)  # fmt: skip
            elif kind == "manual_adjustment":
                points = rng.choice((5, 10, 15, -5, -10))
                points = abs(points) if total + points < 0 else points
                entry = Entry(kind, points, "Correction agreed with the supervisor.", None, streak, at)
            elif kind == "test_negative":
                points = min(schedule["test_negative_base"] + schedule["test_negative_increment"] * streak,
                             schedule["test_negative_cap"])  # fmt: skip
                entry = Entry(kind, points, "", None, streak + 1, at)
            elif kind in ("test_positive", "test_missed"):
                entry = Entry(kind, 0, "", None, 0, at)
            else:
                entry = Entry(kind, schedule[kind], "", None, streak, at)
        entries.append(entry)
        total += entry.points
        streak = entry.streak_after
    return entries


def _ledger_counts(plan: Plan):
    def weight(e: int) -> float:
        enr = enrollment(plan, e)
        return (enr.stop - enr.start) / DAY + 1.0

    return split(plan.sizes.ledger, plan.layout.enrollments, weight)


def enrollments(plan: Plan) -> Table:
    """Written after the ledger (the foreign keys are checked when they are re-created at the end),
    with the totals the ledger pass recorded: the simulation runs once."""
    from cm_program.models import CMEnrollment

    def rows():
        totals = plan.ledger_totals
        for e in range(plan.layout.enrollments):
            enr = enrollment(plan, e)
            total, streak, last = totals.get(e, (0, 0, enr.start))
            rng = plan.draw.at("enrollment-extra", e)
            verification = NULL
            if rng.random() < 0.5:
                checked = day(seconds_to_ordinal(enr.start))
                verification = json.dumps({"status": "verified", "checked_at": checked, "plan": "Healthy U"})
            yield (
                plan.enrollment_id(e), ts(enr.start), ts(max(last, enr.start)), plan.canonical_id(enr.c),
                plan.cm_patient_id(enr.c), plan.lookups.programs[enr.program][0],
                NULL if enr.provider is None else plan.provider_id(enr.provider), str(total), str(streak),
                ts(enr.start), enr.status, verification,
                f"Pod {'ABCDEF'[enr.c % 6]}" if rng.random() < 0.6 else NULL, NULL,
            )  # fmt: skip

    columns = ("id", "created_at", "updated_at", "canonical_patient_id", "cm_patient_id", "cm_program_id")
    columns += ("cpss_provider_id", "total_points", "current_streak", "enrollment_date", "status")
    return Table(
        CMEnrollment, (*columns, "medicaid_verification", "pod_assignment", "notes"), rows(), plan.layout.enrollments
    )


def ledger(plan: Plan) -> Table:
    from cm_program.models import CMPointsTransaction

    ledger_id = plan.ids.of("ledger")

    def rows():
        n = 0
        for e, count in enumerate(_ledger_counts(plan)()):
            if not count:
                continue
            enr = enrollment(plan, e)
            by = plan.cm_supervisor_user if enr.provider is None else plan.cpss_user(enr.provider)
            enrollment_pk, canonical = plan.enrollment_id(e), plan.canonical_id(enr.c)
            entries = simulate(plan, e, count, enr)
            # The enrollment's cached totals, for its row (written next): one small tuple per enrollment.
            plan.ledger_totals[e] = (sum(x.points for x in entries), entries[-1].streak_after, entries[-1].at)
            for k, entry in enumerate(entries):
                reverses = NULL if entry.reverses is None else ledger_id(n - k + entry.reverses)
                yield (
                    ledger_id(n), enrollment_pk, canonical, str(k + 1), entry.event_type, str(entry.points),
                    entry.reason, reverses, str(entry.streak_after), by, ts(entry.at), ts(entry.at + 120),
                )  # fmt: skip
                n += 1

    columns = ("id", "enrollment_id", "canonical_patient_id", "sequence", "event_type", "points", "reason")
    columns += ("reverses_id", "streak_after", "recorded_by_id", "occurred_at", "created_at")
    return Table(CMPointsTransaction, columns, rows(), plan.sizes.ledger)


def status_changes(plan: Plan) -> Table:
    """Each enrollment's status history, as the services write it: its first row (active) at the enrollment
    date, and for an enrollment no longer active one change into its status when its events stopped."""
    from cm_program.models import EnrollmentStatusChange

    change_id = plan.ids.of("status_change")

    def rows():
        n = 0
        for e in range(plan.layout.enrollments):
            enr = enrollment(plan, e)
            by = plan.cm_supervisor_user if enr.provider is None else plan.cpss_user(enr.provider)
            enrollment_pk = plan.enrollment_id(e)
            yield (change_id(n), enrollment_pk, NULL, "active", ts(enr.start), by, "", ts(enr.start))
            n += 1
            if enr.status != "active":
                yield (change_id(n), enrollment_pk, "active", enr.status, ts(enr.stop), by, "", ts(enr.stop))
                n += 1

    columns = ("id", "enrollment_id", "from_status", "to_status", "changed_at", "changed_by_id", "reason")
    total = plan.layout.enrollments * 2 - round(plan.layout.enrollments * 0.6)  # an estimate for the progress bar
    return Table(EnrollmentStatusChange, (*columns, "created_at"), rows(), total)
