"""CM reports: the patient pool for billing (issue 14, point 4) and the CM program report (point 3)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.renderers import BaseRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from cm_program import billing, reports, selectors
from cm_program.api.views._common import SeesAllCM
from common.api.pagination import StandardPagination
from common.api.renderers import ORJSONRenderer


class CSVRenderer(BaseRenderer):
    """Lets content negotiation pick CSV (``?format=csv``, ``Accept: text/csv``); the view streams it."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        # Only errors get here (the pool itself is streamed by the view): they are answered in JSON.
        return ORJSONRenderer().render(data, "application/json", renderer_context)


class PatientPoolView(APIView):
    """``GET /api/v1/cm/reports/patient-pool/?from=&to=[&program=]``: CM supervisors and superusers."""

    permission_classes = [IsAuthenticated, SeesAllCM]
    renderer_classes = [ORJSONRenderer, CSVRenderer]
    pagination_class = StandardPagination

    def finalize_response(self, request, response, *args, **kwargs):
        # A refusal of a CSV request is still JSON (one error shape), marked as such.
        response = super().finalize_response(request, response, *args, **kwargs)
        if (
            isinstance(response, Response)
            and response.status_code >= 400
            and response.accepted_media_type == "text/csv"
        ):
            response.accepted_media_type = "application/json"
            response.content_type = "application/json"
        return response

    @extend_schema(
        summary="Patient pool for billing",
        description="The enrollments active at any time in the period [`from`, `to`] (local days, inclusive): "
        "enrolled on or before `to` and not graduated or withdrawn before `from`. Each row: canonical identity, "
        "date of birth, Medicaid id, insurance, program, CPSS, enrollment date, status and when it ended, and the "
        "peer-support and group-attendance events in the period (reversed entries left out). JSON pages in "
        "enrollment-id order; `format=csv` or `Accept: text/csv` streams the whole pool as CSV. Every request "
        "writes one PHI access-log entry. 400 naming `from`, `to` or `program`; CM supervisors only (403).",
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE, required=True),
            OpenApiParameter("to", OpenApiTypes.DATE, required=True),
            OpenApiParameter("program", OpenApiTypes.UUID),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        try:
            period, program = billing.pool_parameters(request.query_params)
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from None
        if request.accepted_renderer.format == "csv":
            return billing.pool_csv_response(request, period=period, program=program)
        paginator = self.pagination_class()
        enrollments = billing.pool_page_enrollments(period=period, program=program)
        rows = paginator.paginate_queryset(enrollments, request, view=self)
        billing.log_pool_export(request, period=period, program=program, record_count=len(rows))
        return paginator.get_paginated_response([billing.pool_row_of(row) for row in rows])


class HasCMAccess(BasePermission):
    """CM supervisors, superusers and CPSS (who see their own caseload's figures); everyone else 403."""

    message = "Only CM staff see the CM program report."

    def has_permission(self, request, view) -> bool:
        return selectors.cm_scope(request.user) != "none"


class CMProgramReportView(APIView):
    """``GET /api/v1/reports/cm/?from=&to=[&cpss=][&program=]``: the CM program report (issue 14, point 3)."""

    permission_classes = [IsAuthenticated, HasCMAccess]
    renderer_classes = [ORJSONRenderer]

    @extend_schema(
        summary="CM program report",
        description="The figures of `cm_program.reports` for the period [`from`, `to`] (local days, inclusive; "
        "by default the last 12 full ISO weeks; at most 731 days): enrollments by status at the period's end; "
        "retention at 4, 8 and 12 weeks of the enrollments enrolled in the period (eligible once the date has "
        "passed; retained = active at that date, from the status history); per ISO week in the CRM's time zone: "
        "drug tests (negative, positive, missed; reversed entries left out) and the negative-test rate (negative "
        "/ all tests, a missed test counts as not negative), group attendance, check-ins, peer support, points "
        "earned, deducted and reversed; attendance; the longest current streaks; caseload use per CPSS. CM "
        "supervisors see every enrollment and may filter by `cpss` and `program`; a CPSS sees their own "
        "caseload (another CPSS's id is 404). 400 naming `from`, `to`, `cpss` or `program`; other roles 403.",
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE),
            OpenApiParameter("to", OpenApiTypes.DATE),
            OpenApiParameter("cpss", OpenApiTypes.UUID),
            OpenApiParameter("program", OpenApiTypes.UUID),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        try:
            parameters = reports.report_parameters(request.query_params, user=request.user)
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from None
        return Response(
            reports.cm_program_report(
                user=request.user, period=parameters.period, cpss=parameters.cpss, program=parameters.program
            )
        )
