"""Possible duplicate canonical patients: the "not the same person" decision (the merge is its own service)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from cm_program.duplicates import CANONICAL_PATIENTS, LIVE_CANONICAL
from cm_program.models import CanonicalPatient, CanonicalPatientDuplicatePair
from cm_program.selectors import may_review_canonical_duplicates
from common.audit import audit_context
from common.duplicates import pair_mark_not_duplicate
from people.models import User


@transaction.atomic
def canonical_patient_mark_not_duplicate(
    *, canonical_patient: CanonicalPatient, other: CanonicalPatient, actor: User | None = None
) -> CanonicalPatientDuplicatePair:
    """ "Not the same person": the pair is stored as decided and never proposed again, whatever later edits
    do. Rules: CM supervisors (and superusers) decide, about two live canonical patients; a merged pair stays
    merged."""
    if not may_review_canonical_duplicates(actor):
        raise PermissionDenied("Only CM supervisors decide about duplicate canonical patients.")
    if not CanonicalPatient.objects.filter(LIVE_CANONICAL, pk=other.pk).exists():
        raise ValidationError({"other": "No such canonical patient."})
    with audit_context(actor=actor):
        return pair_mark_not_duplicate(
            CANONICAL_PATIENTS, CanonicalPatientDuplicatePair, one=canonical_patient, other=other, actor=actor
        )
