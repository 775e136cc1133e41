"""Admin pages for the navigators' and supervisors' daily work, beyond the model pages.

* the patient hub's context (contact block, recent calls, journeys, physicians) and its "log a call"
  form, which goes through ``services.call_log``;
* voiding one call with a reason (``services.call_void``);
* converting one lead (``services.lead_convert``);
* the CRM supervisors' navigator caseload page and its CSV (``selectors.navigator_caseloads``).

Each view is wired into its ModelAdmin's ``get_urls`` (so it runs inside ``admin_view``: staff login,
CSRF, no caching) and checks the permission it needs itself.
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Window
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.safestring import mark_safe

from common import roles
from common.admin import ReasonForm, add_refusal_to_form
from common.csv_export import CSV_CHUNK_ROWS, csv_response
from common.db import keyset_batches
from common.errors import ConflictError
from common.models import PHIAccessType
from common.phi_access import NAVIGATOR_CASELOADS_EXPORT, phi_access_record_request
from journeys.selectors import patient_journeys_summary
from journeys.transitions import CT_FINAL, EAP_FINAL
from patients import selectors, services
from patients.admin_filters import current_navigator
from patients.models import CallDirection, CallHistory, CallOutcome, LeadStatus, Patient
from people.admin import display_phone
from people.selectors import navigators

# The patient page lists this many calls; the rest are one click away in the filtered call list.
CALLS_SHOWN = 10


def in_group(user, group: str) -> bool:
    # The user's groups are read once per request (common.roles.group_names), not once per check.
    return user.is_active and group in roles.group_names(user)


def may_see_caseloads(user) -> bool:
    """CRM Supervisors and superusers (navigators and CM staff do not)."""
    return user.is_active and user.is_staff and (user.is_superuser or in_group(user, roles.CRM_SUPERVISORS))


def is_navigator(user) -> bool:
    return user.is_staff and in_group(user, roles.PATIENT_NAVIGATORS)


def change_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def _safe_next(request, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return target
    return default


# --- Logging a call from the patient page ---------------------------------------------------------------


class QuickCallForm(forms.Form):
    """What a navigator types after a call. The navigator defaults to the user's own navigator Person and
    the time to now; everything is checked again by ``call_log`` (its refusals land on these fields)."""

    direction = forms.ChoiceField(
        choices=CallDirection.choices, initial=CallDirection.OUTBOUND, widget=forms.RadioSelect
    )
    # "Not recorded" marks imported calls only (patients.services.call_log refuses it).
    outcome = forms.ChoiceField(
        choices=[("", "---------"), *((v, label) for v, label in CallOutcome.choices if v != CallOutcome.NOT_RECORDED)]
    )
    call_duration_minutes = forms.IntegerField(
        required=False, min_value=0, max_value=services.MAX_CALL_MINUTES, label="Duration (minutes)"
    )
    reminder_date = forms.DateField(
        required=False, label="Follow-up date", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))
    call_date = forms.DateTimeField(
        required=False,
        label="When",
        help_text="Leave empty for now.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    navigator = forms.ModelChoiceField(queryset=None, required=False)  # see __init__

    def __init__(self, *args, navigator=None, **kwargs):
        super().__init__(*args, prefix="call", **kwargs)
        # Built here, not on the class: navigators() is "holding the role now", and now moves on.
        self.fields["navigator"] = forms.ModelChoiceField(
            queryset=navigators(),
            required=False,
            widget=AutocompleteSelect(CallHistory._meta.get_field("navigator"), admin.site),
            initial=navigator,
            help_text="You, by default." if navigator else "The navigator who made or took the call.",
        )

    def service_values(self) -> dict:
        data = self.cleaned_data
        return {
            "direction": data["direction"],
            "outcome": data["outcome"],
            "call_duration_minutes": data.get("call_duration_minutes"),
            "reminder_date": data.get("reminder_date"),
            "notes": data.get("notes") or "",
            "call_date": data.get("call_date"),
            "navigator": data.get("navigator"),
        }


def patient_hub_context(request, patient: Patient, *, call_form: QuickCallForm | None = None) -> dict:
    """Everything the patient page shows above the patient's own fields. A constant number of queries:
    the calls are capped at ``CALLS_SHOWN`` and counted separately."""
    user = request.user
    # The latest calls and how many there are in one query (the count is a window over the patient's calls,
    # computed before the LIMIT); the journeys with their latest step's date in two.
    calls = list(selectors.patient_calls(patient=patient).annotate(total=Window(Count("*")))[:CALLS_SHOWN])
    call_count = calls[0].total if calls else 0
    journeys = patient_journeys_summary(patient=patient)
    can_log = user.has_perm("patients.add_callhistory") and patient.is_active
    if can_log and call_form is None:
        call_form = QuickCallForm(navigator=current_navigator(request))
    today = timezone.localdate()
    follow_up = getattr(patient, "follow_up_date", None)
    return {
        "hub": True,
        "patient": patient,
        "person": patient.person,
        "phone_display": display_phone(patient.person.phone),
        "age": _age(patient.person.date_of_birth, today),
        "follow_up": follow_up,
        "follow_up_state": follow_up_state(follow_up, today),
        "last_call_at": getattr(patient, "last_call_at", None),
        "calls": calls,
        "call_count": call_count,
        "all_calls_url": reverse("admin:patients_callhistory_changelist") + "?" + urlencode({"patient": patient.pk}),
        "call_form": call_form if can_log else None,
        "log_call_url": reverse("admin:patients_patient_log_call", args=[patient.pk]),
        "can_void_calls": user.has_perm("patients.change_callhistory"),
        "ct_journeys": [_journey_row(j, CT_FINAL) for j in journeys.clinical_trials],
        "eap_journeys": [_journey_row(j, EAP_FINAL) for j in journeys.eap],
        "add_ct_url": _add_url(user, "journeys", "clinicaltrialjourney", patient),
        "add_eap_url": _add_url(user, "journeys", "eapjourney", patient),
        "relationships": list(selectors.patient_physicians(patient=patient)),
        "add_relationship_url": _add_url(user, "patients", "patientphysicianrelationship", patient),
    }


def _add_url(user, app_label: str, model_name: str, patient: Patient) -> str | None:
    if not user.has_perm(f"{app_label}.add_{model_name}"):
        return None
    return reverse(f"admin:{app_label}_{model_name}_add") + "?" + urlencode({"patient": patient.pk})


def _journey_row(journey, final: tuple[str, ...]) -> dict:
    return {
        "journey": journey,
        "url": change_url(journey),
        "last_step_at": journey.last_step_at,  # patient_journeys_summary's annotation
        "is_final": journey.status in final,
    }


def _age(born: dt.date | None, today: dt.date) -> int | None:
    if born is None:
        return None
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def follow_up_state(follow_up: dt.date | None, today: dt.date) -> str:
    if follow_up is None:
        return ""
    if follow_up < today:
        return "overdue"
    return "due" if follow_up == today else "upcoming"


def log_call_view(model_admin, request, object_id):
    """POST: log a call on the patient and go back to the patient page; a refusal shows this page with
    the reasons. GET: the same form on its own page."""
    patient = model_admin.get_object(request, unquote(object_id))
    if patient is None:
        return model_admin._get_obj_does_not_exist_redirect(request, model_admin.opts, object_id)
    if not request.user.has_perm("patients.add_callhistory") or not model_admin.has_view_permission(request, patient):
        raise PermissionDenied
    form = QuickCallForm(request.POST if request.method == "POST" else None, navigator=current_navigator(request))
    if request.method == "POST" and form.is_valid():
        try:
            call = services.call_log(patient=patient, **form.service_values(), actor=request.user)
        except (ValidationError, ConflictError) as exc:
            add_refusal_to_form(form, exc)
        else:
            model_admin.message_user(
                request,
                f"Logged the {call.get_direction_display().lower()} call with {patient} "
                f"({call.get_outcome_display().lower()}).",
                messages.SUCCESS,
            )
            return redirect(change_url(patient) + "#calls")
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "original": patient,
        "title": f"Log a call with {patient}",
        "subtitle": None,
        "form": form,
        "media": form.media,
        "log_call_url": request.path,
    }
    return TemplateResponse(request, "admin/patients/patient/log_call.html", context)


# --- Voiding one call -----------------------------------------------------------------------------------


def void_call_view(model_admin, request, object_id):
    """Ask for the reason, then void the call (kept, marked void with who/when/why)."""
    call = model_admin.get_object(request, unquote(object_id))
    if call is None:
        return model_admin._get_obj_does_not_exist_redirect(request, model_admin.opts, object_id)
    if not model_admin.has_soft_delete_permission(request):
        raise PermissionDenied
    back = _safe_next(request, change_url(call.patient) + "#calls")
    if call.is_void:
        model_admin.message_user(request, "This call is already void.", messages.INFO)
        return redirect(back)
    form = ReasonForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.call_void(call=call, reason=form.cleaned_data["reason"], actor=request.user)
        except ValidationError as exc:
            add_refusal_to_form(form, exc)
        else:
            model_admin.message_user(request, f"Voided: {call}. It is kept, with your reason.", messages.SUCCESS)
            return redirect(back)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "original": call,
        "title": "Void this call",
        "subtitle": str(call),
        "call": call,
        "form": form,
        "next": back,
    }
    return TemplateResponse(request, "admin/patients/callhistory/void.html", context)


# --- Converting one lead ----------------------------------------------------------------------------------


class ConvertLeadForm(forms.Form):
    navigator = forms.ModelChoiceField(queryset=None, required=False)  # see __init__
    first_contact_date = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text="Leave empty for the day the lead came in.",
    )

    def __init__(self, *args, navigator=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["navigator"] = forms.ModelChoiceField(
            queryset=navigators(),
            required=False,
            widget=AutocompleteSelect(Patient._meta.get_field("navigator"), admin.site),
            initial=navigator,
            help_text="Who will navigate this patient.",
        )


def may_convert(request, lead) -> bool:
    return request.user.has_perm("patients.change_patientlead") and request.user.has_perm("patients.add_patient")


def convert_lead_view(model_admin, request, object_id):
    """Confirm (and optionally name the navigator), then convert; converting twice just opens the patient."""
    lead = model_admin.get_object(request, unquote(object_id))
    if lead is None:
        return model_admin._get_obj_does_not_exist_redirect(request, model_admin.opts, object_id)
    if not may_convert(request, lead):
        raise PermissionDenied
    if lead.status == LeadStatus.CONVERTED:
        model_admin.message_user(request, f"This lead was converted on {lead.converted_at:%Y-%m-%d}.", messages.INFO)
        return redirect(change_url(lead.converted_patient))
    form = ConvertLeadForm(request.POST if request.method == "POST" else None, navigator=current_navigator(request))
    if request.method == "POST" and form.is_valid():
        try:
            result = services.lead_convert(
                lead=lead,
                navigator=form.cleaned_data.get("navigator"),
                first_contact_date=form.cleaned_data.get("first_contact_date"),
                actor=request.user,
            )
        except (ValidationError, ConflictError) as exc:
            add_refusal_to_form(form, exc)
        else:
            verb = "is now a patient" if result.patient_created else "was already a patient; the lead is closed"
            model_admin.message_user(request, f"{lead.person} {verb}.", messages.SUCCESS)
            return redirect(change_url(result.patient))
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "original": lead,
        "title": f"Convert {lead.person} to a patient",
        "subtitle": None,
        "lead": lead,
        "form": form,
        "media": form.media,
    }
    return TemplateResponse(request, "admin/patients/patientlead/convert.html", context)


# --- The navigators' caseloads (CRM supervisors) ----------------------------------------------------------


@dataclass(frozen=True)
class CaseloadRow:
    navigator: object
    active_patients: int
    calls_last_7_days: int
    calls_last_30_days: int
    overdue_follow_ups: int
    load_percent: int
    patients_url: str
    calls_7_url: str
    calls_30_url: str
    overdue_url: str


CSV_HEADER = (
    "Navigator",
    "Email",
    "Active patients",
    "Calls in the last 7 days",
    "Calls in the last 30 days",
    "Overdue follow-ups",
)


def caseload_rows(*, now: dt.datetime, target: int | None = None) -> tuple[list[CaseloadRow], int]:
    """The table of the caseload page (one query) and the caseload the bars are drawn against: the
    largest one, or ``target`` when that is larger."""
    people = list(selectors.navigator_caseloads(now=now))
    scale = max([target or 0, *(p.active_patients for p in people)]) or 1
    patients = reverse("admin:patients_patient_changelist")
    calls = reverse("admin:patients_callhistory_changelist")

    # A key is a UUID (nothing in it to quote) and the other parameters are constants: formatted, not urlencode()d
    # (2,000 urlencode() calls were ~40 ms of CPU for 500 navigators).
    rows = [
        CaseloadRow(
            navigator=p,
            active_patients=p.active_patients,
            calls_last_7_days=p.calls_last_7_days,
            calls_last_30_days=p.calls_last_30_days,
            overdue_follow_ups=p.overdue_follow_ups,
            load_percent=round(100 * p.active_patients / scale),
            patients_url=f"{patients}?navigator={p.pk}&status__exact=active&deleted=no",
            calls_7_url=f"{calls}?navigator={p.pk}&within=7&void=no",
            calls_30_url=f"{calls}?navigator={p.pk}&within=30&void=no",
            overdue_url=f"{patients}?navigator={p.pk}&follow_up=overdue",
        )
        for p in people
    ]
    return rows, scale


# One table row per navigator, formatted in Python: the template engine took ~100 ms of CPU for 500 rows of ~15
# variables and a {% url %} each (the person's URL is reversed once here). Every value that comes from a person is
# escaped (html.escape: what Django's escape() does, without its lazy-string wrapper); the rest are numbers.
_CASELOAD_ROW = (
    '<tr><th scope="row"><a href="{person_url}">{name}</a></th>'
    '<td class="num"><a href="{patients_url}" title="Open these patients">{active}</a></td>'
    '<td class="crm-load"><div class="crm-bar-track" role="img" aria-label="{active} active patients">'
    '<div class="crm-bar{over} crm-w-{load}"></div>{target}</div></td>'
    '<td class="num"><a href="{calls_7_url}">{calls_7}</a></td>'
    '<td class="num"><a href="{calls_30_url}">{calls_30}</a></td>'
    '<td class="num{alert}"><a href="{overdue_url}">{overdue}</a></td></tr>\n'
)


def caseload_rows_html(rows: list[CaseloadRow], *, target: int | None, target_percent: int | None) -> str:
    person_url = reverse("admin:people_person_change", args=["__pk__"])
    target_html = "" if target_percent is None else f'<div class="crm-target crm-left-{target_percent}"></div>'
    escape = html.escape
    return mark_safe(  # noqa: S308 - every value below is escaped or a number
        "".join(
            _CASELOAD_ROW.format(
                person_url=escape(person_url.replace("__pk__", str(row.navigator.pk))),
                name=escape(row.navigator.full_name),
                patients_url=escape(row.patients_url),
                active=row.active_patients,
                over=" crm-over" if target and row.active_patients > target else "",
                load=row.load_percent,
                target=target_html,
                calls_7_url=escape(row.calls_7_url),
                calls_7=row.calls_last_7_days,
                calls_30_url=escape(row.calls_30_url),
                calls_30=row.calls_last_30_days,
                alert=" crm-alert" if row.overdue_follow_ups else "",
                overdue_url=escape(row.overdue_url),
                overdue=row.overdue_follow_ups,
            )
            for row in rows
        )
    )


def _target(request) -> int | None:
    try:
        value = int(request.GET.get("target", ""))
    except ValueError:
        return None
    return value if 0 < value <= 10_000 else None


def caseload_view(model_admin, request):
    if not may_see_caseloads(request.user):
        raise PermissionDenied
    now = timezone.now()
    target = _target(request)
    rows, scale = caseload_rows(now=now, target=target)
    target_percent = round(100 * target / scale) if target else None
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": "Navigator caseloads",
        "subtitle": None,
        "rows": rows,
        "now": now,
        "scale": scale,
        "target": target,
        "target_percent": target_percent,
        "rows_html": caseload_rows_html(rows, target=target, target_percent=target_percent),
        "totals": {
            "active_patients": sum(r.active_patients for r in rows),
            "calls_last_7_days": sum(r.calls_last_7_days for r in rows),
            "calls_last_30_days": sum(r.calls_last_30_days for r in rows),
            "overdue_follow_ups": sum(r.overdue_follow_ups for r in rows),
        },
        "csv_url": reverse("admin:patients_caseload_csv"),
    }
    return TemplateResponse(request, "admin/patients/patient/caseload.html", context)


def _cell(value) -> str | int:
    # A spreadsheet runs a cell starting with = + - @ as a formula; names come from web forms.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def caseload_csv_view(model_admin, request):
    """The caseload table as a streamed CSV: a query per ``CSV_CHUNK_ROWS`` navigators (keyset batches, so
    memory stays flat with or without server-side cursors), one to count them for the PHI access log."""
    if not may_see_caseloads(request.user):
        raise PermissionDenied
    now = timezone.now()
    navigators = selectors.navigator_caseloads(now=now)
    # Logged before the first byte: an export the client abandons halfway was still requested.
    phi_access_record_request(
        request,
        access_type=PHIAccessType.EXPORT,
        resource_type=NAVIGATOR_CASELOADS_EXPORT,
        record_count=navigators.count(),
        scope="every navigator's caseload",
    )
    rows = (
        [
            _cell(p.full_name),
            _cell(p.email or ""),
            p.active_patients,
            p.calls_last_7_days,
            p.calls_last_30_days,
            p.overdue_follow_ups,
        ]
        for p in keyset_batches(navigators, order=("last_name", "first_name", "pk"), batch_rows=CSV_CHUNK_ROWS)
    )
    return csv_response(
        filename=f"navigator-caseloads-{timezone.localdate(now):%Y-%m-%d}.csv", header=CSV_HEADER, rows=rows
    )


def my_follow_ups_view(model_admin, request):
    """The navigator's "follow-ups due" worklist: a bookmarkable shortcut to the filtered patient list."""
    url = reverse("admin:patients_patient_changelist")
    return redirect(f"{url}?{urlencode({'navigator': 'mine', 'follow_up': 'due'})}")
