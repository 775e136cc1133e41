"""The CM desk's own admin pages: the enrollment desk (record an event), the CPSS caseload page and its
CSV, the complete patient view, the dual-enrollment list, and the "Enroll in CM" action's form.

Reads come from ``selectors`` (constant queries per page), writes from ``services``; the ModelAdmins in
``cm_program.admin`` route URLs here and decide who may open what.
"""

from __future__ import annotations

import copy
import datetime as dt
import html
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import IntegrityError
from django.db.models import Count, Exists, OuterRef, Q
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.safestring import mark_safe

from cm_program import selectors, services
from cm_program.models import (
    CMEnrollment,
    CMPointsTransaction,
    CMProgram,
    CMProvider,
    CMStatus,
    PointsEvent,
    ProviderRole,
    ProviderStatus,
)
from common.csv_export import csv_response
from common.errors import ConflictError
from common.models import PHIAccessType
from common.phi_access import CPSS_CASELOADS_EXPORT, phi_access_record_request

RACE_MESSAGE = "Someone else changed the same data at the same moment."


def admin_url(model, action: str, *args, query: dict[str, Any] | None = None) -> str:
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{action}", args=args)
    return f"{url}?{urlencode(query)}" if query else url


def refusal_messages(exc: Exception) -> dict[str | None, list[str]]:
    """A service's refusal as {field or None: [messages]}."""
    if isinstance(exc, ConflictError):
        return {exc.field: [exc.message]}
    if isinstance(exc, ValidationError) and hasattr(exc, "error_dict"):
        return {
            (None if field == NON_FIELD_ERRORS else field): [m for e in errors for m in e.messages]
            for field, errors in exc.error_dict.items()
        }
    if isinstance(exc, ValidationError):
        return {None: exc.messages}
    return {None: [RACE_MESSAGE]}


def refusal_text(exc: Exception) -> str:
    return " ".join(m for messages_ in refusal_messages(exc).values() for m in messages_)


# ---------------------------------------------------------------------------------------------------
# The enrollment desk: header, ledger and the "record event" form


def can_record_events(user) -> bool:
    """Recording an event writes a ledger entry: CPSS (in their caseload), CM supervisors, superusers."""
    return user.has_perm(f"cm_program.add_{CMPointsTransaction._meta.model_name}")


def event_choices(enrollment: CMEnrollment) -> list[tuple[str, str]]:
    """Each recordable event with what it would earn now under the program's schedule."""
    program = enrollment.cm_program
    streak = enrollment.current_streak
    earns = {
        PointsEvent.GROUP_ATTENDANCE: f"+{program.points_group_attendance}",
        PointsEvent.TEST_NEGATIVE: f"+{program.negative_test_points(streak_before=streak)}, streak {streak + 1}",
        PointsEvent.TEST_POSITIVE: "0, streak back to 0",
        PointsEvent.TEST_MISSED: "0, streak back to 0",
        PointsEvent.WEEKLY_CHECKIN: f"+{program.points_weekly_checkin}",
        PointsEvent.PEER_SUPPORT: f"+{program.points_peer_support}",
        PointsEvent.MANUAL_ADJUSTMENT: "points and reason below",
    }
    return [("", "Choose an event")] + [(e.value, f"{e.label} ({earns[e]})") for e in services.RECORDABLE_EVENTS]


class RecordEventForm(forms.Form):
    event_type = forms.ChoiceField(label="Event")
    points = forms.IntegerField(
        required=False,
        label="Points",
        help_text="Manual adjustments only: positive adds, negative deducts. Other events use the program's schedule.",
        widget=forms.NumberInput(attrs={"class": "crm-narrow-number"}),
    )
    reason = forms.CharField(
        required=False,
        max_length=2000,
        label="Reason or note",
        help_text="Required for a manual adjustment.",
        widget=forms.TextInput(attrs={"size": 40}),
    )
    occurred_at = forms.DateTimeField(
        required=False,
        label="When",
        help_text="Empty means now.",
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    def __init__(self, *args, enrollment: CMEnrollment, **kwargs):
        super().__init__(*args, prefix="event", **kwargs)
        self.enrollment = enrollment
        self.fields["event_type"].choices = event_choices(enrollment)

    def record(self, *, actor) -> CMPointsTransaction | None:
        """Record the event through ``cm_event_record``; a refusal becomes this form's errors (None)."""
        data = self.cleaned_data
        try:
            return services.cm_event_record(
                enrollment=self.enrollment,
                event_type=data["event_type"],
                points=data["points"],
                reason=data["reason"],
                occurred_at=data["occurred_at"],
                actor=actor,
            )
        except IntegrityError:
            self.add_error(None, f"{RACE_MESSAGE} Nothing was recorded; check the ledger and try again.")
            return None
        except (ValidationError, ConflictError) as exc:
            for field, errors in refusal_messages(exc).items():
                self.add_error(field if field in self.fields else None, errors)
            return None


LEDGER_ROWS = 100


def enrollment_desk(request, enrollment: CMEnrollment, *, record_form: RecordEventForm | None = None) -> dict:
    """Context of the enrollment page's header, ledger and record form (three queries)."""
    entries = list(
        enrollment.points_transactions.select_related("recorded_by", "reverses", "reversed_by").order_by("-sequence")[
            : LEDGER_ROWS + 1
        ]
    )
    profile = selectors._reverse_one(enrollment.canonical_patient, "cm_profile")
    may_record = can_record_events(request.user)
    if may_record and record_form is None and enrollment.status == CMStatus.ACTIVE:
        record_form = RecordEventForm(enrollment=enrollment)
    program = enrollment.cm_program
    return {
        "enrollment": enrollment,
        "patient": enrollment.canonical_patient,
        "profile": profile,
        "ledger": entries[:LEDGER_ROWS],
        "ledger_more": len(entries) > LEDGER_ROWS,
        "ledger_url": admin_url(CMPointsTransaction, "changelist", query={"enrollment": enrollment.pk}),
        "record_form": record_form if may_record else None,
        "may_record": may_record,
        "record_url": admin_url(CMEnrollment, "record_event", enrollment.pk),
        "complete_url": admin_url(enrollment.canonical_patient, "complete", enrollment.canonical_patient_id),
        "next_negative": program.negative_test_points(streak_before=enrollment.current_streak),
    }


def record_event(model_admin, request, object_id: str):
    """POST target of the enrollment page's "Record event" form.

    Success: a message with the points awarded and the new total and streak, then back to the page.
    Refusal: the page again with the form's errors. No right to record: 403; out of the user's scope: 404.
    """
    if not can_record_events(request.user):
        raise PermissionDenied
    enrollment = model_admin.get_object(request, unquote(object_id))
    if enrollment is None:
        raise Http404("No such enrollment.")
    change_url = admin_url(CMEnrollment, "change", enrollment.pk)
    if request.method != "POST":
        return HttpResponseRedirect(change_url)
    form = RecordEventForm(request.POST, enrollment=enrollment)
    entry = form.record(actor=request.user) if form.is_valid() else None
    if entry is not None:
        enrollment.refresh_from_db(fields=["total_points", "current_streak"])
        model_admin.message_user(
            request,
            f"{entry.get_event_type_display()} recorded for {enrollment.canonical_patient}: {entry.points:+d} points. "
            f"Total {enrollment.total_points} points, streak {enrollment.current_streak}.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(f"{change_url}#cm-desk")
    # Show the enrollment page as a GET would, with this form and its errors in place of an empty one.
    page_request = copy.copy(request)
    page_request.method = "GET"
    return model_admin.change_view(page_request, object_id, extra_context={"record_form": form})


# ---------------------------------------------------------------------------------------------------
# CPSS caseloads (CM supervisors)

WARNING_PERCENT = 90


def load_level(active: int, max_caseload: int) -> str:
    """CSS class of a caseload bar: ``danger`` when full (100% or more, or no places at all), ``warning``
    from 90%, ``normal`` below. Integer arithmetic, so 27 of 30 is exactly 90%."""
    if active >= max_caseload:
        return "danger"
    if active * 100 >= WARNING_PERCENT * max_caseload:
        return "warning"
    return "normal"


@dataclass(frozen=True)
class CaseloadLine:
    row: selectors.CaseloadRow
    level: str
    percent: int | None
    bar_width: int
    change_url: str
    active_url: str
    stale_url: str
    points_url: str

    @property
    def provider(self) -> CMProvider:
        return self.row.provider


def caseload_providers(user):
    """The CPSS on the caseload page: providers with the CPSS role, and anyone else holding patients."""
    holds_patients = CMEnrollment.objects.filter(cpss_provider=OuterRef("pk"), status=CMStatus.ACTIVE)
    return selectors.cm_providers_visible_to(user).filter(Q(role=ProviderRole.CPSS) | Exists(holds_patients))


def load_percent(row: selectors.CaseloadRow) -> int | None:
    return row.active_enrollments * 100 // row.max_caseload if row.max_caseload else None


@dataclass(frozen=True)
class _CaseloadUrls:
    """The page's four URLs, reversed once per page: 2,000 CPSS made 8,000 ``reverse()`` calls (1 s of CPU)."""

    change: str
    enrollments: str
    ledger: str

    @classmethod
    def build(cls) -> _CaseloadUrls:
        return cls(
            change=admin_url(CMProvider, "change", "__pk__"),
            enrollments=admin_url(CMEnrollment, "changelist"),
            ledger=admin_url(CMPointsTransaction, "changelist"),
        )


def caseload_line(row: selectors.CaseloadRow, urls: _CaseloadUrls | None = None) -> CaseloadLine:
    urls = urls or _CaseloadUrls.build()
    percent = load_percent(row)
    pk = row.provider.pk  # a UUID: nothing in it needs quoting, so the query strings are urlencode()'s
    return CaseloadLine(
        row=row,
        level=load_level(row.active_enrollments, row.max_caseload),
        percent=percent,
        bar_width=100 if percent is None else min(percent, 100),
        change_url=urls.change.replace("__pk__", str(pk)),
        active_url=f"{urls.enrollments}?cpss={pk}&status__exact=active",
        stale_url=f"{urls.enrollments}?cpss={pk}&status__exact=active&last_event=stale",
        points_url=f"{urls.ledger}?cpss={pk}&occurred=this_week",
    )


# CPSS per page of the caseload page; the CSV has them all. 2,000 rows took ~140 ms of CPU to fetch, build and
# format (and ~200 ms of SQL) at full size; a page of 100 is what a supervisor reads at once.
CASELOADS_PER_PAGE = 100


def caseload_lines(user, now: dt.datetime, *, page_number: int = 1, per_page: int | None = None) -> list[CaseloadLine]:
    urls = _CaseloadUrls.build()
    offset = (page_number - 1) * per_page if per_page else 0
    rows = selectors.cpss_caseload_summary(now=now, providers=caseload_providers(user), limit=per_page, offset=offset)
    return [caseload_line(row, urls) for row in rows]


# One table row per CPSS, formatted in Python: the template engine took ~1 s of CPU for 2,000 rows of
# ~15 variables each. Every value that comes from a person is escaped (html.escape: what Django's escape()
# does, without its lazy-string wrapper).
_CASELOAD_ROW = (
    '<tr class="cm-caseload-row" data-provider="{pk}">'
    '<th scope="row"><a href="{change_url}">{name}</a>{credentials}</th>'
    "<td>{status}</td>"
    '<td><span class="cm-bar {level}" title="{active} of {max}"><span class="crm-w-{bar}"></span></span> '
    '<span class="cm-load {level}">{load}</span></td>'
    '<td class="num"><a href="{active_url}" class="cm-active">{active}</a> / {max}</td>'
    '<td class="num"><a href="{stale_url}" class="cm-stale">{stale}</a></td>'
    '<td class="num"><a href="{points_url}" class="cm-points">{points}</a></td>'
    "</tr>\n"
)


def caseload_rows_html(lines: list[CaseloadLine]) -> str:
    parts = []
    status_names = dict(CMProvider._meta.get_field("status").flatchoices)
    for line in lines:
        provider, row = line.provider, line.row
        load = "no places" if line.percent is None else f"{line.percent}%"
        parts.append(
            _CASELOAD_ROW.format(
                pk=provider.pk,
                change_url=html.escape(line.change_url),
                name=html.escape(str(provider)),
                credentials=f' <span class="help">{html.escape(provider.credentials)}</span>'
                if provider.credentials
                else "",
                status=html.escape(str(status_names.get(provider.status, provider.status))),
                level=line.level,
                active=row.active_enrollments,
                max=row.max_caseload,
                bar=line.bar_width,
                load=load + (" full" if line.level == "danger" else ""),
                active_url=html.escape(line.active_url),
                stale_url=html.escape(line.stale_url),
                points_url=html.escape(line.points_url),
                stale=row.without_event_7_days,
                points=row.points_this_week,
            )
        )
    return mark_safe("".join(parts))  # noqa: S308 - every value above is escaped or a number


def may_see_caseloads(user) -> bool:
    return selectors.cm_scope(user) == "all"


def caseloads_page(model_admin, request):
    if not may_see_caseloads(request.user):
        raise PermissionDenied
    now = timezone.now()
    # The count (2,000 providers: ~10 ms) numbers the pages; the page's figures are one query for its providers.
    page = Paginator(caseload_providers(request.user).order_by("pk"), CASELOADS_PER_PAGE).get_page(request.GET.get("p"))
    lines = caseload_lines(request.user, now, page_number=page.number, per_page=CASELOADS_PER_PAGE)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": "CPSS caseloads",
        "page": page,
        "lines": lines,
        "rows_html": caseload_rows_html(lines),
        "week_start": selectors.week_start(now),
        "warning_percent": WARNING_PERCENT,
        "csv_url": admin_url(CMProvider, "caseloads_csv"),
    }
    return TemplateResponse(request, "admin/cm_program/cmprovider/caseloads.html", context)


CASELOAD_CSV_COLUMNS = (
    "CPSS",
    "Email",
    "Credentials",
    "Status",
    "Active enrollments",
    "Max caseload",
    "Load %",
    "Patients without an event in 7 days",
    "Points this week",
)


def csv_safe(value):
    """Spreadsheets run a cell that starts with = + - @ as a formula; names typed by people must not."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


# Providers per query of the CSV. Each query reads the week's ledger entries whatever its number of providers
# (~27,000 at full size: 60-80 ms) and sorts the listed providers: 4 batches of 500 took 4x that for 2,000 CPSS.
# One batch of 2,000 rows is ~300 KB in memory, and still a bound: more providers are read in more batches.
CASELOADS_CSV_BATCH = 2_000


def caseloads_csv(model_admin, request):
    """The caseload table as a streamed CSV: a query per ``CASELOADS_CSV_BATCH`` providers (keyset batches) and
    one to count them for the PHI access log."""
    if not may_see_caseloads(request.user):
        raise PermissionDenied
    now = timezone.now()
    providers = caseload_providers(request.user)
    # Logged before the first byte: an export the client abandons halfway was still requested.
    phi_access_record_request(
        request,
        access_type=PHIAccessType.EXPORT,
        resource_type=CPSS_CASELOADS_EXPORT,
        record_count=providers.count(),
        scope="the CPSS caseloads you may see",
    )

    # The status labels once (get_status_display() per row hashed the choices each time: ~10% of the CPU).
    status_names = {value: str(label) for value, label in CMProvider._meta.get_field("status").flatchoices}

    def rows():
        for row in selectors.iter_cpss_caseload_summary(now=now, providers=providers, chunk_size=CASELOADS_CSV_BATCH):
            provider = row.provider
            percent = load_percent(row)
            yield [
                csv_safe(str(provider)),
                csv_safe(provider.email or ""),
                csv_safe(provider.credentials or ""),
                status_names.get(provider.status, provider.status),
                row.active_enrollments,
                row.max_caseload,
                "" if percent is None else percent,
                row.without_event_7_days,
                row.points_this_week,
            ]

    return csv_response(
        filename=f"cpss-caseloads-{timezone.localdate(now):%Y-%m-%d}.csv", header=CASELOAD_CSV_COLUMNS, rows=rows()
    )


# ---------------------------------------------------------------------------------------------------
# The complete patient view and the dual-enrollment list


def complete_patient_page(model_admin, request, object_id: str):
    """The CM document's complete patient view as one page. A CPSS sees it for their own patients, with
    only their own enrollments; anyone else's patient is not found."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    canonical = model_admin.get_object(request, unquote(object_id))
    if canonical is None:
        raise Http404("No such patient.")
    view = selectors.complete_patient_view(canonical)
    visible = set(
        selectors.cm_enrollments_visible_to(request.user, CMEnrollment.objects.filter(canonical_patient=canonical))
        .values_list("pk", flat=True)
        .order_by()
    )
    user = request.user
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": f"Complete patient view: {view.identity.first_name} {view.identity.last_name}",
        "view": view,
        "original": canonical,
        "enrollments": [e for e in view.enrollments if e.pk in visible],
        "hidden_enrollments": len(view.enrollments) - len([e for e in view.enrollments if e.pk in visible]),
        "person_url": (
            admin_url(view.person, "change", view.person.pk)
            if view.person is not None and user.has_perm("people.view_person")
            else None
        ),
        "may_see_all": selectors.cm_scope(user) == "all",
    }
    phi_access_record_request(request, obj=canonical, access_type=PHIAccessType.COMPLETE_VIEW, scope="complete")
    return TemplateResponse(request, "admin/cm_program/canonicalpatient/complete_view.html", context)


DUAL_PER_PAGE = 50


def dual_enrollments_page(model_admin, request):
    """The CM document's "Detect Dual Enrollment" list (CM supervisors and superusers)."""
    if selectors.cm_scope(request.user) != "all":
        raise PermissionDenied
    queryset = selectors.dual_enrollments().select_related("intakeq_link__linked_by")
    query = (request.GET.get("q") or "").strip()
    if query:
        queryset = queryset.filter(
            Q(first_name__icontains=query)
            | Q(last_name__icontains=query)
            | Q(intakeq_link__intakeq_patient__intakeq_client_id__icontains=query)
        )
    page = Paginator(queryset, DUAL_PER_PAGE).get_page(request.GET.get("p"))
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": "Dual enrollments: IntakeQ and CM",
        "page": page,
        "q": query,
    }
    return TemplateResponse(request, "admin/cm_program/canonicalpatient/dual_enrollments.html", context)


# ---------------------------------------------------------------------------------------------------
# "Enroll in CM" (IntakeQ patient changelist action)


class ProviderChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: CMProvider) -> str:
        return f"{obj} ({obj._active} of {obj.max_caseload} places taken)"


class EnrollFromIntakeQForm(forms.Form):
    program = forms.ModelChoiceField(queryset=CMProgram.objects.none(), label="CM program")
    cpss_provider = ProviderChoiceField(
        queryset=CMProvider.objects.none(),
        required=False,
        label="CPSS",
        empty_label="No CPSS yet",
        help_text="Full caseloads are refused per patient.",
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["program"].queryset = selectors.cm_programs_visible_to(user).filter(is_active=True)
        active = Count("enrollments", filter=Q(enrollments__status=CMStatus.ACTIVE))
        self.fields["cpss_provider"].queryset = (
            selectors.cm_providers_visible_to(user).filter(status=ProviderStatus.ACTIVE).annotate(_active=active)
        )
        if self.fields["program"].queryset.count() == 1:
            self.fields["program"].initial = self.fields["program"].queryset.get().pk


def enroll_from_intakeq_action(model_admin, request, queryset):
    """Ask for program and CPSS, then enroll each selected IntakeQ patient (scenario 2 of the document)."""
    form = EnrollFromIntakeQForm(request.POST if "apply" in request.POST else None, user=request.user)
    if form.is_bound and form.is_valid():
        program, cpss = form.cleaned_data["program"], form.cleaned_data["cpss_provider"]
        enrolled, refused = [], []
        for patient in queryset.order_by("last_name", "first_name"):
            try:
                result = services.cm_patient_enroll_from_intakeq(
                    intakeq_patient=patient, program=program, cpss_provider=cpss, actor=request.user
                )
            except (ValidationError, ConflictError, IntegrityError) as exc:
                refused.append(f"{patient.first_name} {patient.last_name}: {refusal_text(exc)}")
            else:
                enrolled.append(result.canonical_patient)
        if enrolled:
            names = ", ".join(f"{p.first_name} {p.last_name}" for p in enrolled)
            with_cpss = f" with {cpss}" if cpss else " (no CPSS yet)"
            model_admin.message_user(
                request, f"Enrolled {len(enrolled)} in {program}{with_cpss}: {names}.", messages.SUCCESS
            )
        for line in refused:
            model_admin.message_user(request, f"Not enrolled: {line}", messages.ERROR)
        return None
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": "Enroll IntakeQ patients in CM",
        "patients": list(queryset.select_related("canonical_link__canonical_patient")),
        "form": form,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "select_across": request.POST.get("select_across", "0"),
    }
    return TemplateResponse(request, "admin/cm_program/intakeqpatient/enroll.html", context)


# ---------------------------------------------------------------------------------------------------
# The patient pool for billing (cm_program.billing)


def patient_pool_csv(model_admin, request):
    """Without ``from`` and ``to``: the form. With them: the pool as a streamed CSV (one PHI access-log
    entry), or the form again with what is wrong (400, nothing logged). CM supervisors and superusers."""
    from cm_program import billing  # billing imports csv_safe from here

    if not may_see_caseloads(request.user):
        raise PermissionDenied
    errors: dict[str, list[str]] = {}
    if "from" in request.GET or "to" in request.GET:
        try:
            period, program = billing.pool_parameters(request.GET)
        except ValidationError as exc:
            errors = exc.message_dict
        else:
            return billing.pool_csv_response(request, period=period, program=program)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": "Patient pool for billing",
        "errors": errors,
        "values": {name: request.GET.get(name, "") for name in ("from", "to", "program")},
        "programs": CMProgram.objects.order_by("name"),
    }
    response = TemplateResponse(request, "admin/cm_program/cmenrollment/patient_pool.html", context)
    response.status_code = 400 if errors else 200
    return response
