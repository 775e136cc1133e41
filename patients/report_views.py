"""The navigation report's admin page, ``/admin/reports/navigation/`` (``patients.reports`` computes it).

CRM supervisors and superusers see every navigator (or the one they choose); a navigator sees the same
page limited to themself; CM staff are refused (403). Pictures first, the numbers behind them below:
calls per week per navigator, the funnels of the period's cohorts, the outcome mix (``common.charts``:
server-rendered SVG, so the Content-Security-Policy holds and the page prints).
"""

from __future__ import annotations

import html
import uuid

from django import forms
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms.utils import flatatt
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from common import charts
from patients import reports
from patients.models import CallOutcome

# The calls chart keeps this many navigators (the busiest) apart; the others are summed into one series.
CHART_NAVIGATORS = 6


class NavigatorSelect(forms.Select):
    """The navigator choice, its options written here: Django renders a template per option, ~100 ms for the
    500 navigators at full size (a third of the page's CPU). The same HTML as ``django/forms/widgets/select.html``
    (``html.escape`` is what ``django.utils.html.escape`` calls, without its lazy-string wrapper per call)."""

    def render(self, name, value, attrs=None, renderer=None):
        widget = self.get_context(name, value, attrs)["widget"]
        options = "".join(
            f'\n  <option value="{html.escape(str(o["value"]))}"{flatatt(o["attrs"])}>{html.escape(str(o["label"]))}'
            "</option>"
            for _, group, _ in widget["optgroups"]
            for o in group
        )
        return format_html(
            '<select name="{}"{}>{}\n</select>', widget["name"], flatatt(widget["attrs"]), mark_safe(options)
        )


class NavigatorChoiceField(forms.TypedChoiceField):
    """The navigators as plain (id, "Last, First") values: a ``ModelChoiceField`` made 500 ``Person``
    instances and read their pk ~15,000 times to render the list (~40 ms at full size). The cleaned value is
    the navigator's id (a ``uuid.UUID``) or ``None``; an unknown or malformed id is the field's error."""

    def __init__(self, **kwargs):
        super().__init__(coerce=uuid.UUID, empty_value=None, **kwargs)
        self.choices = _navigator_choices()  # read once per form: validating and rendering share the list

    def to_python(self, value):
        return _canonical(super().to_python(value))

    def prepare_value(self, value):  # the list shows the navigator chosen, however its id was spelt
        return _canonical(value)


def _canonical(value):
    """Any spelling of a UUID (upper case, no dashes) as the list writes it; anything else unchanged."""
    try:
        return str(uuid.UUID(str(value))) if value else value
    except ValueError:
        return value


def _navigator_choices():
    rows = reports.report_navigators().values_list("id", "first_name", "last_name")
    return [("", "Every navigator"), *((str(pk), f"{first} {last}".strip()) for pk, first, last in rows)]


class NavigationReportForm(forms.Form):
    """``from``, ``to`` and (for supervisors) ``navigator``, read from the query string; the same rules as
    the API (``reports.report_period``) with the refusal on the field it concerns."""

    def __init__(self, data, *, may_choose_navigator: bool):
        super().__init__(data)
        default = reports.ReportPeriod.last_full_weeks()
        date_input = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
        self.fields["from"] = forms.DateField(
            required=False, label="From", widget=date_input, initial=default.first_day
        )
        self.fields["to"] = forms.DateField(required=False, label="To", widget=date_input, initial=default.last_day)
        if may_choose_navigator:
            self.fields["navigator"] = NavigatorChoiceField(required=False, widget=NavigatorSelect)
        self.default = default

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        params = {
            "from": data["from"].isoformat() if data.get("from") else "",
            "to": data["to"].isoformat() if data.get("to") else "",
        }
        try:
            data["period"] = reports.report_period(params)
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                for message in messages:
                    self.add_error(name, message)
        return data


def _calls_chart(report: reports.NavigationReport):
    labels = [week.label for week in report.weeks]
    ranked = sorted(report.navigators, key=lambda n: -report.by_navigator[n.pk].calls)
    shown, rest = ranked[:CHART_NAVIGATORS], ranked[CHART_NAVIGATORS:]
    if len(rest) == 1:
        shown, rest = ranked, []
    series = [(n.full_name, [report.cell(week, n).calls for week in report.weeks]) for n in shown]
    if rest:
        series.append(
            (
                f"{len(rest)} other navigators",
                [sum(report.cell(week, n).calls for n in rest) for week in report.weeks],
            )
        )
    return charts.grouped_bar_chart("Calls per week per navigator (voided calls left out)", labels, series)


def _charts(report: reports.NavigationReport) -> dict:
    leads, eap = report.leads, report.eap
    labels = dict(CallOutcome.choices)
    return {
        "calls": _calls_chart(report),
        "lead_funnel": charts.funnel_chart(
            "Leads created in the period",
            [
                ("Leads created", leads.created),
                ("Converted", leads.converted),
                ("CT referred", leads.ct_referred),
                ("CT enrolled", leads.ct_enrolled),
            ],
        ),
        "eap_funnel": charts.funnel_chart(
            "EAP journeys opened in the period",
            [("Opened", eap.opened), ("Submitted", eap.submitted), ("Approved", eap.approved)],
        ),
        "outcomes": charts.horizontal_bar_chart(
            "Outcome mix of the calls",
            [(labels[outcome], count) for outcome, count in report.total.outcomes.items()],
        ),
    }


def navigation_report_view(request):
    user = request.user
    if not reports.may_see_navigation_report(user):
        raise PermissionDenied
    every = reports.may_see_every_navigator(user)
    form = NavigationReportForm(request.GET or None, may_choose_navigator=every)
    report = None
    if request.GET and form.is_valid():
        period = form.cleaned_data["period"]
        navigator = form.cleaned_data.get("navigator")
        params = {"navigator": str(navigator) if navigator else ""}
    elif not request.GET:
        period, params = form.default, {}
    else:
        period = None
    if period is not None:
        navigator = reports.report_navigator(params, user=user)  # a navigator: their own Person (or 403)
        report = reports.navigation_report(period=period, navigator=navigator)
    context = {
        **admin.site.each_context(request),
        "title": "Navigation report",
        "subtitle": None,
        "form": form,
        "report": report,
        "every_navigator": every,
        "time_zone": settings.TIME_ZONE,
        "columns": COLUMNS,
        **(_tables(report) if report is not None else {}),
    }
    return TemplateResponse(request, "admin/reports/navigation.html", context)


COLUMNS = (
    "Calls",
    "Outbound",
    "Reach rate",
    "Average minutes",
    "New patients",
    "Consults",
    "Median days to consult",
    "Overdue follow-ups",
)


def percent(rate: float | None) -> str:
    return "\u2014" if rate is None else f"{100 * rate:.1f} %"


def _number(value: float | None) -> str:
    return "\u2014" if value is None else f"{value:g}"


def _cells(figures: reports.Figures) -> list:
    return [
        figures.calls,
        figures.outbound_calls,
        percent(figures.reach_rate),
        _number(figures.average_call_minutes),
        figures.new_patients,
        figures.consults,
        _number(figures.median_days_to_consult),
        figures.overdue_follow_ups,
    ]


def _rows_html(rows) -> SafeString:
    """Table rows headed by a navigator's name, written here: 10,000 cells for 500 navigators through the
    template engine's loops and number localisation took ~100 ms (the numbers are plain integers and
    preformatted strings, as the template would print them: no thousands separator is configured)."""
    return mark_safe(
        "\n".join(
            f'<tr><th scope="row">{html.escape(navigator.full_name)}</th>'
            + "".join(f'<td class="num">{v if type(v) is int else html.escape(v)}</td>' for v in cells)
            + "</tr>"
            for navigator, cells in rows
        )
    )


def _tables(report: reports.NavigationReport) -> dict:
    labels = dict(CallOutcome.choices)
    total = report.total
    leads, eap = report.leads.as_dict(), report.eap.as_dict()
    navigator_rows = [(n, _cells(report.by_navigator[n.pk])) for n in report.navigators]
    cells, mondays, empty = report.cells, [week.monday for week in report.weeks], reports.Figures()
    return {
        "charts": _charts(report),
        "week_rows": [(week, _cells(report.by_week[week.monday])) for week in report.weeks],
        "navigator_rows": navigator_rows,
        "navigator_rows_html": _rows_html(navigator_rows),
        "total_cells": _cells(total),
        "calls_matrix_html": _rows_html(
            (n, [(cells.get((monday, n.pk)) or empty).calls for monday in mondays]) for n in report.navigators
        ),
        "outcome_rows": [
            (labels[outcome], count, percent(reports._rate(count, total.calls)))
            for outcome, count in total.outcomes.items()
        ],
        "lead_rows": [
            ("Leads created", leads["created"], ""),
            ("Converted to a patient", leads["converted"], percent(leads["conversion_rate"])),
            ("Referred to a clinical trial", leads["ct_referred"], percent(leads["ct_referral_rate"])),
            ("Enrolled in a clinical trial", leads["ct_enrolled"], percent(leads["ct_enrollment_rate"])),
        ],
        "eap_rows": [
            ("EAP journeys opened", eap["opened"], ""),
            ("Submitted", eap["submitted"], percent(eap["submission_rate"])),
            ("Approved", eap["approved"], percent(eap["approval_rate"])),
        ],
    }
