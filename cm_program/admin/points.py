"""Admin of the points ledger: recording events and reversing them."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html

from cm_program import admin_views, selectors, services
from cm_program.admin._common import ServiceAdmin, ServiceForm, _actor
from cm_program.admin.filters import LedgerCPSSFilter, OccurredFilter
from cm_program.models import (
    CMPointsTransaction,
    PointsEvent,
)
from common.audit import AuditEntry
from common.errors import ConflictError


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
    # Newest first, on cm_points_occurred_at_idx (the model's enrollment order sorts the joined table).
    ordering = ("-occurred_at", "-pk")
    list_filter = ("event_type", OccurredFilter, "enrollment__cm_program", LedgerCPSSFilter)
    # Not the reason: free text on the largest CM table (2M entries at full size, most of them blank), which no
    # index serves; it is read on the entry, and the API searches it within one enrollment's ledger.
    search_fields = ("canonical_patient__last_name", "canonical_patient__first_name")
    autocomplete_fields = ("enrollment",)
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
