"""The CM REST API under /api/v1/cm/: thin views over ``cm_program.services`` and ``cm_program.selectors``.

Each view checks the request's shape with a serializer and calls one service with keyword arguments and
``actor=request.user``; the services' ``ValidationError`` (400) and ``ConflictError`` (409) reach the
shared error handler untouched. Every queryset goes through the ``*_visible_to`` scopes, so a row outside
the user's scope (another CPSS's patient) is a 404 for reads and writes alike.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q
from django.shortcuts import get_object_or_404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import MethodNotAllowed, PermissionDenied, ValidationError
from rest_framework.filters import OrderingFilter
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from cm_program import selectors, services
from cm_program.api import serializers as s
from cm_program.filters import (
    CanonicalPatientFilter,
    CMEnrollmentFilter,
    CMPatientFilter,
    CMPointsTransactionFilter,
    CMProgramFilter,
    CMProviderFilter,
    IntakeQLinkFilter,
    IntakeQPatientFilter,
)
from cm_program.models import (
    CanonicalPatient,
    CMEnrollment,
    CMPatient,
    CMPointsTransaction,
    CMProgram,
    CMProvider,
    CMStatus,
    IntakeQLink,
    IntakeQPatient,
    ProviderStatus,
)
from common.api.permissions import ModelPermissions, action_permission
from common.api.search import CrmSearchFilter
from common.api.serializers import refuse_body
from common.api.views import UUIDLookupMixin
from common.errors import ConflictError
from common.idempotency import IdempotentViewMixin
from common.phi_access import PHIAccessViewMixin

# ---------------------------------------------------------------------------------------------------
# Shared pieces


class StableOrderingFilter(OrderingFilter):
    """``?ordering=`` plus the primary key as the last key, so that pages never overlap or skip rows
    when the requested field has ties (many patients share a last name or a status)."""

    def filter_queryset(self, request, queryset, view):
        ordering = self.get_ordering(request, queryset, view)
        if ordering:
            ordering = list(ordering)
            if not {"pk", "-pk", "id", "-id"} & set(ordering):
                ordering.append("pk")
            return queryset.order_by(*ordering)
        return queryset


FILTER_BACKENDS = [DjangoFilterBackend, CrmSearchFilter, StableOrderingFilter]


class SeesAllCM(BasePermission):
    """CM supervisors and superusers: the views over every CPSS's patients (the dual-enrollment list)."""

    message = "Only CM supervisors see this list."

    def has_permission(self, request, view) -> bool:
        return selectors.cm_scope(request.user) == "all"


class CMViewSet(IdempotentViewMixin, PHIAccessViewMixin, UUIDLookupMixin, viewsets.GenericViewSet):
    """Lists and reads scoped by ``scope``; updates by PATCH only (PUT is 405: partial updates cannot
    accidentally blank fields a script did not send). POSTs are idempotent with a key; records of
    patient data that a GET shows go to the PHI access log."""

    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    filter_backends = FILTER_BACKENDS
    scope: Any = None
    model: Any = None

    def check_permissions(self, request):
        # A method the resource does not have is 405 for every CM user (not 403 for those who lack
        # the model permission it would need); people without CM access still get 403, anonymous 401.
        if self.action is None and request.method != "OPTIONS" and selectors.cm_scope(request.user) != "none":
            raise MethodNotAllowed(request.method)
        super().check_permissions(request)

    def base_queryset(self):
        return self.model.objects.all()

    def get_queryset(self):
        return self.scope(self.request.user, self.base_queryset())

    def input(self, serializer_class, *, partial: bool = False) -> dict[str, Any]:
        serializer = serializer_class(data=self.request.data, partial=partial, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def respond(self, obj, *, code: int = status.HTTP_200_OK) -> Response:
        # Re-read through the scoped queryset: the response shows what a GET would show.
        fresh = self.get_queryset().get(pk=obj.pk)
        return Response(self.get_serializer(fresh).data, status=code)


# ---------------------------------------------------------------------------------------------------
# Canonical patients


@extend_schema_view(
    list=extend_schema(summary="List canonical patients (identity only)"),
    retrieve=extend_schema(summary="A canonical patient"),
    create=extend_schema(
        summary="Create a canonical patient",
        description="409 with `existing_id` when a patient with this name and date of birth (ignoring case, "
        "accents and surrounding spaces) already exists.",
        request=s.CMCanonicalPatientCreateSerializer,
        responses={201: s.CMCanonicalPatientSerializer},
    ),
    partial_update=extend_schema(
        summary="Correct a canonical patient's name or date of birth",
        request=s.CMCanonicalPatientUpdateSerializer,
        responses=s.CMCanonicalPatientSerializer,
    ),
)
class CanonicalPatientViewSet(CMViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """``patients_canonical``: one identity per human across psychiatry (IntakeQ) and CM."""

    model = CanonicalPatient
    scope = staticmethod(selectors.canonical_patients_visible_to)
    serializer_class = s.CMCanonicalPatientSerializer
    filterset_class = CanonicalPatientFilter
    search_fields = ("first_name", "last_name", "person__email")
    ordering_fields = ("last_name", "first_name", "date_of_birth", "created_at", "updated_at")
    ordering = ("last_name", "first_name", "date_of_birth")

    def base_queryset(self):
        return CanonicalPatient.objects.select_related("cm_profile", "intakeq_link")

    def create(self, request, *args, **kwargs):
        data = self.input(s.CMCanonicalPatientCreateSerializer)
        identity = services.canonical_patient_create(actor=request.user, **data)
        return self.respond(identity.canonical_patient, code=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        patient = self.get_object()
        data = self.input(s.CMCanonicalPatientUpdateSerializer, partial=True)
        patient = services.canonical_patient_update(canonical_patient=patient, actor=request.user, **data)
        return self.respond(patient)

    @extend_schema(
        summary="The complete patient view",
        description="The CM document's complete patient view: identity, CM profile, IntakeQ link and record, "
        "and the enrollments (with their CPSS and program) that you may see.",
        responses=s.CMCompletePatientViewSerializer,
    )
    @action(detail=True, methods=["get"])
    def complete(self, request, pk=None):
        patient = self.get_object()
        view = selectors.complete_patient_view(patient)
        visible = set(
            selectors.cm_enrollments_visible_to(
                request.user, CMEnrollment.objects.filter(canonical_patient_id=patient.pk)
            ).values_list("pk", flat=True)
        )
        enrollments = [e for e in view.enrollments if e.pk in visible]
        for enrollment in enrollments:
            enrollment.canonical_patient = view.identity  # already loaded: no query per enrollment
        body = {
            "identity": view.identity,
            "cm": view.cm,
            "intakeq_link": view.intakeq_link,
            "intakeq": view.intakeq,
            "enrollment": enrollments[-1] if enrollments else None,
            "enrollments": enrollments,
        }
        return Response(s.CMCompletePatientViewSerializer(body, context=self.get_serializer_context()).data)


# ---------------------------------------------------------------------------------------------------
# CM profiles


@extend_schema_view(
    list=extend_schema(summary="List CM profiles (patients_cm)"),
    retrieve=extend_schema(summary="A CM profile"),
    create=extend_schema(
        summary="Create the CM profile of a canonical patient",
        description="409 with `existing_id` when the canonical patient already has one.",
        request=s.CMPatientCreateSerializer,
        responses={201: s.CMPatientSerializer},
    ),
    partial_update=extend_schema(
        summary="Change a CM profile",
        description="Withdraw a patient with `status`; profiles are never deleted.",
        request=s.CMPatientUpdateSerializer,
        responses=s.CMPatientSerializer,
    ),
)
class CMPatientViewSet(CMViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    model = CMPatient
    scope = staticmethod(selectors.cm_patients_visible_to)
    serializer_class = s.CMPatientSerializer
    filterset_class = CMPatientFilter
    search_fields = ("canonical_patient__first_name", "canonical_patient__last_name", "email", "phone", "medicaid_id")
    ordering_fields = ("canonical_patient__last_name", "status", "created_at", "updated_at")
    ordering = ("canonical_patient__last_name", "canonical_patient__first_name")

    def base_queryset(self):
        return CMPatient.objects.select_related("canonical_patient")

    def create(self, request, *args, **kwargs):
        data = self.input(s.CMPatientCreateSerializer)
        canonical = data.pop("canonical_patient")
        profile = services.cm_patient_profile_create(canonical_patient=canonical, actor=request.user, **data)
        return self.respond(profile, code=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        profile = self.get_object()
        data = self.input(s.CMPatientUpdateSerializer, partial=True)
        profile = services.cm_patient_profile_update(cm_patient=profile, actor=request.user, **data)
        return self.respond(profile)


# ---------------------------------------------------------------------------------------------------
# Providers


@extend_schema_view(
    list=extend_schema(summary="List CM providers (CPSS staff)"),
    retrieve=extend_schema(summary="A CM provider"),
    create=extend_schema(
        summary="Create a CM provider",
        description="409 with `existing_id` when the email or the login already belongs to a provider.",
        request=s.CMProviderInputSerializer,
        responses={201: s.CMProviderSerializer},
    ),
    partial_update=extend_schema(
        summary="Change a CM provider",
        description="`max_caseload` cannot drop below the active enrollments held; a CPSS holding active "
        "enrollments cannot be made inactive (400).",
        request=s.CMProviderInputSerializer,
        responses=s.CMProviderSerializer,
    ),
    destroy=extend_schema(
        summary="Deactivate a CM provider (soft delete)",
        description="Sets `status` to `inactive`; the row stays. Undo with POST .../restore/. Refused (400) "
        "while the provider holds active enrollments: reassign them first.",
        responses={204: None},
    ),
)
class CMProviderViewSet(CMViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    model = CMProvider
    scope = staticmethod(selectors.cm_providers_visible_to)
    serializer_class = s.CMProviderSerializer
    filterset_class = CMProviderFilter
    search_fields = ("first_name", "last_name", "email", "credentials")
    ordering_fields = ("last_name", "first_name", "hire_date", "max_caseload", "active_enrollments", "created_at")
    ordering = ("last_name", "first_name")

    def base_queryset(self):
        active = Count("enrollments", filter=Q(enrollments__status=CMStatus.ACTIVE))
        return CMProvider.objects.select_related("user").annotate(active_enrollments=active)

    def create(self, request, *args, **kwargs):
        data = self.input(s.CMProviderInputSerializer)
        provider = services.cm_provider_create(actor=request.user, **data)
        return self.respond(provider, code=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        provider = self.get_object()
        data = self.input(s.CMProviderInputSerializer, partial=True)
        provider = services.cm_provider_update(provider=provider, actor=request.user, **data)
        return self.respond(provider)

    def destroy(self, request, *args, **kwargs):
        provider = self.get_object()
        refuse_body(request)
        services.cm_provider_update(provider=provider, actor=request.user, status=ProviderStatus.INACTIVE)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(summary="Reactivate a CM provider", request=None, responses=s.CMProviderSerializer)
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[IsAuthenticated, action_permission("cm_program.change_cmprovider")],
    )
    def restore(self, request, pk=None):
        provider = self.get_object()
        refuse_body(request)
        provider = services.cm_provider_update(provider=provider, actor=request.user, status=ProviderStatus.ACTIVE)
        return self.respond(provider)

    @extend_schema(
        summary="Caseloads",
        description="Per CPSS: active enrollments against `max_caseload`, places left, active patients without "
        "a recorded behaviour in the last 7 days, net points this week. A CPSS sees their own row.",
        responses=s.CMCaseloadSerializer(many=True),
    )
    @action(detail=False, methods=["get"])
    def caseloads(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        ids = [provider.pk for provider in page]
        rows = {
            row.provider.pk: row
            for row in selectors.cpss_caseload_summary(providers=CMProvider.objects.filter(pk__in=ids))
        }
        data = s.CMCaseloadSerializer([rows[pk] for pk in ids], many=True).data
        return self.get_paginated_response(data)


# ---------------------------------------------------------------------------------------------------
# Programs


@extend_schema_view(
    list=extend_schema(summary="List CM programs"),
    retrieve=extend_schema(summary="A CM program and its reinforcement schedule"),
    create=extend_schema(
        summary="Create a CM program",
        description="409 with `existing_id` when a program of this name (ignoring case) exists.",
        request=s.CMProgramInputSerializer,
        responses={201: s.CMProgramSerializer},
    ),
    partial_update=extend_schema(
        summary="Change a CM program or its schedule",
        request=s.CMProgramInputSerializer,
        responses=s.CMProgramSerializer,
    ),
    destroy=extend_schema(
        summary="Deactivate a CM program (soft delete)",
        description="Sets `is_active` to false: no new enrollments; current ones go on. Undo with POST .../restore/.",
        responses={204: None},
    ),
)
class CMProgramViewSet(CMViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    model = CMProgram
    scope = staticmethod(selectors.cm_programs_visible_to)
    serializer_class = s.CMProgramSerializer
    filterset_class = CMProgramFilter
    search_fields = ("name", "description")
    ordering_fields = ("name", "created_at")
    ordering = ("name",)

    def create(self, request, *args, **kwargs):
        data = self.input(s.CMProgramInputSerializer)
        program = services.cm_program_create(actor=request.user, **data)
        return self.respond(program, code=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        program = self.get_object()
        data = self.input(s.CMProgramInputSerializer, partial=True)
        program = services.cm_program_update(program=program, actor=request.user, **data)
        return self.respond(program)

    def destroy(self, request, *args, **kwargs):
        program = self.get_object()
        refuse_body(request)
        services.cm_program_update(program=program, actor=request.user, is_active=False)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(summary="Reactivate a CM program", request=None, responses=s.CMProgramSerializer)
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[IsAuthenticated, action_permission("cm_program.change_cmprogram")],
    )
    def restore(self, request, pk=None):
        program = self.get_object()
        refuse_body(request)
        program = services.cm_program_update(program=program, actor=request.user, is_active=True)
        return self.respond(program)


# ---------------------------------------------------------------------------------------------------
# Enrollments, events and the ledger


def _default_program(data: dict[str, Any]):
    program = data.get("cm_program") or selectors.cm_program_sole_active()
    if program is None:
        raise ValidationError({"cm_program": ["This field is required: more than one program (or none) is active."]})
    return program


def _ledger_result(entry: CMPointsTransaction, enrollment: CMEnrollment) -> dict[str, Any]:
    return {
        "entry": entry,
        "points_awarded": entry.points,
        "total_points": enrollment.total_points,
        "current_streak": enrollment.current_streak,
    }


@extend_schema_view(
    list=extend_schema(summary="List enrollments"),
    retrieve=extend_schema(summary="An enrollment"),
    create=extend_schema(
        summary="Enroll an existing CM profile in a program",
        description="409 with `existing_id`: already enrolled in this program (the enrollment), or the CPSS's "
        "caseload is full (the provider). For a new patient use POST /api/v1/cm/enroll/.",
        request=s.CMEnrollmentCreateSerializer,
        responses={201: s.CMEnrollmentSerializer},
    ),
    partial_update=extend_schema(
        summary="Change an enrollment",
        description="Status (along its allowed moves), CPSS (CM supervisors; 409 when their caseload is full), "
        "pod, notes, Medicaid verification. Points and streak follow the ledger and are not settable.",
        request=s.CMEnrollmentUpdateSerializer,
        responses=s.CMEnrollmentSerializer,
    ),
)
class CMEnrollmentViewSet(CMViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """``cm_enrollments``. Not deletable: withdraw (status ``withdrawn``) instead; the ledger stays."""

    model = CMEnrollment
    scope = staticmethod(selectors.cm_enrollments_visible_to)
    serializer_class = s.CMEnrollmentSerializer
    filterset_class = CMEnrollmentFilter
    search_fields = ("canonical_patient__first_name", "canonical_patient__last_name", "pod_assignment")
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
        return CMEnrollment.objects.select_related("canonical_patient", "cm_program", "cpss_provider")

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


# ---------------------------------------------------------------------------------------------------
# IntakeQ mirror and links


@extend_schema_view(
    list=extend_schema(
        summary="List IntakeQ patients",
        description="`first_name` + `last_name` + `date_of_birth` find a client as scenario 2's first step.",
    ),
    retrieve=extend_schema(summary="An IntakeQ patient"),
    create=extend_schema(
        summary="Mirror an IntakeQ client",
        description="409 with `existing_id` when the IntakeQ client id is already mirrored.",
        request=s.CMIntakeQPatientInputSerializer,
        responses={201: s.CMIntakeQPatientSerializer},
    ),
    partial_update=extend_schema(
        summary="Change a mirrored IntakeQ client",
        request=s.CMIntakeQPatientInputSerializer,
        responses=s.CMIntakeQPatientSerializer,
    ),
)
class IntakeQPatientViewSet(CMViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """The IntakeQ EMR's clients (``patients``). A CPSS sees those linked to their own patients."""

    model = IntakeQPatient
    scope = staticmethod(selectors.intakeq_patients_visible_to)
    serializer_class = s.CMIntakeQPatientSerializer
    filterset_class = IntakeQPatientFilter
    search_fields = ("first_name", "last_name", "intakeq_client_id", "email", "phone")
    ordering_fields = ("last_name", "first_name", "date_of_birth", "intakeq_client_id", "created_at")
    ordering = ("last_name", "first_name")

    def base_queryset(self):
        return IntakeQPatient.objects.select_related("canonical_link")

    def create(self, request, *args, **kwargs):
        data = self.input(s.CMIntakeQPatientInputSerializer)
        record = services.intakeq_patient_create(actor=request.user, **data)
        return self.respond(record, code=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        record = self.get_object()
        data = self.input(s.CMIntakeQPatientInputSerializer, partial=True)
        record = services.intakeq_patient_update(intakeq_patient=record, actor=request.user, **data)
        return self.respond(record)


@extend_schema_view(
    list=extend_schema(summary="List IntakeQ links"),
    retrieve=extend_schema(summary="An IntakeQ link"),
    create=extend_schema(
        summary="Link a canonical patient to an IntakeQ record",
        description="`linked_by` is you. 409 with `existing_id` (the existing link) when either side is "
        "already linked, to each other or to someone else.",
        request=s.CMIntakeQLinkCreateSerializer,
        responses={201: s.CMIntakeQLinkSerializer},
    ),
    partial_update=extend_schema(
        summary="Change a link's confidence or notes",
        request=s.CMIntakeQLinkUpdateSerializer,
        responses=s.CMIntakeQLinkSerializer,
    ),
)
class IntakeQLinkViewSet(CMViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """``patients_intakeq_link``: who confirmed which match, when, and how confident. Not deletable."""

    model = IntakeQLink
    scope = staticmethod(selectors.intakeq_links_visible_to)
    serializer_class = s.CMIntakeQLinkSerializer
    filterset_class = IntakeQLinkFilter
    search_fields = (
        "canonical_patient__first_name",
        "canonical_patient__last_name",
        "intakeq_patient__intakeq_client_id",
        "notes",
    )
    ordering_fields = ("linked_date", "confidence_score", "created_at")
    ordering = ("-linked_date",)

    def base_queryset(self):
        return IntakeQLink.objects.select_related("canonical_patient", "intakeq_patient", "linked_by")

    def create(self, request, *args, **kwargs):
        data = self.input(s.CMIntakeQLinkCreateSerializer)
        link, created = services.intakeq_link_create(
            canonical_patient=data["canonical_patient"],
            intakeq_patient=data["intakeq_patient"],
            confidence_score=data.get("confidence_score"),
            notes=data.get("notes"),
            linked_by=request.user,
            actor=request.user,
        )
        if not created:
            raise ConflictError("These two records are already linked.", existing_id=link.pk, field="intakeq_patient")
        return self.respond(link, code=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        link = self.get_object()
        data = self.input(s.CMIntakeQLinkUpdateSerializer, partial=True)
        link = services.intakeq_link_update(link=link, actor=request.user, **data)
        return self.respond(link)


# ---------------------------------------------------------------------------------------------------
# The CM document's flows and views


def _enroll_response(result, request) -> Response:
    enrollment = CMEnrollment.objects.select_related("canonical_patient", "cm_program", "cpss_provider").get(
        pk=result.enrollment.pk
    )
    canonical = CanonicalPatient.objects.select_related("cm_profile", "intakeq_link").get(
        pk=result.canonical_patient.pk
    )
    link = (
        IntakeQLink.objects.select_related("canonical_patient", "intakeq_patient", "linked_by").get(
            pk=result.intakeq_link.pk
        )
        if result.intakeq_link is not None
        else None
    )
    body = {
        "canonical_patient": canonical,
        "cm_patient": CMPatient.objects.select_related("canonical_patient").get(pk=result.cm_patient.pk),
        "enrollment": enrollment,
        "intakeq_link": link,
        "created": {
            "canonical_patient": result.canonical_created,
            "cm_patient": result.cm_patient_created,
            "intakeq_link": result.intakeq_link_created,
            "person": result.person_created,
        },
        "person_conflicts": {
            name: {"stored": None if stored is None else str(stored), "given": None if given is None else str(given)}
            for name, (stored, given) in result.person_conflicts.items()
        },
    }
    return Response(s.CMEnrollResultSerializer(body, context={"request": request}).data, status=status.HTTP_201_CREATED)


ENROLL_PERMISSIONS = (
    "cm_program.add_canonicalpatient",
    "cm_program.add_cmpatient",
    "cm_program.add_cmenrollment",
)


class _EnrollView(IdempotentViewMixin, APIView):
    def input(self, serializer_class, request) -> dict[str, Any]:
        serializer = serializer_class(data=request.data, context={"request": request, "view": self})
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)


class EnrollNewView(_EnrollView):
    """Scenario 1 of the CM document: a new CM patient."""

    permission_classes = [IsAuthenticated, action_permission(*ENROLL_PERMISSIONS)]

    @extend_schema(
        operation_id="cm_enroll_create",
        summary="Enroll a new CM patient (scenario 1)",
        description="Finds or creates the canonical patient (name + date of birth, ignoring case, accents and "
        "spaces; or an existing `canonical_patient`), creates the CM profile (or fills the empty fields of an "
        "existing one), enrolls with the CPSS and awards the enrollment bonus, in one transaction. 409 with "
        "`existing_id`: already enrolled in this program (the enrollment), or the CPSS's caseload is full "
        "(the provider); nothing is written then.",
        request=s.CMEnrollNewSerializer,
        responses={201: s.CMEnrollResultSerializer},
    )
    def post(self, request):
        data = self.input(s.CMEnrollNewSerializer, request)
        canonical = data.pop("canonical_patient", None)
        if canonical is not None:
            data.update(
                first_name=canonical.first_name, last_name=canonical.last_name, date_of_birth=canonical.date_of_birth
            )
        data["program"] = _default_program(data)
        data.pop("cm_program", None)
        result = services.cm_patient_enroll_new(actor=request.user, **data)
        return _enroll_response(result, request)


class EnrollFromIntakeQView(_EnrollView):
    """Scenario 2 of the CM document: an existing psychiatry (IntakeQ) patient joins CM."""

    permission_classes = [
        IsAuthenticated,
        action_permission(*ENROLL_PERMISSIONS, "cm_program.add_intakeqlink"),
    ]

    @extend_schema(
        operation_id="cm_enroll_from_intakeq_create",
        summary="Enroll an IntakeQ patient in CM (scenario 2)",
        description="The IntakeQ record is given by `intakeq_patient` or found by `first_name`, `last_name` and "
        "`date_of_birth` (400 when none or several match). Finds or creates the canonical patient from it, links "
        "them with confidence 1.00 and you as `linked_by`, creates the CM profile inheriting the IntakeQ phone "
        "and email with `enrollment_source` `existing_patient`, and enrolls (CPSS optional). 409 with "
        "`existing_id`: the IntakeQ record is linked to someone else (the link), already enrolled (the "
        "enrollment), or the CPSS's caseload is full (the provider); nothing is written then.",
        request=s.CMEnrollFromIntakeQSerializer,
        responses={201: s.CMEnrollResultSerializer},
    )
    def post(self, request):
        data = self.input(s.CMEnrollFromIntakeQSerializer, request)
        record = data.pop("intakeq_patient", None)
        if record is None:
            found = list(
                selectors.intakeq_patients_visible_to(
                    request.user,
                    selectors.intakeq_patient_find(
                        first_name=data.pop("first_name"),
                        last_name=data.pop("last_name"),
                        date_of_birth=data.pop("date_of_birth"),
                    ),
                )[:2]
            )
            if len(found) != 1:
                problem = "No IntakeQ patient has" if not found else "Several IntakeQ patients have"
                raise ValidationError(
                    {"intakeq_patient": [f"{problem} this name and date of birth; give intakeq_patient (its id)."]}
                )
            record = found[0]
        data["program"] = _default_program(data)
        data.pop("cm_program", None)
        result = services.cm_patient_enroll_from_intakeq(intakeq_patient=record, actor=request.user, **data)
        return _enroll_response(result, request)


@extend_schema_view(
    list=extend_schema(
        summary="Dual enrollments",
        description="The CM document's dual-enrollment query: canonical patients with both an IntakeQ link and "
        "a CM profile. CM supervisors and superusers only (a CPSS gets 403).",
    )
)
class DualEnrollmentViewSet(UUIDLookupMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    permission_classes = [IsAuthenticated, ModelPermissions, SeesAllCM]
    serializer_class = s.CMDualEnrollmentSerializer
    filter_backends = FILTER_BACKENDS
    filterset_class = CanonicalPatientFilter
    search_fields = ("first_name", "last_name", "intakeq_link__intakeq_patient__intakeq_client_id")
    ordering_fields = ("last_name", "first_name", "date_of_birth")
    ordering = ("last_name", "first_name", "date_of_birth")

    def get_queryset(self):
        return selectors.canonical_patients_visible_to(self.request.user, selectors.dual_enrollments())
