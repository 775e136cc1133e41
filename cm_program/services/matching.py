"""The review queue of IntakeQ match candidates: a CM supervisor links a pair or rejects it.

The candidates themselves are written by the matching of ``import_intakeq``
(``cm_program.imports.matching``); a decision here is final for the pair: a rejected pair is never
proposed again, a linked one has its ``IntakeQLink``.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from cm_program.models import IntakeQMatchCandidate, MatchStatus
from cm_program.services.intakeq import intakeq_link_create
from common.audit import audit_context
from common.errors import ConflictError
from people.models import User


def _locked(candidate: IntakeQMatchCandidate) -> IntakeQMatchCandidate:
    return IntakeQMatchCandidate.objects.select_for_update().get(pk=candidate.pk)


@transaction.atomic
def intakeq_match_candidate_link(*, candidate: IntakeQMatchCandidate, actor: User) -> IntakeQMatchCandidate:
    """ "Link": the reviewer confirms the pair is one human.

    Rules: only a proposed pair can be linked (a rejected pair stays rejected, a linked one is done);
    the link is made by ``intakeq_link_create`` (at most one link per canonical patient and per IntakeQ
    client: a side linked elsewhere is refused with that link's id) with the pair's score as its
    confidence and the reviewer as ``linked_by``.
    """
    with audit_context(actor=actor):
        locked = _locked(candidate)
        if locked.status != MatchStatus.PROPOSED:
            raise ConflictError(
                f"This pair was already decided ({locked.get_status_display().lower()}).",
                existing_id=locked.pk,
                field="status",
            )
        intakeq_link_create(
            canonical_patient=locked.canonical_patient,
            intakeq_patient=locked.intakeq_patient,
            confidence_score=locked.score,
            linked_by=actor,
            notes=f"confirmed match ({locked.get_band_display().lower()}, score {locked.score})",
            actor=actor,
        )
        locked.status, locked.decided_by, locked.decided_at = MatchStatus.LINKED, actor, timezone.now()
        locked.save(update_fields=["status", "decided_by", "decided_at", "updated_at"])
        return locked


@transaction.atomic
def intakeq_match_candidate_reject(*, candidate: IntakeQMatchCandidate, actor: User) -> IntakeQMatchCandidate:
    """ "Not the same person": the pair is rejected for good.

    Rule: the rejection sticks; no later import proposes the pair again (the matching leaves rejected
    rows alone). A linked pair cannot be rejected here (the link is the record; it is not undone by the
    queue); rejecting a rejected pair again changes nothing.
    """
    with audit_context(actor=actor):
        locked = _locked(candidate)
        if locked.status == MatchStatus.REJECTED:
            return locked
        if locked.status == MatchStatus.LINKED:
            raise ConflictError(
                "This pair is linked; a link is not undone from the queue.", existing_id=locked.pk, field="status"
            )
        locked.status, locked.decided_by, locked.decided_at = MatchStatus.REJECTED, actor, timezone.now()
        locked.save(update_fields=["status", "decided_by", "decided_at", "updated_at"])
        return locked
