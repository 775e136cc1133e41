"""Merge and unmerge of two records of one model, shared by ``person_merge`` and ``canonical_patient_merge``.

The domain services say which fields a user chooses between, which unique keys the duplicate releases
and which clash rules apply; this module does the rest the same way for both: validate, lock the two
rows in id order, write through a ``Merger`` inside one audit context (so the whole merge is one event
group of the audit trail), mark the duplicate merged and soft-deleted, and keep one ``MergeLog`` row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from common.audit import audit_context
from common.errors import ConflictError
from common.merge.engine import MERGED_REASON_PREFIX, Merger, MergeRefused, Rule, jsonable, undo_problems, undo_steps
from common.merge.models import MergeLog
from common.validation import FieldErrors, check_text

SURVIVOR, DUPLICATE = "survivor", "duplicate"


def clean_merge_input(
    *, survivor: Any, duplicate: Any, field_choices: Mapping[str, str] | None, reason: str, fields: tuple[str, ...]
) -> tuple[dict[str, str], str]:
    """The field choices (every field, the survivor's by default) and the reason; a 400 naming each bad input."""
    errors = FieldErrors()
    if survivor is None:
        errors.add("survivor", "This field is required.")
    if duplicate is None:
        errors.add("duplicate", "This field is required.")
    if survivor is not None and duplicate is not None and survivor.pk == duplicate.pk:
        errors.add("duplicate", "A record cannot be merged into itself.")
    reason = (reason or "").strip()
    if not reason:
        errors.add("reason", "Say why these two records are one (it goes into the merge log).")
    else:
        check_text(reason, field="reason", multiline=True, errors=errors)
    choices = dict.fromkeys(fields, SURVIVOR)
    if field_choices is not None and not isinstance(field_choices, Mapping):
        errors.add("fields", 'Give an object such as {"phone": "duplicate"}.')
    else:
        for name, choice in (field_choices or {}).items():
            if name not in fields:
                errors.add("fields", f"Unknown field '{name}': choose among {', '.join(fields)}.")
            elif choice not in (SURVIVOR, DUPLICATE):
                errors.add("fields", f"'{name}': choose 'survivor' or 'duplicate', not {choice!r}.")
            else:
                choices[name] = choice
    errors.raise_if_any()
    return choices, reason


def lock_pair(model: type[models.Model], survivor_pk: Any, duplicate_pk: Any) -> tuple[Any, Any]:
    """Both rows locked in id order (two merges of one pair, either way round, cannot deadlock)."""
    rows = {
        row.pk: row
        for row in model._base_manager.select_for_update().filter(pk__in=[survivor_pk, duplicate_pk]).order_by("pk")
    }
    errors = FieldErrors()
    if survivor_pk not in rows:
        errors.add("survivor", "No such record.")
    if duplicate_pk not in rows:
        errors.add("duplicate", "No such record.")
    errors.raise_if_any()
    return rows[survivor_pk], rows[duplicate_pk]


def check_mergeable(survivor: Any, duplicate: Any) -> None:
    label = survivor._meta.verbose_name
    if duplicate.merged_into_id is not None:
        raise MergeRefused(f"This {label} was already merged into #{duplicate.merged_into_id}.", field="duplicate")
    if survivor.merged_into_id is not None:
        raise MergeRefused(
            f"The survivor was itself merged into #{survivor.merged_into_id}: merge into that record instead.",
            field="survivor",
        )
    if not survivor.is_active:
        raise MergeRefused(
            f"The survivor is deleted: restore that {label} first, or keep the other one.", field="survivor"
        )


def merge_records(
    *,
    survivor: Any,
    duplicate: Any,
    choices: Mapping[str, str],
    reason: str,
    actor: Any,
    rules: Mapping[str, Rule],
    release: Callable[[Merger, Any, Any], None] | None = None,
    after: Callable[[Merger, Any, Any], None] | None = None,
) -> MergeLog:
    """The common body of a merge; the caller holds the transaction and has locked and checked the pair.

    Order: release the duplicate's unique keys (``release``), re-point every relation, mark the duplicate
    merged, give the survivor the chosen values, ``after`` (derived columns), write the log."""
    model = type(survivor)
    fields = list(choices)
    log = MergeLog.objects.create(
        model=model._meta.label_lower,
        survivor_id=str(survivor.pk),
        duplicate_id=str(duplicate.pk),
        actor=actor if getattr(actor, "pk", None) else None,
        reason=reason,
        field_choices=dict(choices),
        duplicate_values={n: jsonable(getattr(duplicate, model._meta.get_field(n).attname)) for n in _logged(model)},
        survivor_values={n: jsonable(getattr(survivor, model._meta.get_field(n).attname)) for n in _logged(model)},
    )
    merger = Merger(model=model, survivor_pk=survivor.pk, duplicate_pk=duplicate.pk, rules=dict(rules))
    with audit_context(actor=actor, merge=log.pk, merge_action="merge"):
        chosen = {n: getattr(duplicate, n) for n in fields if choices[n] == DUPLICATE}
        if release is not None:
            release(merger, survivor, duplicate)
        merger.repoint_all()
        # Marked merged before the survivor takes its values: a merged row is outside the unique rules
        # (the canonical identity), so the survivor may take the duplicate's spelling.
        merger.set(
            model,
            duplicate.pk,
            merged_into=survivor.pk,
            is_active=False,
            deleted_at=timezone.now(),
            deleted_by=actor.pk if getattr(actor, "pk", None) else None,
            deletion_reason=f"{MERGED_REASON_PREFIX}{survivor.pk}",
        )
        if chosen:
            merger.set(model, survivor.pk, **chosen)
        if after is not None:
            after(merger, survivor, duplicate)
        log.steps, log.left, log.summary = merger.steps, merger.left, merger.summary
        log.save(update_fields=["steps", "left", "summary"])
    return log


def _logged(model: type[models.Model]) -> list[str]:
    """The duplicate's own values kept in the log (every concrete column but the key and the columns PostgreSQL
    computes, such as a person's search keys: they follow the values they are computed from)."""
    return [f.name for f in model._meta.concrete_fields if not f.primary_key and not f.generated]


def unmerge_records(
    *,
    log: MergeLog,
    model: type[models.Model],
    actor: Any,
    reason: str = "",
    after: Callable[[MergeLog], None] | None = None,
) -> MergeLog:
    """Put every row of ``log`` back exactly; refuse, naming what changed, when something changed since.
    The caller holds the transaction."""
    log = MergeLog.objects.select_for_update().get(pk=log.pk)
    if log.model != model._meta.label_lower:
        raise ValidationError({"merge": [f"Merge #{log.pk} is not a merge of {model._meta.verbose_name_plural}."]})
    if log.undone_at is not None:
        raise ConflictError(f"Merge #{log.pk} was already undone on {log.undone_at:%Y-%m-%d %H:%M}.")
    lock_pair(model, _pk(model, log.survivor_id), _pk(model, log.duplicate_id))
    later = MergeLog.objects.filter(
        model=log.model, duplicate_id=log.survivor_id, undone_at__isnull=True, at__gt=log.at
    ).first()
    problems = undo_problems(log.steps)
    if later is not None:
        problems.insert(0, f"Merge #{later.pk} merged the survivor into another record since: undo it first.")
    if problems:
        raise MergeRefused(f"Merge #{log.pk} cannot be undone: " + " ".join(problems[:10]))
    with audit_context(actor=actor, merge=log.pk, merge_action="undo"):
        undo_steps(log.steps)
        log.undone_at = timezone.now()
        log.undone_by = actor if getattr(actor, "pk", None) else None
        log.undo_reason = (reason or "").strip()
        log.save(update_fields=["undone_at", "undone_by", "undo_reason"])
        if after is not None:
            after(log)
    return log


def _pk(model: type[models.Model], value: str) -> Any:
    return model._meta.pk.to_python(value)


def merged_chain_end(model: type[models.Model], pk: Any, *, limit: int = 20) -> Any:
    """Where a merged record's links lead: its survivor's survivor, and so on (None when not merged)."""
    current, seen = pk, 0
    target = None
    while seen < limit:
        nxt = model._base_manager.filter(pk=current).values_list("merged_into_id", flat=True).first()
        if nxt is None:
            return target
        target = current = nxt
        seen += 1
    return target


__all__ = [
    "DUPLICATE",
    "SURVIVOR",
    "MergeRefused",
    "check_mergeable",
    "clean_merge_input",
    "lock_pair",
    "merge_records",
    "merged_chain_end",
    "unmerge_records",
]
