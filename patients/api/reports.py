"""``GET /api/v1/reports/navigation/``: the navigation report (``patients.reports``) as JSON, for CRM
supervisors and superusers (every navigator, or one with ``navigator``) and navigators (their own)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from patients import reports


def _rate(**kwargs):
    return serializers.FloatField(allow_null=True, min_value=0, max_value=1, **kwargs)


class OutcomeMixSerializer(serializers.Serializer):
    """Calls per outcome (every outcome of ``call_history.outcome``, 0 when none)."""

    def get_fields(self):
        return {outcome: serializers.IntegerField(min_value=0) for outcome in reports.OUTCOMES}


class FiguresSerializer(serializers.Serializer):
    calls = serializers.IntegerField(min_value=0, help_text="Calls made or taken, voided calls left out.")
    outbound_calls = serializers.IntegerField(min_value=0)
    reached_outbound_calls = serializers.IntegerField(min_value=0)
    reach_rate = _rate(help_text="reached_outbound_calls / outbound_calls; null without outbound calls.")
    outcomes = OutcomeMixSerializer()
    timed_calls = serializers.IntegerField(min_value=0, help_text="Calls with a duration.")
    average_call_minutes = serializers.FloatField(allow_null=True, help_text="Mean duration of the timed calls.")
    new_patients = serializers.IntegerField(min_value=0)
    consults = serializers.IntegerField(min_value=0, help_text="Initial consults (with a first contact date).")
    median_days_to_consult = serializers.FloatField(allow_null=True, help_text="Median first contact -> consult.")
    overdue_follow_ups = serializers.IntegerField(min_value=0, help_text="At the week's end (docs/REPORTS.md).")


class WeekFiguresSerializer(FiguresSerializer):
    week = serializers.CharField(help_text="ISO week, e.g. 2026-W45 (settings.TIME_ZONE).")
    first_day = serializers.DateField(help_text="The Monday, or the period's first day.")
    last_day = serializers.DateField(help_text="The Sunday, or the period's last day.")


class NavigatorWeekSerializer(FiguresSerializer):
    week = serializers.CharField()


class NavigatorFiguresSerializer(FiguresSerializer):
    id = serializers.UUIDField(help_text="The navigator's Person id.")
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    weeks = NavigatorWeekSerializer(many=True)


class LeadFunnelSerializer(serializers.Serializer):
    created = serializers.IntegerField(min_value=0, help_text="Leads created in the period (the cohort).")
    converted = serializers.IntegerField(min_value=0)
    ct_referred = serializers.IntegerField(min_value=0)
    ct_enrolled = serializers.IntegerField(min_value=0)
    conversion_rate = _rate()
    ct_referral_rate = _rate()
    ct_enrollment_rate = _rate()


class EAPFunnelSerializer(serializers.Serializer):
    opened = serializers.IntegerField(min_value=0, help_text="EAP journeys opened in the period (the cohort).")
    submitted = serializers.IntegerField(min_value=0)
    approved = serializers.IntegerField(min_value=0)
    submission_rate = _rate()
    approval_rate = _rate()


class PipelineSerializer(serializers.Serializer):
    leads = LeadFunnelSerializer()
    eap_journeys = EAPFunnelSerializer()


class NavigationReportSerializer(serializers.Serializer):
    # "from" is a Python keyword: the field is declared under another name and renamed in get_fields.
    from_ = serializers.DateField()
    to = serializers.DateField()
    time_zone = serializers.CharField()
    navigator = serializers.UUIDField(allow_null=True, help_text="The one navigator the report is limited to.")
    weeks = WeekFiguresSerializer(many=True, help_text="Every week of the period, all navigators together.")
    navigators = NavigatorFiguresSerializer(many=True, help_text="Each navigator with a figure, by name.")
    total = FiguresSerializer(help_text="The whole period (overdue follow-ups: at the last week's end).")
    pipeline = PipelineSerializer()

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")
        return {name: fields[name] for name in ("from", *(n for n in fields if n != "from"))}


class SeesNavigationReport(BasePermission):
    message = "The navigation report is for CRM supervisors and patient navigators."

    def has_permission(self, request, view) -> bool:
        return reports.may_see_navigation_report(request.user)


class NavigationReportView(APIView):
    permission_classes = [IsAuthenticated, SeesNavigationReport]

    @extend_schema(
        summary="Navigation report",
        description="Per ISO week (in the server's time zone) and per navigator: calls (voided left out), reach "
        "rate (reached / outbound), outcome mix, average call length, new patients, median days from first "
        "contact to initial consult, overdue follow-ups at the week's end; the pipeline of the period's cohorts "
        "(leads: converted, CT referred, CT enrolled; EAP journeys: submitted, approved). Definitions in "
        "docs/REPORTS.md. `from`/`to`: local days, inclusive, at most 731 days (default: the last 12 full "
        "weeks). CRM supervisors see every navigator (or the one `navigator` names); navigators see their own "
        "figures only (403 for another navigator's); CM staff 403. 400 naming `from`, `to` or `navigator`.",
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE, description="First day (default: 12 full weeks ago)."),
            OpenApiParameter("to", OpenApiTypes.DATE, description="Last day (default: last Sunday)."),
            OpenApiParameter("navigator", OpenApiTypes.UUID, description="A navigator's Person id."),
        ],
        responses={200: NavigationReportSerializer},
        tags=["reports"],
    )
    def get(self, request):
        try:
            period = reports.report_period(request.query_params)
            navigator = reports.report_navigator(request.query_params, user=request.user)
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from None
        except DjangoPermissionDenied as exc:
            raise PermissionDenied(str(exc)) from None
        report = reports.navigation_report(period=period, navigator=navigator)
        return Response(report.as_dict())
