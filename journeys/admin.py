"""Journey admin: a CT or EAP journey's page shows its timeline and one "Move to <status>" button per
transition its status allows; each asks for a note, then calls ``services.journey_transition``, which
records the step. Opening and correcting a journey go through the services too."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from common.admin import CrmModelAdmin, ServiceAdminMixin, SoftDeleteAdminMixin, add_refusal_to_form
from common.db import in_array
from common.errors import ConflictError
from common.validation import FieldErrors
from journeys import services
from journeys.models import ClinicalTrialJourney, EAPJourney, JourneyStatusChange
from journeys.transitions import CTStatus, EAPStatus, allowed_next_statuses, transitions_for
from patients.admin_filters import NavigatorFilter
from patients.models import Patient
from people.admin import SoftDeletedFilter, name_cell


def _status_label(step: JourneyStatusChange, value: str) -> str:
    if not value:
        return "(opened)"
    labels = CTStatus if step.ct_journey_id else EAPStatus
    return dict(labels.choices).get(value, value)


def _user_name(user) -> str:
    # A name, not a link: only superusers may open the staff logins.
    return (user.get_full_name() or user.get_username()) if user is not None else "-"


class TimelineInline(admin.TabularInline):
    """The journey's timeline: written only by the services, so read-only here."""

    model = JourneyStatusChange
    fields = ("changed_at", "from_label", "to_label", "by", "note")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("changed_at", "created_at")
    verbose_name_plural = "timeline"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("changed_by")

    @admin.display(description="from")
    def from_label(self, step: JourneyStatusChange) -> str:
        return _status_label(step, step.from_status)

    @admin.display(description="to")
    def to_label(self, step: JourneyStatusChange) -> str:
        return _status_label(step, step.to_status)

    @admin.display(description="by")
    def by(self, step: JourneyStatusChange) -> str:
        return _user_name(step.changed_by)


class JourneyNavigatorFilter(NavigatorFilter):
    """The journeys of a navigator's patients ("mine" for the logged-in navigator)."""

    mine_label = "My patients' journeys"
    default_to_mine = False
    offer_unassigned = False
    field_path = "patient__navigator"

    def of_navigator(self, queryset, navigator_id):
        # The navigator's patients first (patient_navigator_status_idx), then their journeys by patient: a join
        # on the patient made PostgreSQL walk every journey in the list's order testing each one's navigator
        # (3.97 s for a navigator with 1,367 patients of 500,000; 154 ms this way, docs/PERFORMANCE.md).
        return queryset.filter(in_array("patient_id", Patient.objects.filter(navigator_id=navigator_id).values("pk")))


class MoveForm(forms.Form):
    """The note of one step (required: the timeline says why), plus what the target status needs."""

    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 70}),
        max_length=2000,
        help_text="Kept in the journey's timeline with your name and the time.",
    )

    def __init__(self, *args, journey, to_status: str, **kwargs):
        super().__init__(*args, **kwargs)
        if isinstance(journey, ClinicalTrialJourney):
            if to_status == CTStatus.INELIGIBLE:
                self.fields["ineligible_reason"] = forms.CharField(
                    widget=forms.Textarea(attrs={"rows": 2, "cols": 70}),
                    initial=journey.ineligible_reason,
                    help_text="Which criterion the patient does not meet.",
                )
            if not transitions_for(journey).get(to_status):
                self.fields["outcome"] = forms.CharField(
                    max_length=300,
                    required=False,
                    initial=journey.outcome,
                    help_text="How the journey ended, in words.",
                )


class JourneyAdminBase(ServiceAdminMixin, SoftDeleteAdminMixin, CrmModelAdmin):
    inlines = (TimelineInline,)
    kind = ""
    editable_fields: tuple[str, ...] = ()
    add_fields: tuple[str, ...] = ()
    record_fields = ("created_at", "updated_at", "is_active", "deleted_at", "deleted_by", "deletion_reason")
    soft_delete_service = services.journey_soft_delete
    restore_service = services.journey_restore
    service_kwarg = "journey"

    @admin.display(description="status", ordering="status")
    def current_status(self, obj) -> str:
        return format_html('<span class="crm-badge">{}</span>', obj.get_status_display())

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None:
            kwargs["form"] = self.change_form
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return ((None, {"fields": ("patient", *self.add_fields, "notes", "opening_note")}),)
        return (
            (None, {"fields": ("patient", *self.editable_fields)}),
            ("Record", {"classes": ("collapse",), "fields": self.record_fields}),
        )

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else ("patient", *self.record_fields)

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else ()  # a journey being opened has no timeline yet

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name in ("referring_physician", "physician"):
            kwargs["queryset"] = db_field.related_model.objects.all()  # active physicians only
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    # --- Moves ---

    def get_urls(self):
        move = path(
            "<path:object_id>/move/<str:to_status>/",
            self.admin_site.admin_view(self.move_view),
            name=f"{self.opts.app_label}_{self.opts.model_name}_move",
        )
        return [move, *super().get_urls()]

    def moves(self, request, journey) -> list[dict]:
        """One button per allowed transition; the first allowed one is the main path, the rest exits."""
        if not journey.is_active or not self.has_change_permission(request, journey):
            return []
        labels = dict(self.model._meta.get_field("status").choices)
        name = f"admin:{self.opts.app_label}_{self.opts.model_name}_move"
        return [
            {"status": status, "label": labels[status], "url": reverse(name, args=[journey.pk, status]), "main": i == 0}
            for i, status in enumerate(allowed_next_statuses(journey))
        ]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and not add:
            context["moves"] = self.moves(request, obj)
            context["is_final"] = not allowed_next_statuses(obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def move_view(self, request, object_id, to_status):
        journey = self.get_object(request, unquote(object_id))
        if journey is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_change_permission(request, journey):
            raise PermissionDenied
        labels = dict(self.model._meta.get_field("status").choices)
        if to_status not in labels:
            raise Http404("No such status.")
        journey_url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[journey.pk])
        if to_status not in allowed_next_statuses(journey) or not journey.is_active:
            # A stale page (someone moved the journey meanwhile): say where it is now.
            self.message_user(
                request,
                f"This journey is {journey.get_status_display().lower()}; it cannot move to {labels[to_status]}.",
                messages.ERROR,
            )
            return redirect(journey_url)
        form = MoveForm(request.POST if request.method == "POST" else None, journey=journey, to_status=to_status)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                services.journey_transition(
                    journey=journey,
                    to_status=to_status,
                    note=data["note"],
                    ineligible_reason=data.get("ineligible_reason") or "",
                    outcome=data.get("outcome") or "",
                    actor=request.user,
                )
            except (ValidationError, ConflictError) as exc:
                add_refusal_to_form(form, exc)
            else:
                self.message_user(request, f"Moved to {labels[to_status]}.", messages.SUCCESS)
                return redirect(journey_url)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": journey,
            "journey": journey,
            "journey_url": journey_url,
            "title": f"Move to {labels[to_status]}",
            "subtitle": str(journey),
            "from_label": journey.get_status_display(),
            "to_label": labels[to_status],
            "form": form,
        }
        return TemplateResponse(request, "admin/journeys/move.html", context)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if not change:
            created = services.journey_open(
                patient=data["patient"],
                kind=self.kind,
                note=data.get("opening_note") or "",
                notes=data.get("notes") or "",
                **{name: data.get(name) for name in self.add_fields},
                actor=request.user,
            )
            self.adopt(obj, created)
            return
        changed = {name: data[name] for name in form.changed_data if name in self.editable_fields}
        if changed:
            services.journey_update(journey=obj, data=changed, actor=request.user)
        obj.refresh_from_db()


class TrialIdFormMixin:
    def clean_trial_id(self):
        # Upper-case an NCT id before the model's own check sees it; refuse a malformed one.
        errors = FieldErrors()
        value = services.clean_trial_id(self.cleaned_data.get("trial_id"), errors=errors)
        if errors:
            raise forms.ValidationError(errors.errors["trial_id"])
        return value


class CTAddForm(TrialIdFormMixin, forms.ModelForm):
    opening_note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    class Meta:
        model = ClinicalTrialJourney
        fields = ("patient", "trial_id", "trial_name", "referral_date", "referring_physician", "notes")


class CTChangeForm(TrialIdFormMixin, forms.ModelForm):
    class Meta:
        model = ClinicalTrialJourney
        fields = services.CT_EDITABLE_FIELDS


@admin.register(ClinicalTrialJourney)
class ClinicalTrialJourneyAdmin(JourneyAdminBase):
    kind = "clinical_trial"
    form = CTAddForm
    change_form = CTChangeForm
    add_fields = ("trial_id", "trial_name", "referral_date", "referring_physician")
    editable_fields = services.CT_EDITABLE_FIELDS
    list_display = ("trial", "patient", "current_status", "eligible", "referral_date")
    # The API's order too (the key last, ascending): both page off ct_journey_order_idx.
    ordering = ("-referral_date", "-created_at", "pk")
    list_filter = (JourneyNavigatorFilter, "status", "eligible", "referral_date", SoftDeletedFilter)
    search_fields = ("trial_id", "trial_name", "patient__person__last_name", "patient__person__email")
    list_select_related = ("patient__person",)
    autocomplete_fields = ("patient", "referring_physician")

    @admin.display(description="trial", ordering="trial_id")
    def trial(self, obj: ClinicalTrialJourney) -> str:
        name = (
            format_html('{}<br><span class="crm-quiet">{}</span>', obj.trial_id, obj.trial_name)
            if obj.trial_id and obj.trial_name
            else (obj.trial_id or obj.trial_name)
        )
        return name_cell(name, deleted=not obj.is_active)


class EAPAddForm(forms.ModelForm):
    opening_note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    class Meta:
        model = EAPJourney
        fields = ("patient", "eap_number", "product", "physician", "notes")


class EAPChangeForm(forms.ModelForm):
    class Meta:
        model = EAPJourney
        fields = services.EAP_EDITABLE_FIELDS


@admin.register(EAPJourney)
class EAPJourneyAdmin(JourneyAdminBase):
    kind = "eap"
    form = EAPAddForm
    change_form = EAPChangeForm
    add_fields = ("eap_number", "product", "physician")
    editable_fields = services.EAP_EDITABLE_FIELDS
    list_display = ("eap", "patient", "current_status", "approval_date")
    # The API's order too (the key last, ascending): both page off eap_journey_order_idx.
    ordering = ("-created_at", "pk")
    list_filter = (JourneyNavigatorFilter, "status", SoftDeletedFilter)
    search_fields = ("eap_number", "product", "patient__person__last_name", "patient__person__email")
    list_select_related = ("patient__person",)
    autocomplete_fields = ("patient", "physician")

    @admin.display(description="EAP", ordering="eap_number")
    def eap(self, obj: EAPJourney) -> str:
        name = (
            format_html('{}<br><span class="crm-quiet">{}</span>', obj.eap_number, obj.product)
            if obj.eap_number
            else obj.product
        )
        return name_cell(name, deleted=not obj.is_active)


class StepStatusFilter(admin.SimpleListFilter):
    """Steps into a status, by its label (CT and EAP share some words, so each kind is named)."""

    title = "moved to"
    parameter_name = "to"

    def lookups(self, request, model_admin):
        return (
            *((f"ct:{value}", f"Clinical trial: {label}") for value, label in CTStatus.choices),
            *((f"eap:{value}", f"EAP: {label}") for value, label in EAPStatus.choices),
        )

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        kind, _, status = value.partition(":")
        if kind == "ct" and status in CTStatus.values:
            return queryset.filter(ct_journey__isnull=False, to_status=status)
        if kind == "eap" and status in EAPStatus.values:
            return queryset.filter(eap_journey__isnull=False, to_status=status)
        raise IncorrectLookupParameters(f"Unknown status '{value}'.")


@admin.register(JourneyStatusChange)
class JourneyStatusChangeAdmin(CrmModelAdmin):
    """All timelines in one list, for supervisors' review. Read-only: steps are written by the services."""

    list_display = ("changed_at", "journey", "from_label", "to_label", "by", "note")
    list_filter = (StepStatusFilter, "changed_at")
    ordering = ("-changed_at", "-created_at")
    search_fields = (
        "ct_journey__trial_id",
        "ct_journey__patient__person__last_name",
        "eap_journey__eap_number",
        "eap_journey__patient__person__last_name",
    )  # not "note": free text on a big table, no index (docs/PERFORMANCE.md, "Search")
    list_select_related = ("ct_journey__patient__person", "eap_journey__patient__person", "changed_by")

    @admin.display(description="from", ordering="from_status")
    def from_label(self, step: JourneyStatusChange) -> str:
        return _status_label(step, step.from_status)

    @admin.display(description="to", ordering="to_status")
    def to_label(self, step: JourneyStatusChange) -> str:
        return _status_label(step, step.to_status)

    @admin.display(description="by", ordering="changed_by__username")
    def by(self, step: JourneyStatusChange) -> str:
        return _user_name(step.changed_by)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
