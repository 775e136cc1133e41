"""Admin of the call history."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.text import Truncator

from common.admin import (
    CrmModelAdmin,
    ServiceAdminMixin,
    SoftDeleteAdminMixin,
)
from patients import admin_views, services
from patients.admin._common import NavigatorChoiceMixin
from patients.admin_filters import (
    CallNavigatorFilter,
    CallPeriodFilter,
    PatientFilter,
    VoidFilter,
    current_navigator,
)
from patients.models import (
    CallHistory,
)
from people.admin import (
    PersonScopeAdminMixin,
    admin_link,
)


@admin.register(CallHistory)
class CallHistoryAdmin(
    PersonScopeAdminMixin, ServiceAdminMixin, SoftDeleteAdminMixin, NavigatorChoiceMixin, CrmModelAdmin
):
    list_display = ("when", "patient_link", "navigator", "call", "minutes", "follow_up", "notes_excerpt")
    # The API's order too (the key last, ascending): both page off call_history_order_idx.
    ordering = ("-call_date", "-created_at", "pk")
    list_display_links = ("when",)
    list_filter = (
        PatientFilter,
        CallNavigatorFilter,
        CallPeriodFilter,
        VoidFilter,
        "direction",
        "outcome",
        "no_show",
    )
    search_fields = (
        "patient__person__last_name",
        "patient__person__first_name",
        "patient__person__email",
    )  # not "notes" nor the navigator's name (the navigator filter): docs/PERFORMANCE.md, "Search"
    list_select_related = ("patient__person", "navigator")
    autocomplete_fields = ("patient", "navigator")
    fields = (
        "patient",
        "navigator",
        "call_date",
        "direction",
        "outcome",
        "call_duration_minutes",
        "no_show",
        "booking_date",
        "reminder_date",
        "notes",
        "created_by",
        "created_at",
        "is_active",
        "deleted_at",
        "deleted_by",
        "deletion_reason",
    )
    soft_delete_service = services.call_void
    restore_service = services.call_restore
    service_kwarg = "call"
    # Voiding a call is part of a navigator's work (a call logged on the wrong patient); it needs only
    # the change permission, and keeps the call with who/when/why.
    soft_delete_permission = "change"
    soft_delete_verb = "Void"

    @admin.display(description="patient", ordering="patient__person__last_name")
    def patient_link(self, obj: CallHistory) -> str:
        return admin_link(obj.patient)

    @admin.display(description="when", ordering="call_date")
    def when(self, obj: CallHistory) -> str:
        return date_format(timezone.localtime(obj.call_date), "M j, Y H:i")

    @admin.display(description="call", ordering="outcome")
    def call(self, obj: CallHistory) -> str:
        text = f"{obj.get_direction_display()} · {obj.get_outcome_display()}"
        if obj.is_active:
            return text
        return format_html('{} <span class="crm-badge crm-void" title="{}">void</span>', text, obj.deletion_reason)

    @admin.display(description="follow-up", ordering="reminder_date")
    def follow_up(self, obj: CallHistory) -> str:
        return date_format(obj.reminder_date, "M j, Y") if obj.reminder_date else "-"

    @admin.display(description="min", ordering="call_duration_minutes")
    def minutes(self, obj: CallHistory):
        return "-" if obj.call_duration_minutes is None else obj.call_duration_minutes

    @admin.display(description="notes")
    def notes_excerpt(self, obj: CallHistory) -> str:
        return Truncator(obj.notes).chars(50) or "-"

    def get_urls(self):
        void = path(
            "<path:object_id>/void/", self.admin_site.admin_view(self.void_view), name="patients_callhistory_void"
        )
        return [void, *super().get_urls()]

    def void_view(self, request, object_id):
        return admin_views.void_call_view(self, request, object_id)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "void_url": reverse("admin:patients_callhistory_void", args=[object_id])
            if self.has_soft_delete_permission(request)
            else None,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def get_readonly_fields(self, request, obj=None):
        record = ("created_by", "created_at", "is_active", "deleted_at", "deleted_by", "deletion_reason")
        return (*record, "patient") if obj else record

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        me = current_navigator(request)
        if me is not None and "navigator" not in initial:
            initial["navigator"] = me.pk
        initial.setdefault("call_date", timezone.now())
        return initial

    def save_model(self, request, obj, form, change):
        values = {name: form.cleaned_data.get(name) for name in services.CALL_EDITABLE_FIELDS}
        if change:
            changed = {name: values[name] for name in form.changed_data if name in values}
            services.call_update(call=obj, data=changed, actor=request.user)
            return
        values["notes"] = values["notes"] or ""
        values["no_show"] = bool(values["no_show"])
        self.adopt(obj, services.call_log(patient=form.cleaned_data["patient"], **values, actor=request.user))
