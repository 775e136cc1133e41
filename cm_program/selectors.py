"""CM reads that span tables or feed a screen, each in a constant number of queries, and the scopes
that decide which CM rows a user may see (a CPSS: their own caseload; CM supervisors: everything)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Count, Exists, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from cm_program.models import (
    BEHAVIOUR_EVENTS,
    CanonicalPatient,
    CMEnrollment,
    CMPatient,
    CMPointsTransaction,
    CMProgram,
    CMProvider,
    CMStatus,
    IntakeQLink,
    IntakeQPatient,
    PointsEvent,
    normalised_name,
)
from common import roles

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


def ledger_discrepancies(enrollments: QuerySet[CMEnrollment] | None = None) -> list[LedgerDiscrepancy]:
    """Enrollments whose ``total_points`` / ``current_streak`` disagree with their ledger (two queries)."""
    enrollments = (enrollments if enrollments is not None else CMEnrollment.objects.all()).select_related(
        "canonical_patient", "cm_program"
    )
    enrollment_list = list(enrollments.order_by("pk"))
    rows: dict[Any, list[CMPointsTransaction]] = {e.pk: [] for e in enrollment_list}
    ledger = CMPointsTransaction.objects.filter(enrollment__in=enrollments).only(
        "id", "enrollment_id", "sequence", "event_type", "points", "reverses_id"
    )
    for entry in ledger.order_by("enrollment_id", "sequence"):
        rows[entry.enrollment_id].append(entry)
    found = []
    for enrollment in enrollment_list:
        entries = rows[enrollment.pk]
        points = sum(e.points for e in entries)
        streak = streak_from_ledger(entries)
        if (points, streak) != (enrollment.total_points, enrollment.current_streak):
            found.append(
                LedgerDiscrepancy(enrollment, enrollment.total_points, points, enrollment.current_streak, streak)
            )
    return found


# ---------------------------------------------------------------------------------------------------
# Scopes: who sees which CM rows


def _sees_all_cm(user) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_superuser:
        return True
    return user.groups.filter(name=roles.CM_SUPERVISORS).exists()


def _is_cpss(user) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.is_active) and (
        user.groups.filter(name=roles.CPSS).exists()
    )


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


def cpss_caseload_summary(*, now: dt.datetime | None = None, providers=None) -> list[CaseloadRow]:
    """For each CPSS: active enrollments against ``max_caseload``, active patients without a recorded
    behaviour (attendance, test, check-in, peer support; bonuses and corrections are not contact) in the
    last 7 days, and net points written this week. One query for any number of providers."""
    now = now or timezone.now()
    since = now - dt.timedelta(days=7)
    monday = week_start(now)
    active = CMEnrollment.objects.filter(cpss_provider=OuterRef("pk"), status=CMStatus.ACTIVE)
    recent = CMPointsTransaction.objects.filter(
        enrollment=OuterRef("pk"), occurred_at__gte=since, event_type__in=BEHAVIOUR_EVENTS
    )

    def count_of(queryset) -> Coalesce:
        counted = queryset.order_by().values("cpss_provider").annotate(n=Count("pk")).values("n")
        return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))

    points = (
        CMPointsTransaction.objects.filter(
            enrollment__cpss_provider=OuterRef("pk"), occurred_at__gte=monday, occurred_at__lte=now
        )
        .order_by()
        .values("enrollment__cpss_provider")
        .annotate(total=Sum("points"))
        .values("total")
    )
    queryset = providers if providers is not None else CMProvider.objects.all()
    queryset = queryset.annotate(
        _active=count_of(active),
        _stale=count_of(active.filter(~Q(Exists(recent)))),
        _points=Coalesce(Subquery(points, output_field=IntegerField()), Value(0)),
    ).order_by("last_name", "first_name")
    rows = []
    for provider in queryset:
        ratio = (
            (Decimal(provider._active) / Decimal(provider.max_caseload)).quantize(Decimal("0.01"))
            if provider.max_caseload
            else None
        )
        rows.append(
            CaseloadRow(
                provider=provider,
                active_enrollments=provider._active,
                max_caseload=provider.max_caseload,
                load_ratio=ratio,
                without_event_7_days=provider._stale,
                points_this_week=provider._points,
            )
        )
    return rows


def cm_program_sole_active() -> CMProgram | None:
    """The program to enroll in when a caller names none (the CM document's scenario 2 passes no
    program): the only active program, or ``None`` when there are several or none."""
    programs = list(CMProgram.objects.filter(is_active=True).order_by("pk")[:2])
    return programs[0] if len(programs) == 1 else None
