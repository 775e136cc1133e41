"""Admin pages of merging: the compare-and-merge page (wired into the Person and canonical patient
admins at ``<model>/merge/?survivor=<id>&duplicate=<id>``) and the merge log with "undo"."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from common.errors import ConflictError
from common.merge.engine import describe_counts, preview
from common.merge.models import MergeLog
from common.merge.services import DUPLICATE, SURVIVOR

# model label -> (the permission to merge and undo, the undo service's dotted path)
MERGEABLE: dict[str, tuple[str, str]] = {
    "people.person": ("people.merge_person", "people.services.person_unmerge"),
    "cm_program.canonicalpatient": (
        "cm_program.merge_canonicalpatient",
        "cm_program.services.canonical_patient_unmerge",
    ),
}


def _service(dotted: str) -> Callable[..., Any]:
    from django.utils.module_loading import import_string

    return import_string(dotted)


class MergeForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}), help_text="Why these two are one (kept in the merge log)."
    )


def _display(obj, name: str) -> str:
    value = getattr(obj, name)
    return "—" if value in (None, "") else str(value)


def compare_and_merge_view(
    model_admin, request, *, fields: tuple[str, ...], service: Callable[..., MergeLog], permission: str
):
    """Side by side, one radio per differing field, a reason, a preview of what moves, then merge."""
    if not request.user.has_perm(permission):
        raise PermissionDenied
    opts = model_admin.opts
    params = request.POST if request.method == "POST" else request.GET
    visible = model_admin.get_queryset(request)
    found = {}
    for role in (SURVIVOR, DUPLICATE):
        try:
            found[role] = visible.filter(pk=uuid.UUID(str(params.get(role, "")))).first()
        except ValueError:
            found[role] = None
    if found[SURVIVOR] is None or found[DUPLICATE] is None:
        model_admin.message_user(
            request, "Choose two records to compare: ?survivor=<id>&duplicate=<id> (ids you may see).", messages.ERROR
        )
        return redirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    survivor, duplicate = found[SURVIVOR], found[DUPLICATE]
    rows = []
    for name in fields:
        left, right = _display(survivor, name), _display(duplicate, name)
        chosen = params.get(f"field_{name}", SURVIVOR)
        rows.append(
            {
                "name": name,
                "label": str(opts.get_field(name).verbose_name),
                "survivor": left,
                "duplicate": right,
                "differs": left != right,
                "chosen": chosen if chosen in (SURVIVOR, DUPLICATE) else SURVIVOR,
            }
        )
    form = MergeForm(request.POST if request.method == "POST" else None)
    refusal = None
    if request.method == "POST" and form.is_valid():
        choices = {row["name"]: row["chosen"] for row in rows if row["differs"]}
        try:
            log = service(
                survivor=survivor,
                duplicate=duplicate,
                field_choices=choices,
                actor=request.user,
                reason=form.cleaned_data["reason"],
            )
        except (ValidationError, ConflictError) as exc:
            refusal = "; ".join(getattr(exc, "messages", None) or [str(getattr(exc, "message", exc))])
        else:
            model_admin.message_user(
                request,
                f"Merged into {survivor} (merge #{log.pk}): {describe_counts(log.summary)} moved. "
                "The merge log can undo it.",
                messages.SUCCESS,
            )
            return redirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[survivor.pk]))
    base = reverse(f"admin:{opts.app_label}_{opts.model_name}_merge")
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": opts,
        "title": f"Merge two {opts.verbose_name_plural}",
        "survivor": survivor,
        "duplicate": duplicate,
        "rows": rows,
        "form": form,
        "refusal": refusal,
        "moves": describe_counts(preview(type(duplicate), duplicate.pk)),
        "swap_url": f"{base}?survivor={duplicate.pk}&duplicate={survivor.pk}",
    }
    return TemplateResponse(request, "admin/common/merge.html", context)


class UndoForm(forms.Form):
    reason = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 60}))


@admin.register(MergeLog)
class MergeLogAdmin(admin.ModelAdmin):
    """The merge log: read-only, newest first, each merge with an "undo" page (supervisors who may merge
    that kind of record)."""

    list_display = ("id", "at", "model", "survivor", "duplicate", "actor", "moved", "reason", "undo_link")
    list_filter = ("model", ("undone_at", admin.EmptyFieldListFilter))
    search_fields = ("survivor_id", "duplicate_id", "reason")
    list_select_related = ("actor", "undone_by")
    ordering = ("-at", "-id")
    readonly_fields = [f.name for f in MergeLog._meta.fields]

    def _labels(self, request) -> list[str]:
        return [label for label, (perm, _) in MERGEABLE.items() if request.user.has_perm(perm)]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(model__in=self._labels(request))

    def has_module_permission(self, request) -> bool:
        return bool(self._labels(request))

    def has_view_permission(self, request, obj=None) -> bool:
        return bool(self._labels(request)) and (obj is None or obj.model in self._labels(request))

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_urls(self):
        undo = path("<int:log_id>/undo/", self.admin_site.admin_view(self.undo_view), name="common_mergelog_undo")
        return [undo, *super().get_urls()]

    @admin.display(description="survivor")
    def survivor(self, log: MergeLog) -> str:
        return self._link(log, log.survivor_id)

    @admin.display(description="duplicate")
    def duplicate(self, log: MergeLog) -> str:
        return self._link(log, log.duplicate_id)

    def _link(self, log: MergeLog, pk: str) -> str:
        app_label, model = log.model.split(".")
        return format_html('<a href="{}">{}</a>', reverse(f"admin:{app_label}_{model}_change", args=[pk]), pk[:8])

    @admin.display(description="moved")
    def moved(self, log: MergeLog) -> str:
        return describe_counts(log.summary)

    @admin.display(description="undo")
    def undo_link(self, log: MergeLog) -> str:
        if log.undone_at is not None:
            return f"undone {log.undone_at:%Y-%m-%d %H:%M}"
        return format_html('<a class="button" href="{}">Undo</a>', reverse("admin:common_mergelog_undo", args=[log.pk]))

    def undo_view(self, request, log_id: int):
        log = self.get_queryset(request).filter(pk=log_id).first()
        if log is None:
            raise PermissionDenied
        _, unmerge = MERGEABLE[log.model]
        form = UndoForm(request.POST if request.method == "POST" else None)
        refusal = None
        if request.method == "POST" and form.is_valid():
            try:
                _service(unmerge)(merge=log, actor=request.user, reason=form.cleaned_data["reason"])
            except (ValidationError, ConflictError) as exc:
                refusal = "; ".join(getattr(exc, "messages", None) or [str(getattr(exc, "message", exc))])
            else:
                self.message_user(request, f"Merge #{log.pk} undone: every row is back.", messages.SUCCESS)
                return redirect(reverse("admin:common_mergelog_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Undo merge #{log.pk}",
            "log": log,
            "moved": describe_counts(log.summary),
            "form": form,
            "refusal": refusal,
        }
        return TemplateResponse(request, "admin/common/merge_undo.html", context)
