"""The CM patient profile: contact, insurance and consent details of a canonical patient."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from cm_program.models import (
    CanonicalPatient,
    CMPatient,
)
from cm_program.services._common import _clean_profile
from common.audit import audit_context
from common.errors import ConflictError
from people.models import User


@transaction.atomic
def cm_patient_profile_get_or_create(
    *, canonical_patient: CanonicalPatient, actor: User | None = None, **profile: Any
) -> tuple[CMPatient, bool]:
    """Return the CM profile of a canonical patient, creating it with ``profile`` if there is none.

    Rule: one CM profile per canonical patient (the document's ``UNIQUE(canonical_patient_id)``). An
    existing profile keeps its values; only its empty fields are filled from ``profile``.
    """
    cleaned = _clean_profile(profile)
    with audit_context(actor=actor):
        CanonicalPatient.objects.select_for_update().filter(pk=canonical_patient.pk).first()
        existing = CMPatient.objects.filter(canonical_patient=canonical_patient).first()
        if existing is None:
            return CMPatient.objects.create(canonical_patient=canonical_patient, **cleaned), True
        fills = {k: v for k, v in cleaned.items() if v not in (None, "") and getattr(existing, k) in (None, "")}
        if fills:
            for name, value in fills.items():
                setattr(existing, name, value)
            existing.save(update_fields=[*fills, "updated_at"])
        return existing, False


@transaction.atomic
def cm_patient_profile_update(*, cm_patient: CMPatient, actor: User | None = None, **changes: Any) -> CMPatient:
    """Change fields of a CM profile, each validated as on creation (status, smartphone access, phones...)."""
    cleaned = _clean_profile(changes)
    with audit_context(actor=actor):
        profile = CMPatient.objects.select_for_update().get(pk=cm_patient.pk)
        for name, value in cleaned.items():
            setattr(profile, name, value)
        if cleaned:
            profile.save(update_fields=[*cleaned, "updated_at"])
        return profile


@transaction.atomic
def cm_patient_profile_create(
    *, canonical_patient: CanonicalPatient, actor: User | None = None, **profile: Any
) -> CMPatient:
    """Create the CM profile of a canonical patient. Rule: one per canonical patient; a second one is
    refused with the existing profile's id (``cm_patient_profile_get_or_create`` would fill it instead)."""
    _clean_profile(profile)
    with audit_context(actor=actor):
        CanonicalPatient.objects.select_for_update().filter(pk=canonical_patient.pk).first()
        existing = CMPatient.objects.filter(canonical_patient=canonical_patient).first()
        if existing is not None:
            raise ConflictError(
                f"{canonical_patient} already has a CM profile.", existing_id=existing.pk, field="canonical_patient"
            )
        profile_row, _ = cm_patient_profile_get_or_create(canonical_patient=canonical_patient, actor=actor, **profile)
        return profile_row
