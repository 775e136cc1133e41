"""Enrollments, their events and the points ledger."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from cm_program import selectors, services
from cm_program.api import serializers as s
from cm_program.api.views._common import CMViewSet, _default_program, cm_schema
from cm_program.filters import (
    CMEnrollmentFilter,
    CMPointsTransactionFilter,
)
from cm_program.models import (
    CMEnrollment,
    CMPointsTransaction,
)
from common.api.permissions import action_permission


def _ledger_result(entry: CMPointsTransaction, enrollment: CMEnrollment) -> dict[str, Any]:
    return {
        "entry": entry,
        "points_awarded": entry.points,
        "total_points": enrollment.total_points,
        "current_streak": enrollment.current_streak,
    }


@cm_schema(
    response=s.CMEnrollmentSerializer,
    list_summary="List enrollments",
    retrieve_summary="An enrollment",
    create_summary="Enroll an existing CM profile in a program",
    create_description="409 with `existing_id`: already enrolled in this program (the enrollment), or the CPSS's "
    "caseload is full (the provider). For a new patient use POST /api/v1/cm/enroll/.",
    create_request=s.CMEnrollmentCreateSerializer,
    update_summary="Change an enrollment",
    update_description="Status (along its allowed moves), CPSS (CM supervisors; 409 when their caseload is full), "
    "pod, notes, Medicaid verification. Points and streak follow the ledger and are not settable.",
    update_request=s.CMEnrollmentUpdateSerializer,
)
class CMEnrollmentViewSet(CMViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """``cm_enrollments``. Not deletable: withdraw (status ``withdrawn``) instead; the ledger stays."""

    model = CMEnrollment
    scope = staticmethod(selectors.cm_enrollments_visible_to)
    serializer_class = s.CMEnrollmentSerializer
    filterset_class = CMEnrollmentFilter
    # The pod is one of a few values: ?pod_assignment= filters by it (docs/PERFORMANCE.md, "Search").
    search_fields = ("canonical_patient__first_name", "canonical_patient__last_name")
    ordering_fields = (
        "enrollment_date",
        "status",
        "total_points",
        "current_streak",
        "canonical_patient__last_name",
        "created_at",
        "updated_at",
    )
    ordering = ("-enrollment_date",)

    def base_queryset(self):
        enrollments = CMEnrollment.objects.select_related("canonical_patient", "cm_program", "cpss_provider")
        if self.action == "events":
            # The enrollment is read with its row lock, which the event's service needs: one read, not two
            # (cm_event_record(locked=True); the service reads the program again after the lock).
            return enrollments.select_for_update(of=("self",))
        return enrollments

    def create(self, request, *args, **kwargs):
        data = self.input(s.CMEnrollmentCreateSerializer)
        cm_patient = data.pop("cm_patient", None)
        canonical = data.pop("canonical_patient", None)
        if cm_patient is None and canonical is None:
            raise ValidationError({"cm_patient": ["This field is required (or give canonical_patient)."]})
        if cm_patient is None:
            cm_patient = selectors._reverse_one(canonical, "cm_profile")
            if cm_patient is None:
                raise ValidationError(
                    {"canonical_patient": ["This patient has no CM profile: use POST /api/v1/cm/enroll/."]}
                )
        elif canonical is not None and cm_patient.canonical_patient_id != canonical.pk:
            raise ValidationError({"canonical_patient": ["The CM profile belongs to another canonical patient."]})
        enrollment = services.cm_enrollment_create(
            cm_patient=cm_patient,
            program=_default_program(data),
            cpss_provider=data.get("cpss_provider"),
            enrollment_date=data.get("enrollment_date"),
            pod_assignment=data.get("pod_assignment"),
            notes=data.get("notes"),
            medicaid_verification=data.get("medicaid_verification"),
            actor=request.user,
        )
        return self.respond(enrollment, code=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        enrollment = self.get_object()
        moves_cpss = isinstance(request.data, dict) and {"cpss_provider", "cpss_provider_id"} & set(request.data)
        if moves_cpss and selectors.cm_scope(request.user) != "all":
            raise PermissionDenied("Moving a patient to another CPSS is a CM supervisor's decision.")
        data = self.input(s.CMEnrollmentUpdateSerializer, partial=True)
        if "status_reason" in data:
            data["status_reason"] = data["status_reason"] or ""
        enrollment = services.cm_enrollment_update(enrollment=enrollment, actor=request.user, **data)
        return self.respond(enrollment)

    @extend_schema(
        summary="Change an enrollment's status",
        description="active <-> paused; active/paused -> graduated (final) or withdrawn; withdrawn -> active "
        "(409 when the CPSS's caseload is full). Any other move is a 400 on `status`.",
        request=s.CMEnrollmentStatusSerializer,
        responses=s.CMEnrollmentSerializer,
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="status",
        permission_classes=[IsAuthenticated, action_permission("cm_program.change_cmenrollment")],
    )
    def set_status(self, request, pk=None):
        enrollment = self.get_object()
        data = self.input(s.CMEnrollmentStatusSerializer)
        enrollment = services.cm_enrollment_set_status(
            enrollment=enrollment, status=data["status"], reason=data.get("reason") or "", actor=request.user
        )
        return self.respond(enrollment)

    @extend_schema(
        summary="Record an event (attendance, drug test, check-in, peer support, adjustment)",
        description="Appends a ledger entry. Scheduled events earn the program's points (a negative test: base + "
        "increment x current streak, up to the cap; a positive or missed test: 0 and the streak resets). "
        "`manual_adjustment` takes signed non-zero `points` and a `reason`. Only active enrollments receive "
        "events (400 on `enrollment` otherwise).",
        request=s.CMEventSerializer,
        responses={201: s.CMLedgerResultSerializer},
    )
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[IsAuthenticated, action_permission("cm_program.add_cmpointstransaction")],
    )
    def events(self, request, pk=None):
        enrollment = self.get_object()
        data = self.input(s.CMEventSerializer)
        entry = services.cm_event_record(
            enrollment=enrollment,
            event_type=data["event_type"],
            points=data.get("points"),
            reason=data.get("reason") or "",
            occurred_at=data.get("occurred_at"),
            actor=request.user,
            locked=True,
        )
        body = s.CMLedgerResultSerializer(_ledger_result(entry, enrollment), context=self.get_serializer_context())
        return Response(body.data, status=status.HTTP_201_CREATED)


ENROLLMENT_ID = OpenApiParameter(
    "enrollment_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The enrollment whose ledger this is."
)


@extend_schema_view(
    list=extend_schema(summary="An enrollment's points ledger", parameters=[ENROLLMENT_ID]),
    retrieve=extend_schema(summary="A ledger entry", parameters=[ENROLLMENT_ID]),
)
class CMLedgerViewSet(CMViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """``cm_points_transactions`` of one enrollment: append-only. Entries are written by POST .../events/
    and cancelled by POST .../ledger/{id}/reverse/; nothing changes or deletes an entry."""

    model = CMPointsTransaction
    scope = staticmethod(selectors.points_transactions_visible_to)
    serializer_class = s.CMLedgerEntrySerializer
    filterset_class = CMPointsTransactionFilter
    search_fields = ("reason",)
    ordering_fields = ("sequence", "occurred_at", "points", "created_at")
    ordering = ("sequence",)

    def get_enrollment(self) -> CMEnrollment:
        if not hasattr(self, "_enrollment"):
            enrollments = CMEnrollment.objects.select_related("canonical_patient")  # its Person, for the PHI log
            visible = selectors.cm_enrollments_visible_to(self.request.user, enrollments)
            self._enrollment = get_object_or_404(visible, pk=self.kwargs["enrollment_id"])
            self.note_phi_access(self._enrollment)  # the ledger list shows this enrollment's points
        return self._enrollment

    def base_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return CMPointsTransaction.objects.none()
        # Filtering by the id (not the enrollment row) keeps the permission check, which reads the
        # queryset, from answering 404 before 403; list() and get_object() then 404 out-of-scope ids.
        return CMPointsTransaction.objects.filter(enrollment_id=self.kwargs["enrollment_id"]).select_related(
            "recorded_by", "reversed_by"
        )

    def list(self, request, *args, **kwargs):
        self.get_enrollment()
        return super().list(request, *args, **kwargs)

    def get_object(self):
        self.get_enrollment()
        return super().get_object()

    @extend_schema(
        summary="Reverse a ledger entry",
        description="Appends a `reversal` entry with the opposite points (the original stays). 409 with "
        "`existing_id` when the entry was already reversed (the reversal); 400 for a reversal of a reversal, "
        "or one that would make the balance negative.",
        parameters=[ENROLLMENT_ID],
        request=s.CMReverseSerializer,
        responses={201: s.CMLedgerResultSerializer},
    )
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[IsAuthenticated, action_permission("cm_program.add_cmpointstransaction")],
    )
    def reverse(self, request, *args, **kwargs):
        entry = self.get_object()
        data = self.input(s.CMReverseSerializer)
        reversal = services.cm_points_reverse(points_transaction=entry, reason=data["reason"], actor=request.user)
        enrollment = CMEnrollment.objects.get(pk=entry.enrollment_id)
        body = s.CMLedgerResultSerializer(_ledger_result(reversal, enrollment), context=self.get_serializer_context())
        return Response(body.data, status=status.HTTP_201_CREATED)
