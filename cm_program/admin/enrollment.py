"""Admin of the enrollments: the CPSS's caseload, status moves, assignment."""

from __future__ import annotations

import datetime as dt
import uuid

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.db.models import OuterRef, Subquery
from django.urls import path
from django.utils import timezone
from django.utils.html import format_html

from cm_program import admin_views, services
from cm_program.admin._common import ServiceAdmin, ServiceForm, _actor, _sees_all
from cm_program.admin.filters import CPSSFilter, LastEventFilter
from cm_program.models import (
    BEHAVIOUR_EVENTS,
    CMEnrollment,
    CMPointsTransaction,
    CMProgram,
    CMStatus,
)


class EnrollmentForm(ServiceForm):
    status_reason = forms.CharField(
        required=False, help_text="Why the status changes (kept in the audit trail).", widget=forms.TextInput
    )


@admin.register(CMEnrollment)
class CMEnrollmentAdmin(ServiceAdmin):
    """The CM desk. The change page is the patient's enrollment: identity, CM profile, points and streak,
    a "Record event" form (``admin_views.record_event``) and the ledger, above the enrollment's own fields."""

    form = EnrollmentForm
    change_form_template = "admin/cm_program/cmenrollment/change_form.html"
    list_display = (
        "patient",
        "cm_program",
        "cpss_provider",
        "status",
        "points",
        "streak",
        "last_event",
        "enrolled",
    )
    # The API's order too (the key last, ascending): both page off cm_enrollments_order_idx.
    ordering = ("-enrollment_date", "pk")
    list_display_links = ("patient",)
    list_select_related = ("canonical_patient", "cm_program", "cpss_provider")
    list_filter = ("status", LastEventFilter, "cm_program", CPSSFilter, "pod_assignment", "enrollment_date")
    # The pod is one of a few values: a filter, not a word to search for (docs/PERFORMANCE.md, "Search").
    search_fields = ("canonical_patient__last_name", "canonical_patient__first_name")
    autocomplete_fields = ("cm_patient", "cm_program", "cpss_provider")
    readonly_fields = ("canonical_patient", "total_points", "current_streak", "created_at", "updated_at")

    @admin.display(description="Patient", ordering="canonical_patient__last_name")
    def patient(self, obj) -> str:
        return f"{obj.canonical_patient.last_name}, {obj.canonical_patient.first_name}"

    @admin.display(description="Points", ordering="total_points")
    def points(self, obj) -> int:
        return obj.total_points

    @admin.display(description="Streak", ordering="current_streak")
    def streak(self, obj) -> int:
        return obj.current_streak

    @admin.display(description="Enrolled", ordering="enrollment_date")
    def enrolled(self, obj) -> str:
        return f"{timezone.localtime(obj.enrollment_date):%d %b %Y}"

    @admin.display(description="Last event", ordering="_last_event")
    def last_event(self, obj) -> str:
        """Attendance, test, check-in or peer support; red when none in the last 7 days (an active patient
        not seen for a week is whom the CPSS calls first)."""
        at = obj._last_event
        stale = at is None or at < timezone.now() - dt.timedelta(days=7)
        text = "never" if at is None else f"{timezone.localtime(at):%a %d %b}"
        if stale and obj.status == CMStatus.ACTIVE:
            return format_html('<span class="cm-stale crm-warning-text crm-nowrap">{}</span>', text)
        return format_html('<span class="crm-nowrap">{}</span>', text)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "pod_assignment":
            kwargs["widget"] = forms.TextInput(attrs={"size": 30})
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_queryset(self, request):
        last = (
            CMPointsTransaction.objects.filter(enrollment=OuterRef("pk"), event_type__in=BEHAVIOUR_EVENTS)
            .order_by("-occurred_at")
            .values("occurred_at")[:1]
        )
        return super().get_queryset(request).annotate(_last_event=Subquery(last))

    def get_list_display(self, request):
        hidden = set()
        # A CPSS's list is their own caseload: their name on every row says nothing.
        if not _sees_all(request.user):
            hidden.add("cpss_provider")
        # Most sites run one program; its long name on every row only pushes the figures off screen. The
        # changelist asks twice per request: counted once.
        if not hasattr(request, "_cm_program_count"):
            request._cm_program_count = CMProgram.objects.count()
        if request._cm_program_count <= 1:
            hidden.add("cm_program")
        return tuple(f for f in self.list_display if f not in hidden)

    def get_urls(self):
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        record = path(
            "<path:object_id>/record-event/",
            self.admin_site.admin_view(self.record_event_view),
            name=f"{info}_record_event",
        )
        pool = path(
            "patient-pool/csv/",
            self.admin_site.admin_view(self.patient_pool_csv_view),
            name=f"{info}_patient_pool_csv",
        )
        return [pool, record, *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        extra = {"may_export_patient_pool": admin_views.may_see_caseloads(request.user), **(extra_context or {})}
        return super().changelist_view(request, extra)

    def patient_pool_csv_view(self, request):
        """The patient pool for billing (``cm_program.billing``): CM supervisors and superusers."""
        return admin_views.patient_pool_csv(self, request)

    def record_event_view(self, request, object_id):
        return admin_views.record_event(self, request, object_id)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra = dict(extra_context or {})
        record_form = extra.pop("record_form", None)
        enrollment = (
            self.get_queryset(request)
            .select_related("canonical_patient__cm_profile", "cm_program", "cpss_provider")
            .filter(pk=self._pk_or_none(unquote(object_id)))
            .first()
        )
        if enrollment is not None:
            name = f"{enrollment.canonical_patient.first_name} {enrollment.canonical_patient.last_name}"
            extra["desk"] = admin_views.enrollment_desk(request, enrollment, record_form=record_form)
            extra["title"] = f"{name}, {enrollment.cm_program}"
            extra["subtitle"] = None
        return super().change_view(request, object_id, form_url, extra)

    @staticmethod
    def _pk_or_none(value: str):
        try:
            return uuid.UUID(str(value))
        except ValueError:
            return None

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return super().get_fieldsets(request, obj)
        return [("Enrollment details", {"fields": self.get_fields(request, obj)})]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("cm_patient", "cm_program", "cpss_provider", "pod_assignment", "medicaid_verification", "notes")
        # Points and streak are shown large at the top of the page (they follow the ledger).
        return (
            "canonical_patient",
            "cm_patient",
            "cm_program",
            "enrollment_date",
            "cpss_provider",
            "status",
            *(("status_reason",) if self.has_change_permission(request, obj) else ()),
            "pod_assignment",
            "medicaid_verification",
            "notes",
            "created_at",
            "updated_at",
        )

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        fixed = (*self.readonly_fields, "cm_patient", "cm_program", "enrollment_date")
        # Moving a patient to another CPSS is a supervisor's decision.
        return fixed if _sees_all(request.user) else (*fixed, "cpss_provider")

    def create(self, request, form):
        data = form.cleaned_data
        return services.cm_enrollment_create(
            cm_patient=data["cm_patient"],
            program=data["cm_program"],
            cpss_provider=data.get("cpss_provider"),
            pod_assignment=data.get("pod_assignment"),
            notes=data.get("notes"),
            medicaid_verification=data.get("medicaid_verification"),
            actor=_actor(request),
        )

    def change(self, request, obj, form):
        changes = self.form_changes(form)
        kwargs = {
            k: v
            for k, v in changes.items()
            if k in ("status", "cpss_provider", "pod_assignment", "notes", "medicaid_verification")
        }
        return services.cm_enrollment_update(
            enrollment=obj, actor=_actor(request), status_reason=form.cleaned_data.get("status_reason", ""), **kwargs
        )
