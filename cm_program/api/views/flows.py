"""The CM document's flows (enroll a new patient, enroll from IntakeQ) and dual enrollments."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from cm_program import selectors, services
from cm_program.api import serializers as s
from cm_program.api.views._common import FILTER_BACKENDS, SeesAllCM, _default_program
from cm_program.filters import (
    CanonicalPatientFilter,
)
from cm_program.models import (
    CanonicalPatient,
    CMEnrollment,
    CMPatient,
    IntakeQLink,
)
from common.api.permissions import ModelPermissions, action_permission
from common.api.views import UUIDLookupMixin
from common.idempotency import IdempotentViewMixin


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
        tags=["cm enrollments"],
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
        tags=["cm enrollments"],
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
