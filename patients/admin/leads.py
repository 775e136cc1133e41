"""Admin of the leads: adding one with its Person, status moves, conversion."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join

from common.admin import (
    CrmModelAdmin,
    ServiceAdminMixin,
    refusal_messages,
)
from common.errors import ConflictError
from patients import admin_views, services
from patients.admin._common import (
    NavigatorChoiceMixin,
    PersonDetailsForm,
    _condition_cell,
    _record_fieldset,
    _reused_person_message,
)
from patients.models import (
    OPEN_LEAD_STATUSES,
    LeadStatus,
    PatientLead,
)
from people.admin import (
    PersonScopeAdminMixin,
    admin_link,
    contact_cell,
    display_phone,
    email_owner,
)


class LeadAddForm(PersonDetailsForm):
    landing_page_url = forms.URLField(max_length=500, required=False, assume_scheme="https")

    class Meta:
        model = PatientLead
        fields = ("medical_condition", "source", "landing_page_url", "notes")

    def email_taken(self, owner):
        # A patient is worked on through their patient record; a second open lead would be a parallel
        # pipeline entry. Anyone else with the email (a lost lead, a caregiver) is reused.
        if getattr(owner, "patient", None) is not None:
            return format_html(
                "This email belongs to {}. They are a patient already: work on their patient record.",
                email_owner(owner),
            )
        open_lead = owner.leads.filter(status__in=OPEN_LEAD_STATUSES).first()
        if open_lead is not None:
            return format_html(
                "This email belongs to {}, who already has an open lead: {}.",
                email_owner(owner),
                admin_link(open_lead, "open the lead"),
            )
        return None


@admin.register(PatientLead)
class PatientLeadAdmin(PersonScopeAdminMixin, ServiceAdminMixin, NavigatorChoiceMixin, CrmModelAdmin):
    list_display = ("person", "contact", "condition", "source", "lead_status", "received")
    # The API's order too (the key last, ascending): both page off patient_lead_order_idx.
    ordering = ("-created_at", "pk")
    list_filter = ("status", "source", "medical_condition", "created_at")
    # Not "landing_page_url": an unindexed scan of every lead for each word (the "source" filter narrows).
    search_fields = ("person__last_name", "person__first_name", "person__email", "person__phone")
    list_select_related = ("person", "medical_condition", "converted_patient__person")
    autocomplete_fields = ("medical_condition",)
    actions = ("convert_selected",)
    add_form = LeadAddForm
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    add_fieldsets = (
        ("Person", {"fields": PersonDetailsForm.PERSON_FIELDS}),
        ("Lead", {"fields": ("medical_condition", "source", "landing_page_url", "notes")}),
    )

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # a lead that went nowhere is marked "lost", not removed

    def has_convert_permission(self, request) -> bool:
        return admin_views.may_convert(request, None)

    @admin.display(description="email / phone", ordering="person__email")
    def contact(self, obj: PatientLead) -> str:
        return contact_cell(obj.person)

    @admin.display(description="condition", ordering="medical_condition__name")
    def condition(self, obj: PatientLead) -> str:
        return _condition_cell(obj.medical_condition)

    @admin.display(description="status", ordering="status")
    def lead_status(self, obj: PatientLead) -> str:
        if obj.converted_patient is None:
            return obj.get_status_display()
        return format_html("Converted: {}", admin_link(obj.converted_patient, "patient record"))

    @admin.display(description="received", ordering="created_at")
    def received(self, obj: PatientLead) -> str:
        return date_format(timezone.localtime(obj.created_at), "M j, Y")

    @admin.display(description="converted to")
    def converted_patient_link(self, obj: PatientLead) -> str:
        return admin_link(obj.converted_patient)

    def get_urls(self):
        convert = path(
            "<path:object_id>/convert/",
            self.admin_site.admin_view(self.convert_view),
            name="patients_patientlead_convert",
        )
        return [convert, *super().get_urls()]

    def convert_view(self, request, object_id):
        return admin_views.convert_lead_view(self, request, object_id)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "convert_url": reverse("admin:patients_patientlead_convert", args=[object_id])
            if self.has_convert_permission(request)
            else None,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return self.add_fieldsets
        return (
            (None, {"fields": ("person_link", "medical_condition", "source", "landing_page_url", "notes", "status")}),
            ("Conversion", {"fields": ("converted_patient_link", "converted_at")}),
            _record_fieldset(("created_at", "updated_at")),
        )

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        fields = ["person_link", "converted_patient_link", "converted_at", "created_at", "updated_at"]
        if obj.status == LeadStatus.CONVERTED:
            fields.append("status")
        return fields

    @admin.display(description="person")
    def person_link(self, obj: PatientLead) -> str:
        details = " · ".join(filter(None, (obj.person.email, display_phone(obj.person.phone))))
        return format_html("{} {}", admin_link(obj.person), f"({details})" if details else "")

    def formfield_for_choice_field(self, db_field, request, **kwargs):
        if db_field.name == "status":
            # Conversion creates the patient: it is the "Convert" action, not a status pick.
            kwargs["choices"] = [c for c in LeadStatus.choices if c[0] != LeadStatus.CONVERTED]
        return super().formfield_for_choice_field(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if not change:
            result = services.lead_create(
                **form.person_details(),
                medical_condition=form.cleaned_data.get("medical_condition"),
                source=form.cleaned_data["source"],
                landing_page_url=form.cleaned_data.get("landing_page_url") or "",
                notes=form.cleaned_data.get("notes") or "",
                actor=request.user,
            )
            self.adopt(obj, result.lead)
            if result.person_reused:
                _reused_person_message(self, request, result.person)
            self.report_conflicts(request, result.conflicts)
            if result.existing_patient is not None:
                self.message_user(request, f"{result.person} is already a patient.", messages.WARNING)
            return
        # The same service as the API: status moves through lead_set_status, a new condition must be in use.
        data = {f: form.cleaned_data[f] for f in form.changed_data if f in services.LEAD_EDITABLE_FIELDS}
        if data:
            services.lead_update(lead=PatientLead.objects.get(pk=obj.pk), data=data, actor=request.user)
        obj.refresh_from_db()

    @admin.action(description="Convert selected leads to patients", permissions=["convert"])
    def convert_selected(self, request, queryset):
        converted, refused = [], []
        for lead in queryset.select_related("person"):
            try:
                converted.append(services.lead_convert(lead=lead, actor=request.user).patient)
            except (ValidationError, ConflictError) as exc:
                refused.append(f"{lead.person}: " + "; ".join(m for _, m in refusal_messages(exc)))
        if converted:
            links = format_html_join(", ", "{}", ((admin_link(patient),) for patient in converted))
            self.message_user(request, format_html("Converted to patients: {}.", links), messages.SUCCESS)
        for line in refused:
            self.message_user(request, line, messages.ERROR)
