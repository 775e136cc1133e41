"""Merging two Persons of one human: ``person_merge`` / ``person_unmerge`` (exported by ``people.services``).

Every relation to Person is re-pointed at the survivor by the generic engine (``common.merge``), except
the keep-list. The rules below answer the unique rules a plain move would break; each is tested
(tests/people/test_merge.py):

* **Two Patient rows** (one-to-one): a second-level merge. The duplicate's patient's calls, journeys,
  physician links and converted leads move to the survivor's patient; the duplicate's patient stays
  with the duplicate, soft-deleted as "merged into #<patient>". Of the physician links, one the
  survivor's patient already has open (same physician and type) stays behind, and a second *primary*
  physician moves as not primary (the survivor's primary stays the one navigators call first).
* **Two Physician rows**: the same, for the physician's patient links and journeys.
* **Two open leads**: the duplicate's open lead is closed as *lost* and moves (one open lead per person).
* **Overlapping role periods** of one role: a duplicate's period inside one of the survivor's stays
  with the duplicate (the survivor held the role then); one that sticks out of a single survivor period
  widens it to cover both (the duplicate's stays behind); one that overlaps two of them refuses the merge.
* **Two CM identities** (canonical patients): refused unless the duplicate's was already merged into the
  survivor's (CM supervisors merge canonical patients first, ``canonical_patient_merge``).
* **Two CPSS provider records**, and any other one-to-one both hold: refused (the engine's default).
* **Two staff logins**: refused (deactivate one first); one on the duplicate moves to the survivor.
* **Email**: the duplicate's is released (set empty) so the survivor may take it; it stays in the log.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from common.duplicates import pair_mark_merged
from common.errors import ConflictError
from common.merge.engine import Merger, MergeRefused, Relation
from common.merge.models import MergeLog
from common.merge.services import check_mergeable, clean_merge_input, lock_pair, merge_records, unmerge_records
from people.duplicates import PERSONS
from people.models import (
    MergeRequestStatus,
    Person,
    PersonContactType,
    PersonDuplicatePair,
    PersonMergeRequest,
    User,
)

PERSON_MERGE_FIELDS = ("first_name", "last_name", "email", "phone", "date_of_birth")


# --- Clash rules -------------------------------------------------------------------------------------------


def _move_except(merger: Merger, relation: Relation, survivor_pk, duplicate_pk, keep_ids: list) -> None:
    if keep_ids:
        where, params = "AND NOT (id = ANY(%s::uuid[]))", [[str(i) for i in keep_ids]]
        merger.move(relation, source=duplicate_pk, target=survivor_pk, where=where, params=params)
    else:
        merger.move(relation, source=duplicate_pk, target=survivor_pk)


def physician_links_of_patient(merger: Merger, relation: Relation, survivor_pk, duplicate_pk) -> None:
    """Patient links to physicians: an open link the survivor's patient has too stays; a second primary
    moves as not primary."""
    links = relation.model._base_manager
    open_there = set(
        links.filter(patient_id=survivor_pk, end_date__isnull=True).values_list("physician_id", "relationship_type")
    )
    stay = [
        link["pk"]
        for link in links.filter(patient_id=duplicate_pk, end_date__isnull=True).values(
            "pk", "physician_id", "relationship_type"
        )
        if (link["physician_id"], link["relationship_type"]) in open_there
    ]
    merger.leave(relation, stay, why="the survivor's patient has the same open link to this physician")
    if links.filter(patient_id=survivor_pk, is_primary=True).exists():
        for pk in (
            links.filter(patient_id=duplicate_pk, is_primary=True).exclude(pk__in=stay).values_list("pk", flat=True)
        ):
            merger.set(relation.model, pk, is_primary=False)
    _move_except(merger, relation, survivor_pk, duplicate_pk, stay)


def patient_links_of_physician(merger: Merger, relation: Relation, survivor_pk, duplicate_pk) -> None:
    """Physician links to patients: an open link the survivor's physician has too stays behind."""
    links = relation.model._base_manager
    open_there = set(
        links.filter(physician_id=survivor_pk, end_date__isnull=True).values_list("patient_id", "relationship_type")
    )
    stay = [
        link["pk"]
        for link in links.filter(physician_id=duplicate_pk, end_date__isnull=True).values(
            "pk", "patient_id", "relationship_type"
        )
        if (link["patient_id"], link["relationship_type"]) in open_there
    ]
    merger.leave(relation, stay, why="the survivor's physician has the same open link to this patient")
    _move_except(merger, relation, survivor_pk, duplicate_pk, stay)


PATIENT_RULES = {"patients.PatientPhysicianRelationship.patient": physician_links_of_patient}
PHYSICIAN_RULES = {"patients.PatientPhysicianRelationship.physician": patient_links_of_physician}


def two_patients(merger: Merger, relation: Relation, survivor_pk, duplicate_pk) -> None:
    merger.merge_children(relation, survivor_pk, duplicate_pk, rules=PATIENT_RULES)


def two_physicians(merger: Merger, relation: Relation, survivor_pk, duplicate_pk) -> None:
    merger.merge_children(relation, survivor_pk, duplicate_pk, rules=PHYSICIAN_RULES)


def two_open_leads(merger: Merger, relation: Relation, survivor_pk, duplicate_pk) -> None:
    from patients.models import OPEN_LEAD_STATUSES, LeadStatus

    leads = relation.model._base_manager
    if leads.filter(person_id=survivor_pk, status__in=OPEN_LEAD_STATUSES).exists():
        for pk in leads.filter(person_id=duplicate_pk, status__in=OPEN_LEAD_STATUSES).values_list("pk", flat=True):
            merger.set(relation.model, pk, status=LeadStatus.LOST)
    merger.move(relation, source=duplicate_pk, target=survivor_pk)


def overlapping_role_periods(merger: Merger, relation: Relation, survivor_pk, duplicate_pk) -> None:
    periods = PersonContactType.objects
    survivors = list(periods.filter(person_id=survivor_pk))
    stay = []
    for period in periods.filter(person_id=duplicate_pk).order_by("valid_from"):
        clashes = [s for s in survivors if s.contact_type_id == period.contact_type_id and _overlap(s, period)]
        if not clashes:
            continue
        stay.append(period.pk)
        if len(clashes) > 1:
            raise MergeRefused(
                f"The duplicate's {period.contact_type} period from {period.valid_from:%Y-%m-%d} overlaps "
                f"{len(clashes)} of the survivor's: end or correct those periods first, then merge."
            )
        held = clashes[0]
        start = min(held.valid_from, period.valid_from)
        end = None if held.valid_to is None or period.valid_to is None else max(held.valid_to, period.valid_to)
        if (start, end) != (held.valid_from, held.valid_to):
            others = [s for s in survivors if s.contact_type_id == held.contact_type_id and s.pk != held.pk]
            widened = PersonContactType(valid_from=start, valid_to=end)
            if any(_overlap(o, widened) for o in others):
                raise MergeRefused(
                    f"The {period.contact_type} periods of the two persons overlap in a way that cannot be joined "
                    "without rewriting a third one: correct them first, then merge."
                )
            merger.set(PersonContactType, held.pk, valid_from=start, valid_to=end)
            held.valid_from, held.valid_to = start, end
    merger.leave(relation, stay, why="the survivor held the same role during that period")
    _move_except(merger, relation, survivor_pk, duplicate_pk, stay)


def _overlap(a: PersonContactType, b: PersonContactType) -> bool:
    a_ends_after_b_starts = a.valid_to is None or a.valid_to > b.valid_from
    b_ends_after_a_starts = b.valid_to is None or b.valid_to > a.valid_from
    return a_ends_after_b_starts and b_ends_after_a_starts


def two_cm_identities(merger: Merger, relation: Relation, survivor_pk, duplicate_pk) -> None:
    identities = relation.model._base_manager
    theirs = identities.filter(person_id=duplicate_pk).values("pk", "merged_into_id").first()
    if theirs is None:
        return
    ours = identities.filter(person_id=survivor_pk).values_list("pk", flat=True).first()
    if ours is None:
        merger.move(relation, source=duplicate_pk, target=survivor_pk)
    elif theirs["merged_into_id"] == ours:
        merger.leave(relation, [theirs["pk"]], why="already merged into the survivor's canonical patient")
    else:
        raise MergeRefused(
            "Both persons have a CM identity (canonical patient): a CM supervisor merges the two canonical "
            "patients first, then merge the persons."
        )


PERSON_RULES = {
    "patients.Patient.person": two_patients,
    "patients.Physician.person": two_physicians,
    "patients.PatientLead.person": two_open_leads,
    "people.PersonContactType.person": overlapping_role_periods,
    "cm_program.CanonicalPatient.person": two_cm_identities,
}


def _release_keys(merger: Merger, survivor: Person, duplicate: Person) -> None:
    """The duplicate gives up its unique keys: its email (the survivor may take it) and its login."""
    if duplicate.email is not None:
        merger.set(Person, duplicate.pk, email=None)
    if duplicate.user_id is not None:
        if survivor.user_id is not None:
            raise MergeRefused(
                "Both persons have a staff login: deactivate one of them (and unlink it) first, then merge.",
                field="duplicate",
            )
        merger.set(Person, duplicate.pk, user=None)
        merger.set(Person, survivor.pk, user=duplicate.user_id)


def _patients_of(*person_pks) -> list:
    from patients.models import Patient

    return list(Patient.all_objects.filter(person_id__in=person_pks).values_list("pk", flat=True))


def _refresh_follow_ups(patient_ids: list) -> None:
    # The follow-up columns are derived from the calls, which moved: recompute them for both patients.
    if patient_ids:
        from patients.follow_up import refresh_follow_up

        refresh_follow_up(patient_ids=patient_ids)


def _after_merge(merger: Merger, survivor: Person, duplicate: Person, patient_ids: list, actor) -> None:
    _refresh_follow_ups(patient_ids)
    # The candidate pair of the two (if the finder had made one) is decided: merged (undo puts it back).
    pair_mark_merged(
        PERSONS, PersonDuplicatePair, merger, survivor_pk=survivor.pk, duplicate_pk=duplicate.pk, actor=actor
    )


# --- Services ----------------------------------------------------------------------------------------------


@transaction.atomic
def person_merge(
    *,
    survivor: Person,
    duplicate: Person,
    field_choices: Mapping[str, str] | None = None,
    actor: User | None = None,
    reason: str,
) -> MergeLog:
    """Merge ``duplicate`` into ``survivor``: every record of the duplicate now points at the survivor
    (the clash rules of this module's docstring), the survivor takes the values chosen in
    ``field_choices`` (``{"phone": "duplicate"}``; the survivor's by default), and the duplicate is
    marked merged and soft-deleted (restoring it is refused: undo the merge). One transaction, both rows
    locked in id order; one ``MergeLog`` row, one audit event group."""
    choices, reason = clean_merge_input(
        survivor=survivor, duplicate=duplicate, field_choices=field_choices, reason=reason, fields=PERSON_MERGE_FIELDS
    )
    survivor, duplicate = lock_pair(Person, survivor.pk, duplicate.pk)
    check_mergeable(survivor, duplicate)
    patient_ids = _patients_of(survivor.pk, duplicate.pk)
    return merge_records(
        survivor=survivor,
        duplicate=duplicate,
        choices=choices,
        reason=reason,
        actor=actor,
        rules=PERSON_RULES,
        release=_release_keys,
        after=lambda merger, s, d: _after_merge(merger, s, d, patient_ids, actor),
    )


@transaction.atomic
def person_unmerge(*, merge: MergeLog, actor: User | None = None, reason: str = "") -> MergeLog:
    """Undo a person merge: every row it moved or changed is put back exactly, the duplicate is active
    again with its email. Refused, saying what, when any of those rows changed since the merge."""

    def after(log: MergeLog) -> None:
        _refresh_follow_ups(_patients_of(log.survivor_id, log.duplicate_id))

    return unmerge_records(log=merge, model=Person, actor=actor, reason=reason, after=after)


# --- Merge requests (navigators ask, CRM supervisors decide) -----------------------------------------------


@transaction.atomic
def person_merge_request_file(
    *,
    survivor: Person,
    duplicate: Person,
    reason: str,
    field_choices: Mapping[str, str] | None = None,
    actor: User | None = None,
) -> PersonMergeRequest:
    """A navigator asks for a merge: checked as the merge itself would check its input (a 400 naming the
    field), then queued for a CRM supervisor. The same pending request twice is a 409 naming the first."""
    choices, reason = clean_merge_input(
        survivor=survivor, duplicate=duplicate, field_choices=field_choices, reason=reason, fields=PERSON_MERGE_FIELDS
    )
    survivor, duplicate = lock_pair(Person, survivor.pk, duplicate.pk)
    check_mergeable(survivor, duplicate)
    existing = PersonMergeRequest.objects.filter(
        survivor=survivor, duplicate=duplicate, status=MergeRequestStatus.PENDING
    ).first()
    if existing is not None:
        raise ConflictError("This merge has already been requested.", existing_id=existing.pk)
    from common.audit import audit_context

    with audit_context(actor=actor):
        try:
            with transaction.atomic():
                return PersonMergeRequest.objects.create(
                    survivor=survivor,
                    duplicate=duplicate,
                    reason=reason,
                    field_choices={k: v for k, v in choices.items() if v != "survivor"},
                    requested_by=actor if getattr(actor, "pk", None) else None,
                )
        except IntegrityError as exc:
            raise ConflictError("This merge has already been requested.") from exc


def _clean_note(note: str) -> str:
    note = (note or "").strip()
    if len(note) > 1000:
        raise ValidationError({"note": ["At most 1000 characters."]})
    return note


def _pending(request: PersonMergeRequest) -> PersonMergeRequest:
    locked = PersonMergeRequest.objects.select_for_update().get(pk=request.pk)
    if locked.status != MergeRequestStatus.PENDING:
        raise ConflictError(f"This request was already decided ({locked.get_status_display().lower()}).")
    return locked


@transaction.atomic
def person_merge_request_approve(
    *, request: PersonMergeRequest, note: str = "", actor: User | None = None
) -> PersonMergeRequest:
    """A CRM supervisor approves: the merge is done (``person_merge``, with the request's choices and reason)
    and the request names its merge log entry. A merge that is refused leaves the request pending."""
    request = _pending(request)
    log = person_merge(
        survivor=request.survivor,
        duplicate=request.duplicate,
        field_choices=request.field_choices,
        actor=actor,
        reason=request.reason,
    )
    from common.audit import audit_context

    with audit_context(actor=actor):
        request.status, request.merge = MergeRequestStatus.APPROVED, log
        request.decision_note = _clean_note(note)
        request.decided_by = actor if getattr(actor, "pk", None) else None
        request.decided_at = timezone.now()
        request.save(update_fields=["status", "merge", "decision_note", "decided_by", "decided_at", "updated_at"])
    return request


@transaction.atomic
def person_merge_request_reject(
    *, request: PersonMergeRequest, note: str = "", actor: User | None = None
) -> PersonMergeRequest:
    """A CRM supervisor rejects a request (nothing is merged), optionally saying why."""
    request = _pending(request)
    note = _clean_note(note)
    from common.audit import audit_context

    with audit_context(actor=actor):
        request.status, request.decision_note = MergeRequestStatus.REJECTED, note
        request.decided_by = actor if getattr(actor, "pk", None) else None
        request.decided_at = timezone.now()
        request.save(update_fields=["status", "decision_note", "decided_by", "decided_at", "updated_at"])
    return request
