"""The CM program report page, ``/admin/reports/cm/`` (issue 14, point 3): the figures of
``cm_program.reports`` as charts first and the tables behind them.

CM supervisors and superusers see every enrollment and may filter by CPSS and program; a CPSS sees the
same report for their own caseload (another CPSS's id is a 404); everyone else is refused (403).
"""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.template.response import TemplateResponse

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


def _percent(rate: float | None) -> float | None:
    return None if rate is None else round(rate * 100, 1)


def report_charts(report: dict) -> dict:
    """The report's three pictures (and caseload use), as SVG."""
    weeks = report["weeks"]
    labels = [week["week"][-3:] for week in weeks]  # "W45": the year is in the table and the period
    retention = [_percent(row["rate"]) for row in report["retention"]]
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
            "Caseload use per CPSS (% of the maximum)",
            [(row["cpss"], _percent(row["use"])) for row in report["caseloads"]],
            value_format="{:g}%",
        ),
    }


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
        "cpss_choices": (
            list(
                selectors.cm_providers_visible_to(request.user)
                .filter(role=ProviderRole.CPSS)
                .order_by("last_name", "first_name", "pk")
            )
            if supervisor
            else []
        ),
        "programs": list(selectors.cm_programs_visible_to(request.user).order_by("name")),
    }
    response = TemplateResponse(request, "admin/reports/cm.html", context)
    response.status_code = 400 if errors else 200
    return response
