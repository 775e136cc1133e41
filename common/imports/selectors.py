"""Reads of the upload screen: which imports a user may run, and the runs they may see."""

from __future__ import annotations

from django.db.models import QuerySet

from common import roles
from common.imports.models import ImportKind, ImportRun

# The role that owns each kind of import: the CRM's legacy data goes to the CRM supervisors, the CM
# program's data (its patients, IntakeQ's clients) to the CM supervisors. Superusers may run them all.
KINDS_BY_ROLE: dict[str, tuple[str, ...]] = {
    roles.CRM_SUPERVISORS: (ImportKind.LEGACY_CRM,),
    roles.CM_SUPERVISORS: (ImportKind.CM_PATIENTS, ImportKind.INTAKEQ),
}


def import_kinds_for(user) -> list[str]:
    """The kinds of import ``user`` may upload, run and see, in ``ImportKind`` order (none for others)."""
    if user is None or not getattr(user, "is_active", False) or not getattr(user, "is_staff", False):
        return []
    if user.is_superuser:
        return list(ImportKind.values)
    groups = roles.group_names(user) & set(KINDS_BY_ROLE)
    allowed = {kind for group in groups for kind in KINDS_BY_ROLE[group]}
    return [kind for kind in ImportKind.values if kind in allowed]


def import_runs_visible_to(user) -> QuerySet[ImportRun]:
    """The runs of the kinds ``user`` may run, newest first (the model's order, backed by its index)."""
    return ImportRun.objects.filter(kind__in=import_kinds_for(user)).select_related("created_by")
