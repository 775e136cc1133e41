"""CM reads that span tables or feed a screen, each in a constant number of queries, and the scopes
that decide which CM rows a user may see (a CPSS: their own caseload; CM supervisors: everything)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import EmptyResultSet, ObjectDoesNotExist
from django.db import connection
from django.db.models import Q, QuerySet, Value
from django.utils import timezone

from cm_program.duplicates import CANONICAL_PATIENTS, LIVE_CANONICAL
from cm_program.models import (
    BEHAVIOUR_EVENTS,
    CanonicalPatient,
    CanonicalPatientDuplicatePair,
    CMEnrollment,
    CMPatient,
    CMPointsTransaction,
    CMProgram,
    CMProvider,
    CMStatus,
    IntakeQLink,
    IntakeQMatchCandidate,
    IntakeQPatient,
    PointsEvent,
    normalised_name,
)
from common import duplicates, roles
from people.models import DuplicateStatus
from people.selectors import DuplicateCandidate

# ---------------------------------------------------------------------------------------------------
# The ledger, replayed


def streak_from_ledger(entries: Iterable[Any], *, extra_reversed: Iterable[Any] = ()) -> int:
    """The negative-test streak an enrollment's ledger implies.

    ``entries`` are one enrollment's rows in ``sequence`` order. Reversal rows and the entries they
    cancel are skipped; of the remaining drug-test events, the streak is the number of negatives
    since the last positive or missed test. ``extra_reversed`` treats more entries as cancelled (the
    reversal about to be written).
    """
    entries = list(entries)
    cancelled = {e.reverses_id for e in entries if e.reverses_id} | set(extra_reversed)
    streak = 0
    for entry in entries:
        if entry.pk in cancelled or entry.event_type == PointsEvent.REVERSAL:
            continue
        if entry.event_type == PointsEvent.TEST_NEGATIVE:
            streak += 1
        elif entry.event_type in (PointsEvent.TEST_POSITIVE, PointsEvent.TEST_MISSED):
            streak = 0
    return streak


@dataclass(frozen=True)
class LedgerDiscrepancy:
    enrollment: CMEnrollment
    stored_points: int
    ledger_points: int
    stored_streak: int
    ledger_streak: int


# Rows per keyset batch of the ledger check: one query per batch, memory bounded by the batch.
LEDGER_CHECK_BATCH = 2_000

# ``streak_from_ledger`` and the ledger sum, in SQL, for one keyset batch of enrollments (``id`` after
# ``%(after)s``, at most ``%(batch_size)s`` of them, optionally only ``%(ids)s``). A reversal and the
# entry it reverses do not count towards the streak; the streak is the negatives after the last
# positive or missed test. Returns the batch's enrollments that disagree with their ledger, plus its
# last enrollment (the next cursor) and the batch's size on every row. Plain SQL on the document's
# table names, so that the backup check runs it on a restored copy through psycopg too.
LEDGER_CHECK_SQL = """
WITH batch AS (
    SELECT e.id, e.total_points, e.current_streak
    FROM cm_enrollments e
    WHERE (%(after)s::uuid IS NULL OR e.id > %(after)s::uuid)
      AND (%(ids)s::uuid[] IS NULL OR e.id = ANY(%(ids)s::uuid[]))
    ORDER BY e.id
    LIMIT %(batch_size)s
),
points AS (
    SELECT t.enrollment_id, SUM(t.points) AS points
    FROM batch b JOIN cm_points_transactions t ON t.enrollment_id = b.id
    GROUP BY t.enrollment_id
),
tests AS (
    SELECT t.enrollment_id, t.sequence, t.event_type,
           MAX(t.sequence) FILTER (WHERE t.event_type <> 'test_negative')
               OVER (PARTITION BY t.enrollment_id) AS last_reset
    FROM batch b JOIN cm_points_transactions t ON t.enrollment_id = b.id
    WHERE t.event_type IN ('test_negative', 'test_positive', 'test_missed')
      AND NOT EXISTS (
          SELECT 1 FROM cm_points_transactions r
          WHERE r.reverses_id = t.id AND r.enrollment_id = t.enrollment_id
      )
),
streaks AS (
    SELECT enrollment_id,
           COUNT(*) FILTER (WHERE event_type = 'test_negative' AND sequence > COALESCE(last_reset, 0)) AS streak
    FROM tests
    GROUP BY enrollment_id
),
checked AS (
    SELECT b.id, b.total_points, COALESCE(p.points, 0) AS ledger_points,
           b.current_streak, COALESCE(s.streak, 0) AS ledger_streak,
           bounds.last_id, bounds.batch_rows
    FROM batch b
    CROSS JOIN (
        SELECT (SELECT id FROM batch ORDER BY id DESC LIMIT 1) AS last_id, (SELECT COUNT(*) FROM batch) AS batch_rows
    ) bounds
    LEFT JOIN points p ON p.enrollment_id = b.id
    LEFT JOIN streaks s ON s.enrollment_id = b.id
)
SELECT id, total_points, ledger_points, current_streak, ledger_streak, last_id, batch_rows
FROM checked
WHERE total_points <> ledger_points OR current_streak <> ledger_streak OR id = last_id
ORDER BY id
"""


def ledger_check_batches(
    cursor, *, enrollment_ids: Iterable[Any] | None = None, batch_size: int = LEDGER_CHECK_BATCH
) -> Iterator[tuple[int, list[tuple[Any, int, int, int, int]]]]:
    """Run ``LEDGER_CHECK_SQL`` batch after batch on ``cursor`` (Django's or psycopg's).

    Yields, per batch of enrollments (in ``id`` order), how many it checked and its discrepancies as
    ``(id, stored_points, ledger_points, stored_streak, ledger_streak)``: memory and the work of each
    query stay bounded by ``batch_size`` whatever the size of the tables.
    """
    ids = [str(pk) for pk in enrollment_ids] if enrollment_ids is not None else None
    after = None
    while True:
        cursor.execute(LEDGER_CHECK_SQL, {"after": after, "ids": ids, "batch_size": batch_size})
        rows = cursor.fetchall()
        if not rows:
            return
        found = [row[:5] for row in rows if (row[1], row[3]) != (row[2], row[4])]
        after, checked = rows[-1][5], rows[-1][6]
        yield checked, found
        if checked < batch_size:
            return


def iter_ledger_discrepancies(
    *, enrollment_ids: Iterable[Any] | None = None, batch_size: int = LEDGER_CHECK_BATCH
) -> Iterator[LedgerDiscrepancy]:
    """Enrollments whose ``total_points`` / ``current_streak`` disagree with their ledger, computed in
    SQL in keyset batches (one query per batch, one more to load a batch's disagreeing enrollments)."""
    with connection.cursor() as cursor:
        for _, found in ledger_check_batches(cursor, enrollment_ids=enrollment_ids, batch_size=batch_size):
            if not found:
                continue
            enrollments = CMEnrollment.objects.select_related("canonical_patient", "cm_program").in_bulk(
                [row[0] for row in found]
            )
            for pk, stored_points, ledger_points, stored_streak, ledger_streak in found:
                yield LedgerDiscrepancy(enrollments[pk], stored_points, ledger_points, stored_streak, ledger_streak)


def ledger_discrepancies(
    *, enrollment_ids: Iterable[Any] | None = None, batch_size: int = LEDGER_CHECK_BATCH
) -> list[LedgerDiscrepancy]:
    """``iter_ledger_discrepancies`` as a list (its size is the number of disagreeing enrollments)."""
    return list(iter_ledger_discrepancies(enrollment_ids=enrollment_ids, batch_size=batch_size))


# ---------------------------------------------------------------------------------------------------
# Scopes: who sees which CM rows


def _sees_all_cm(user) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_superuser:
        return True
    return roles.CM_SUPERVISORS in roles.group_names(user)


def _is_cpss(user) -> bool:
    # group_names: the request's one cached query of the user's groups, shared with the person scope,
    # the two-factor rule and the admin's app list.
    return bool(getattr(user, "is_authenticated", False) and user.is_active) and roles.CPSS in roles.group_names(user)


def _cache(user, key: str, compute):
    # Admin pages ask several times per request; the answer does not change within one.
    cache = user.__dict__.setdefault("_cm_scope_cache", {})
    if key not in cache:
        cache[key] = compute()
    return cache[key]


def cm_scope(user) -> str:
    """``"all"`` (superuser, CM supervisor), ``"caseload"`` (CPSS) or ``"none"`` (everyone else)."""
    if user is None:
        return "none"

    def compute() -> str:
        if _sees_all_cm(user):
            return "all"
        if _is_cpss(user):
            return "caseload"
        return "none"

    return _cache(user, "scope", compute)


def _scoped(user, queryset: QuerySet, caseload: Callable[[], Q]) -> QuerySet:
    """Every row for CM supervisors and superusers, the rows ``caseload()`` selects for a CPSS, none
    for anyone else. ``caseload`` is called only for a CPSS (it may build a subquery)."""
    scope = cm_scope(user)
    if scope == "all":
        return queryset
    if scope == "caseload":
        return queryset.filter(caseload())
    return queryset.none()


def cm_enrollments_visible_to(user, queryset: QuerySet[CMEnrollment] | None = None) -> QuerySet[CMEnrollment]:
    """Enrollments a user may see: all for CM supervisors and superusers, their own caseload for a
    CPSS (enrollments whose CPSS is the provider linked to their login), none for anyone else."""
    queryset = queryset if queryset is not None else CMEnrollment.objects.all()
    return _scoped(user, queryset, lambda: Q(cpss_provider__user=user))


def _caseload_patient_ids(user):
    return CMEnrollment.objects.filter(cpss_provider__user=user).values("canonical_patient_id")


def canonical_patients_visible_to(user, queryset=None) -> QuerySet[CanonicalPatient]:
    queryset = queryset if queryset is not None else CanonicalPatient.objects.all()
    return _scoped(user, queryset, lambda: Q(pk__in=_caseload_patient_ids(user)))


def cm_patients_visible_to(user, queryset=None) -> QuerySet[CMPatient]:
    queryset = queryset if queryset is not None else CMPatient.objects.all()
    return _scoped(user, queryset, lambda: Q(canonical_patient_id__in=_caseload_patient_ids(user)))


def intakeq_links_visible_to(user, queryset=None) -> QuerySet[IntakeQLink]:
    queryset = queryset if queryset is not None else IntakeQLink.objects.all()
    return _scoped(user, queryset, lambda: Q(canonical_patient_id__in=_caseload_patient_ids(user)))


def intakeq_match_candidates_visible_to(user, queryset=None) -> QuerySet[IntakeQMatchCandidate]:
    """The matching's review queue: CM supervisors and superusers only. A CPSS works their caseload, not
    the identities of people who may not be CM patients at all."""
    queryset = queryset if queryset is not None else IntakeQMatchCandidate.objects.all()
    return queryset if cm_scope(user) == "all" else queryset.none()


def intakeq_match_candidate_compare(candidate: IntakeQMatchCandidate) -> dict:
    """The two sides of a pair for the side-by-side page: name, date of birth, email, phone of each, and
    the links either side already has (two queries, whatever the pair)."""
    canonical = CanonicalPatient.objects.select_related("person", "cm_profile", "intakeq_link__intakeq_patient").get(
        pk=candidate.canonical_patient_id
    )
    client = IntakeQPatient.objects.select_related("canonical_link__canonical_patient").get(
        pk=candidate.intakeq_patient_id
    )
    person = canonical.person
    profile = _reverse_one(canonical, "cm_profile")
    emails = [e for e in (getattr(person, "email", None), getattr(profile, "email", None)) if e]
    phones = [p for p in (getattr(person, "phone", None), getattr(profile, "phone", None)) if p]
    return {
        "canonical": canonical,
        "client": client,
        "rows": [
            ("First name", canonical.first_name, client.first_name),
            ("Last name", canonical.last_name, client.last_name),
            ("Date of birth", canonical.date_of_birth, client.date_of_birth),
            ("Email", ", ".join(dict.fromkeys(emails)) or None, client.email),
            ("Phone", ", ".join(dict.fromkeys(phones)) or None, client.phone),
        ],
        "canonical_link": _reverse_one(canonical, "intakeq_link"),
        "client_link": _reverse_one(client, "canonical_link"),
    }


def intakeq_patients_visible_to(user, queryset=None) -> QuerySet[IntakeQPatient]:
    """IntakeQ records: a CPSS sees only those linked to a patient of their caseload."""
    queryset = queryset if queryset is not None else IntakeQPatient.objects.all()
    return _scoped(user, queryset, lambda: Q(canonical_link__canonical_patient_id__in=_caseload_patient_ids(user)))


def points_transactions_visible_to(user, queryset=None) -> QuerySet[CMPointsTransaction]:
    queryset = queryset if queryset is not None else CMPointsTransaction.objects.all()
    return _scoped(user, queryset, lambda: Q(enrollment__cpss_provider__user=user))


def cm_providers_visible_to(user, queryset=None) -> QuerySet[CMProvider]:
    """A CPSS sees their own provider record only (others' records would name others' caseloads)."""
    queryset = queryset if queryset is not None else CMProvider.objects.all()
    return _scoped(user, queryset, lambda: Q(user=user))


def cm_programs_visible_to(user, queryset=None) -> QuerySet[CMProgram]:
    """Programs hold no patient data: every CM user sees them."""
    queryset = queryset if queryset is not None else CMProgram.objects.all()
    return queryset if cm_scope(user) in ("all", "caseload") else queryset.none()


# ---------------------------------------------------------------------------------------------------
# The CM document's query patterns


@dataclass(frozen=True)
class CompletePatientView:
    identity: CanonicalPatient
    person: Any
    cm: CMPatient | None
    intakeq_link: IntakeQLink | None
    intakeq: IntakeQPatient | None
    enrollments: list[CMEnrollment]


def _reverse_one(obj, name: str):
    try:
        return getattr(obj, name)
    except ObjectDoesNotExist:
        return None


def complete_patient_view(canonical_patient: CanonicalPatient | Any) -> CompletePatientView:
    """The document's "Get Complete Patient View": identity, CM profile, IntakeQ record and every
    enrollment with its CPSS and program. Two queries whatever the number of enrollments."""
    pk = getattr(canonical_patient, "pk", canonical_patient)
    identity = CanonicalPatient.objects.select_related(
        "person", "cm_profile", "intakeq_link__intakeq_patient", "intakeq_link__linked_by"
    ).get(pk=pk)
    enrollments = list(
        CMEnrollment.objects.filter(canonical_patient_id=pk)
        .select_related("cpss_provider", "cm_program", "cm_patient")
        .order_by("enrollment_date")
    )
    link = _reverse_one(identity, "intakeq_link")
    return CompletePatientView(
        identity=identity,
        person=identity.person,
        cm=_reverse_one(identity, "cm_profile"),
        intakeq_link=link,
        intakeq=link.intakeq_patient if link is not None else None,
        enrollments=enrollments,
    )


def dual_enrollments() -> QuerySet[CanonicalPatient]:
    """The document's "Detect Dual Enrollment": canonical patients with both an IntakeQ link and a
    CM profile, with both loaded (one query)."""
    return (
        CanonicalPatient.objects.filter(intakeq_link__isnull=False, cm_profile__isnull=False)
        .select_related("cm_profile", "intakeq_link__intakeq_patient")
        .order_by("last_name", "first_name", "date_of_birth")
    )


def intakeq_patient_find(*, first_name: str, last_name: str, date_of_birth: dt.date) -> QuerySet[IntakeQPatient]:
    """Step 1 of scenario 2: IntakeQ clients with this name and date of birth (ignoring case, accents
    and surrounding spaces)."""
    return IntakeQPatient.objects.annotate(
        _first=normalised_name("first_name"), _last=normalised_name("last_name")
    ).filter(
        _first=normalised_name(Value(first_name)),
        _last=normalised_name(Value(last_name)),
        date_of_birth=date_of_birth,
    )


@dataclass(frozen=True)
class CaseloadRow:
    provider: CMProvider
    active_enrollments: int
    max_caseload: int
    load_ratio: Decimal | None  # active / max; None when max_caseload is 0
    without_event_7_days: int  # active enrollments with no behaviour event in the last 7 days
    points_this_week: int  # net points written this week (since Monday 00:00) to their enrollments

    @property
    def places_left(self) -> int:
        return max(self.max_caseload - self.active_enrollments, 0)


def week_start(now: dt.datetime) -> dt.datetime:
    local = timezone.localtime(now)
    monday = local.date() - dt.timedelta(days=local.weekday())
    return timezone.make_aware(dt.datetime.combine(monday, dt.time.min), local.tzinfo)


def cpss_caseload_summary(
    *, now: dt.datetime | None = None, providers=None, limit: int | None = None, offset: int = 0
) -> list[CaseloadRow]:
    """For each CPSS: active enrollments against ``max_caseload``, active patients without a recorded
    behaviour (attendance, test, check-in, peer support; bonuses and corrections are not contact) in the
    last 7 days, and net points written this week. One query for any number of providers; with ``limit``,
    the ``limit`` providers from ``offset`` on in name order (a page)."""
    if limit is None:
        return list(iter_cpss_caseload_summary(now=now, providers=providers, chunk_size=None))
    return list(iter_cpss_caseload_summary(now=now, providers=providers, chunk_size=limit, offset=offset, pages=1))


# The listed providers' figures, grouped in one pass over their enrollments. The week's ledger entries are
# read once, index-only on cm_points_occurred_at_idx (it carries the enrollment, event type and points: ~30,000
# entries at full size, ~25 ms); before, a subquery per provider probed the ledger once per active enrollment
# (34,000 probes at full size: 0.7 s of SQL).
_CASELOAD_SQL = """
    WITH listed AS (
        SELECT p.id FROM {table} p WHERE p.id IN ({providers}) {after}
        ORDER BY p.last_name, p.first_name, p.id {limit}
    ), active AS (
        SELECT e.cpss_provider_id, COUNT(*) AS n FROM cm_enrollments e
        WHERE e.cpss_provider_id IN (SELECT * FROM listed) AND e.status = %s
        GROUP BY e.cpss_provider_id
    ), stale AS (
        SELECT e.cpss_provider_id, COUNT(*) AS n FROM cm_enrollments e
        WHERE e.cpss_provider_id IN (SELECT * FROM listed) AND e.status = %s
          AND NOT EXISTS (
              SELECT 1 FROM cm_points_transactions x
              WHERE x.enrollment_id = e.id AND x.occurred_at >= %s AND x.event_type = ANY(%s)
          )
        GROUP BY e.cpss_provider_id
    ), points AS (
        SELECT e.cpss_provider_id, SUM(x.points) AS n FROM cm_points_transactions x
        JOIN cm_enrollments e ON e.id = x.enrollment_id
        WHERE e.cpss_provider_id IN (SELECT * FROM listed) AND x.occurred_at >= %s AND x.occurred_at <= %s
        GROUP BY e.cpss_provider_id
    )
    SELECT {columns}, COALESCE(a.n, 0), COALESCE(s.n, 0), COALESCE(pt.n, 0)
    FROM {table} p
    LEFT JOIN active a ON a.cpss_provider_id = p.id
    LEFT JOIN stale s ON s.cpss_provider_id = p.id
    LEFT JOIN points pt ON pt.cpss_provider_id = p.id
    WHERE p.id IN (SELECT * FROM listed)
    ORDER BY p.last_name, p.first_name, p.id
"""


def iter_cpss_caseload_summary(
    *,
    now: dt.datetime | None = None,
    providers=None,
    chunk_size: int | None = 2_000,
    offset: int = 0,
    pages: int | None = None,
) -> Iterator[CaseloadRow]:
    """``cpss_caseload_summary`` row by row; with a ``chunk_size`` read by keyset batches of that many
    providers, one query each (the CSV export: memory flat in the number of providers, with or without
    server-side cursors - none behind a transaction pooler, ``crm_project.db_pooler``), the first batch from
    ``offset`` on, at most ``pages`` batches."""
    now = now or timezone.now()
    queryset = providers if providers is not None else CMProvider.objects.all()
    try:
        ids_sql, ids_params = queryset.order_by().values("pk").query.sql_with_params()
    except EmptyResultSet:  # e.g. ``pk__in=[]``: an empty page of providers has no caseloads
        return
    fields = CMProvider._meta.concrete_fields
    quote = connection.ops.quote_name
    columns = ", ".join(f"p.{quote(f.column)}" for f in fields)
    table = quote(CMProvider._meta.db_table)
    first_sql = _CASELOAD_SQL.format(
        columns=columns, table=table, providers=ids_sql, after="", limit="LIMIT %s OFFSET %s" if chunk_size else ""
    )
    next_sql = _CASELOAD_SQL.format(
        columns=columns,
        table=table,
        providers=ids_sql,
        after="AND (p.last_name, p.first_name, p.id) > (%s, %s, %s)",
        limit="LIMIT %s",
    )
    active = str(CMStatus.ACTIVE)
    figures = [
        active,
        active,
        now - dt.timedelta(days=7),
        [str(event) for event in BEHAVIOUR_EVENTS],
        week_start(now),
        now,
    ]
    attnames = [f.attname for f in fields]
    width = len(attnames)
    last: list | None = None
    batches = 0
    while True:
        if last is None:
            sql, params = first_sql, [*ids_params, *([chunk_size, offset] if chunk_size else []), *figures]
        else:
            sql, params = next_sql, [*ids_params, *last, chunk_size, *figures]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        for row in rows:
            provider = CMProvider.from_db(connection.alias, attnames, row[:width])
            active_n, stale, points = row[width], row[width + 1], int(row[width + 2])
            ratio = (
                (Decimal(active_n) / Decimal(provider.max_caseload)).quantize(Decimal("0.01"))
                if provider.max_caseload
                else None
            )
            yield CaseloadRow(
                provider=provider,
                active_enrollments=active_n,
                max_caseload=provider.max_caseload,
                load_ratio=ratio,
                without_event_7_days=stale,
                points_this_week=points,
            )
        batches += 1
        if not chunk_size or len(rows) < chunk_size or (pages is not None and batches >= pages):
            return
        provider = CMProvider.from_db(connection.alias, attnames, rows[-1][:width])
        last = [provider.last_name, provider.first_name, provider.pk]


def cm_program_sole_active() -> CMProgram | None:
    """The program to enroll in when a caller names none (the CM document's scenario 2 passes no
    program): the only active program, or ``None`` when there are several or none."""
    programs = list(CMProgram.objects.filter(is_active=True).order_by("pk")[:2])
    return programs[0] if len(programs) == 1 else None


# ---------------------------------------------------------------------------------------------------
# Possible duplicates of canonical patients (docs/DUPLICATES.md)


def may_review_canonical_duplicates(user) -> bool:
    """CM supervisors and superusers (and commands); a CPSS works a caseload, not the identity register."""
    return user is None or cm_scope(user) == "all"


def canonical_patient_duplicate_candidates(
    canonical_patient: CanonicalPatient, *, user, limit: int | None = None
) -> list[DuplicateCandidate]:
    """The canonical patients that may be the same human as ``canonical_patient``, best first (two queries):
    pairs decided "not the same person" never appear; nothing for users other than CM supervisors."""
    if not may_review_canonical_duplicates(user):
        return []
    found = duplicates.candidates(CANONICAL_PATIENTS, canonical_patient.pk, limit=limit)
    if not found:
        return []
    rows = {c.pk: c for c in CanonicalPatient.objects.filter(LIVE_CANONICAL, pk__in=[c.id for c in found])}
    return [DuplicateCandidate(rows[c.id], c.score, c.reasons) for c in found if c.id in rows]


def canonical_patient_duplicate_pairs(*, user, status: str | None = DuplicateStatus.OPEN) -> QuerySet:
    """The CM queue: pairs of ``status`` (any with None), best first, with both canonical patients joined (one
    query per page)."""
    pairs = CanonicalPatientDuplicatePair.objects.select_related("canonical_low", "canonical_high")
    pairs = pairs.filter(status=status) if status is not None else pairs
    if not may_review_canonical_duplicates(user):
        return pairs.none()
    return pairs.order_by("-score", "id")
