"""The "Imports" screen: a supervisor uploads an old system's files, reads the dry run's report, then
runs the import for real; the past runs are listed with their status.

* the list (``ImportRun``'s changelist): the runs of the kinds the user may import;
* "Upload files" (the add page): kind + files -> ``services.import_run_upload`` (stored in PostgreSQL,
  a dry run queued for the worker);
* a run's page (the change page, read-only): progress while it is queued or running (the page reloads
  itself), then the report: counts per file and outcome, reasons, notable rows; "Run for real" on a
  finished dry run -> ``services.import_run_repeat_for_real``.

Who: CRM supervisors import the legacy CRM, CM supervisors the CM patients and IntakeQ, superusers all
(``selectors.import_kinds_for``); every other role gets 403. The work itself runs in the task queue's
worker (``common.imports.tasks``), never in the web request.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from common.admin import register_dashboard_link
from common.imports import services
from common.imports.models import ImportKind, ImportRun
from common.imports.report import Outcome
from common.imports.selectors import import_kinds_for, import_runs_visible_to
from common.imports.uploads import expected_files_text, upload_limit_bytes

# A run's page reloads itself this often (seconds) while the worker has not finished it.
REFRESH_SECONDS = 3


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.Field):
    """The uploaded files as a list; the checks that name each file are the service's."""

    widget = MultipleFileInput

    def to_python(self, data):
        if not data:
            return []
        return [f for f in (data if isinstance(data, list | tuple) else [data]) if f]


class ImportUploadForm(forms.Form):
    kind = forms.ChoiceField(label="What to import")
    files = MultipleFileField(label="Files", required=False)
    # The importers' options, as the commands take them (`--navigator`, `--phone-region`, `--program`,
    # `--rematch-all`).
    navigator = forms.EmailField(
        required=False,
        label="Navigator (legacy CRM)",
        help_text="Email of the patient navigator the old bookings are logged for as calls; without it they "
        "are reported and not imported.",
    )
    phone_region = forms.CharField(
        required=False,
        max_length=2,
        label="Phone region (legacy CRM)",
        help_text="Where numbers without a country code are read (e.g. US, NL); default: the CRM's setting.",
    )
    program = forms.CharField(
        required=False,
        max_length=100,
        label="CM program (CM patients)",
        help_text="The program every old enrollment goes to when no contingency_management.csv is uploaded "
        "(default: the only program).",
    )
    rematch_all = forms.BooleanField(
        required=False,
        label="Grade every client again (IntakeQ)",
        help_text="Match every unlinked IntakeQ client again, not only the clients and canonical patients new or "
        "changed since the last grading (after a change of the scoring). Rejected pairs stay rejected.",
    )
    OPTIONS_BY_KIND = {
        ImportKind.LEGACY_CRM: ("navigator", "phone_region"),
        ImportKind.CM_PATIENTS: ("program",),
        ImportKind.INTAKEQ: ("rematch_all",),
    }
    OPTIONS = ("navigator", "phone_region", "program", "rematch_all")

    def options_for(self, actor) -> dict:
        """The chosen import's options (only those it takes); an option given for another import, or one
        its importer refuses, is a form error naming the field."""
        kind = self.cleaned_data["kind"]
        taken = self.OPTIONS_BY_KIND.get(kind, ())
        options = {}
        for name in self.OPTIONS:
            value = self.cleaned_data.get(name)
            value = value.strip() if isinstance(value, str) else value
            if not value:
                continue
            if name not in taken:
                self.add_error(name, f"Not an option of the {dict(ImportKind.choices)[kind].split(' (')[0]} import.")
                continue
            options[name] = value.upper() if name == "phone_region" else value
        if kind == ImportKind.LEGACY_CRM and options and not self.errors:
            from common.imports.files import ImportFileError
            from patients.imports.legacy_crm import check_options

            try:
                check_options(options, actor)
            except ImportFileError as exc:
                field = "navigator" if str(exc).startswith("--navigator") else "phone_region"
                self.add_error(field, str(exc).split(": ", 1)[-1])
        return options

    def __init__(self, *args, kinds: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        labels = dict(ImportKind.choices)
        self.fields["kind"].choices = [(kind, labels[kind]) for kind in kinds]
        for name in self.OPTIONS:  # only the options of this user's imports
            if not any(name in self.OPTIONS_BY_KIND.get(kind, ()) for kind in kinds):
                del self.fields[name]
        self.fields["files"].help_text = (
            "; ".join(f"{labels[kind].split(' (')[0]}: {expected_files_text(kind)}" for kind in kinds)
            + f". At most {upload_limit_bytes() // (1 << 20)} MB in all."
        )


@admin.register(ImportRun)
class ImportRunAdmin(admin.ModelAdmin):
    list_display = ("run", "kind", "mode", "status", "progress", "created_by", "created_at", "finished_at")
    list_display_links = ("run",)
    list_filter = ("kind", "status", "dry_run")
    list_select_related = ("created_by",)
    search_fields = ("created_by__username", "error")
    list_per_page = 50
    change_list_template = "admin/common/importrun/change_list.html"

    # --- who may do what: the role decides the kinds ------------------------------------------------

    def has_module_permission(self, request) -> bool:
        return bool(import_kinds_for(request.user))

    def has_view_permission(self, request, obj=None) -> bool:
        kinds = import_kinds_for(request.user)
        return bool(kinds) and (obj is None or obj.kind in kinds)

    def has_add_permission(self, request) -> bool:
        return bool(import_kinds_for(request.user))

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        return import_runs_visible_to(request.user)

    # --- the list -----------------------------------------------------------------------------------

    @admin.display(description="Run", ordering="id")
    def run(self, obj: ImportRun) -> str:
        return f"#{obj.pk}"

    @admin.display(description="Mode", ordering="dry_run")
    def mode(self, obj: ImportRun) -> str:
        return "dry run" if obj.dry_run else "for real"

    @admin.display(description="Rows")
    def progress(self, obj: ImportRun) -> str:
        if obj.rows_total:
            return f"{obj.rows_done:,} of {obj.rows_total:,}"
        return f"{obj.rows_done:,}"

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {"title": "Imports", **(extra_context or {})})

    # --- upload, a run's page, run for real ---------------------------------------------------------

    def get_urls(self):
        return [
            path(
                "<path:object_id>/run-for-real/",
                self.admin_site.admin_view(self.run_for_real_view),
                name=f"{self.opts.app_label}_{self.opts.model_name}_run_for_real",
            ),
            *super().get_urls(),
        ]

    def add_view(self, request, form_url="", extra_context=None):
        kinds = import_kinds_for(request.user)
        if not kinds:
            raise PermissionDenied
        posted = request.method == "POST"
        form = ImportUploadForm(request.POST if posted else None, request.FILES if posted else None, kinds=kinds)
        options = form.options_for(request.user) if posted and form.is_valid() else {}
        if posted and form.is_valid():
            try:
                run = services.import_run_upload(
                    kind=form.cleaned_data["kind"],
                    files=form.cleaned_data["files"],
                    actor=request.user,
                    options=options,
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items() if hasattr(exc, "error_dict") else [(None, exc.messages)]:
                    for error in errors:
                        form.add_error(field if field in form.fields else None, error)
            else:
                self.message_user(request, f"Files stored; the dry run #{run.pk} is queued.", messages.SUCCESS)
                return redirect(reverse("admin:common_importrun_change", args=[run.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Upload files for a dry run",
            "form": form,
            **(extra_context or {}),
        }
        status = 400 if posted else 200
        return TemplateResponse(request, "admin/common/importrun/upload.html", context, status=status)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = self._run(object_id)
        if run is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_permission(request, run):
            raise PermissionDenied
        report = run.report or {}
        outcomes = [o for o in Outcome.ALL if any(o in counts for counts in report.get("counts", {}).values())]
        counts = [
            {"file": name, "cells": [by_outcome.get(o, 0) for o in outcomes], "rows": sum(by_outcome.values())}
            for name, by_outcome in sorted(report.get("counts", {}).items())
        ]
        real_run = None
        if run.dry_run:
            real_run = ImportRun.objects.filter(previous=run, dry_run=False).order_by("id").first()
        unfinished = run.status in (ImportRun.Status.UPLOADED, ImportRun.Status.QUEUED, ImportRun.Status.RUNNING)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": str(run),
            "run": run,
            "files": list(run.files.order_by("name").values("name", "size")),
            # As the command takes them: --rematch-all, --navigator nina@...
            "options": [
                f"--{name.replace('_', '-')}" + ("" if value is True else f" {value}")
                for name, value in sorted((run.options or {}).items())
            ],
            "outcomes": outcomes,
            "counts": counts,
            "report": report,
            "real_run": real_run,
            "unfinished": unfinished,
            "refresh_seconds": REFRESH_SECONDS,
            "percent": int(100 * run.rows_done / run.rows_total) if run.rows_total else None,
            "may_run_for_real": run.dry_run and run.status == ImportRun.Status.DONE and real_run is None,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/common/importrun/run.html", context)

    def _run(self, object_id) -> ImportRun | None:
        """The run whatever its kind (a run of a kind the user may not import is a 403, not a 'no such run')."""
        try:
            return ImportRun.objects.select_related("created_by").filter(pk=int(unquote(object_id))).first()
        except (TypeError, ValueError):
            return None

    def run_for_real_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        run = self._run(object_id)
        if run is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_permission(request, run):
            raise PermissionDenied
        try:
            result = services.import_run_repeat_for_real(dry_run=run, actor=request.user)
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return redirect(reverse("admin:common_importrun_change", args=[run.pk]))
        if result.created:
            self.message_user(request, f"The import #{result.run.pk} is queued.", messages.SUCCESS)
        else:
            self.message_user(request, f"This dry run was already run for real: #{result.run.pk}.", messages.INFO)
        return redirect(reverse("admin:common_importrun_change", args=[result.run.pk]))


register_dashboard_link(
    title="Imports",
    url_name="admin:common_importrun_changelist",
    description="Upload an old system's files, read the dry run's report, then import for real.",
    allowed=lambda user: bool(import_kinds_for(user)),
)
