"""Patient-navigation admin: the navigators' daily workplace.

The patient page is the hub (contact block, recent calls with a "log a call" form, journeys, treating
physicians, audit history); the patient list opens on "my patients" for a navigator. Every write goes
through ``services``; the custom pages live in ``admin_views``, the list filters in ``admin_filters``.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Count
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator

from common.admin import (
    CrmModelAdmin,
    ServiceAdminMixin,
    SoftDeleteAdminMixin,
    refusal_messages,
    register_dashboard_link,
)
from common.errors import ConflictError
from patients import admin_views, selectors, services
from patients.admin_filters import (
    CallNavigatorFilter,
    CallPeriodFilter,
    FollowUpFilter,
    JourneyStatusFilter,
    NavigatorFilter,
    PatientFilter,
    SoftDeletedFilter,
    VoidFilter,
    current_navigator,
)
from patients.models import (
    OPEN_LEAD_STATUSES,
    CallHistory,
    Hospital,
    LeadStatus,
    MedicalCondition,
    Patient,
    PatientLead,
    PatientPhysicianRelationship,
    Physician,
    Specialization,
)
from people.admin import (
    PersonScopeAdminMixin,
    PhoneSearchMixin,
    admin_link,
    contact_cell,
    display_phone,
    email_owner,
    name_cell,
)
from people.normalize import clean_email
from people.selectors import navigators
from people.services import UNUSABLE_EMAIL_MESSAGE, person_by_email, person_usable_by

RECORD_FIELDS = ("created_at", "updated_at", "is_active", "deleted_at", "deleted_by", "deletion_reason")


def _record_fieldset(fields=RECORD_FIELDS):
    return ("Record", {"classes": ("collapse",), "fields": fields})


class PersonDetailsForm(forms.ModelForm):
    """For adding a lead, patient or physician: the person's details, matched by email to an existing
    Person by the service (the returning-person rule) instead of picking or duplicating one.

    The form looks the email up first so that a refusal can say who has the email and link to them;
    the service checks again under a lock, which is what holds under concurrency."""

    first_name = forms.CharField(max_length=150)
    last_name = forms.CharField(max_length=150)
    email = forms.CharField(
        max_length=254, required=False, help_text="If a person already has this email, that person is reused."
    )
    phone = forms.CharField(max_length=40, required=False)
    date_of_birth = forms.DateField(required=False, widget=admin.widgets.AdminDateWidget)

    PERSON_FIELDS = ("first_name", "last_name", "email", "phone", "date_of_birth")
    actor = None  # the acting user, set by ``PersonScopeAdminMixin.get_form``

    def clean_email(self):
        raw = self.cleaned_data.get("email")
        try:
            email = clean_email(raw)
        except ValidationError:
            return raw  # the service refuses it, together with every other detail that is wrong
        owner = person_by_email(email) if email else None
        if owner is not None:
            if not person_usable_by(owner, self.actor):
                # Someone outside the user's scope: the services' neutral refusal, naming nobody.
                raise ValidationError(UNUSABLE_EMAIL_MESSAGE)
            if not owner.is_active:
                raise ValidationError(format_html("This email belongs to {}.", email_owner(owner)))
            error = self.email_taken(owner)
            if error:
                raise ValidationError(error)
        return email

    def email_taken(self, owner):
        """The refusal when ``owner`` (an active Person) already has the email, or None to reuse them."""
        return None

    def person_details(self) -> dict:
        return {name: self.cleaned_data.get(name) for name in self.PERSON_FIELDS if name in self.fields}


class NavigatorChoiceMixin:
    """Offer only persons who hold the navigator role in the navigator fields."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "navigator":
            kwargs["queryset"] = navigators()
        elif db_field.name == "medical_condition":
            kwargs["queryset"] = MedicalCondition.objects.all()  # retired conditions cannot be picked
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


def _condition_cell(condition: MedicalCondition | None) -> str:
    if condition is None:
        return "-"
    return format_html('<span title="{}">{}</span>', condition.name, condition.abbreviation or condition.name)


def _reused_person_message(modeladmin, request, person) -> None:
    modeladmin.message_user(
        request, format_html("Recorded on the existing person record of {}.", admin_link(person)), messages.INFO
    )


# --- Lookups -------------------------------------------------------------------------------------------


@admin.register(MedicalCondition)
class MedicalConditionAdmin(ServiceAdminMixin, SoftDeleteAdminMixin, CrmModelAdmin):
    list_display = ("name", "abbreviation", "patient_count", "is_active")
    list_filter = (SoftDeletedFilter,)
    search_fields = ("name", "abbreviation")
    readonly_fields = ("created_at", "updated_at", "deleted_at", "deleted_by", "deletion_reason")
    soft_delete_service = services.medical_condition_soft_delete
    restore_service = services.medical_condition_restore
    service_kwarg = "medical_condition"

    @admin.display(description="patients", ordering="_patients")
    def patient_count(self, obj: MedicalCondition) -> int:
        return obj._patients

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_patients=Count("patients"))

    def save_model(self, request, obj, form, change):
        if change:
            # The same service as the API: names stay unique ignoring case, trimmed, conflicts named.
            data = {
                f: form.cleaned_data[f] for f in form.changed_data if f in services.MEDICAL_CONDITION_EDITABLE_FIELDS
            }
            if data:
                self.adopt(
                    obj,
                    services.medical_condition_update(
                        medical_condition=MedicalCondition.all_objects.get(pk=obj.pk), data=data, actor=request.user
                    ),
                )
        else:
            self.adopt(
                obj,
                services.medical_condition_create(
                    name=obj.name, abbreviation=obj.abbreviation, description=obj.description, actor=request.user
                ),
            )


@admin.register(Hospital)
class HospitalAdmin(ServiceAdminMixin, SoftDeleteAdminMixin, CrmModelAdmin):
    list_display = ("name", "city", "country", "is_active")
    list_filter = (SoftDeletedFilter, "country")
    search_fields = ("name", "city", "country")
    # is_active changes only through "delete (with a reason)" and "restore".
    readonly_fields = ("is_active", "created_at", "updated_at", "deleted_at", "deleted_by", "deletion_reason")
    soft_delete_service = services.hospital_soft_delete
    restore_service = services.hospital_restore
    service_kwarg = "hospital"

    def save_model(self, request, obj, form, change):
        # The API's service: trimmed, one hospital per name + city + country ignoring case, its id named.
        values = {name: form.cleaned_data[name] for name in services.HOSPITAL_EDITABLE_FIELDS}
        if not change:
            self.adopt(obj, services.hospital_create(**values, actor=request.user))
            return
        data = {name: values[name] for name in form.changed_data if name in values}
        if data:
            stored = Hospital.all_objects.get(pk=obj.pk)
            self.adopt(obj, services.hospital_update(hospital=stored, data=data, actor=request.user))


@admin.register(Specialization)
class SpecializationAdmin(ServiceAdminMixin, SoftDeleteAdminMixin, CrmModelAdmin):
    list_display = ("name", "is_active")
    list_filter = (SoftDeletedFilter,)
    search_fields = ("name",)
    readonly_fields = ("is_active", "created_at", "updated_at", "deleted_at", "deleted_by", "deletion_reason")
    soft_delete_service = services.specialization_soft_delete
    restore_service = services.specialization_restore
    service_kwarg = "specialization"

    def save_model(self, request, obj, form, change):
        # The API's service: trimmed, unique ignoring case, a clash names the existing specialty.
        name = form.cleaned_data["name"]
        if not change:
            self.adopt(obj, services.specialization_create(name=name, actor=request.user))
        elif "name" in form.changed_data:
            stored = Specialization.all_objects.get(pk=obj.pk)
            self.adopt(
                obj, services.specialization_update(specialization=stored, data={"name": name}, actor=request.user)
            )


# --- Leads ---------------------------------------------------------------------------------------------


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
class PatientLeadAdmin(PhoneSearchMixin, PersonScopeAdminMixin, ServiceAdminMixin, NavigatorChoiceMixin, CrmModelAdmin):
    phone_search_field = "person__phone"
    list_display = ("person", "contact", "condition", "source", "lead_status", "received")
    list_filter = ("status", "source", "medical_condition")
    # Not "landing_page_url": an unindexed scan of every lead for each word (the "source" filter narrows).
    search_fields = ("person__last_name", "person__first_name", "person__email", "person__phone")
    list_select_related = ("person", "medical_condition", "converted_patient__person")
    autocomplete_fields = ("medical_condition",)
    date_hierarchy = "created_at"
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


# --- Patients ------------------------------------------------------------------------------------------


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
    PhoneSearchMixin,
    PersonScopeAdminMixin,
    ServiceAdminMixin,
    SoftDeleteAdminMixin,
    NavigatorChoiceMixin,
    CrmModelAdmin,
):
    phone_search_field = "person__phone"
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
        # Follow-up and last call come from the latest call, as correlated subqueries: the list costs the
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


# --- Physicians ----------------------------------------------------------------------------------------


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
class PhysicianAdmin(PhoneSearchMixin, PersonScopeAdminMixin, ServiceAdminMixin, SoftDeleteAdminMixin, CrmModelAdmin):
    phone_search_field = "person__phone"
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


# --- Calls ---------------------------------------------------------------------------------------------


@admin.register(CallHistory)
class CallHistoryAdmin(
    PersonScopeAdminMixin, ServiceAdminMixin, SoftDeleteAdminMixin, NavigatorChoiceMixin, CrmModelAdmin
):
    list_display = ("when", "patient_link", "navigator", "call", "minutes", "follow_up", "notes_excerpt")
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
    date_hierarchy = "call_date"
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


# --- The admin index: each role's way in ----------------------------------------------------------------

register_dashboard_link(
    title="Navigator caseloads",
    url_name="admin:patients_caseload",
    description="Active patients, recent calls and overdue follow-ups per navigator, with a CSV download.",
    allowed=admin_views.may_see_caseloads,
)
register_dashboard_link(
    title="My patients",
    url_name="admin:patients_patient_changelist",
    description="The patients assigned to you, with their follow-ups and journeys.",
    allowed=admin_views.is_navigator,
)
register_dashboard_link(
    title="My follow-ups due",
    url_name="admin:patients_my_follow_ups",
    description="Your patients whose follow-up date has come.",
    allowed=admin_views.is_navigator,
)
