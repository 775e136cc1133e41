"""The call history: logging, editing, voiding and restoring calls."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone

from common.audit import audit_context
from common.soft_delete import restore_row, soft_delete_row
from common.validation import FieldErrors, check_text
from patients.follow_up import refresh_follow_up
from patients.models import (
    CallDirection,
    CallHistory,
    CallOutcome,
    Patient,
)
from patients.services._common import (
    CLOCK_SKEW,
    MAX_CALL_MINUTES,
    _active_patient,
    _check_choice,
    _check_date,
    check_navigator,
    navigator_by_id,
    navigator_of_user,
)
from people.models import Person, User


def _clean_call(values: dict[str, Any], errors: FieldErrors) -> None:
    """Checks shared by logging and editing a call; ``values`` holds the call's complete field set."""
    _check_choice(values["direction"], "direction", CallDirection, errors)
    _check_choice(values["outcome"], "outcome", CallOutcome, errors)
    call_date = values["call_date"]
    if not isinstance(call_date, dt.datetime):
        errors.add("call_date", "Give a date and time.")
        call_date = None
    elif call_date > timezone.now() + CLOCK_SKEW:
        errors.add("call_date", "A call cannot be logged in the future.")
    duration = values["call_duration_minutes"]
    if duration is not None:
        if isinstance(duration, bool) or not isinstance(duration, int):
            errors.add("call_duration_minutes", "Give a whole number of minutes.")
        elif duration < 0:
            errors.add("call_duration_minutes", "A call cannot last a negative number of minutes.")
        elif duration > MAX_CALL_MINUTES:
            errors.add("call_duration_minutes", "A call cannot last more than a day.")
    reminder = _check_date(values["reminder_date"], "reminder_date", errors, allow_future=True)
    if reminder and call_date and reminder < timezone.localdate(call_date):
        errors.add("reminder_date", "A follow-up cannot be before the call.")
    booking = values["booking_date"]
    if booking is not None:
        if not isinstance(booking, dt.datetime):
            errors.add("booking_date", "Give a date and time.")
        elif call_date and booking < call_date:
            errors.add("booking_date", "An appointment booked during a call cannot be before the call.")
    check_text(values.get("notes"), field="notes", multiline=True, errors=errors)
    navigator = values["navigator"]
    if navigator is None:
        if "navigator" not in errors.errors:  # else: an id that names no one, said already
            errors.add("navigator", "Name the navigator who made or took the call.")
    elif call_date is not None:
        check_navigator(navigator, errors=errors, at=call_date)


@transaction.atomic
def call_log(
    *,
    patient: Patient,
    outcome: str,
    direction: str = CallDirection.OUTBOUND,
    call_date: dt.datetime | None = None,
    navigator: Person | None = None,
    booking_date: dt.datetime | None = None,
    reminder_date: dt.date | None = None,
    no_show: bool = False,
    call_duration_minutes: int | None = None,
    notes: str = "",
    actor: User | None = None,
) -> CallHistory:
    """Log a call: always a new ``call_history`` row, never an overwrite of an earlier call. The navigator
    defaults to the acting user's Person and must hold the navigator role at the time of the call. The
    direction defaults to outbound: the CRM document's calls have none, and navigators mostly call out."""
    errors = FieldErrors()
    # The patient's row lock is taken first: its follow-up date moves with this call (refresh_follow_up),
    # and two calls logged at once for one patient then queue here instead of deadlocking later.
    stored_patient = _active_patient(patient, errors, lock=True, with_person=True)
    call_date = call_date or timezone.now()
    at = call_date if isinstance(call_date, dt.datetime) else None
    if navigator is not None and navigator._state.adding:
        # Named by id and not read yet (the API's body): read once, with the role check's answer.
        navigator = navigator_by_id(navigator.pk, at=at)
        if navigator is None:
            errors.add("navigator", "This person does not exist or has been deleted.")
    elif navigator is None:
        navigator = navigator_of_user(actor, at=at)
    values = {
        "direction": direction,
        "outcome": outcome,
        "call_date": call_date,
        "navigator": navigator,
        "booking_date": booking_date,
        "reminder_date": reminder_date,
        "call_duration_minutes": call_duration_minutes,
    }
    _clean_call({**values, "notes": notes}, errors)
    if values["outcome"] == CallOutcome.NOT_RECORDED:
        # Only import_legacy_crm writes it: the old model kept bookings, not how the call went.
        errors.add("outcome", "'Not recorded' is only for calls imported from the legacy CRM.")
    errors.raise_if_any()
    with audit_context(actor=actor):
        call = CallHistory.objects.create(
            patient=stored_patient,
            no_show=bool(no_show),
            notes=notes or "",
            created_by=actor if getattr(actor, "pk", None) else None,
            **values,
        )
    refresh_follow_up(patient_ids=[call.patient_id], locked=True)
    return call


CALL_EDITABLE_FIELDS = (
    "direction",
    "outcome",
    "call_date",
    "navigator",
    "booking_date",
    "reminder_date",
    "no_show",
    "call_duration_minutes",
    "notes",
)


@transaction.atomic
def call_update(*, call: CallHistory, data: Mapping[str, Any], actor: User | None = None) -> CallHistory:
    """Correct a logged call. The previous values are kept by the audit trail (who changed what, when);
    a voided call cannot be edited, and a call never moves to another patient (void it and log anew)."""
    unknown = set(data) - set(CALL_EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"call_update cannot change {sorted(unknown)}")
    stored = CallHistory.all_objects.select_for_update().get(pk=call.pk)
    errors = FieldErrors()
    if stored.is_void:
        errors.add("call", "A voided call cannot be edited; restore it first.")
    values = {name: data.get(name, getattr(stored, name)) for name in CALL_EDITABLE_FIELDS}
    _clean_call(values, errors)
    errors.raise_if_any()
    changed = [name for name in CALL_EDITABLE_FIELDS if getattr(stored, name) != values[name]]
    if changed:
        for name in changed:
            setattr(stored, name, values[name])
        with audit_context(actor=actor):
            stored.save(update_fields=[*changed, "updated_at"])
        refresh_follow_up(patient_ids=[stored.patient_id])
    return stored


@transaction.atomic
def call_void(*, call: CallHistory, reason: str, actor: User | None = None) -> CallHistory:
    """Void a call logged in error: it stays in the table (and the audit trail) marked void, with who,
    when and why, and drops out of screens and counts. Calls are never deleted."""
    voided = soft_delete_row(call, reason=reason, actor=actor)
    refresh_follow_up(patient_ids=[voided.patient_id])
    return voided


@transaction.atomic
def call_restore(*, call: CallHistory, actor: User | None = None) -> CallHistory:
    """Undo a void."""
    restored = restore_row(call, actor=actor)
    refresh_follow_up(patient_ids=[restored.patient_id])
    return restored
