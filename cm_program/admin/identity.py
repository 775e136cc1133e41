"""Admins of the identities: canonical patients, IntakeQ clients, CM profiles and their links."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.urls import path
from django.utils.html import format_html

from cm_program import admin_views, selectors, services
from cm_program.admin._common import ServiceAdmin, _actor, _sees_all
from cm_program.admin.filters import PresenceFilter
from cm_program.admin_views import admin_url
from cm_program.models import (
    CanonicalPatient,
    CanonicalPatientDuplicatePair,
    CMEnrollment,
    CMPatient,
    IntakeQLink,
    IntakeQPatient,
)
from common.admin_duplicates import PANEL_SIZE, duplicates_panel
from common.errors import ConflictError


@admin.register(CanonicalPatient)
class CanonicalPatientAdmin(ServiceAdmin):
    change_form_template = "admin/cm_program/canonicalpatient/change_form.html"
    change_list_template = "admin/cm_program/canonicalpatient/change_list.html"
    list_display = (
        "last_name",
        "first_name",
        "date_of_birth",
        "person",
        "has_cm_profile",
        "has_intakeq",
        "complete_link",
    )
    list_select_related = ("person", "cm_profile", "intakeq_link")
    ordering = ("last_name", "first_name", "date_of_birth", "pk")  # patients_canonical_list_idx
    search_fields = ("last_name", "first_name", "person__email")
    list_filter = (("intakeq_link", PresenceFilter), ("cm_profile", PresenceFilter), "created_at")
    readonly_fields = ("person", "complete_view", "created_at", "updated_at")
    fields = ("first_name", "last_name", "date_of_birth", "person", "complete_view", "created_at", "updated_at")

    def get_urls(self):
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path(
                "dual-enrollments/",
                self.admin_site.admin_view(self.dual_enrollments_view),
                name=f"{info}_dual_enrollments",
            ),
            path("merge/", self.admin_site.admin_view(self.merge_view), name=f"{info}_merge"),
            path(
                "<path:object_id>/complete/",
                self.admin_site.admin_view(self.complete_patient_view),
                name=f"{info}_complete",
            ),
            *super().get_urls(),
        ]

    def merge_view(self, request):
        """The compare-and-merge page: ``merge/?survivor=<id>&duplicate=<id>`` (CM supervisors)."""
        from common.merge.admin import compare_and_merge_view

        return compare_and_merge_view(
            self,
            request,
            fields=services.CANONICAL_PATIENT_MERGE_FIELDS,
            service=services.canonical_patient_merge,
            permission="cm_program.merge_canonicalpatient",
        )

    def complete_patient_view(self, request, object_id):
        return admin_views.complete_patient_page(self, request, object_id)

    def dual_enrollments_view(self, request):
        return admin_views.dual_enrollments_page(self, request)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "duplicates_panel": None}
        patient = (
            self.get_object(request, object_id) if selectors.may_review_canonical_duplicates(request.user) else None
        )
        if patient is not None:
            found = selectors.canonical_patient_duplicate_candidates(patient, user=request.user, limit=PANEL_SIZE)
            extra_context["duplicates_panel"] = duplicates_panel(
                patient, found, queue_model=CanonicalPatientDuplicatePair
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {"may_see_dual": _sees_all(request.user), **(extra_context or {})})

    def get_list_display(self, request):
        # The Person (the CRM-wide identity) belongs to patient navigation: only superusers see both.
        if request.user.is_superuser:
            return self.list_display
        return tuple(f for f in self.list_display if f != "person")

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        if obj is None:
            return [f for f in fields if f not in ("complete_view", "created_at", "updated_at", "person")]
        if request.user.is_superuser:
            return fields
        return [f for f in fields if f != "person"]

    @admin.display(description="Complete patient view")
    def complete_view(self, obj) -> str:
        if obj is None or obj.pk is None or obj._state.adding:
            return "-"
        return format_html(
            '<a href="{}">Open the complete patient view</a> (identity, CM profile, IntakeQ record, enrollments)',
            admin_url(CanonicalPatient, "complete", obj.pk),
        )

    @admin.display(description="Complete view")
    def complete_link(self, obj) -> str:
        return format_html('<a href="{}">Open</a>', admin_url(CanonicalPatient, "complete", obj.pk))

    @admin.display(boolean=True, description="CM profile")
    def has_cm_profile(self, obj) -> bool:
        return selectors._reverse_one(obj, "cm_profile") is not None

    @admin.display(boolean=True, description="IntakeQ")
    def has_intakeq(self, obj) -> bool:
        return selectors._reverse_one(obj, "intakeq_link") is not None

    def create(self, request, form):
        data = form.cleaned_data
        identity = services.canonical_patient_find_or_create(
            first_name=data["first_name"],
            last_name=data["last_name"],
            date_of_birth=data["date_of_birth"],
            actor=_actor(request),
        )
        if not identity.created:
            raise ConflictError(
                f"{identity.canonical_patient} already exists.",
                existing_id=identity.canonical_patient.pk,
                field="first_name",
            )
        return identity.canonical_patient

    def change(self, request, obj, form):
        # Correcting a typo in the identity, through the same service as the API (clash -> its id).
        fields = ("first_name", "last_name", "date_of_birth")
        changes = {f: form.cleaned_data[f] for f in form.changed_data if f in fields}
        if not changes:
            return obj
        return services.canonical_patient_update(
            canonical_patient=CanonicalPatient.objects.get(pk=obj.pk), actor=_actor(request), **changes
        )


@admin.register(IntakeQPatient)
class IntakeQPatientAdmin(ServiceAdmin):
    list_display = ("name", "date_of_birth", "intakeq_client_id", "in_cm_as", "email", "phone_number")
    list_display_links = ("name",)
    list_select_related = ("canonical_link__canonical_patient",)
    ordering = ("last_name", "first_name", "pk")  # patients_list_idx
    search_fields = ("last_name", "first_name", "intakeq_client_id", "email", "phone")
    list_filter = (("canonical_link", PresenceFilter),)
    readonly_fields = ("created_at", "updated_at")
    actions = ("enroll_in_cm",)

    @admin.display(description="Name", ordering="last_name")
    def name(self, obj) -> str:
        return f"{obj.last_name}, {obj.first_name}"

    @admin.display(description="Phone", ordering="phone")
    def phone_number(self, obj) -> str:
        return format_html('<span class="crm-nowrap">{}</span>', obj.phone or "-")

    @admin.display(description="In CM as")
    def in_cm_as(self, obj) -> str:
        link = selectors._reverse_one(obj, "canonical_link")
        if link is None:
            return "-"
        patient = link.canonical_patient
        return format_html(
            '<a href="{}" class="crm-nowrap">{} {}</a>',
            admin_url(CanonicalPatient, "complete", patient.pk),
            patient.first_name,
            patient.last_name,
        )

    def has_enroll_permission(self, request) -> bool:
        # Enrolling creates identities, profiles and enrollments: whoever may add enrollments.
        return request.user.has_perm(f"cm_program.add_{CMEnrollment._meta.model_name}")

    @admin.action(description="Enroll in CM (asks for program and CPSS)", permissions=["enroll"])
    def enroll_in_cm(self, request, queryset):
        return admin_views.enroll_from_intakeq_action(self, request, queryset)

    # Typed-in records get the API's checks: names required, a real past date of birth, a valid email,
    # one record per IntakeQ client id.
    def create(self, request, form):
        data = {k: v for k, v in form.cleaned_data.items() if k in services.INTAKEQ_FIELDS}
        return services.intakeq_patient_create(actor=_actor(request), **data)

    def change(self, request, obj, form):
        changes = {k: v for k, v in self.form_changes(form).items() if k in services.INTAKEQ_FIELDS}
        return services.intakeq_patient_update(intakeq_patient=obj, actor=_actor(request), **changes)


@admin.register(CMPatient)
class CMPatientAdmin(ServiceAdmin):
    list_display = ("canonical_patient", "phone", "email", "enrollment_source", "smartphone_access", "status")
    list_select_related = ("canonical_patient",)
    list_filter = ("status", "enrollment_source", "smartphone_access", "address_state")
    search_fields = (
        "canonical_patient__last_name",
        "canonical_patient__first_name",
        "email",
        "phone",
        "medicaid_id",
    )
    autocomplete_fields = ("canonical_patient",)
    readonly_fields = ("created_at", "updated_at")

    def get_readonly_fields(self, request, obj=None):
        # A CM profile belongs to one human for good.
        return (*self.readonly_fields, "canonical_patient") if obj else self.readonly_fields

    def _profile(self, form) -> dict[str, Any]:
        return {k: v for k, v in form.cleaned_data.items() if k in services.PROFILE_FIELDS}

    def create(self, request, form):
        canonical = form.cleaned_data["canonical_patient"]
        if selectors._reverse_one(canonical, "cm_profile") is not None:
            raise ConflictError(
                f"{canonical} already has a CM profile.", existing_id=canonical.cm_profile.pk, field="canonical_patient"
            )
        profile, _ = services.cm_patient_profile_get_or_create(
            canonical_patient=canonical, actor=_actor(request), **self._profile(form)
        )
        return profile

    def change(self, request, obj, form):
        changes = {k: v for k, v in self.form_changes(form).items() if k in services.PROFILE_FIELDS}
        return services.cm_patient_profile_update(cm_patient=obj, actor=_actor(request), **changes)


@admin.register(IntakeQLink)
class IntakeQLinkAdmin(ServiceAdmin):
    list_display = ("canonical_patient", "intakeq_patient", "confidence_score", "linked_by", "linked_date")
    # The API's order too (the key last, ascending): both page off intakeq_link_order_idx.
    ordering = ("-linked_date", "pk")
    list_select_related = ("canonical_patient", "intakeq_patient", "linked_by")
    list_filter = ("confidence_score",)
    search_fields = (
        "canonical_patient__last_name",
        "canonical_patient__first_name",
        "intakeq_patient__intakeq_client_id",
        "intakeq_patient__last_name",
    )
    autocomplete_fields = ("canonical_patient", "intakeq_patient")
    readonly_fields = ("linked_by", "linked_date", "created_at", "updated_at")
    fields = ("canonical_patient", "intakeq_patient", "confidence_score", "notes", *readonly_fields)

    def get_readonly_fields(self, request, obj=None):
        # Re-pointing a link is a new link: remove this one and create another.
        return (*self.readonly_fields, "canonical_patient", "intakeq_patient") if obj else self.readonly_fields

    def create(self, request, form):
        link, _ = services.intakeq_link_create(
            canonical_patient=form.cleaned_data["canonical_patient"],
            intakeq_patient=form.cleaned_data["intakeq_patient"],
            confidence_score=form.cleaned_data.get("confidence_score"),
            notes=form.cleaned_data.get("notes"),
            linked_by=_actor(request),
            actor=_actor(request),
        )
        return link

    def change(self, request, obj, form):
        # Confidence and notes only (the two ends are fixed), through the same service as the API.
        changes = {f: form.cleaned_data[f] for f in form.changed_data if f in ("confidence_score", "notes")}
        if not changes:
            return obj
        return services.intakeq_link_update(link=IntakeQLink.objects.get(pk=obj.pk), actor=_actor(request), **changes)
