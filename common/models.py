"""Abstract foundations shared by every table of the CRM.

* UUID primary keys (the customer's tables use UUIDs; ids never leak row counts).
* ``created_at`` / ``updated_at`` on every row.
* One soft-delete mechanism: ``is_active`` with who/when/why. ``Model.objects`` hides inactive rows
  (what screens and services expect); ``Model.all_objects`` sees them all and is the *default* manager,
  so the admin, model forms' unique checks and related-object access still find deleted rows (a
  supervisor must be able to restore them, and a unique check must not miss a deleted duplicate).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Now
from django.utils import timezone


class UUIDModel(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)

    class Meta:
        abstract = True


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(default=timezone.now, db_default=Now(), editable=False)
    updated_at = models.DateTimeField(auto_now=True, db_default=Now())

    class Meta:
        abstract = True


class SoftDeleteQuerySet(models.QuerySet):
    def active(self) -> SoftDeleteQuerySet:
        return self.filter(is_active=True)

    def inactive(self) -> SoftDeleteQuerySet:
        return self.filter(is_active=False)


class ActiveManager(models.Manager.from_queryset(SoftDeleteQuerySet)):
    """Hides soft-deleted rows."""

    def get_queryset(self) -> SoftDeleteQuerySet:
        return super().get_queryset().filter(is_active=True)


class SoftDeleteModel(models.Model):
    """Rows are deactivated, never removed; ``deleted_*`` say who did it, when and why.

    Use the services of each app to delete and restore (they check permissions and write the audit
    trail); ``mark_deleted`` / ``mark_restored`` only set the fields on one row.
    """

    is_active = models.BooleanField(default=True, db_default=True, db_index=True)
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    deletion_reason = models.TextField(blank=True, default="", editable=False)

    # Declared first, so it is the default manager (see the module docstring).
    all_objects = SoftDeleteQuerySet.as_manager()
    objects = ActiveManager()

    class Meta:
        abstract = True

    def mark_deleted(self, *, by=None, reason: str = "") -> None:
        self.is_active = False
        self.deleted_at = timezone.now()
        self.deleted_by = by
        self.deletion_reason = reason

    def mark_restored(self) -> None:
        self.is_active = True
        self.deleted_at = None
        self.deleted_by = None
        self.deletion_reason = ""


class BaseModel(UUIDModel, TimeStampedModel):
    """UUID key + timestamps: the base of every CRM table."""

    class Meta:
        abstract = True
