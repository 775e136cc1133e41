"""Patient pools for billing: the enrollments active at any time in a period, with what a Medicaid
billing team needs from this system (issue 14, point 4).

One set-based query per batch: the identity, CM profile, program and CPSS come by joins; the date an
ended enrollment ended and the period's peer-support and group-attendance counts by correlated
subqueries (``cm_points_enrollment_time_idx``, ``cm_status_changes_enr_time_idx``). The CSV walks the
rows by keyset batches on the primary key, so memory stays flat whatever the size of the pool.

"Active at any time in the period" means: enrolled on or before the period's last day, and not ended
(graduated or withdrawn) before its first day. An ended enrollment's end is when it entered its current
status, read from its status history (``EnrollmentStatusChange``: the latest change into that status); a
row without one (written around the services and importers) falls back to its ``updated_at``. Paused enrollments
are still enrolled, so they are in the pool with their status shown. Deleted and merged canonical
patients are left out. Reversed peer-support and group-attendance entries are not counted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import (
    BooleanField,
    Case,
    Count,
    DateTimeField,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.http import StreamingHttpResponse
from django.utils import timezone

from cm_program.admin_views import csv_safe
from cm_program.models import (
    LIVE_CANONICAL,
    CanonicalPatient,
    CMEnrollment,
    CMPointsTransaction,
    CMProgram,
    CMStatus,
    EnrollmentStatusChange,
    PointsEvent,
)
from common.csv_export import csv_response
from common.models import PHIAccessType
from common.phi_access import PATIENT_POOL_EXPORT, phi_access_record_request

ENDED_STATUSES = (CMStatus.GRADUATED, CMStatus.WITHDRAWN)
POOL_BATCH_ROWS = 500

# The fields of one row of the pool, in the CSV's and the API's order.
POOL_FIELDS = (
    "enrollment_id",
    "canonical_patient_id",
    "first_name",
    "last_name",
    "date_of_birth",
    "medicaid_id",
    "insurance_primary",
    "program_id",
    "program",
    "cpss_id",
    "cpss_first_name",
    "cpss_last_name",
    "enrollment_date",
    "status",
    "ended_at",
    "peer_support_events",
    "group_attendance_events",
)


# The source of each field that is not a column or annotation of the same name.
_POOL_COLUMNS = {
    "enrollment_id": F("id"),
    "first_name": F("canonical_patient__first_name"),
    "last_name": F("canonical_patient__last_name"),
    "date_of_birth": F("canonical_patient__date_of_birth"),
    "medicaid_id": F("cm_patient__medicaid_id"),
    "insurance_primary": F("cm_patient__insurance_primary"),
    "program_id": F("cm_program__id"),
    "program": F("cm_program__name"),
    "cpss_id": F("cpss_provider__id"),
    "cpss_first_name": F("cpss_provider__first_name"),
    "cpss_last_name": F("cpss_provider__last_name"),
}


@dataclass(frozen=True)
class BillingPeriod:
    """``[first_day, last_day]`` in local days (``settings.TIME_ZONE``), as ``[start, end)`` instants."""

    first_day: dt.date
    last_day: dt.date

    @property
    def start(self) -> dt.datetime:
        return timezone.make_aware(dt.datetime.combine(self.first_day, dt.time.min))

    @property
    def end(self) -> dt.datetime:
        return timezone.make_aware(dt.datetime.combine(self.last_day + dt.timedelta(days=1), dt.time.min))


def _event_count(event_type: str, period: BillingPeriod) -> Subquery:
    reversed_ = CMPointsTransaction.objects.filter(reverses=OuterRef("pk"))
    counted = (
        CMPointsTransaction.objects.filter(
            enrollment=OuterRef("pk"),
            event_type=event_type,
            occurred_at__gte=period.start,
            occurred_at__lt=period.end,
        )
        .filter(~Exists(reversed_))
        .order_by()
        .values("enrollment")
        .annotate(n=Count("*"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def _ended_at() -> Subquery:
    """When an ended enrollment entered its current status: the latest row of its status history
    (``cm_status_changes_enr_time_idx``)."""
    entered = (
        EnrollmentStatusChange.objects.filter(enrollment=OuterRef("pk"), to_status=OuterRef("status"))
        .order_by("-changed_at", "-created_at")
        .values("changed_at")[:1]
    )
    return Subquery(entered, output_field=DateTimeField())


def _enrolled_by_the_end(period: BillingPeriod, program: CMProgram | None) -> QuerySet[CMEnrollment]:
    """The enrollments of live patients enrolled before the period's end (of ``program``, or of every program)."""
    # Patients not live are left out by their small set (``canonical_not_live_idx``), not by joining every
    # canonical patient: the join made the planner probe the enrollments once per patient (0.9 s at full size).
    not_live = CanonicalPatient.all_objects.filter(~LIVE_CANONICAL).values("pk")
    queryset = CMEnrollment.objects.filter(enrollment_date__lt=period.end).exclude(canonical_patient_id__in=not_live)
    if program is not None:
        queryset = queryset.filter(cm_program=program)
    return queryset


def _ended_since(period: BillingPeriod) -> RawSQL:
    """For an ended enrollment, ``ended_at >= period.start`` (``ended_at`` as ``pool_enrollments`` computes it) as
    two hashed sets of the status history instead of one probe of it per ended enrollment: the latest change into
    its status is on or after the start exactly when some change into its status is (its rows of the period's
    changes into an ended status), and without any change into its status, ``updated_at`` is."""
    table, history = CMEnrollment._meta.db_table, EnrollmentStatusChange._meta.db_table
    changes_into_ended = f"SELECT enrollment_id, to_status FROM {history} WHERE to_status = ANY(%s)"
    sql = (
        f"({table}.id, {table}.status) IN ({changes_into_ended} AND changed_at >= %s)"
        f" OR ({table}.updated_at >= %s AND ({table}.id, {table}.status) NOT IN ({changes_into_ended}))"
    )
    ended = [str(status) for status in ENDED_STATUSES]
    return RawSQL(sql, (ended, period.start, period.start, ended), output_field=BooleanField())


def pool_enrollments(*, period: BillingPeriod, program: CMProgram | None = None) -> QuerySet[CMEnrollment]:
    """The enrollments active at any time in ``period`` (of ``program``, or of every program), ordered by
    id, annotated with ``ended_at``, ``peer_support_events`` and ``group_attendance_events``."""
    queryset = _enrolled_by_the_end(period, program)
    ended = Q(status__in=ENDED_STATUSES)
    return (
        # Read from the status history only for ended rows (the CASE skips the subquery for the others).
        queryset.annotate(
            ended_at=Case(
                When(ended, then=Coalesce(_ended_at(), F("updated_at"))), default=None, output_field=DateTimeField()
            )
        )
        .filter(~ended | Q(ended_at__gte=period.start))
        .annotate(
            peer_support_events=_event_count(PointsEvent.PEER_SUPPORT, period),
            group_attendance_events=_event_count(PointsEvent.GROUP_ATTENDANCE, period),
        )
        .order_by("id")
    )


def patient_pool(*, period: BillingPeriod, program: CMProgram | None = None) -> QuerySet:
    """The pool as rows (dicts) of ``POOL_FIELDS``: one query, whatever the number of rows."""
    return pool_enrollments(period=period, program=program).values(
        *(name for name in POOL_FIELDS if name not in _POOL_COLUMNS), **_POOL_COLUMNS
    )


def pool_page_enrollments(*, period: BillingPeriod, program: CMProgram | None = None) -> QuerySet[CMEnrollment]:
    """The pool as enrollments with what ``pool_row_of`` reads joined in (for the API's pages)."""
    return pool_enrollments(period=period, program=program).select_related(
        "canonical_patient", "cm_patient", "cm_program", "cpss_provider"
    )


def pool_row_of(enrollment: CMEnrollment) -> dict[str, Any]:
    """A row of ``pool_page_enrollments`` as ``patient_pool`` gives it."""
    patient, profile, cpss = enrollment.canonical_patient, enrollment.cm_patient, enrollment.cpss_provider
    return {
        "enrollment_id": enrollment.pk,
        "canonical_patient_id": patient.pk,
        "first_name": patient.first_name,
        "last_name": patient.last_name,
        "date_of_birth": patient.date_of_birth,
        "medicaid_id": profile.medicaid_id,
        "insurance_primary": profile.insurance_primary,
        "program_id": enrollment.cm_program_id,
        "program": enrollment.cm_program.name,
        "cpss_id": enrollment.cpss_provider_id,
        "cpss_first_name": cpss.first_name if cpss else None,
        "cpss_last_name": cpss.last_name if cpss else None,
        "enrollment_date": enrollment.enrollment_date,
        "status": enrollment.status,
        "ended_at": enrollment.ended_at,
        "peer_support_events": enrollment.peer_support_events,
        "group_attendance_events": enrollment.group_attendance_events,
    }


def pool_row(values: dict[str, Any]) -> dict[str, Any]:
    """One row of ``patient_pool`` with ``POOL_FIELDS`` only (``ended_at`` is empty for rows not ended)."""
    return {name: values[name] for name in POOL_FIELDS}


@contextlib.contextmanager
def _without_jit():
    """A transaction in which PostgreSQL does not JIT-compile: these plans are costed high enough for it (the
    status-history probes), and compiling cost more than running them (the count: 0.76 s against 0.23 s at
    full size). ``set_config(..., true)`` lasts until the transaction ends, so no other request is affected."""
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('jit', 'off', true)")
        yield


def iter_patient_pool(
    *, period: BillingPeriod, program: CMProgram | None = None, batch_rows: int = POOL_BATCH_ROWS
) -> Iterator[dict[str, Any]]:
    """Every row of the pool, read by keyset batches of ``batch_rows`` on the enrollment id (one query a
    batch; never more than a batch in memory)."""
    rows = patient_pool(period=period, program=program)
    last = None
    while True:
        with _without_jit():
            batch = list((rows if last is None else rows.filter(id__gt=last))[:batch_rows])
        for values in batch:
            yield pool_row(values)
        if len(batch) < batch_rows:
            return
        last = batch[-1]["enrollment_id"]


def patient_pool_count(*, period: BillingPeriod, program: CMProgram | None = None) -> int:
    """The number of rows of ``pool_enrollments``, counted without probing the status history per ended
    enrollment (``_ended_since``): 54-93 ms instead of 142-193 ms at full size (41,523 of 55,000 enrollments)."""
    ended = Q(status__in=ENDED_STATUSES)
    with _without_jit():
        return _enrolled_by_the_end(period, program).filter(~ended | Q(_ended_since(period))).count()


# ---------------------------------------------------------------------------------------------------
# The request's parameters, as the API and the admin read them


def _day(params, name: str) -> dt.date:
    text = (params.get(name) or "").strip()
    if not text:
        raise ValidationError({name: ["This parameter is required (YYYY-MM-DD)."]})
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValidationError({name: [f"{text[:40]!r} is not a date of the form YYYY-MM-DD."]}) from None


def pool_parameters(params) -> tuple[BillingPeriod, CMProgram | None]:
    """``from``, ``to`` (required local days, ``from`` <= ``to``) and ``program`` (an id, optional) of a
    request's query; a ``ValidationError`` naming the parameter otherwise."""
    first_day = _day(params, "from")
    last_day = _day(params, "to")
    if first_day > last_day:
        raise ValidationError({"from": ["`from` must be on or before `to`."]})
    program = None
    program_text = (params.get("program") or "").strip()
    if program_text:
        try:
            program = CMProgram.objects.get(pk=uuid.UUID(program_text))
        except (ValueError, CMProgram.DoesNotExist):
            raise ValidationError({"program": [f"No CM program has the id {program_text[:40]!r}."]}) from None
    return BillingPeriod(first_day, last_day), program


# ---------------------------------------------------------------------------------------------------
# Export: the CSV (API and admin) and its entry in the PHI access log


def log_pool_export(request, *, period: BillingPeriod, program: CMProgram | None, record_count: int) -> None:
    """One PHI access-log entry per export (a JSON page or a CSV), written before the first byte."""
    scope = f"patient pool {period.first_day:%Y-%m-%d} to {period.last_day:%Y-%m-%d}"
    if program is not None:
        scope += f", program {program.name}"
    phi_access_record_request(
        request,
        access_type=PHIAccessType.EXPORT,
        resource_type=PATIENT_POOL_EXPORT,
        record_count=record_count,
        scope=scope[:500],
    )


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).isoformat(timespec="seconds")
    if isinstance(value, dt.date | uuid.UUID):
        return str(value)
    return csv_safe(value)


def pool_csv_response(request, *, period: BillingPeriod, program: CMProgram | None = None) -> StreamingHttpResponse:
    """The pool as a streamed CSV attachment (keyset batches), logged as one export."""
    log_pool_export(
        request, period=period, program=program, record_count=patient_pool_count(period=period, program=program)
    )
    rows = ([_cell(row[name]) for name in POOL_FIELDS] for row in iter_patient_pool(period=period, program=program))
    filename = f"patient-pool-{period.first_day:%Y-%m-%d}-to-{period.last_day:%Y-%m-%d}.csv"
    return csv_response(filename=filename, header=POOL_FIELDS, rows=rows)
