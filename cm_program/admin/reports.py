"""The CM program report page, ``/admin/reports/cm/`` (issue 14, point 3): the figures of
``cm_program.reports`` as charts first and the tables behind them.

CM supervisors and superusers see every enrollment and may filter by CPSS and program; a CPSS sees the
same report for their own caseload (another CPSS's id is a 404); everyone else is refused (403).
"""

from __future__ import annotations

import html

from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe

from cm_program import reports, selectors
from cm_program.admin._common import _sees_all
from cm_program.models import CMStatus, ProviderRole
from common import charts
from common.admin import register_dashboard_link

register_dashboard_link(
    title="CM program report",
    url_name="admin-report-cm",
    description="Enrollments by status, retention at 4, 8 and 12 weeks, negative-test rate, attendance and points "
    "per week, longest streaks, caseload use per CPSS.",
    allowed=lambda user: selectors.cm_scope(user) != "none",
)


# The caseload chart draws the busiest CPSS only: 1,900 bars (full size) were unreadable and cost ~250 ms of CPU to
# draw; the table below the charts lists every CPSS.
CASELOAD_CHART_ROWS = 30


def _percent(rate: float | None) -> float | None:
    return None if rate is None else round(rate * 100, 1)


def busiest_caseloads(caseloads: list[dict]) -> list[dict]:
    """The ``CASELOAD_CHART_ROWS`` CPSS with the highest caseload use (no maximum last), ties by name."""
    if len(caseloads) <= CASELOAD_CHART_ROWS:
        return caseloads
    ranked = sorted(caseloads, key=lambda row: (row["use"] is None, -(row["use"] or 0), row["cpss"]))
    return ranked[:CASELOAD_CHART_ROWS]


def caseload_chart_title(shown: int, total: int) -> str:
    if shown == total:
        return "Caseload use per CPSS (% of the maximum)"
    return f"Caseload use of the {shown} busiest of {total:,} CPSS (% of the maximum; every CPSS in the table below)"


def report_charts(report: dict) -> dict:
    """The report's three pictures (and caseload use), as SVG."""
    weeks = report["weeks"]
    labels = [week["week"][-3:] for week in weeks]  # "W45": the year is in the table and the period
    retention = [_percent(row["rate"]) for row in report["retention"]]
    busiest = busiest_caseloads(report["caseloads"])
    return {
        "retention": charts.line_chart(
            "Retention after enrollment (% still active)",
            ["Enrolled", *(f"{row['weeks']} weeks" for row in report["retention"])],
            [("Retained", [100.0 if report["cohort"] else None, *retention])],
            y_max=100,
            value_format="{:g}%",
        ),
        "negative_rate": charts.line_chart(
            "Negative tests per ISO week (% of tests recorded)",
            labels,
            [("Negative", [_percent(week["negative_rate"]) for week in weeks])],
            y_max=100,
            value_format="{:g}%",
        ),
        "points": charts.grouped_bar_chart(
            "Points per ISO week",
            labels,
            [
                ("Earned", [week["points_earned"] for week in weeks]),
                ("Deducted", [week["points_deducted"] for week in weeks]),
                ("Reversed", [week["points_reversed"] for week in weeks]),
            ],
        ),
        "caseloads": charts.horizontal_bar_chart(
            caseload_chart_title(len(busiest), len(report["caseloads"])),
            [(row["cpss"], _percent(row["use"])) for row in busiest],
            value_format="{:g}%",
        ),
    }


def caseload_rows(rows: list[dict], link: str | None) -> SafeString:
    """The caseload table's rows (every CPSS in scope), written here rather than by a template loop: 1,900 rows cost
    ~0.5 s of template rendering at full size, this ~10 ms. Each name links to the report for that CPSS (``link``
    followed by the id) for supervisors."""
    parts = []
    href = None if link is None else html.escape(link)  # the stdlib's escape, as Django's is, without its lazy wrapper
    for row in rows:
        name = html.escape(row["cpss"])
        if href is not None:
            name = f'<a href="{href}{row["cpss_id"]}">{name}</a>'
        use = "&ndash;" if row["use"] is None else f"{round(row['use'] * 100)}%"
        parts.append(
            f'<tr><th scope="row">{name}</th><td class="num">{row["active"]}</td>'
            f'<td class="num">{row["max_caseload"]}</td><td class="num">{use}</td></tr>'
        )
    return mark_safe("\n".join(parts) or '<tr><td colspan="4">No CPSS.</td></tr>')  # noqa: S308 (escaped above)


def _cpss_link(params) -> str:
    """The start of a link to this report for one CPSS (its id follows), keeping the period and program."""
    kept = {name: params[name] for name in ("from", "to", "program") if params.get(name)}
    return "?" + urlencode({**kept, "cpss": ""})


def cm_report_view(request):
    """The report for ``?from=&to=[&cpss=][&program=]`` (the last 12 full weeks by default); a bad value is
    shown on the form, naming the field and the reason (400)."""
    if selectors.cm_scope(request.user) == "none":
        raise PermissionDenied
    errors: dict[str, list[str]] = {}
    try:
        parameters = reports.report_parameters(request.GET, user=request.user)
    except ValidationError as exc:
        errors = exc.message_dict
        report = None
    else:
        report = reports.cm_program_report(
            user=request.user, period=parameters.period, cpss=parameters.cpss, program=parameters.program
        )
    default = reports.default_period()
    supervisor = _sees_all(request.user)
    context = {
        **admin.site.each_context(request),
        "title": "CM program report",
        "errors": errors,
        "report": report,
        "charts": report_charts(report) if report else None,
        "statuses": [(label, report["statuses"][value]) for value, label in CMStatus.choices] if report else [],
        "values": {
            "from": request.GET.get("from") or default.first_day.isoformat(),
            "to": request.GET.get("to") or default.last_day.isoformat(),
            "cpss": request.GET.get("cpss", ""),
            "program": request.GET.get("program", ""),
        },
        "supervisor": supervisor,
        # No list of every CPSS to choose from (1,900 options at full size): an id field, filled in by the links of
        # the caseload table's names, and a link to the CPSS list to search by name.
        "cpss_search_url": reverse("admin:cm_program_cmprovider_changelist") + f"?role={ProviderRole.CPSS.value}",
        "cpss_link": _cpss_link(request.GET) if supervisor else "",
        "caseload_rows": caseload_rows(report["caseloads"], _cpss_link(request.GET) if supervisor else None)
        if report
        else "",
        "programs": list(selectors.cm_programs_visible_to(request.user).order_by("name")),
    }
    response = TemplateResponse(request, "admin/reports/cm.html", context)
    response.status_code = 400 if errors else 200
    return response
