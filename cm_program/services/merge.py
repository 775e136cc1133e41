"""Merging two canonical patients of one human: ``canonical_patient_merge`` / ``canonical_patient_unmerge``.

Every relation to the canonical patient is re-pointed at the survivor by the generic engine
(``common.merge``), except the keep-list — the points ledger above all: its rows keep their canonical
patient (it is append-only), while their enrollment moves, so the totals stay right and the history
resolves through ``merged_into``. The clash rules (tests/cm_program/test_merge.py):

* **Two enrollments in one CM program**: refused (one enrollment per patient per program; two ledgers
  cannot be combined): withdraw and ask an administrator, or keep the two records apart.
* **Two CM profiles** (one-to-one): a second-level merge: the duplicate's enrollments move to the
  survivor's profile; the duplicate's profile stays with the duplicate.
* **Two IntakeQ links** to two different EMR clients: refused (two charts in the EMR; unlink the wrong
  match first). A link of the duplicate alone moves.
* **IntakeQ match candidates** for a client the survivor also has a candidate for stay behind.
* **Two Persons**: the duplicate keeps its own Person link (merge the two Persons too, ``person_merge``,
  which then sees the CM identities already merged); a Person of the duplicate alone moves.
* **Identity**: the duplicate's name and date of birth are released from the unique rule (merged rows
  are outside it), so the survivor may take its spelling; the old values stay in the log.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.db import transaction

from cm_program.duplicates import CANONICAL_PATIENTS
from cm_program.models import CanonicalPatient, CanonicalPatientDuplicatePair, CMEnrollment
from common.duplicates import pair_mark_merged
from common.merge.engine import Merger, MergeRefused, Relation
from common.merge.models import MergeLog
from common.merge.services import check_mergeable, clean_merge_input, lock_pair, merge_records, unmerge_records
from people.models import User

CANONICAL_PATIENT_MERGE_FIELDS = ("first_name", "last_name", "date_of_birth")


def enrollments(merger: Merger, relation: Relation, survivor_pk, duplicate_pk) -> None:
    both = (
        CMEnrollment.objects.filter(canonical_patient_id=duplicate_pk)
        .filter(cm_program__enrollments__canonical_patient_id=survivor_pk)
        .select_related("cm_program")
        .first()
    )
    if both is not None:
        raise MergeRefused(
            f"Both patients are enrolled in {both.cm_program}: one patient has one enrollment per program and "
            "two points ledgers cannot be combined. Keep the two records apart, or have an administrator "
            "resolve one of the enrollments first."
        )
    merger.move(relation, source=duplicate_pk, target=survivor_pk)


def two_profiles(merger: Merger, relation: Relation, survivor_pk, duplicate_pk) -> None:
    merger.merge_children(relation, survivor_pk, duplicate_pk)


def two_intakeq_links(merger: Merger, relation: Relation, survivor_pk, duplicate_pk) -> None:
    links = relation.model._base_manager
    if (
        links.filter(canonical_patient_id=duplicate_pk).exists()
        and links.filter(canonical_patient_id=survivor_pk).exists()
    ):
        raise MergeRefused(
            "Both patients are linked to IntakeQ clients (two charts in the EMR): unlink the wrong match first, "
            "then merge."
        )
    merger.move(relation, source=duplicate_pk, target=survivor_pk)


def match_candidates(merger: Merger, relation: Relation, survivor_pk, duplicate_pk) -> None:
    candidates = relation.model._base_manager
    theirs = set(candidates.filter(canonical_patient_id=survivor_pk).values_list("intakeq_patient_id", flat=True))
    stay = list(
        candidates.filter(canonical_patient_id=duplicate_pk, intakeq_patient_id__in=theirs).values_list("pk", flat=True)
    )
    merger.leave(relation, stay, why="the survivor has a candidate for the same IntakeQ client")
    where, params = ("AND NOT (id = ANY(%s::uuid[]))", [[str(i) for i in stay]]) if stay else ("", [])
    merger.move(relation, source=duplicate_pk, target=survivor_pk, where=where, params=params)


CANONICAL_PATIENT_RULES = {
    "cm_program.CMEnrollment.canonical_patient": enrollments,
    "cm_program.CMPatient.canonical_patient": two_profiles,
    "cm_program.IntakeQLink.canonical_patient": two_intakeq_links,
    "cm_program.IntakeQMatchCandidate.canonical_patient": match_candidates,
}


def _release_person(merger: Merger, survivor: CanonicalPatient, duplicate: CanonicalPatient) -> None:
    if duplicate.person_id is not None and survivor.person_id is None:
        merger.set(CanonicalPatient, duplicate.pk, person=None)
        merger.set(CanonicalPatient, survivor.pk, person=duplicate.person_id)


@transaction.atomic
def canonical_patient_merge(
    *,
    survivor: CanonicalPatient,
    duplicate: CanonicalPatient,
    field_choices: Mapping[str, str] | None = None,
    actor: User | None = None,
    reason: str,
) -> MergeLog:
    """Merge ``duplicate`` into ``survivor`` (the rules of this module's docstring): one transaction,
    both rows locked in id order, one ``MergeLog`` row, one audit event group. The duplicate is marked
    merged and soft-deleted; restoring it is refused (undo the merge)."""
    choices, reason = clean_merge_input(
        survivor=survivor,
        duplicate=duplicate,
        field_choices=field_choices,
        reason=reason,
        fields=CANONICAL_PATIENT_MERGE_FIELDS,
    )
    survivor, duplicate = lock_pair(CanonicalPatient, survivor.pk, duplicate.pk)
    check_mergeable(survivor, duplicate)
    return merge_records(
        survivor=survivor,
        duplicate=duplicate,
        choices=choices,
        reason=reason,
        actor=actor,
        rules=CANONICAL_PATIENT_RULES,
        release=_release_person,
        # The candidate pair of the two (if the finder had made one) is decided: merged (undo puts it back).
        after=lambda merger, s, d: pair_mark_merged(
            CANONICAL_PATIENTS, CanonicalPatientDuplicatePair, merger, survivor_pk=s.pk, duplicate_pk=d.pk, actor=actor
        ),
    )


@transaction.atomic
def canonical_patient_unmerge(*, merge: MergeLog, actor: User | None = None, reason: str = "") -> MergeLog:
    """Undo a canonical patient merge exactly; refused, saying what, when a row it wrote changed since."""
    return unmerge_records(log=merge, model=CanonicalPatient, actor=actor, reason=reason)
