"""Writes on journeys: opening one, moving it along its allowed transitions (each move recorded in
its timeline), correcting its details, soft delete.

Keyword-only, atomic, validate-before-write, actor named in the audit trail.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar

from django.db import IntegrityError, transaction
from django.db.models import CharField, Value
from django.db.models.functions import Lower
from django.utils import timezone

from common.audit import audit_context
from common.db import constraint_name
from common.errors import ConflictError
from common.soft_delete import restore_row, soft_delete_row
from common.validation import FieldErrors, check_text
from journeys.models import ClinicalTrialJourney, EAPJourney, Eligibility, JourneyStatusChange
from journeys.transitions import CT_INITIAL, EAP_INITIAL, CTStatus, EAPStatus, allowed_next_statuses
from patients.models import Patient, PatientStatus, Physician
from people.models import User

Journey = ClinicalTrialJourney | EAPJourney
JourneyKind = Literal["clinical_trial", "eap"]
JOURNEY_KINDS: dict[str, type[Journey]] = {"clinical_trial": ClinicalTrialJourney, "eap": EAPJourney}

CLOCK_SKEW = dt.timedelta(minutes=5)
# The unique index that holds one journey per dossier number (journeys.models.EAPJourney.Meta).
EAP_NUMBER_CONSTRAINT = "eap_journey_eap_number_ci_uniq"
T = TypeVar("T")
_NCT_PREFIX = re.compile(r"^NCT", re.IGNORECASE)
_NCT_ID = re.compile(r"^NCT[0-9]{8}$")


# Free text of journeys and their timeline; notes and reasons are multi-line, names and ids are not.
_MULTILINE_TEXT = frozenset({"notes", "note", "ineligible_reason", "outcome"})


def _check_texts(errors: FieldErrors, **texts: Any) -> None:
    for name, value in texts.items():
        check_text(value, field=name, multiline=name in _MULTILINE_TEXT, errors=errors)


def clean_trial_id(value: str | None, *, errors: FieldErrors) -> str:
    """Trim; an NCT-looking id must be NCT + 8 digits and is stored upper-cased (``nct01234567`` is
    accepted as ``NCT01234567``). Other registries' ids are kept as given."""
    value = (value or "").strip()
    if _NCT_PREFIX.match(value):
        upper = value.upper()
        if not _NCT_ID.match(upper):
            errors.add("trial_id", f"'{value}' is not a ClinicalTrials.gov id: NCT followed by 8 digits.")
        return upper
    if len(value) > 50:
        errors.add("trial_id", "At most 50 characters.")
    return value


def _date(value: Any, name: str, errors: FieldErrors, *, allow_future: bool = False) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        errors.add(name, "Give a date.")
        return None
    if not allow_future and value > timezone.localdate():
        errors.add(name, "This date cannot be in the future.")
    return value


def _in_order(values: Mapping[str, Any], order: tuple[str, ...], errors: FieldErrors) -> None:
    """Each known date is on or after every known date before it in ``order``."""
    for i, later in enumerate(order):
        for earlier in order[:i]:
            if values.get(later) and values.get(earlier) and values[later] < values[earlier]:
                label = earlier.replace("_", " ")
                errors.add(later, f"Cannot be before the {label} ({values[earlier]:%Y-%m-%d}).")
                break


CT_DATE_ORDER = ("referral_date", "enrollment_date", "completion_date")
EAP_DATE_ORDER = ("approval_date", "enrollment_date", "completion_date")


def _check_physician(physician: Physician | None, name: str, errors: FieldErrors) -> None:
    if physician is None:
        return
    stored = Physician.all_objects.filter(pk=physician.pk).first()
    if stored is None or not stored.is_active:
        errors.add(name, "This physician does not exist or has been deleted.")


def _save_eap_journey(save: Callable[[], T], eap_number: str) -> T:
    """Run ``save`` (an insert or update of an EAP journey) in a savepoint and let the unique index on
    ``lower(eap_number)`` decide: a check before the write cannot see a concurrent, uncommitted journey
    with the same number. Losing to it is a conflict naming the journey that holds the number."""
    try:
        with transaction.atomic():
            return save()
    except IntegrityError as exc:
        if constraint_name(exc) != EAP_NUMBER_CONSTRAINT:
            raise
        # The holder has committed (PostgreSQL waited for it), so this new statement sees it.
        holder = (
            EAPJourney.all_objects.annotate(_number=Lower("eap_number"))
            .filter(_number=Lower(Value(eap_number, output_field=CharField())))
            .first()
        )
        raise ConflictError(
            "Another EAP journey has this dossier number.",
            existing_id=holder.pk if holder is not None else None,
            field="eap_number",
        ) from exc


def _record_change(journey: Journey, *, from_status: str, to_status: str, at: dt.datetime, actor, note: str) -> None:
    link = "ct_journey" if isinstance(journey, ClinicalTrialJourney) else "eap_journey"
    JourneyStatusChange.objects.create(
        **{link: journey},
        from_status=from_status,
        to_status=to_status,
        changed_at=at,
        changed_by=actor if getattr(actor, "pk", None) else None,
        note=(note or "").strip(),
    )


@transaction.atomic
def journey_open(
    *,
    patient: Patient,
    kind: JourneyKind,
    note: str = "",
    notes: str = "",
    # clinical trial
    trial_id: str = "",
    trial_name: str = "",
    referral_date: dt.date | None = None,
    referring_physician: Physician | None = None,
    # expanded access
    eap_number: str = "",
    product: str = "",
    physician: Physician | None = None,
    opened_at: dt.datetime | None = None,
    actor: User | None = None,
) -> Journey:
    """Open a journey of ``kind`` for a patient in its first status (CT: referred, EAP: pending), with
    the opening as the first step of its timeline. A patient may have any number of journeys; a deceased
    or deleted patient gets none. CT journeys name their trial (an NCT id must be well formed); EAP
    journeys name their product, and a dossier number belongs to one journey only."""
    errors = FieldErrors()
    if kind not in JOURNEY_KINDS:
        errors.add("kind", f"'{kind}' is not one of: {', '.join(JOURNEY_KINDS)}.")
        errors.raise_if_any()
    stored = Patient.all_objects.filter(pk=patient.pk).first()
    if stored is None or not stored.is_active:
        errors.add("patient", "This patient does not exist or has been deleted.")
    elif stored.status == PatientStatus.DECEASED:
        errors.add("patient", "This patient is deceased.")
    now = opened_at or timezone.now()
    if not isinstance(now, dt.datetime):
        errors.add("opened_at", "Give a date and time.")
        errors.raise_if_any()
    if now > timezone.now() + CLOCK_SKEW:
        errors.add("opened_at", "A journey cannot be opened in the future.")
    _check_texts(
        errors, note=note, notes=notes, trial_id=trial_id, trial_name=trial_name, eap_number=eap_number, product=product
    )
    if kind == "clinical_trial":
        if eap_number or product or physician:
            errors.add("kind", "eap_number, product and physician belong to EAP journeys.")
        trial_id = clean_trial_id(trial_id, errors=errors)
        trial_name = (trial_name or "").strip()
        if not trial_id and not trial_name:
            errors.add("trial_id", "Give the trial id or the trial name.")
        referral_date = _date(referral_date, "referral_date", errors) or timezone.localdate(now)
        _check_physician(referring_physician, "referring_physician", errors)
        errors.raise_if_any()
        with audit_context(actor=actor):
            journey = ClinicalTrialJourney.objects.create(
                patient=stored,
                referring_physician=referring_physician,
                trial_id=trial_id,
                trial_name=trial_name,
                referral_date=referral_date,
                status=CT_INITIAL,
                notes=(notes or "").strip(),
            )
            _record_change(journey, from_status="", to_status=CT_INITIAL, at=now, actor=actor, note=note)
        return journey

    if trial_id or trial_name or referral_date or referring_physician:
        errors.add("kind", "trial_id, trial_name, referral_date and referring_physician belong to CT journeys.")
    product, eap_number = (product or "").strip(), (eap_number or "").strip()
    if not product:
        errors.add("product", "Name the product requested.")
    _check_physician(physician, "physician", errors)
    errors.raise_if_any()
    with audit_context(actor=actor):
        journey = _save_eap_journey(
            lambda: EAPJourney.objects.create(
                patient=stored,
                physician=physician,
                eap_number=eap_number,
                product=product,
                status=EAP_INITIAL,
                notes=(notes or "").strip(),
            ),
            eap_number,
        )
        _record_change(journey, from_status="", to_status=EAP_INITIAL, at=now, actor=actor, note=note)
    return journey


def _lock(journey: Journey) -> Journey:
    return type(journey).all_objects.select_for_update().get(pk=journey.pk)


@transaction.atomic
def journey_transition(
    *,
    journey: Journey,
    to_status: str,
    note: str = "",
    at: dt.datetime | None = None,
    ineligible_reason: str = "",
    outcome: str = "",
    actor: User | None = None,
) -> Journey:
    """Move a journey to ``to_status`` if its transition map allows it from the current status, and add
    the move (from, to, at, by, note) to its timeline. A refused move names the allowed ones.

    Reaching a status fills the date it implies when empty (CT: enrolled -> enrollment date, completed
    -> completion date; EAP: approved -> approval, active -> enrollment, completed -> completion), and
    dates must stay in order. A CT journey that ends ineligible needs the reason.
    """
    stored = _lock(journey)
    errors = FieldErrors()
    if not stored.is_active:
        errors.add("journey", "This journey has been deleted; restore it first.")
    allowed = allowed_next_statuses(stored)
    if to_status not in allowed:
        options = ", ".join(allowed) if allowed else f"none ('{stored.status}' is final)"
        errors.add("status", f"Cannot move from '{stored.status}' to '{to_status}'. Allowed: {options}.")
    at = at or timezone.now()
    if not isinstance(at, dt.datetime):
        errors.add("at", "Give a date and time.")
        errors.raise_if_any()
    if at > timezone.now() + CLOCK_SKEW:
        errors.add("at", "A status change cannot be recorded in the future.")
    last = stored.status_changes.order_by("-changed_at").first()
    if last is not None and at < last.changed_at:
        errors.add("at", f"Cannot be before the previous step of the timeline ({last.changed_at:%Y-%m-%d %H:%M}).")
    _check_texts(errors, note=note, ineligible_reason=ineligible_reason, outcome=outcome)
    errors.raise_if_any()

    day = timezone.localdate(at)
    updates: dict[str, Any] = {"status": to_status}
    if isinstance(stored, ClinicalTrialJourney):
        if to_status == CTStatus.ENROLLED:
            updates["enrollment_date"] = stored.enrollment_date or day
            if stored.eligible != Eligibility.YES:
                updates["eligible"] = Eligibility.YES
                updates["eligibility_assessment_date"] = stored.eligibility_assessment_date or day
        elif to_status == CTStatus.COMPLETED:
            updates["completion_date"] = stored.completion_date or day
        elif to_status == CTStatus.INELIGIBLE:
            reason = (ineligible_reason or stored.ineligible_reason or "").strip()
            if not reason:
                errors.add("ineligible_reason", "Say why the patient is not eligible.")
            updates.update(
                eligible=Eligibility.NO,
                ineligible_reason=reason,
                eligibility_assessment_date=stored.eligibility_assessment_date or day,
            )
        order = CT_DATE_ORDER
    else:
        if to_status == EAPStatus.APPROVED:
            updates["approval_date"] = stored.approval_date or day
        elif to_status == EAPStatus.ACTIVE:
            updates["enrollment_date"] = stored.enrollment_date or day
        elif to_status == EAPStatus.COMPLETED:
            updates["completion_date"] = stored.completion_date or day
        order = EAP_DATE_ORDER
    if outcome:
        if not isinstance(stored, ClinicalTrialJourney):
            errors.add("outcome", "Only clinical-trial journeys record an outcome.")
        updates["outcome"] = outcome.strip()
    dates = {name: updates.get(name, getattr(stored, name)) for name in order}
    _in_order(dates, order, errors)
    assessed = updates.get("eligibility_assessment_date")
    if assessed and isinstance(stored, ClinicalTrialJourney) and assessed < stored.referral_date:
        errors.add("at", f"Cannot be before the referral date ({stored.referral_date:%Y-%m-%d}).")
    errors.raise_if_any()

    from_status = stored.status
    with audit_context(actor=actor):
        for name, value in updates.items():
            setattr(stored, name, value)
        stored.save(update_fields=[*updates, "updated_at"])
        _record_change(stored, from_status=from_status, to_status=to_status, at=at, actor=actor, note=note)
    return stored


CT_EDITABLE_FIELDS = (
    "trial_id",
    "trial_name",
    "referral_date",
    "referring_physician",
    "eligible",
    "eligibility_assessment_date",
    "ineligible_reason",
    "enrollment_date",
    "completion_date",
    "outcome",
    "notes",
)
EAP_EDITABLE_FIELDS = (
    "eap_number",
    "product",
    "physician",
    "approval_date",
    "enrollment_date",
    "completion_date",
    "notes",
)


@transaction.atomic
def journey_update(*, journey: Journey, data: Mapping[str, Any], actor: User | None = None) -> Journey:
    """Correct a journey's details (not its status: that moves only through ``journey_transition``).
    The same rules as on opening and moving hold: NCT form, dates in order, a reason for ineligibility;
    the previous values stay in the audit trail."""
    is_ct = isinstance(journey, ClinicalTrialJourney)
    editable = CT_EDITABLE_FIELDS if is_ct else EAP_EDITABLE_FIELDS
    unknown = set(data) - set(editable)
    if unknown:
        raise ValueError(f"journey_update cannot change {sorted(unknown)}")
    stored = _lock(journey)
    errors = FieldErrors()
    if not stored.is_active:
        errors.add("journey", "This journey has been deleted; restore it first.")
    values = {name: data.get(name, getattr(stored, name)) for name in editable}
    for name in values:
        if name.endswith("_date"):
            values[name] = _date(values[name], name, errors)
        elif isinstance(values[name], str):
            values[name] = values[name].strip()
            _check_texts(errors, **{name: values[name]})
    if is_ct:
        values["trial_id"] = clean_trial_id(values["trial_id"], errors=errors)
        if not values["trial_id"] and not values["trial_name"]:
            errors.add("trial_id", "Give the trial id or the trial name.")
        if values["eligible"] not in Eligibility.values:
            errors.add("eligible", f"'{values['eligible']}' is not one of: {', '.join(Eligibility.values)}.")
        if values["eligible"] == Eligibility.NO and not values["ineligible_reason"]:
            errors.add("ineligible_reason", "Say why the patient is not eligible.")
        if stored.status == CTStatus.INELIGIBLE and values["eligible"] != Eligibility.NO:
            errors.add("eligible", "An ineligible journey stays marked not eligible.")
        if stored.status in (CTStatus.ENROLLED, CTStatus.COMPLETED) and not values["enrollment_date"]:
            errors.add("enrollment_date", "An enrolled journey keeps its enrollment date.")
        if stored.status == CTStatus.COMPLETED and not values["completion_date"]:
            errors.add("completion_date", "A completed journey keeps its completion date.")
        ref, assessed = values["referral_date"], values["eligibility_assessment_date"]
        if ref and assessed and assessed < ref:
            errors.add("eligibility_assessment_date", "Cannot be before the referral date.")
        _check_physician(values["referring_physician"], "referring_physician", errors)
        _in_order(values, CT_DATE_ORDER, errors)
    else:
        if not values["product"]:
            errors.add("product", "Name the product requested.")
        required = {
            "approval_date": (EAPStatus.APPROVED, EAPStatus.ACTIVE, EAPStatus.COMPLETED),
            "enrollment_date": (EAPStatus.ACTIVE, EAPStatus.COMPLETED),
            "completion_date": (EAPStatus.COMPLETED,),
        }
        for name, statuses in required.items():
            if stored.status in statuses and not values[name]:
                errors.add(name, f"A journey in status '{stored.status}' keeps this date.")
        _check_physician(values["physician"], "physician", errors)
        _in_order(values, EAP_DATE_ORDER, errors)
    errors.raise_if_any()
    changed = [name for name in editable if getattr(stored, name) != values[name]]
    if changed:
        for name in changed:
            setattr(stored, name, values[name])
        with audit_context(actor=actor):
            if is_ct:
                stored.save(update_fields=[*changed, "updated_at"])
            else:
                _save_eap_journey(lambda: stored.save(update_fields=[*changed, "updated_at"]), values["eap_number"])
    return stored


@transaction.atomic
def journey_soft_delete(*, journey: Journey, reason: str, actor: User | None = None) -> Journey:
    """Hide a journey opened in error; it keeps its timeline and can be restored."""
    return soft_delete_row(journey, reason=reason, actor=actor)


@transaction.atomic
def journey_restore(*, journey: Journey, actor: User | None = None) -> Journey:
    """Undo a journey's soft delete."""
    return restore_row(journey, actor=actor)


# The services that create and change these models, whose names are not ``<model>_create`` /
# ``_update`` / ``_register``: the admin saves through them (tests/common/test_admin_services.py).
WRITE_SERVICES = {
    ClinicalTrialJourney: (journey_open, journey_update),
    EAPJourney: (journey_open, journey_update),
}
