"""The canonical patient: one row per human across psychiatry (IntakeQ) and CM."""

from __future__ import annotations

import pghistory
from django.db import models
from django.db.models import F, Q

from cm_program.models.base import CMModel, _not_blank, normalised_name
from common.models import SoftDeleteModel
from common.search import search_indexes

# A canonical patient the screens, reports and the duplicate finder count: not deleted, not merged into another.
LIVE_CANONICAL = Q(is_active=True, merged_into__isnull=True)


@pghistory.track()
class CanonicalPatient(SoftDeleteModel, CMModel):
    """One row per human across psychiatry (IntakeQ) and CM: identity only.

    The document's ``UNIQUE(first_name, last_name, date_of_birth)`` is kept in a stricter form: the
    unique index compares names trimmed, without accents and in lower case, so "José " and "jose"
    born the same day are one patient even when a row is written around the services. The plain
    three-column rule is implied by it. ``person`` ties the identity to the CRM-wide ``Person``.
    """

    first_name = models.TextField()
    last_name = models.TextField()
    date_of_birth = models.DateField()
    person = models.OneToOneField(
        "people.Person",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="canonical_patient",
        help_text="The CRM-wide identity of this human (name, email, phone live there).",
    )
    # The document's SQL inserts rows without the soft-delete columns: PostgreSQL fills them in.
    deletion_reason = models.TextField(blank=True, default="", db_default="", editable=False)
    # Set by ``canonical_patient_merge`` on the duplicate (also soft-deleted, its identity released from
    # the unique rule): the points history and redirects follow it. Only the unmerge clears it.
    merged_into = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged_records",
        editable=False,
        help_text="The canonical patient this duplicate was merged into.",
    )

    class Meta:
        db_table = "patients_canonical"
        ordering = ["last_name", "first_name", "date_of_birth"]
        verbose_name = "canonical patient"
        permissions = [("merge_canonicalpatient", "Can merge duplicate canonical patients and undo merges")]
        constraints = [
            models.UniqueConstraint(
                normalised_name("first_name"),
                normalised_name("last_name"),
                F("date_of_birth"),
                # A merged duplicate releases its identity, so the survivor may take its spelling.
                condition=Q(merged_into__isnull=True),
                name="patients_canonical_identity_uniq",
                violation_error_message="A canonical patient with this name and date of birth already exists.",
            ),
            models.CheckConstraint(
                condition=_not_blank("first_name") & _not_blank("last_name"),
                name="patients_canonical_names_not_blank",
                violation_error_message="First and last name are required.",
            ),
            models.CheckConstraint(
                condition=Q(is_active=True) | ~Q(deletion_reason=""),
                name="patients_canonical_deletion_has_reason",
                violation_error_message="A deleted canonical patient needs a deletion reason.",
            ),
            models.CheckConstraint(
                condition=Q(merged_into__isnull=True) | Q(is_active=False),
                name="patients_canonical_merged_is_inactive",
                violation_error_message="A merged canonical patient stays deleted; undo the merge instead.",
            ),
        ]
        indexes = [
            # The admin changelist's order (its admin puts the key last, ascending).
            models.Index(fields=["last_name", "first_name", "date_of_birth", "id"], name="patients_canonical_list_idx"),
            # The search box (common.search): names anywhere, ignoring case and accents.
            *search_indexes("canonical", "first_name", "last_name"),
            # The duplicate finder's blocking key (cm_program.duplicates).
            models.Index(fields=["date_of_birth"], name="canonical_dob_idx"),
            # The few patients who are not live (deleted or merged): the CM report leaves their enrollments
            # out by this small set instead of joining every canonical patient.
            models.Index(fields=["id"], name="canonical_not_live_idx", condition=~LIVE_CANONICAL),
        ]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name} ({self.date_of_birth:%Y-%m-%d})"
