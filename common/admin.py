"""Admin building blocks shared by every app.

* ``CrmModelAdmin``: the base of every ModelAdmin: the History page shows the database audit trail,
  unfiltered large tables use an estimated count, no second full-result COUNT, the search box is the
  CRM's indexed, accent-insensitive search (``common.search``).
* ``ServiceAdminMixin``: ``save_model`` / ``save_formset`` call services. When a service refuses
  (``ValidationError`` or ``ConflictError``) or PostgreSQL refuses the write (any ``IntegrityError``),
  everything the request wrote is rolled back and the form is shown again with the reasons on the
  named fields: a 400-style answer, never a 500.
* ``SoftDeleteAdminMixin``: no hard delete from the admin at all; "delete" (or "void") is an action that
  asks for a reason and calls the model's soft-delete service; "restore" undoes it.
* ``reason_action``: any other changelist action that needs a reason first.
* ``register_dashboard_link``: role-specific links on the admin index page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django import forms
from django.apps import apps
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import IntegrityError, connection, transaction
from django.http import HttpRequest
from django.shortcuts import render
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.translation import gettext as _

from common.audit import record_history
from common.db import constraint_name
from common.errors import ConflictError
from common.phi_access import PHIAccessAdminMixin
from common.search import (
    SEARCH_COUNT_CAP,
    fetch_by_ids,
    fetch_from_search_table,
    fetch_searched_rows,
    is_searched,
    matches_are_few,
    planner_rows,
    search,
    sort_matches,
)

SERVICE_REFUSAL = "_service_refusal"
logger = logging.getLogger(__name__)


def refusal_messages(exc: Exception) -> list[tuple[str | None, str]]:
    """(field or None, message) pairs of a service's refusal."""
    if isinstance(exc, ConflictError):
        suffix = f" (existing record: {exc.existing_id})" if exc.existing_id else ""
        return [(exc.field, f"{exc.message}{suffix}")]
    if hasattr(exc, "error_dict"):
        return [(field, message) for field, msgs in exc.message_dict.items() for message in msgs]
    return [(None, message) for message in exc.messages]


def integrity_error_message(exc: IntegrityError) -> str:
    """What to tell a user whose write PostgreSQL refused: the constraint's own message when its model
    gives one, else the constraint's name."""
    name = constraint_name(exc)
    if name is None:
        return "The database refused this change. Nothing was saved."
    for model in apps.get_models():
        for constraint in model._meta.constraints:
            custom = constraint.violation_error_message != constraint.default_violation_error_message
            if constraint.name == name and custom:
                return f"{constraint.get_violation_error_message()} Nothing was saved."
    return f"The database refused this change (rule {name}). Nothing was saved."


def add_refusal_to_form(form: forms.BaseForm, exc: Exception) -> None:
    for field, message in refusal_messages(exc):
        if field in form.fields:
            form.add_error(field, message)
        else:
            form.add_error(None, f"{field}: {message}" if field and field != "__all__" else message)


class ServiceAdminMixin:
    """See the module docstring. Subclasses call services in ``save_model`` / ``save_formset``."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method != "POST":
            return super().changeform_view(request, object_id, form_url, extra_context)
        try:
            with transaction.atomic():
                return super().changeform_view(request, object_id, form_url, extra_context)
        except (ValidationError, ConflictError) as exc:
            # The atomic block above undid every write of this request. Render the form again from
            # the same POST, this time invalid with the service's reasons.
            setattr(request, SERVICE_REFUSAL, exc)
            return super().changeform_view(request, object_id, form_url, extra_context)
        except IntegrityError as exc:
            # A rule PostgreSQL holds that the service did not turn into a refusal (a race it lost, a
            # constraint it does not check): the same form error, never a 500.
            logger.warning("integrity error reached the admin: %s", exc)
            setattr(request, SERVICE_REFUSAL, ValidationError(integrity_error_message(exc)))
            return super().changeform_view(request, object_id, form_url, extra_context)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change=change, **kwargs)
        refusal = getattr(request, SERVICE_REFUSAL, None)
        if refusal is None:
            return form_class

        class RefusedForm(form_class):
            def clean(self):
                cleaned = super().clean()
                add_refusal_to_form(self, refusal)
                return cleaned

        RefusedForm.__name__ = form_class.__name__
        return RefusedForm

    @staticmethod
    def adopt(target, source) -> None:
        """Make the admin's unsaved ``target`` the row a service created, so the admin's redirect,
        log entry and inlines use it."""
        for field in source._meta.concrete_fields:
            setattr(target, field.attname, getattr(source, field.attname))
        target._state.adding = False
        target._state.db = source._state.db

    def report_conflicts(self, request, conflicts: dict) -> None:
        """Tell the user which of the details they typed were *not* applied to the existing Person."""
        for field, values in conflicts.items():
            self.message_user(
                request,
                f"Kept the stored {field.replace('_', ' ')} '{values['stored']}'; you entered '{values['given']}'. "
                "Edit the person if the stored value is wrong.",
                messages.WARNING,
            )


class ReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=2000,
        strip=True,
        help_text="Kept in the audit trail with your name and the time.",
    )


class SoftDeleteAdminMixin:
    """See the module docstring. Set ``soft_delete_service`` / ``restore_service`` (called with
    ``**{service_kwarg: obj}``) and, for calls, ``soft_delete_permission = "change"``."""

    soft_delete_service: Callable | None = None
    restore_service: Callable | None = None
    service_kwarg: str = ""
    soft_delete_permission = "delete"
    soft_delete_verb = "Delete"
    actions = ("soft_delete_selected", "restore_selected")

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # rows are never removed from the admin; see soft_delete_selected

    def has_soft_delete_permission(self, request) -> bool:
        codename = get_permission_codename(self.soft_delete_permission, self.opts)
        return request.user.has_perm(f"{self.opts.app_label}.{codename}")

    def get_actions(self, request):
        actions = super().get_actions(request)
        plural = self.opts.verbose_name_plural
        labels = {
            "soft_delete_selected": f"{self.soft_delete_verb} selected {plural} (with a reason)",
            "restore_selected": f"Restore selected {plural}",
        }
        for name, label in labels.items():
            if name in actions:
                func, action_name, _ = actions[name]
                actions[name] = (func, action_name, label)
        return actions

    @admin.action(permissions=["soft_delete"])
    def soft_delete_selected(self, request, queryset):
        form = ReasonForm(request.POST if "confirm" in request.POST else None)
        if form.is_valid():
            try:
                with transaction.atomic():
                    for obj in queryset:
                        type(self).soft_delete_service(
                            **{self.service_kwarg: obj}, reason=form.cleaned_data["reason"], actor=request.user
                        )
            except (ValidationError, ConflictError) as exc:
                self.message_user(request, "; ".join(m for _, m in refusal_messages(exc)), messages.ERROR)
                return None
            except IntegrityError as exc:  # a rule only PostgreSQL holds: a message, never a 500
                self.message_user(request, integrity_error_message(exc), messages.ERROR)
                return None
            self.message_user(
                request,
                f"{self.soft_delete_verb}d {queryset.count()} {self.opts.verbose_name_plural}.",
                messages.SUCCESS,
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": f"{self.soft_delete_verb} {self.opts.verbose_name_plural}",
            "opts": self.opts,
            "objects": queryset,
            "form": form,
            "verb": self.soft_delete_verb,
            "action": "soft_delete_selected",
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/common/soft_delete_reason.html", context)

    @admin.action(permissions=["soft_delete"])
    def restore_selected(self, request, queryset):
        try:
            with transaction.atomic():
                for obj in queryset:
                    type(self).restore_service(**{self.service_kwarg: obj}, actor=request.user)
        except (ValidationError, ConflictError) as exc:
            self.message_user(request, "; ".join(m for _, m in refusal_messages(exc)), messages.ERROR)
            return
        except IntegrityError as exc:  # a rule only PostgreSQL holds: a message, never a 500
            self.message_user(request, integrity_error_message(exc), messages.ERROR)
            return
        self.message_user(request, f"Restored {queryset.count()} {self.opts.verbose_name_plural}.", messages.SUCCESS)


# Below this many rows an exact COUNT(*) is cheap enough and always right.
ESTIMATE_THRESHOLD = 20_000
# A filtered list counts its rows up to this many (200 pages of 50); past it the page says "more than".
COUNT_CAP = 10_000


class EstimatedCountPaginator(Paginator):
    """Uses PostgreSQL's row estimate (pg_class.reltuples) for an unfiltered large table, and counts a
    filtered list only up to ``COUNT_CAP`` rows (a searched one up to ``common.search.SEARCH_COUNT_CAP``).

    ``COUNT(*)`` on a table of millions of calls takes seconds on every changelist view; the planner's
    estimate is instant and good enough for "page 1 of ~40,000". A filter that keeps most of a big
    table (a status, "not deleted") would cost the same full count: ``COUNT(*)`` over ``LIMIT cap + 1``
    stops early and is exact whenever fewer rows match. ``approximate`` says which ("about",
    "more than", or "" when exact) for the changelist's pagination line.
    """

    approximate = ""

    @cached_property
    def count(self) -> int:
        query = getattr(self.object_list, "query", None)
        if query is None:
            return super().count
        if not query.where and not query.distinct:
            estimate = _estimated_rows(self.object_list.model._meta.db_table)
            if estimate >= ESTIMATE_THRESHOLD:
                self.approximate = "about"
                return estimate
            return super().count
        # A search counts to a lower cap: its matches are joined rows, and "more than 1000" is as useful as
        # "more than 10000" to someone who should type more of the name.
        cap = SEARCH_COUNT_CAP if is_searched(self.object_list) else COUNT_CAP
        _without_jit()
        counted = self.object_list.order_by()[: cap + 1].count()
        if counted > cap:
            self.approximate = "more than"
            return cap
        return counted

    def page(self, number):
        # A search with few matches sorts them rather than walk the order index (common.search.sort_matches);
        # the count above, taken first by the changelist, says whether they were counted, else the planner guesses.
        if is_searched(self.object_list):
            number = self.validate_number(number)
            bottom = (number - 1) * self.per_page
            top = bottom + self.per_page
            if top + self.orphans >= self.count:
                top = self.count
            # Past the count's cap, a list by a Person's name searched on its names / email: the matches in name
            # order from the narrow person_search table, the page's rows by key (common.search.fetch_from_search_table).
            rows = fetch_from_search_table(self.object_list, bottom, top) if self.approximate else None
            if rows is not None:
                return self._get_page(rows, number, self)
            exact = not self.approximate
            estimate = None if exact else planner_rows(self.object_list)
            if matches_are_few(exact=exact, estimate=estimate):
                # Few matches: sort them; the page's keys first, then their rows (fetch_by_ids).
                rows = fetch_by_ids(sort_matches(self.object_list), bottom, top)
            else:
                # Many matches: walk the order index for a moment, then sort them (fetch_searched_rows).
                rows = fetch_searched_rows(self.object_list, bottom, top)
            return self._get_page(rows, number, self)
        return super().page(number)


def _without_jit() -> None:
    """No JIT compilation for the rest of this request's transaction (``SET LOCAL``; nothing outside a transaction).

    A capped count's plan is costed as if it read the whole filtered table, which passes PostgreSQL's
    ``jit_above_cost``: compiling it took longer than the count (the patients with an open journey: 960 ms with JIT,
    380-440 ms without, at full size; docs/PERFORMANCE.md "Admin pages at full size, round 2"). An admin page
    reads at most 10,001 rows: JIT never pays for itself there."""
    if connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")


def _estimated_rows(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)", [table])
        row = cursor.fetchone()
    return int(row[0]) if row and row[0] and row[0] > 0 else 0


def reason_action(
    *,
    description: str,
    service: Callable[..., object],
    permission: str | None = None,
    object_kwarg: str = "obj",
    success: str = "{count} record(s) updated.",
    reason_kwarg: str = "reason",
):
    """A changelist action that first asks for a reason on an intermediate page, then calls
    ``service(<object_kwarg>=obj, reason=..., actor=request.user)`` for each selected row.

    Service validation errors are shown as messages; rows that succeeded stay done.
    """

    def action(modeladmin, request: HttpRequest, queryset):
        if "apply" in request.POST:
            form = ReasonForm(request.POST)
            if form.is_valid():
                done, errors = 0, []
                for obj in queryset:
                    try:
                        service(**{object_kwarg: obj, reason_kwarg: form.cleaned_data["reason"], "actor": request.user})
                        done += 1
                    except ValidationError as exc:
                        errors.append(f"{obj}: {'; '.join(exc.messages)}")
                if done:
                    modeladmin.message_user(request, success.format(count=done), messages.SUCCESS)
                for error in errors:
                    modeladmin.message_user(request, error, messages.ERROR)
                return None
        else:
            form = ReasonForm()
        context = {
            **modeladmin.admin_site.each_context(request),
            "title": description,
            "opts": modeladmin.model._meta,
            "queryset": queryset,
            "form": form,
            "action_name": request.POST.get("action"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "select_across": request.POST.get("select_across", "0"),
        }
        return render(request, "admin/reason_action.html", context)

    action.short_description = description
    if permission:
        action.allowed_permissions = (permission,)
    return action


HISTORY_PAGE_SIZE = 100
HISTORY_PAGE_PARAM = "p"


class AuditHistoryMixin:
    """The "History" page shows the database audit trail (pghistory): who, when, channel, what changed."""

    object_history_template = "admin/audit_history.html"

    def history_view(self, request, object_id, extra_context=None):
        obj = self.get_object(request, admin.utils.unquote(object_id))
        if obj is None:
            return self._get_obj_does_not_exist_redirect(request, self.model._meta, object_id)
        if not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        opts = self.model._meta
        # Newest first, a page at a time: a record edited a million times still renders in two queries.
        paginator = Paginator(record_history(obj, newest_first=True), HISTORY_PAGE_SIZE)
        page = paginator.get_page(request.GET.get(HISTORY_PAGE_PARAM))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Audit trail: {obj}",
            "subtitle": None,
            "entries": page.object_list,
            "page_obj": page,
            "page_param": HISTORY_PAGE_PARAM,
            "module_name": str(opts.verbose_name_plural).capitalize(),
            "object": obj,
            "opts": opts,
            "preserved_filters": self.get_preserved_filters(request),
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.object_history_template, context)


class CrmModelAdmin(PHIAccessAdminMixin, AuditHistoryMixin, admin.ModelAdmin):
    """Base admin: audit-trail history, cheap counts, no full-result second COUNT, sane page size; views
    of patient records are written to the PHI access log."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 50

    # The two per-row costs of every changelist that are Django's, not the page's (docs/PERFORMANCE.md, "CM
    # admin changelists"): each row's selection checkbox rendered through a form widget's template (~0.3 ms a
    # row), and the empty-cell text resolved, marked safe and re-wrapped for every cell.

    def action_checkbox(self, obj):
        # The markup Django's CheckboxInput renders (admin.ModelAdmin.action_checkbox), formatted directly.
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            helpers.ACTION_CHECKBOX_NAME,
            str(obj.pk),
            _("Select this object for an action - {}").format(obj),
        )

    def get_empty_value_display(self):
        cached = self.__dict__.get("_crm_empty_value_display")
        if cached is None:
            cached = self.__dict__["_crm_empty_value_display"] = super().get_empty_value_display()
        return cached

    def get_search_results(self, request, queryset, search_term):
        # The CRM's search (common.search), the same as the API's: accent- and case-insensitive, served by
        # the trigram and prefix indexes. It never duplicates rows (to-many fields are matched through a
        # ``pk IN`` subquery), so the changelist needs no DISTINCT.
        return search(queryset, self.get_search_fields(request), search_term), False


@dataclass(frozen=True)
class DashboardLink:
    title: str
    url_name: str
    description: str
    allowed: Callable[[object], bool]


_DASHBOARD_LINKS: list[DashboardLink] = []


def register_dashboard_link(*, title: str, url_name: str, description: str, allowed: Callable[[object], bool]):
    """Show a link on the admin index page to users for whom ``allowed(user)`` is true."""
    if not any(link.url_name == url_name for link in _DASHBOARD_LINKS):
        _DASHBOARD_LINKS.append(DashboardLink(title, url_name, description, allowed))


def dashboard_links_for(user) -> list[dict]:
    return [
        {"title": link.title, "url": reverse(link.url_name), "description": link.description}
        for link in _DASHBOARD_LINKS
        if user.is_authenticated and link.allowed(user)
    ]


# The PHI access log's own (superuser-only, read-only) admin, and the "Imports" screen (issue 11).
from common import admin_imports, admin_phi_access  # noqa: E402, F401
from common.merge import admin as merge_admin  # noqa: E402, F401  (the merge log; the compare-and-merge page)
