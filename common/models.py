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

import pghistory.models
from django.conf import settings
from django.db import models
from django.db.models.functions import Now
from django.utils import timezone

from common.db import append_only_triggers


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


# ---------------------------------------------------------------------------------------------------
# Idempotent retries of API POSTs (see common.idempotency)


class _IndexesEventLabels(models.base.ModelBase):
    """Gives each event model an index on ``(pgh_label, pgh_id)``. pghistory builds every event model with
    a ``Meta`` of its own (``pghistory.track(meta=...)``), so an abstract base's ``Meta.indexes`` would
    not be inherited; this adds the index to that ``Meta`` unless the model declares indexes itself."""

    def __new__(mcs, name, bases, attrs, **kwargs):
        meta = attrs.get("Meta")
        if meta is not None and not getattr(meta, "abstract", False) and "indexes" not in vars(meta):
            meta.indexes = [models.Index(fields=["pgh_label", "pgh_id"])]
        return super().__new__(mcs, name, bases, attrs, **kwargs)


class Event(pghistory.models.Event, metaclass=_IndexesEventLabels):
    """The base of every audit event table (``PGHISTORY_BASE_MODEL``; named ``Event`` because pghistory
    names each event model ``<tracked model><base>``: ``PersonEvent``).

    ``(pgh_label, pgh_id)``: the events admin lists one label (the latest deletes, say) newest first by
    reading this index backwards, instead of scanning millions of insert events for a rare label
    (``common.admin_events``; docs/PERFORMANCE.md, "Audit events")."""

    class Meta:
        abstract = True


class IdempotencyKey(models.Model):
    """One ``Idempotency-Key`` of one user: the claim taken while the first request runs, then the
    answer that request gave, replayed to retries for 24 hours.

    The claim is committed before the view's transaction starts (so a concurrent retry sees it and is
    told 409); the answer is written in the view's own transaction (so a committed write always has
    its stored answer). ``claim_token`` tells one claim from the next after an abandoned claim was
    taken over. Rows older than the retention are deleted by ``prune_idempotency_keys`` and, a few at
    a time, by every new claim.
    """

    class State(models.TextChoices):
        IN_PROGRESS = "in_progress", "In progress"
        COMPLETED = "completed", "Completed"

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64, help_text="SHA-256 of method, path, query string and body.")
    method = models.CharField(max_length=10)
    path = models.TextField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.IN_PROGRESS)
    claim_token = models.UUIDField(default=uuid.uuid4)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.BinaryField(null=True, blank=True)
    response_headers = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_default=Now())
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "idempotency_key"
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_user_key_uniq"),
            models.CheckConstraint(
                condition=models.Q(state="in_progress", status_code__isnull=True)
                | models.Q(state="completed", status_code__isnull=False),
                name="idempotency_key_completed_has_answer",
            ),
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotency_key_created_idx")]

    def __str__(self) -> str:
        return f"{self.key} ({self.state})"


# ---------------------------------------------------------------------------------------------------
# PHI access log (HIPAA 164.312(b)); see common.phi_access


class PHIAccessChannel(models.TextChoices):
    ADMIN = "admin", "Admin"
    API = "api", "API"


class PHIAccessType(models.TextChoices):
    DETAIL = "detail", "Record viewed"
    COMPLETE_VIEW = "complete_view", "Complete patient view"
    EXPORT = "export", "Export"


class PHIAccess(models.Model):
    """Who viewed which patient's record, when, from where and through which channel.

    Append-only: database triggers refuse UPDATE, DELETE and TRUNCATE, so no one (the app included)
    can rewrite who looked at what. ``person_id`` / ``canonical_patient_id`` name the human the record
    belongs to (whichever the view had at hand; the admin's "patient" filter follows the link between
    the two), without a foreign key: the log outlives and never blocks the records it names.
    """

    id = models.BigAutoField(primary_key=True)
    accessed_at = models.DateTimeField(default=timezone.now, db_default=Now(), db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    channel = models.CharField(max_length=8, choices=PHIAccessChannel.choices)
    access_type = models.CharField(max_length=16, choices=PHIAccessType.choices)
    resource_type = models.CharField(max_length=64, help_text="app_label.model, or the export's name.")
    resource_id = models.CharField(max_length=64, blank=True, default="")
    person_id = models.UUIDField(null=True, blank=True, db_index=True)
    canonical_patient_id = models.UUIDField(null=True, blank=True, db_index=True)
    record_count = models.PositiveIntegerField(null=True, blank=True, help_text="Exports: the rows exported.")
    scope = models.TextField(blank=True, default="", help_text="What the view showed: its name, an export's scope.")
    path = models.TextField(blank=True, default="")
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        db_table = "phi_access_log"
        verbose_name = "PHI access"
        verbose_name_plural = "PHI access log"
        ordering = ["-accessed_at", "-id"]
        indexes = [models.Index(fields=["user", "accessed_at"], name="phi_access_log_user_idx")]
        triggers = append_only_triggers(
            update_message="phi_access_log is append-only",
            truncate_message="phi_access_log is append-only",
            truncate_name="no_truncate",
        )

    def __str__(self) -> str:
        return f"{self.user_id} {self.get_access_type_display()} {self.resource_type} {self.resource_id}"


# ---------------------------------------------------------------------------------------------------
# Imports (see common.imports)

from common.imports.models import ImportFile, ImportKind, ImportMapping, ImportRun  # noqa: E402, F401
from common.merge.models import MergeLog  # noqa: E402,F401  (the merge log belongs to this app)
