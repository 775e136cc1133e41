"""Admins of the physicians and their relationships with patients."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils.html import format_html

from common.admin import (
    CrmModelAdmin,
    ServiceAdminMixin,
    SoftDeleteAdminMixin,
)
from patients import services
from patients.admin._common import RECORD_FIELDS, PersonDetailsForm, _record_fieldset, _reused_person_message
from patients.admin_filters import (
    SoftDeletedFilter,
)
from patients.models import (
    PatientPhysicianRelationship,
    Physician,
)
from patients.selectors import physicians_list
from people.admin import (
    PersonScopeAdminMixin,
    admin_link,
    contact_cell,
    display_phone,
    email_owner,
    name_cell,
)


class PhysicianAddForm(PersonDetailsForm):
    class Meta:
        model = Physician
        fields = ("hospital", "specialization", "job_title", "medical_license_number")

    def email_taken(self, owner):
        physician = getattr(owner, "physician", None)
        if physician is not None:
            return format_html(
                "This email belongs to {}, who is a physician already: {}.",
                email_owner(owner),
                admin_link(physician, "open the physician record"),
            )
        return None


@admin.register(Physician)
class PhysicianAdmin(PersonScopeAdminMixin, ServiceAdminMixin, SoftDeleteAdminMixin, CrmModelAdmin):
    list_display = ("name", "contact", "hospital", "specialization", "job_title")
    list_filter = (SoftDeletedFilter, "specialization", ("hospital", admin.RelatedOnlyFieldListFilter))
    search_fields = (
        "person__last_name",
        "person__first_name",
        "person__email",
        "person__phone",
        "medical_license_number",
    )
    list_select_related = ("person", "hospital", "specialization")
    autocomplete_fields = ("hospital", "specialization")
    soft_delete_service = services.physician_soft_delete
    restore_service = services.physician_restore
    service_kwarg = "physician"
    add_form = PhysicianAddForm
    add_fieldsets = (
        ("Person", {"fields": ("first_name", "last_name", "email", "phone")}),
        ("Physician", {"fields": ("hospital", "specialization", "job_title", "medical_license_number")}),
    )
    fieldsets = (
        (None, {"fields": ("person_link", "hospital", "specialization", "job_title", "medical_license_number")}),
        _record_fieldset(),
    )
    readonly_fields = ("person_link", *RECORD_FIELDS)

    def get_queryset(self, request):
        # Built from the physicians, their Persons fetched by key (patients.selectors.physicians_list).
        return physicians_list(super().get_queryset(request))

    @admin.display(description="physician", ordering="person__last_name")
    def name(self, obj: Physician) -> str:
        return name_cell(str(obj), deleted=not obj.is_active)

    @admin.display(description="email / phone", ordering="person__email")
    def contact(self, obj: Physician) -> str:
        return contact_cell(obj.person)

    @admin.display(description="person")
    def person_link(self, obj: Physician) -> str:
        details = " · ".join(filter(None, (obj.person.email, display_phone(obj.person.phone))))
        return format_html("{} {}", admin_link(obj.person), f"({details})" if details else "")

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else self.fieldsets

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name in ("hospital", "specialization"):
            kwargs["queryset"] = db_field.related_model.objects.all()  # active ones only
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if change:
            # The same service as the API: a newly chosen hospital or specialization must be in use.
            data = {f: form.cleaned_data[f] for f in form.changed_data if f in services.PHYSICIAN_EDITABLE_FIELDS}
            if data:
                services.physician_update(physician=Physician.all_objects.get(pk=obj.pk), data=data, actor=request.user)
            obj.refresh_from_db()
            return
        data = form.cleaned_data
        result = services.physician_register(
            **{name: data.get(name) for name in ("first_name", "last_name", "email", "phone")},
            hospital=data.get("hospital"),
            specialization=data.get("specialization"),
            job_title=data.get("job_title") or "",
            medical_license_number=data.get("medical_license_number") or "",
            actor=request.user,
        )
        self.adopt(obj, result.physician)
        if result.person_reused:
            _reused_person_message(self, request, result.person)
        self.report_conflicts(request, result.conflicts)


class RelationshipForm(forms.ModelForm):
    class Meta:
        model = PatientPhysicianRelationship
        fields = ("patient", "physician", "relationship_type", "is_primary", "start_date", "end_date")

    def _get_validation_exclusions(self):
        # Naming a new primary physician demotes the previous one (the service's rule), so the
        # one-primary constraint must not refuse the form before the service runs.
        exclusions = super()._get_validation_exclusions()
        exclusions.add("is_primary")
        return exclusions


@admin.register(PatientPhysicianRelationship)
class PatientPhysicianRelationshipAdmin(ServiceAdminMixin, CrmModelAdmin):
    form = RelationshipForm
    list_display = ("patient", "physician", "relationship", "start_date", "end_date")
    list_filter = ("relationship_type", "is_primary", ("end_date", admin.EmptyFieldListFilter))
    search_fields = (
        "patient__person__last_name",
        "patient__person__email",
        "physician__person__last_name",
        "physician__person__email",
    )
    list_select_related = ("patient__person", "physician__person")
    autocomplete_fields = ("patient", "physician")

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # relationships end (end date), they are not removed

    @admin.display(description="relationship", ordering="relationship_type")
    def relationship(self, obj: PatientPhysicianRelationship) -> str:
        text = obj.get_relationship_type_display()
        return format_html('{} <span class="crm-badge">primary</span>', text) if obj.is_primary else text

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        locked = ("patient", "physician", "relationship_type", "is_primary", "start_date")
        return locked if obj.end_date is None else (*locked, "end_date")

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            if "end_date" in form.changed_data and data.get("end_date"):
                services.patient_physician_end(relationship=obj, end_date=data["end_date"], actor=request.user)
            return
        created = services.patient_physician_link(
            patient=data["patient"],
            physician=data["physician"],
            relationship_type=data["relationship_type"],
            is_primary=data.get("is_primary", False),
            start_date=data.get("start_date"),
            actor=request.user,
        )
        self.adopt(obj, created)
