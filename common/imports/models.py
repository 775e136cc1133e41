"""Imports: a run with its files, and the mapping of old ids to the rows an import made."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Now
from django.utils import timezone


class ImportKind(models.TextChoices):
    LEGACY_CRM = "legacy_crm", "Legacy CRM (contacts, patients, conditions, EAP dossiers)"
    CM_PATIENTS = "cm_patients", "CM patients from the shared table (Phase 2)"
    INTAKEQ = "intakeq", "IntakeQ clients"


class ImportRun(models.Model):
    """One run of an importer, from the command line or the admin's upload screen.

    The uploaded files live in PostgreSQL (``ImportFile``) so that a worker on another machine can
    read them; the report is stored here when the run ends, so the page shows it after the worker
    is gone. A run is executed at least once by the task queue: ``status`` and the mapping table make
    a second execution harmless.
    """

    class Status(models.TextChoices):
        UPLOADED = "uploaded", "Uploaded"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=16, choices=ImportKind.choices)
    dry_run = models.BooleanField(default=True, help_text="Everything runs, then is rolled back.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.UPLOADED)
    options = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_default=Now())
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    rows_done = models.PositiveBigIntegerField(default=0)
    rows_total = models.PositiveBigIntegerField(null=True, blank=True)
    report = models.JSONField(default=dict, blank=True, help_text="Counts per file and outcome, and notable rows.")
    error = models.TextField(blank=True)
    previous = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The dry run this real run repeats (same files).",
    )

    class Meta:
        db_table = "import_run"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["kind", "-created_at"], name="import_run_kind_created_idx")]

    def __str__(self) -> str:
        mode = "dry run" if self.dry_run else "import"
        return f"{self.get_kind_display()} {mode} #{self.pk} ({self.status})"


class ImportFile(models.Model):
    """One uploaded input file of a run, kept in the database (a worker may run on another machine)."""

    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(ImportRun, on_delete=models.CASCADE, related_name="files")
    name = models.CharField(max_length=255)
    content = models.BinaryField()
    size = models.PositiveBigIntegerField()

    class Meta:
        db_table = "import_file"
        constraints = [models.UniqueConstraint(fields=["run", "name"], name="import_file_run_name_uniq")]

    def __str__(self) -> str:
        return self.name


class ImportMapping(models.Model):
    """An old system's row and the row an import made (or matched) for it.

    A second run finds every old id here and creates nothing. ``written`` holds the values the
    importer itself wrote; a later run updates a field only where the stored value still equals what
    it wrote (nobody has edited it since).
    """

    id = models.BigAutoField(primary_key=True)
    source = models.CharField(max_length=16, choices=ImportKind.choices)
    old_table = models.CharField(max_length=64, help_text="The old system's table or file, e.g. contact.")
    old_id = models.CharField(max_length=255)
    target = models.CharField(max_length=100, help_text="app_label.model of the new row.")
    new_id = models.CharField(max_length=64)
    written = models.JSONField(default=dict, blank=True)
    run = models.ForeignKey(ImportRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, db_default=Now())
    updated_at = models.DateTimeField(default=timezone.now, db_default=Now())

    class Meta:
        db_table = "import_mapping"
        constraints = [
            models.UniqueConstraint(fields=["source", "old_table", "old_id"], name="import_mapping_old_id_uniq"),
        ]
        indexes = [models.Index(fields=["target", "new_id"], name="import_mapping_target_idx")]

    def __str__(self) -> str:
        return f"{self.source}:{self.old_table}:{self.old_id} -> {self.target}:{self.new_id}"
