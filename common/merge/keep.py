"""The merge's keep-list: relations that keep pointing at the duplicate after a merge.

One declared place (the lead adds the pair tables of the duplicate finder here when the branches meet).
Everything else that refers to a merged model is re-pointed at the survivor, found from the model graph,
so a relation added later is moved without touching the merge (tests/common/test_merge_graph.py fails
when a relation is neither movable nor listed here).

Entries are ``"app_label.Model"`` (every relation of that model) or ``"app_label.Model.field"``.
"""

from __future__ import annotations

from django.db import models

KEEP_MODELS: dict[str, str] = {
    # The merge log names both records by id (text, no foreign key); listed for completeness.
    "common.MergeLog": "the merge log itself",
    # The PHI access log and the import mapping hold ids as text (no foreign key) and are append-only or
    # the importers' memory of what they wrote; listed so that a foreign key added to them stays put.
    "common.PHIAccess": "the PHI access log: who looked at which record, as it was then",
    "common.ImportMapping": "import mapping tables: the row an import wrote",
    # The duplicate finder's candidate pairs and "not the same person" decisions (branch dup-find).
    "people.PersonDuplicatePair": "duplicate candidate pairs and 'not a duplicate' decisions",
    "cm_program.CanonicalPatientDuplicatePair": "duplicate candidate pairs and 'not a duplicate' decisions",
    # A navigator's request names the pair it asks to merge.
    "people.PersonMergeRequest": "merge requests name the pair they ask about",
}

KEEP_FIELDS: dict[str, str] = {
    # The points ledger is append-only: its rows keep their canonical patient; totals and history
    # resolve through ``merged_into`` (its enrollment moves, so the enrollment's totals stay right).
    "cm_program.CMPointsTransaction.canonical_patient": "the points ledger is never updated",
    # Chains of merges: A merged into B stays "merged into B"; B's own merge into C is followed on read.
    "people.Person.merged_into": "a merged record names the record it was merged into",
    "cm_program.CanonicalPatient.merged_into": "a merged record names the record it was merged into",
}


def is_audit_event(model: type[models.Model]) -> bool:
    """pghistory event tables: the audit trail records what each row was, and is never rewritten."""
    from pghistory.models import Event

    return issubclass(model, Event)


def kept_because(model: type[models.Model], field: models.Field) -> str | None:
    """Why a relation is kept on the duplicate, or None when the merge re-points it."""
    if is_audit_event(model):
        return "audit-trail events"
    label = model._meta.label
    return KEEP_MODELS.get(label) or KEEP_FIELDS.get(f"{label}.{field.name}")
