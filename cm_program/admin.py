"""CM admin: the CM desk. Shows data, writes through the services, and limits a CPSS to their own caseload.

Writes with a rule go through ``services``: the form runs the service once inside a savepoint that is
always rolled back (a dry run), so its ``ValidationError`` / ``ConflictError`` appear as form errors
instead of a 500; ``save_model`` then runs it for real, and if that second run loses a race the page
says so (nothing is saved) instead of failing. Querysets, autocompletes, filters and foreign-key
choices all come from the scope selectors, so a CPSS cannot see or pick another CPSS's patients (an
object outside the scope is "not found").

The desk's own pages (enrollment header and "record event", caseloads and CSV, complete patient view,
dual enrollments, "Enroll in CM") live in ``cm_program.admin_views``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, OuterRef, Q, Subquery
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.html import format_html

from cm_program import admin_views, selectors, services
from cm_program.admin_views import admin_url
from cm_program.models import (
    BEHAVIOUR_EVENTS,
    CanonicalPatient,
    CMEnrollment,
    CMPatient,
    CMPointsTransaction,
    CMProgram,
    CMProvider,
    CMStatus,
    IntakeQLink,
    IntakeQPatient,
    PointsEvent,
)
from common.admin import CrmModelAdmin, register_dashboard_link
from common.audit import AuditEntry
from common.errors import ConflictError

SCOPES = {
    CanonicalPatient: selectors.canonical_patients_visible_to,
    CMPatient: selectors.cm_patients_visible_to,
    IntakeQPatient: selectors.intakeq_patients_visible_to,
    IntakeQLink: selectors.intakeq_links_visible_to,
    CMProvider: selectors.cm_providers_visible_to,
    CMProgram: selectors.cm_programs_visible_to,
    CMEnrollment: selectors.cm_enrollments_visible_to,
    CMPointsTransaction: selectors.points_transactions_visible_to,
}


def _sees_all(user) -> bool:
    return selectors.cm_scope(user) == "all"


def _is_cpss_desk(user) -> bool:
    return selectors.cm_scope(user) == "caseload"


register_dashboard_link(
    title="CPSS caseloads",
    url_name="admin:cm_program_cmprovider_caseloads",
    description="Each CPSS's active patients against their maximum, patients without an event in 7 days, "
    "points this week; CSV download.",
    allowed=_sees_all,
)
register_dashboard_link(
    title="Dual enrollments",
    url_name="admin:cm_program_canonicalpatient_dual_enrollments",
    description="Patients who are both IntakeQ (psychiatry) patients and CM patients.",
    allowed=_sees_all,
)
register_dashboard_link(
    title="My caseload",
    url_name="admin:cm_program_cmenrollment_changelist",
    description="Your CM patients: points, streaks, and when each was last seen. Open one to record an event.",
    allowed=_is_cpss_desk,
)


class _DryRun(Exception):
    pass


class SaveRefused(Exception):
    """The service refused on the real save after the form's dry run had passed (a concurrent change)."""


class ServiceForm(forms.ModelForm):
    """A model form whose ``clean`` rehearses the admin's service call (see the module docstring)."""

    request = None
    model_admin: ServiceAdmin | None = None
    _service_refused = False

    def clean(self):
        cleaned = super().clean()
        if self._errors or self.model_admin is None:
            return cleaned
        try:
            with transaction.atomic():
                self.model_admin.run_service(self.request, self.instance, self)
                raise _DryRun
        except _DryRun:
            pass
        except ValidationError as exc:
            self._service_refused = True
            self._add_service_errors(exc)
        except ConflictError as exc:
            self._service_refused = True
            self._add_error_to(exc.field, exc.message)
        except IntegrityError:
            self._service_refused = True
            self.add_error(None, admin_views.RACE_MESSAGE)
        return cleaned

    def _post_clean(self):
        # The service said why it refuses, against the right field; the model's own checks would
        # repeat the same rule as a general error.
        if not self._service_refused:
            super()._post_clean()

    def _add_error_to(self, field: str | None, message) -> None:
        self.add_error(field if field in self.fields else None, message)

    def _add_service_errors(self, exc: ValidationError) -> None:
        if hasattr(exc, "error_dict"):
            for field, errors in exc.error_dict.items():
                for error in errors:
                    target = None if field == NON_FIELD_ERRORS else field
                    self._add_error_to(target, error.messages)
        else:
            self.add_error(None, exc.messages)


class ScopedAdmin(CrmModelAdmin):
    """Limits rows and foreign-key choices to what the user may see (a CPSS: their caseload). The base
    gives the audit-trail history page and estimated counts on large unfiltered lists."""

    def get_queryset(self, request):
        return SCOPES[self.model](request.user, super().get_queryset(request))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        related = db_field.remote_field.model
        if related in SCOPES and "queryset" not in kwargs:
            kwargs["queryset"] = SCOPES[related](request.user, related._default_manager.all())
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ServiceAdmin(ScopedAdmin):
    """An admin whose adds and changes are made by a service (``create`` / ``change``)."""

    form = ServiceForm

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"request": request, "model_admin": self})

    def form_changes(self, form) -> dict[str, Any]:
        return {name: form.cleaned_data[name] for name in form.changed_data if name in form.cleaned_data}

    def run_service(self, request, obj, form):
        if obj.pk is None or obj._state.adding:
            return self.create(request, form)
        return self.change(request, obj, form)

    def create(self, request, form):
        raise NotImplementedError

    def change(self, request, obj, form):
        raise NotImplementedError

    def save_model(self, request, obj, form, change):
        try:
            with transaction.atomic():
                saved = self.run_service(request, obj, form)
        except (ValidationError, ConflictError, IntegrityError) as exc:
            raise SaveRefused(admin_views.refusal_text(exc)) from exc
        # The admin keeps working with ``obj`` (logging, redirect): make it the saved row.
        obj.pk = saved.pk
        obj._state.adding = False
        obj.refresh_from_db()

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except SaveRefused as exc:
            # The admin's own transaction was rolled back: nothing of this save remains.
            self.message_user(
                request, f"Not saved: {exc} Nothing was changed; the page shows the current values.", messages.ERROR
            )
            return HttpResponseRedirect(request.get_full_path())


def _actor(request):
    return request.user


# ---------------------------------------------------------------------------------------------------
# Filters that respect the scope


class CPSSFilter(admin.SimpleListFilter):
    """Filter by CPSS, offering only the providers the user may see (a CPSS's list is theirs anyway, so
    they get no choices; a link with their own id still works)."""

    title = "CPSS"
    parameter_name = "cpss"
    field_path = "cpss_provider"

    def lookups(self, request, model_admin):
        if not _sees_all(request.user):
            return None
        providers = selectors.cm_providers_visible_to(request.user).order_by("last_name", "first_name")
        return [(str(p.pk), str(p)) for p in providers] + [("none", "No CPSS")]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        if value == "none":
            return queryset.filter(**{f"{self.field_path}__isnull": True})
        try:
            pk = uuid.UUID(value)
        except ValueError:
            return queryset.none()
        return queryset.filter(**{self.field_path: pk})


class LedgerCPSSFilter(CPSSFilter):
    field_path = "enrollment__cpss_provider"


class LastEventFilter(admin.SimpleListFilter):
    """Patients not seen lately: no attendance, test, check-in or peer support in the last 7 days (the
    caseload page's "without an event" figure links here)."""

    title = "last event"
    parameter_name = "last_event"

    def lookups(self, request, model_admin):
        return [("stale", "None in the last 7 days"), ("recent", "In the last 7 days")]

    def queryset(self, request, queryset):
        if self.value() not in ("stale", "recent"):
            return queryset
        recent = CMPointsTransaction.objects.filter(
            enrollment=OuterRef("pk"),
            occurred_at__gte=timezone.now() - dt.timedelta(days=7),
            event_type__in=BEHAVIOUR_EVENTS,
        )
        return queryset.filter(Exists(recent)) if self.value() == "recent" else queryset.filter(~Exists(recent))


class PresenceFilter(admin.EmptyFieldListFilter):
    """Yes / No for a one-to-one the row may have (an IntakeQ link, a CM profile), with a readable title."""

    titles = {
        "intakeq_link": "has an IntakeQ record",
        "cm_profile": "has a CM profile",
        "canonical_link": "linked to a CM patient",
    }

    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        self.title = self.titles.get(field_path, self.title)

    def choices(self, changelist):
        for choice in super().choices(changelist):
            display = str(choice["display"])
            if display.startswith("Not empty"):
                display = "Yes" + display[len("Not empty") :]
            elif display.startswith("Empty"):
                display = "No" + display[len("Empty") :]
            yield {**choice, "display": display}


class OccurredFilter(admin.SimpleListFilter):
    """When the behaviour happened. "This week" starts on Monday 00:00 local time, as on the caseload page."""

    title = "when"
    parameter_name = "occurred"

    def lookups(self, request, model_admin):
        return [("today", "Today"), ("this_week", "This week"), ("last_7_days", "Last 7 days")]

    def queryset(self, request, queryset):
        now = timezone.now()
        since = {
            "today": timezone.make_aware(dt.datetime.combine(timezone.localdate(now), dt.time.min)),
            "this_week": selectors.week_start(now),
            "last_7_days": now - dt.timedelta(days=7),
        }.get(self.value())
        if since is None:
            return queryset
        return queryset.filter(occurred_at__gte=since, occurred_at__lte=now)


# ---------------------------------------------------------------------------------------------------


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
    search_fields = ("last_name", "first_name", "person__email")
    list_filter = (("intakeq_link", PresenceFilter), ("cm_profile", PresenceFilter))
    date_hierarchy = "created_at"
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
            path(
                "<path:object_id>/complete/",
                self.admin_site.admin_view(self.complete_patient_view),
                name=f"{info}_complete",
            ),
            *super().get_urls(),
        ]

    def complete_patient_view(self, request, object_id):
        return admin_views.complete_patient_page(self, request, object_id)

    def dual_enrollments_view(self, request):
        return admin_views.dual_enrollments_page(self, request)

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


@admin.register(CMProvider)
class CMProviderAdmin(ServiceAdmin):
    change_list_template = "admin/cm_program/cmprovider/change_list.html"
    list_display = ("last_name", "first_name", "role", "credentials", "status", "max_caseload", "active_count", "user")
    list_select_related = ("user",)
    list_filter = ("role", "status", "credentials")
    search_fields = ("last_name", "first_name", "email", "phone")
    autocomplete_fields = ("user", "person")
    readonly_fields = ("created_at", "updated_at")

    @admin.display(description="Active enrollments", ordering="_active")
    def active_count(self, obj) -> int:
        return obj._active

    def get_queryset(self, request):
        active = Count("enrollments", filter=Q(enrollments__status=CMStatus.ACTIVE))
        return super().get_queryset(request).annotate(_active=active)

    def get_readonly_fields(self, request, obj=None):
        # Logins and Persons are managed by superusers (CM supervisors do not see the people app).
        if request.user.is_superuser:
            return self.readonly_fields
        return (*self.readonly_fields, "user", "person")

    def get_urls(self):
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("caseloads/", self.admin_site.admin_view(self.caseloads_view), name=f"{info}_caseloads"),
            path("caseloads/csv/", self.admin_site.admin_view(self.caseloads_csv_view), name=f"{info}_caseloads_csv"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra = {"may_see_caseloads": admin_views.may_see_caseloads(request.user), **(extra_context or {})}
        return super().changelist_view(request, extra)

    def caseloads_view(self, request):
        """The CPSS caseload page (``selectors.cpss_caseload_summary``): CM supervisors and superusers."""
        return admin_views.caseloads_page(self, request)

    def caseloads_csv_view(self, request):
        return admin_views.caseloads_csv(self, request)

    def create(self, request, form):
        data = {k: v for k, v in form.cleaned_data.items() if k in services.PROVIDER_FIELDS}
        return services.cm_provider_create(actor=_actor(request), **data)

    def change(self, request, obj, form):
        changes = {k: v for k, v in self.form_changes(form).items() if k in services.PROVIDER_FIELDS}
        return services.cm_provider_update(provider=obj, actor=_actor(request), **changes)


@admin.register(CMProgram)
class CMProgramAdmin(ServiceAdmin):
    list_display = (
        "name",
        "is_active",
        "points_group_attendance",
        "points_negative_test_base",
        "points_negative_test_increment",
        "points_negative_test_cap",
        "points_weekly_checkin",
        "points_peer_support",
        "points_enrollment_bonus",
    )
    list_filter = ("is_active",)
    search_fields = ("name", "description")
    readonly_fields = ("created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("name", "description", "is_active")}),
        (
            "Reinforcement schedule (points)",
            {
                "description": "A negative test earns base + increment x consecutive negatives so far, up to the "
                "cap; a positive or missed test resets the streak and the value to the base.",
                "fields": CMProgram.SCHEDULE_FIELDS,
            },
        ),
        (None, {"fields": ("created_at", "updated_at")}),
    )

    # The API's rules: a name unique ignoring case, point values never negative, cap not below base.
    def create(self, request, form):
        data = {k: v for k, v in form.cleaned_data.items() if k in services.PROGRAM_FIELDS}
        return services.cm_program_create(actor=_actor(request), **data)

    def change(self, request, obj, form):
        changes = {k: v for k, v in self.form_changes(form).items() if k in services.PROGRAM_FIELDS}
        return services.cm_program_update(program=obj, actor=_actor(request), **changes)


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
    list_display_links = ("patient",)
    list_select_related = ("canonical_patient", "cm_program", "cpss_provider")
    list_filter = ("status", LastEventFilter, "cm_program", CPSSFilter)
    search_fields = ("canonical_patient__last_name", "canonical_patient__first_name", "pod_assignment")
    autocomplete_fields = ("cm_patient", "cm_program", "cpss_provider")
    date_hierarchy = "enrollment_date"
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
        # Most sites run one program; its long name on every row only pushes the figures off screen.
        if CMProgram.objects.count() <= 1:
            hidden.add("cm_program")
        return tuple(f for f in self.list_display if f not in hidden)

    def get_urls(self):
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        record = path(
            "<path:object_id>/record-event/",
            self.admin_site.admin_view(self.record_event_view),
            name=f"{info}_record_event",
        )
        return [record, *super().get_urls()]

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


class PointsTransactionForm(ServiceForm):
    event_type = forms.ChoiceField(choices=[(e.value, e.label) for e in services.RECORDABLE_EVENTS])

    class Meta:
        model = CMPointsTransaction
        fields = ("enrollment", "event_type", "points", "reason", "occurred_at")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "occurred_at" in self.fields:
            self.fields["occurred_at"].required = False
            self.fields["occurred_at"].help_text = "When it happened; empty means now."
        if "points" in self.fields:
            self.fields["points"].required = False
            self.fields["points"].help_text = "Only for manual adjustments; scheduled events use the program's values."


@admin.register(CMPointsTransaction)
class CMPointsTransactionAdmin(ServiceAdmin):
    """The ledger. Adding an entry records an event through ``cm_event_record``; entries are never
    changed or deleted (the database refuses it too)."""

    form = PointsTransactionForm
    list_display = (
        "enrollment",
        "sequence",
        "event_type",
        "signed_points",
        "streak_after",
        "occurred_at",
        "recorded_by",
        "reverses",
    )
    list_select_related = ("enrollment__canonical_patient", "enrollment__cm_program", "recorded_by", "reverses")
    list_filter = ("event_type", OccurredFilter, "enrollment__cm_program", LedgerCPSSFilter)
    search_fields = ("canonical_patient__last_name", "canonical_patient__first_name", "reason")
    autocomplete_fields = ("enrollment",)
    date_hierarchy = "occurred_at"
    actions = ("reverse_entries",)
    object_history_template = "admin/cm_program/cmpointstransaction/object_history.html"

    @admin.action(description="Reverse selected entries (asks for a reason)", permissions=["add"])
    def reverse_entries(self, request, queryset):
        entries = list(queryset.select_related("enrollment__canonical_patient", "enrollment__cm_program"))
        reason = (request.POST.get("reason") or "").strip()
        error = None
        if request.POST.get("post") == "yes":
            if reason:
                done, refused = 0, []
                for entry in sorted(entries, key=lambda e: (str(e.enrollment_id), e.sequence)):
                    try:
                        services.cm_points_reverse(points_transaction=entry, reason=reason, actor=request.user)
                        done += 1
                    except (ValidationError, ConflictError, IntegrityError) as exc:
                        refused.append(f"{entry.enrollment} {entry}: {admin_views.refusal_text(exc)}")
                if done:
                    self.message_user(request, f"Reversed {done} entr{'y' if done == 1 else 'ies'}.", messages.SUCCESS)
                for line in refused:
                    self.message_user(request, f"Not reversed: {line}", messages.ERROR)
                return None
            error = "A reversal needs a reason."
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Reverse ledger entries",
            "entries": entries,
            "reason": reason,
            "error": error,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/cm_program/cmpointstransaction/reverse.html", context)

    def history_view(self, request, object_id, extra_context=None):
        """The ledger is its own history (append-only, not tracked by pghistory): the entry as recorded,
        and the entry that reversed it, if any."""
        entry = self.get_object(request, unquote(object_id))
        if entry is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_or_change_permission(request, entry):
            raise PermissionDenied
        entry = CMPointsTransaction.objects.select_related(
            "recorded_by", "reversed_by__recorded_by", "enrollment__canonical_patient", "enrollment__cm_program"
        ).get(pk=entry.pk)
        events = [self._audit_entry(entry, "recorded", entry)]
        reversal = selectors._reverse_one(entry, "reversed_by")
        if reversal is not None:
            events.append(self._audit_entry(entry, "reversed", reversal))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Audit trail: {entry.enrollment} {entry}",
            "subtitle": None,
            "entries": list(reversed(events)),
            "module_name": str(self.opts.verbose_name_plural).capitalize(),
            "object": entry,
            "opts": self.opts,
            "preserved_filters": self.get_preserved_filters(request),
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.object_history_template, context)

    @staticmethod
    def _audit_entry(entry, action: str, row) -> AuditEntry:
        what = {
            "event": row.get_event_type_display(),
            "points": f"{row.points:+d}",
            "streak after": row.streak_after,
            "happened": timezone.localtime(row.occurred_at).strftime("%Y-%m-%d %H:%M"),
            "reason": row.reason or "-",
        }
        if action == "reversed":
            what = {"reversed by": f"entry #{row.sequence}", **what}
        return AuditEntry(
            at=row.created_at,
            action=action,
            model="cm_program.CMPointsTransaction",
            object_id=str(entry.pk),
            user_id=str(row.recorded_by_id) if row.recorded_by_id else None,
            username=row.recorded_by.get_username() if row.recorded_by else None,
            channel=None,
            changes=what,
            data={},
            context={},
        )

    @admin.display(description="Points", ordering="points")
    def signed_points(self, obj) -> str:
        return format_html("{}", f"{obj.points:+d}")

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("enrollment", "event_type", "points", "reason", "occurred_at")
        return (
            "enrollment",
            "canonical_patient",
            "sequence",
            "event_type",
            "points",
            "streak_after",
            "reason",
            "reverses",
            "occurred_at",
            "recorded_by",
            "created_at",
        )

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def create(self, request, form):
        data = form.cleaned_data
        return services.cm_event_record(
            enrollment=data["enrollment"],
            event_type=data["event_type"],
            points=data.get("points") if data["event_type"] == PointsEvent.MANUAL_ADJUSTMENT else None,
            reason=data.get("reason") or "",
            occurred_at=data.get("occurred_at"),
            actor=_actor(request),
        )
