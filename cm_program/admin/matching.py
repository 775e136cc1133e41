"""The review queue of the IntakeQ matching: CM supervisors compare a pair side by side and decide
("link", keeping the pair's score as the link's confidence, or "not the same person", for good)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from cm_program import selectors, services
from cm_program.admin._common import ScopedAdmin, _sees_all
from cm_program.models import IntakeQMatchCandidate, MatchStatus
from common.admin import register_dashboard_link
from common.errors import ConflictError
from common.phi_access import PHIAccessType, phi_access_record_request

register_dashboard_link(
    title="IntakeQ match queue",
    url_name="admin:cm_program_intakeqmatchcandidate_changelist",
    description="IntakeQ clients that may be canonical patients: compare each pair, then link it or mark it "
    "as not the same person.",
    allowed=_sees_all,
)

DECISIONS = {"link": "Link", "reject": "Not the same person"}


@admin.register(IntakeQMatchCandidate)
class IntakeQMatchCandidateAdmin(ScopedAdmin):
    list_display = ("client", "canonical", "score", "band", "status", "decided_by", "compare")
    list_select_related = ("canonical_patient", "intakeq_patient", "decided_by")
    list_filter = ("status", "band")
    ordering = ("-score", "pk")  # intakeq_candidate_order_idx (the queue filter: intakeq_candidate_queue_idx)
    # The change page is the compare page (change_view); no form edits a pair.
    fields = readonly_fields = ("score", "band", "components", "status", "decided_at")
    search_fields = (
        "canonical_patient__last_name",
        "canonical_patient__first_name",
        "intakeq_patient__last_name",
        "intakeq_patient__first_name",
        "intakeq_patient__intakeq_client_id",
    )

    def get_queryset(self, request):
        # Both sides name the pair (its __str__) on every page that shows it.
        return super().get_queryset(request).select_related("canonical_patient", "intakeq_patient")

    def has_add_permission(self, request) -> bool:
        return False  # pairs are made by the matching of import_intakeq

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # a decision is kept with its pair for good

    @admin.display(description="IntakeQ client", ordering="intakeq_patient__last_name")
    def client(self, obj) -> str:
        iq = obj.intakeq_patient
        return f"{iq.first_name} {iq.last_name} ({iq.date_of_birth or 'no date of birth'}, #{iq.intakeq_client_id})"

    @admin.display(description="Canonical patient", ordering="canonical_patient__last_name")
    def canonical(self, obj) -> str:
        patient = obj.canonical_patient
        return f"{patient.first_name} {patient.last_name} ({patient.date_of_birth})"

    @admin.display(description="Compare")
    def compare(self, obj) -> str:
        label = "Compare and decide" if obj.status == MatchStatus.PROPOSED else "Compare"
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:cm_program_intakeqmatchcandidate_change", args=[obj.pk]), label
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The side-by-side page of one pair; its two buttons post the decision here."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        candidate = self.get_object(request, unquote(object_id))
        if candidate is None:
            raise Http404("No such match candidate.")
        if request.method == "POST":
            return self._decide(request, candidate)
        compare = selectors.intakeq_match_candidate_compare(candidate)
        phi_access_record_request(request, obj=compare["canonical"], access_type=PHIAccessType.DETAIL, scope="match")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Same person?",
            "original": candidate,
            "candidate": candidate,
            "may_decide": candidate.status == MatchStatus.PROPOSED and self.has_change_permission(request, candidate),
            "decisions": DECISIONS,
            **compare,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/cm_program/intakeqmatchcandidate/compare.html", context)

    def _decide(self, request, candidate):
        if not self.has_change_permission(request, candidate):
            raise PermissionDenied
        decision = request.POST.get("decision")
        back = reverse("admin:cm_program_intakeqmatchcandidate_change", args=[candidate.pk])
        if decision not in DECISIONS:
            self.message_user(request, "Choose Link or Not the same person.", messages.ERROR)
            return HttpResponseRedirect(back)
        try:
            if decision == "link":
                services.intakeq_match_candidate_link(candidate=candidate, actor=request.user)
                text = "Linked: the IntakeQ client is now this canonical patient's record."
            else:
                services.intakeq_match_candidate_reject(candidate=candidate, actor=request.user)
                text = "Marked as not the same person: this pair will not be proposed again."
        except ConflictError as exc:
            self.message_user(request, f"Not done: {exc.message}", messages.ERROR)
            return HttpResponseRedirect(back)
        self.message_user(request, text, messages.SUCCESS)
        queue = reverse("admin:cm_program_intakeqmatchcandidate_changelist")
        return HttpResponseRedirect(f"{queue}?status__exact=proposed")
