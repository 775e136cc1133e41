"""The merge log: one row per merge of two records (persons, canonical patients), enough to undo it."""

from __future__ import annotations

import pghistory
from django.conf import settings
from django.db import models
from django.db.models.functions import Now
from django.utils import timezone


@pghistory.track()
class MergeLog(models.Model):
    """Who merged which duplicate into which survivor, when and why, and every row the merge touched.

    ``steps`` lists every write in the order it was made: ``{"kind": "move", "model", "table", "field",
    "column", "ids", "from", "to"}`` for the rows one set-based UPDATE re-pointed, and ``{"kind": "set",
    "model", "table", "id", "fields": {field: {"column", "old", "new"}}}`` for values of one row (the
    survivor's chosen fields, the duplicate's released keys and its merged mark, a clash rule's edit);
    ``left`` lists rows that a clash rule left on the duplicate, and why. The undo replays ``steps``
    backwards, refusing when any of them changed since. The ids are text, not foreign keys:
    the log outlives and never blocks the records it names (it is on the merge's keep-list).
    """

    id = models.BigAutoField(primary_key=True)
    model = models.CharField(max_length=100, help_text="app_label.model of the merged records.")
    survivor_id = models.CharField(max_length=64, db_index=True)
    duplicate_id = models.CharField(max_length=64, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now, db_default=Now())
    reason = models.TextField()
    duplicate_values = models.JSONField(default=dict)
    survivor_values = models.JSONField(default=dict)
    field_choices = models.JSONField(default=dict)
    steps = models.JSONField(default=list, help_text="Every write of the merge, in order (see the docstring).")
    left = models.JSONField(default=list)
    summary = models.JSONField(default=dict, help_text="Rows moved per kind, e.g. {'calls': 3}.")
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    undo_reason = models.TextField(blank=True, default="")

    class Meta:
        db_table = "merge_log"
        ordering = ["-at", "-id"]
        verbose_name = "merge"
        verbose_name_plural = "merge log"
        indexes = [models.Index(fields=["model", "-at", "-id"], name="merge_log_model_order_idx")]

    def __str__(self) -> str:
        return f"Merge #{self.pk}: {self.model} {self.duplicate_id} into {self.survivor_id}"

    @property
    def is_undone(self) -> bool:
        return self.undone_at is not None
