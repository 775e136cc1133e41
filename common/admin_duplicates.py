"""The admin of possible duplicates, shared by persons and canonical patients: the "possible duplicates" panel of a
record's change page and the queue page (best score first, "not the same person"). The merge has its own page,
which the panel and the queue link to (``compare_url``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils.html import format_html

from common.admin import CrmModelAdmin
from common.errors import ConflictError

PANEL_SIZE = 5  # candidates shown on a record's change page


def compare_url(model, survivor_pk, duplicate_pk) -> str:
    """The compare-and-merge page of ``model`` (``/admin/<app>/<model>/merge/?survivor=&duplicate=``)."""
    base = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    return f"{base}merge/?{urlencode({'survivor': survivor_pk, 'duplicate': duplicate_pk})}"


def change_url(record) -> str:
    return reverse(f"admin:{record._meta.app_label}_{record._meta.model_name}_change", args=[record.pk])


@dataclass(frozen=True)
class PanelRow:
    name: str
    url: str
    score: object
    reasons: list[str]
    compare_url: str


def duplicates_panel(record, candidates, *, queue_model) -> dict:
    """The template context of the panel (``admin/duplicates/panel.html``): the best candidates of ``record``."""
    rows = [
        PanelRow(
            str(c.record), change_url(c.record), c.score, c.reasons, compare_url(type(record), record.pk, c.record.pk)
        )
        for c in candidates[:PANEL_SIZE]
    ]
    queue = reverse(f"admin:{queue_model._meta.app_label}_{queue_model._meta.model_name}_changelist")
    return {"rows": rows, "queue_url": queue}


class DuplicatePairAdmin(CrmModelAdmin):
    """The queue: pairs best first, both records linked, the reasons, a link to the compare page, and the action
    "not the same person". Pairs are made by ``find_duplicates``; nobody adds, edits or deletes one here."""

    list_display = ("first", "second", "score", "why", "status", "compare")
    list_filter = ("status",)
    ordering = ("-score", "pk")  # the queue index (status, -score, id)
    actions = ("mark_not_duplicate",)
    record_model: type = None
    low: str = ""  # the pair's two foreign keys
    high: str = ""
    pairs_for: Callable = None  # (user=, status=) -> the user's pairs (a staticmethod)
    mark_not_duplicate_service: Callable = None  # (one, other, actor) (a staticmethod)

    def get_queryset(self, request):
        return self.pairs_for(user=request.user, status=None)

    def get_list_select_related(self, request):
        return (self.low, self.high)

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # a decision is kept with its pair for good

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.concrete_fields]

    def _link(self, record) -> str:
        return format_html('<a href="{}">{}</a>', change_url(record), str(record))

    @admin.display(description="record")
    def first(self, obj) -> str:
        return self._link(getattr(obj, self.low))

    @admin.display(description="possible duplicate")
    def second(self, obj) -> str:
        return self._link(getattr(obj, self.high))

    @admin.display(description="why")
    def why(self, obj) -> str:
        return ", ".join(obj.reasons or [])

    @admin.display(description="merge")
    def compare(self, obj) -> str:
        url = compare_url(self.record_model, getattr(obj, f"{self.low}_id"), getattr(obj, f"{self.high}_id"))
        return format_html('<a href="{}">Compare and merge</a>', url)

    @admin.action(description="Not the same person (never propose these pairs again)", permissions=["change"])
    def mark_not_duplicate(self, request, queryset):
        done = 0
        for pair in queryset.select_related(self.low, self.high):
            try:
                self.mark_not_duplicate_service(getattr(pair, self.low), getattr(pair, self.high), request.user)
            except (ValidationError, ConflictError, PermissionDenied) as exc:
                self.message_user(request, f"{pair}: {exc}", messages.ERROR)
            else:
                done += 1
        self.message_user(request, f"{done} pair(s) marked as not the same person.", messages.SUCCESS)
