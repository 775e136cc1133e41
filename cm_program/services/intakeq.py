"""IntakeQ clients and their links to canonical patients."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction

from cm_program.models import (
    CanonicalPatient,
    IntakeQLink,
    IntakeQPatient,
)
from cm_program.services._common import UNSET, _clean_confidence, _clean_date_of_birth, _clean_name, _clean_text
from common.audit import audit_context
from common.errors import ConflictError
from people.models import User
from people.normalize import clean_email


@transaction.atomic
def intakeq_link_create(
    *,
    canonical_patient: CanonicalPatient,
    intakeq_patient: IntakeQPatient,
    confidence_score: Decimal | float | str | None = Decimal("1.00"),
    linked_by: User | None = None,
    notes: str | None = None,
    actor: User | None = None,
) -> tuple[IntakeQLink, bool]:
    """Link a canonical patient to an IntakeQ client; returns ``(link, created)``.

    Rule: a canonical patient has at most one IntakeQ record and an IntakeQ record belongs to at most
    one canonical patient. Linking the same pair again returns the existing link; linking either side
    to someone else is refused with the existing link's id. Confidence is 0.00-1.00.
    """
    score = _clean_confidence(confidence_score)
    with audit_context(actor=actor):
        CanonicalPatient.objects.select_for_update().filter(pk=canonical_patient.pk).first()
        by_intakeq = IntakeQLink.objects.filter(intakeq_patient=intakeq_patient).first()
        if by_intakeq is not None and by_intakeq.canonical_patient_id == canonical_patient.pk:
            return by_intakeq, False
        if by_intakeq is not None:
            raise ConflictError(
                f"IntakeQ patient {intakeq_patient} is already linked to another canonical patient "
                f"(link {by_intakeq.pk}).",
                existing_id=by_intakeq.pk,
                field="intakeq_patient",
            )
        by_canonical = IntakeQLink.objects.filter(canonical_patient=canonical_patient).first()
        if by_canonical is not None:
            raise ConflictError(
                f"{canonical_patient} is already linked to another IntakeQ patient (link {by_canonical.pk}).",
                existing_id=by_canonical.pk,
                field="canonical_patient",
            )
        try:
            with transaction.atomic():
                link = IntakeQLink.objects.create(
                    canonical_patient=canonical_patient,
                    intakeq_patient=intakeq_patient,
                    confidence_score=score,
                    linked_by=linked_by or actor,
                    notes=_clean_text(notes, field="notes", multiline=True),
                )
        except IntegrityError:
            # A concurrent link of the same IntakeQ record won the unique index.
            existing = IntakeQLink.objects.filter(intakeq_patient=intakeq_patient).first()
            raise ConflictError(
                f"IntakeQ patient {intakeq_patient} was just linked to another canonical patient.",
                existing_id=getattr(existing, "pk", None),
                field="intakeq_patient",
            ) from None
        return link, True


@transaction.atomic
def intakeq_link_update(
    *,
    link: IntakeQLink,
    actor: User | None = None,
    confidence_score: Decimal | float | str | None = UNSET,
    notes: str | None = UNSET,
) -> IntakeQLink:
    """Change the confidence or the notes of a link. Re-pointing a link is not a change: the two ends
    are fixed (one IntakeQ record per canonical patient, each way). Confidence is 0.00-1.00."""
    changes: dict[str, Any] = {}
    if confidence_score is not UNSET:
        changes["confidence_score"] = _clean_confidence(confidence_score)
    if notes is not UNSET:
        changes["notes"] = _clean_text(notes, field="notes", multiline=True)
    with audit_context(actor=actor):
        locked = IntakeQLink.objects.select_for_update().get(pk=link.pk)
        for name, value in changes.items():
            setattr(locked, name, value)
        if changes:
            locked.save(update_fields=[*changes, "updated_at"])
        return locked


INTAKEQ_FIELDS = ("intakeq_client_id", "first_name", "last_name", "date_of_birth", "email", "phone")


def _clean_intakeq(values: dict[str, Any]) -> dict[str, Any]:
    unknown = set(values) - set(INTAKEQ_FIELDS)
    if unknown:
        raise TypeError(f"Unknown IntakeQ patient fields: {sorted(unknown)}")
    cleaned: dict[str, Any] = {}
    for name, value in values.items():
        if name in ("first_name", "last_name"):
            cleaned[name] = _clean_name(value, field=name)
        elif name == "date_of_birth":
            cleaned[name] = None if value in (None, "") else _clean_date_of_birth(value)
        elif name == "email":
            cleaned[name] = clean_email(value, field="email")
        else:
            # The EMR's client id and phone are kept as the EMR writes them (scenario 2 parses the phone).
            cleaned[name] = _clean_text(value, field=name)
    return cleaned


def _intakeq_client_id_taken(client_id: str | None, *, exclude_pk=None) -> None:
    if not client_id:
        return
    other = IntakeQPatient.objects.filter(intakeq_client_id=client_id).exclude(pk=exclude_pk).first()
    if other is not None:
        raise ConflictError(
            f"An IntakeQ patient with client id {client_id} already exists.",
            existing_id=other.pk,
            field="intakeq_client_id",
        )


@transaction.atomic
def intakeq_patient_create(
    *, first_name: str, last_name: str, actor: User | None = None, **fields: Any
) -> IntakeQPatient:
    """Mirror an IntakeQ client (an EMR sync or a person typing it in before the next sync).

    Rules: names are required; the IntakeQ client id is unique (a second record with it is refused
    with the existing record's id); the date of birth is a real past date; the email is valid.
    """
    cleaned = _clean_intakeq({"first_name": first_name, "last_name": last_name, **fields})
    with audit_context(actor=actor):
        _intakeq_client_id_taken(cleaned.get("intakeq_client_id"))
        try:
            with transaction.atomic():
                return IntakeQPatient.objects.create(**cleaned)
        except IntegrityError:
            _intakeq_client_id_taken(cleaned.get("intakeq_client_id"))
            raise


@transaction.atomic
def intakeq_patient_update(
    *, intakeq_patient: IntakeQPatient, actor: User | None = None, **changes: Any
) -> IntakeQPatient:
    """Change a mirrored IntakeQ client, with the checks of ``intakeq_patient_create``."""
    cleaned = _clean_intakeq(changes)
    with audit_context(actor=actor):
        locked = IntakeQPatient.objects.select_for_update().get(pk=intakeq_patient.pk)
        _intakeq_client_id_taken(cleaned.get("intakeq_client_id"), exclude_pk=locked.pk)
        for name, value in cleaned.items():
            setattr(locked, name, value)
        if cleaned:
            locked.save(update_fields=[*cleaned, "updated_at"])
        return locked
