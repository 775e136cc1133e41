"""Helpers shared by the CM services: the input checks (pure: they never touch the database), the CM-profile fields,
and the ledger append that enrollment bonuses and recorded events both use."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.db.models import F, Max
from django.utils import timezone

from cm_program.models import (
    CMEnrollment,
    CMPointsTransaction,
    CMStatus,
    EnrollmentSource,
    SmartphoneAccess,
)
from common.validation import check_text
from people.models import User
from people.normalize import clean_email, normalize_phone

OLDEST_DATE_OF_BIRTH = dt.date(1900, 1, 1)


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


def _clean_name(value: str | None, *, field: str) -> str:
    cleaned = (value or "").strip()
    if not cleaned:
        raise ValidationError({field: ["This field is required."]})
    check_text(cleaned, field=field)
    return cleaned


def _clean_date_of_birth(value: dt.date | str | None, *, field: str = "date_of_birth") -> dt.date:
    if value is None or value == "":
        raise ValidationError({field: ["This field is required."]})
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value.strip())
        except ValueError:
            raise ValidationError({field: [f"'{value}' is not a date (YYYY-MM-DD)."]}) from None
    if isinstance(value, dt.datetime):
        value = value.date()
    if value > timezone.localdate():
        raise ValidationError({field: ["The date of birth cannot be in the future."]})
    if value < OLDEST_DATE_OF_BIRTH:
        raise ValidationError({field: [f"The date of birth cannot be before {OLDEST_DATE_OF_BIRTH:%Y}."]})
    return value


def _clean_choice(value: str | None, *, field: str, choices, required: bool = False) -> str | None:
    if value is None or value == "":
        if required:
            raise ValidationError({field: ["This field is required."]})
        return None
    if value not in choices.values:
        allowed = ", ".join(choices.values)
        raise ValidationError({field: [f"'{value}' is not one of: {allowed}."]})
    return value


def _clean_text(value: str | None, *, field: str, multiline: bool = False) -> str | None:
    """Trimmed text or None; control characters are refused (notes and reasons are ``multiline``)."""
    if value is None:
        return None
    value = value.strip()
    check_text(value, field=field, multiline=multiline)
    return value or None


def _clean_phone(value: str | None, *, field: str) -> str | None:
    return normalize_phone(value, field=field) or None


def _clean_confidence(value: Decimal | float | str | None) -> Decimal:
    if value is None or value == "":
        return Decimal("1.00")
    try:
        score = Decimal(str(value))
    except InvalidOperation:
        raise ValidationError({"confidence_score": [f"'{value}' is not a number."]}) from None
    if not score.is_finite() or score < 0 or score > 1:
        raise ValidationError({"confidence_score": ["The confidence score is between 0.00 and 1.00."]})
    if score != score.quantize(Decimal("0.01")):
        raise ValidationError({"confidence_score": ["The confidence score has at most two decimals."]})
    return score.quantize(Decimal("0.01"))


def _not_future(value: dt.datetime | None, *, field: str) -> dt.datetime:
    now = timezone.now()
    if value is None:
        return now
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    # A minute of slack for clocks of client devices that run slightly ahead.
    if value > now + dt.timedelta(minutes=1):
        raise ValidationError({field: ["This cannot be in the future."]})
    return value


PROFILE_FIELDS = (
    "phone",
    "email",
    "insurance_primary",
    "medicaid_id",
    "enrollment_source",
    "consent_date",
    "smartphone_access",
    "emergency_contact_name",
    "emergency_contact_phone",
    "address_street",
    "address_city",
    "address_state",
    "address_zip",
    "preferred_language",
    "status",
)


def _clean_profile(values: dict[str, Any]) -> dict[str, Any]:
    """Validate the CM-profile fields that were given; keys left out stay out (defaults apply)."""
    unknown = set(values) - set(PROFILE_FIELDS)
    if unknown:
        raise TypeError(f"Unknown CM profile fields: {sorted(unknown)}")
    cleaned: dict[str, Any] = {}
    for name, value in values.items():
        if name == "email":
            cleaned[name] = clean_email(value, field="email")
        elif name in ("phone", "emergency_contact_phone"):
            cleaned[name] = _clean_phone(value, field=name)
        elif name == "enrollment_source":
            cleaned[name] = _clean_choice(value, field=name, choices=EnrollmentSource)
        elif name == "smartphone_access":
            cleaned[name] = _clean_choice(value, field=name, choices=SmartphoneAccess)
        elif name == "status":
            cleaned[name] = _clean_choice(value, field=name, choices=CMStatus, required=True)
        elif name == "consent_date":
            cleaned[name] = None if value is None else _not_future(value, field=name)
        else:
            cleaned[name] = _clean_text(value, field=name)
    return cleaned


def _is_violation_of(exc: IntegrityError, constraint: str) -> bool:
    cause = exc.__cause__
    diag = getattr(cause, "diag", None)
    return getattr(diag, "constraint_name", None) == constraint


def _append_entry(
    *,
    enrollment: CMEnrollment,
    event_type: str,
    points: int,
    streak_after: int,
    reason: str = "",
    occurred_at: dt.datetime | None = None,
    reverses: CMPointsTransaction | None = None,
    actor: User | None = None,
) -> CMPointsTransaction:
    """Append one ledger row and move the enrollment's totals by it. The caller holds the enrollment's
    row lock, so ``sequence`` (next number) and the totals cannot be raced."""
    last = enrollment.points_transactions.aggregate(last=Max("sequence"))["last"] or 0
    entry = CMPointsTransaction.objects.create(
        enrollment=enrollment,
        canonical_patient_id=enrollment.canonical_patient_id,
        sequence=last + 1,
        event_type=event_type,
        points=points,
        reason=reason,
        reverses=reverses,
        streak_after=streak_after,
        recorded_by=actor,
        occurred_at=occurred_at or timezone.now(),
    )
    now = timezone.now()
    CMEnrollment.objects.filter(pk=enrollment.pk).update(
        total_points=F("total_points") + points, current_streak=streak_after, updated_at=now
    )
    # Under the row lock the stored total is the one read with it: the new values are known, no re-read.
    enrollment.total_points, enrollment.current_streak, enrollment.updated_at = (
        enrollment.total_points + points,
        streak_after,
        now,
    )
    # A new entry is reversed by nothing yet: showing it (``reversed_by``) needs no query.
    CMPointsTransaction.reversed_by.related.set_cached_value(entry, None)
    return entry
