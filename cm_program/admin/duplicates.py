"""The queue of possible duplicate canonical patients (CM supervisors): best score first, "not the same person",
a link to the compare-and-merge page. The panel on the canonical patient page is in ``identity``."""

from __future__ import annotations

from django.contrib import admin

from cm_program import selectors, services
from cm_program.admin._common import _sees_all
from cm_program.models import CanonicalPatient, CanonicalPatientDuplicatePair
from common.admin import register_dashboard_link
from common.admin_duplicates import DuplicatePairAdmin

register_dashboard_link(
    title="Possible duplicate canonical patients",
    url_name="admin:cm_program_canonicalpatientduplicatepair_changelist",
    description="Canonical patients that may be one human, best score first: compare and merge, or mark them as "
    "not the same person (never proposed again).",
    allowed=_sees_all,
)


@admin.register(CanonicalPatientDuplicatePair)
class CanonicalPatientDuplicatePairAdmin(DuplicatePairAdmin):
    record_model = CanonicalPatient
    low, high = "canonical_low", "canonical_high"
    pairs_for = staticmethod(selectors.canonical_patient_duplicate_pairs)
    search_fields = ("canonical_low__last_name", "canonical_low__first_name", "canonical_high__last_name")

    @staticmethod
    def mark_not_duplicate_service(one, other, actor):
        return services.canonical_patient_mark_not_duplicate(canonical_patient=one, other=other, actor=actor)
