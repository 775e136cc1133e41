"""Admin of the patients: the list ("my patients") and the patient page, the navigators' hub."""

from __future__ import annotations

from django.contrib import admin, messages
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html

from common.admin import (
    CrmModelAdmin,
    ServiceAdminMixin,
    SoftDeleteAdminMixin,
)
from patients import admin_views, selectors, services
from patients.admin._common import (
    RECORD_FIELDS,
    NavigatorChoiceMixin,
    PersonDetailsForm,
    _condition_cell,
    _record_fieldset,
)
from patients.admin_filters import (
    FollowUpFilter,
    JourneyStatusFilter,
    NavigatorFilter,
    SoftDeletedFilter,
    current_navigator,
)
from patients.models import (
    Patient,
)
from people.admin import (
    PersonScopeAdminMixin,
    admin_link,
    contact_cell,
    email_owner,
    name_cell,
)


class PatientAddForm(PersonDetailsForm):
    class Meta:
        model = Patient
        fields = ("medical_condition", "navigator", "first_contact_date", "initial_consult_date")

    def email_taken(self, owner):
        # The returning-patient rule: a Person who is not a patient yet is reused (the service does it);
        # one who is a patient already is never registered twice.
        if getattr(owner, "patient", None) is not None:
            return format_html(
                "This email belongs to {}. A person is registered as a patient only once.",
                email_owner(owner),
            )
        return None


@admin.register(Patient)
class PatientAdmin(
    PersonScopeAdminMixin,
    ServiceAdminMixin,
    SoftDeleteAdminMixin,
    NavigatorChoiceMixin,
    CrmModelAdmin,
):
    list_display = ("name", "contact", "condition", "navigator", "status", "follow_up")
    list_filter = (
        NavigatorFilter,
        FollowUpFilter,
        "status",
        JourneyStatusFilter,
        "medical_condition",
        SoftDeletedFilter,
    )
    search_fields = ("person__last_name", "person__first_name", "person__email", "person__phone")
    list_select_related = ("person", "medical_condition", "navigator")
    autocomplete_fields = ("medical_condition", "navigator")
    soft_delete_service = services.patient_soft_delete
    restore_service = services.patient_restore
    service_kwarg = "patient"
    add_form = PatientAddForm
    add_fieldsets = (
        ("Person", {"fields": PersonDetailsForm.PERSON_FIELDS}),
        ("Patient", {"fields": ("medical_condition", "navigator", "first_contact_date", "initial_consult_date")}),
    )
    fieldsets = (
        (
            "Patient details",
            {"fields": ("medical_condition", "navigator", "status", ("first_contact_date", "initial_consult_date"))},
        ),
        _record_fieldset(),
    )
    readonly_fields = RECORD_FIELDS

    def get_queryset(self, request):
        # Follow-up and last call are columns of the patient (kept by the call services): the list costs the
        # same number of queries for 1 row or 50.
        return selectors.patients_worklist(super().get_queryset(request))

    @admin.display(description="patient", ordering="person__last_name")
    def name(self, obj: Patient) -> str:
        return name_cell(obj.person.full_name, deleted=not obj.is_active)

    @admin.display(description="email / phone", ordering="person__email")
    def contact(self, obj: Patient) -> str:
        return contact_cell(obj.person)

    @admin.display(description="condition", ordering="medical_condition__name")
    def condition(self, obj: Patient) -> str:
        return _condition_cell(obj.medical_condition)

    @admin.display(description="follow-up", ordering="follow_up_date")
    def follow_up(self, obj: Patient) -> str:
        if obj.follow_up_date is None:
            return "-"
        state = admin_views.follow_up_state(obj.follow_up_date, timezone.localdate())
        return format_html('<span class="crm-badge crm-follow-up-{}">{}</span>', state, date_format(obj.follow_up_date))

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("caseload/", wrap(self.caseload_view), name="patients_caseload"),
            path("caseload/csv/", wrap(self.caseload_csv_view), name="patients_caseload_csv"),
            path("my-follow-ups/", wrap(self.my_follow_ups_view), name="patients_my_follow_ups"),
            path("<path:object_id>/log-call/", wrap(self.log_call_view), name="patients_patient_log_call"),
            *super().get_urls(),
        ]

    def caseload_view(self, request):
        return admin_views.caseload_view(self, request)

    def caseload_csv_view(self, request):
        return admin_views.caseload_csv_view(self, request)

    def my_follow_ups_view(self, request):
        return admin_views.my_follow_ups_view(self, request)

    def log_call_view(self, request, object_id):
        return admin_views.log_call_view(self, request, object_id)

    def changelist_view(self, request, extra_context=None):
        me = current_navigator(request)
        extra_context = {
            **(extra_context or {}),
            "caseload_url": reverse("admin:patients_caseload") if admin_views.may_see_caseloads(request.user) else None,
            "my_follow_ups_url": reverse("admin:patients_my_follow_ups") if me else None,
        }
        return super().changelist_view(request, extra_context)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and not add:
            hub = admin_views.patient_hub_context(request, obj)
            context.update(hub, title=str(obj), subtitle=None)
            if hub["call_form"] is not None:
                context["media"] = context["media"] + hub["call_form"].media
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else self.fieldsets

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        me = current_navigator(request)
        if me is not None and "navigator" not in initial:
            initial["navigator"] = me.pk  # a navigator registering a patient usually navigates them
        return initial

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            changed = {name: data[name] for name in form.changed_data if name in services.PATIENT_EDITABLE_FIELDS}
            services.patient_update(patient=obj, data=changed, actor=request.user)
            return
        result = services.patient_register(
            **form.person_details(),
            medical_condition=data.get("medical_condition"),
            navigator=data.get("navigator"),
            first_contact_date=data.get("first_contact_date"),
            initial_consult_date=data.get("initial_consult_date"),
            actor=request.user,
        )
        self.adopt(obj, result.patient)
        if result.person_reused:
            self.message_user(
                request,
                format_html("Registered on the existing person record of {}.", admin_link(result.person)),
                messages.INFO,
            )
        self.report_conflicts(request, result.conflicts)
