"""Soft delete and restore of one row, shared by the apps' ``<entity>_soft_delete`` services."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from common.audit import audit_context
from common.models import SoftDeleteModel
from common.validation import check_text


def soft_delete_row(obj: SoftDeleteModel, *, reason: str, actor=None) -> SoftDeleteModel:
    """Deactivate ``obj`` with who/when/why. Deleting an already deleted row changes nothing.

    Callers run this inside their own ``transaction.atomic``; the row is locked so two supervisors
    deleting at once do not overwrite each other's reason.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": ["Give a reason for the deletion."]})
    check_text(reason, field="reason", multiline=True)
    row = type(obj).all_objects.select_for_update().get(pk=obj.pk)
    if row.is_active:
        with audit_context(actor=actor):
            row.mark_deleted(by=actor if getattr(actor, "pk", None) else None, reason=reason)
            row.save(update_fields=["is_active", "deleted_at", "deleted_by", "deletion_reason", "updated_at"])
    _copy_state(row, obj)
    return row


def restore_row(obj: SoftDeleteModel, *, actor=None) -> SoftDeleteModel:
    """Reactivate ``obj``. The deletion's who/when/why stay in the audit trail."""
    row = type(obj).all_objects.select_for_update().get(pk=obj.pk)
    if not row.is_active and _merged(row):
        raise ValidationError(
            {"is_active": [f"This record was merged ({row.deletion_reason}): undo the merge in the merge log instead."]}
        )
    if not row.is_active:
        with audit_context(actor=actor):
            row.mark_restored()
            row.save(update_fields=["is_active", "deleted_at", "deleted_by", "deletion_reason", "updated_at"])
    _copy_state(row, obj)
    return row


def _merged(row: SoftDeleteModel) -> bool:
    """Deleted by a merge (the merged record itself, or a second-level record such as its Patient)."""
    from common.merge.engine import MERGED_REASON_PREFIX

    return getattr(row, "merged_into_id", None) is not None or row.deletion_reason.startswith(MERGED_REASON_PREFIX)


def _copy_state(source: SoftDeleteModel, target: SoftDeleteModel) -> None:
    # Keep the caller's instance in step, so it does not save stale soft-delete fields later.
    for field in ("is_active", "deleted_at", "deleted_by_id", "deletion_reason", "updated_at"):
        setattr(target, field, getattr(source, field))
