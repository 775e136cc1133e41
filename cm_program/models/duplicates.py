"""Possible duplicates of canonical patients (``cm_program.duplicates`` finds them; docs/DUPLICATES.md)."""

from __future__ import annotations

import pghistory
from django.db import models

from cm_program.models.identity import CanonicalPatient
from people.models import DuplicatePairBase, duplicate_pair_constraints


@pghistory.track(exclude=["updated_at"])
class CanonicalPatientDuplicatePair(DuplicatePairBase):
    """Two canonical patients that may be one human (a misspelt name, a wrong date of birth)."""

    canonical_low = models.ForeignKey(CanonicalPatient, on_delete=models.CASCADE, related_name="+")
    canonical_high = models.ForeignKey(CanonicalPatient, on_delete=models.CASCADE, related_name="+")

    class Meta:
        db_table = "canonical_duplicate_pair"
        ordering = ["-score", "id"]
        verbose_name = "possible duplicate (canonical patients)"
        verbose_name_plural = "possible duplicates (canonical patients)"
        constraints = duplicate_pair_constraints("canonical_duplicate_pair", "canonical_low", "canonical_high")
        indexes = [
            models.Index(fields=["status", "-score", "id"], name="canonical_dup_pair_queue_idx"),
            models.Index(fields=["canonical_high"], name="canonical_dup_pair_high_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.canonical_low_id} ~ {self.canonical_high_id} ({self.score})"
