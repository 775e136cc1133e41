"""Canonical patients, CM profiles, the IntakeQ mirror and its links."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from cm_program import selectors, services
from cm_program.api import serializers as s
from cm_program.api.views._common import CMViewSet, SeesAllCM, cm_schema
from cm_program.duplicates import LIVE_CANONICAL
from cm_program.filters import (
    CanonicalPatientFilter,
    CMPatientFilter,
    IntakeQLinkFilter,
    IntakeQPatientFilter,
)
from cm_program.models import (
    CanonicalPatient,
    CMEnrollment,
    CMPatient,
    IntakeQLink,
    IntakeQPatient,
)
from common.api.permissions import action_permission
from common.errors import ConflictError
from common.merge.api import (
    MergeInputSerializer,
    MergeLogSerializer,
    MergeLogViewSetBase,
    merge_view,
    redirect_if_merged,
    retrieve_unless_merged,
)
from people.api.serializers import DuplicateCandidateSerializer, DuplicatePairSerializer, NotDuplicateSerializer
from people.api.views import DUPLICATES_SHOWN

VIEW_PAIRS = "cm_program.view_canonicalpatientduplicatepair"
DECIDE_PAIRS = "cm_program.change_canonicalpatientduplicatepair"


@cm_schema(
    response=s.CMCanonicalPatientSerializer,
    list_summary="List canonical patients (identity only)",
    retrieve_summary="A canonical patient",
    create_summary="Create a canonical patient",
    create_description="409 with `existing_id` when a patient with this name and date of birth (ignoring case, "
    "accents and surrounding spaces) already exists.",
    create_request=s.CMCanonicalPatientCreateSerializer,
    update_summary="Correct a canonical patient's name or date of birth",
    update_request=s.CMCanonicalPatientUpdateSerializer,
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

    def get_permissions(self):
        if self.action == "merge":
            return [IsAuthenticated(), action_permission("cm_program.merge_canonicalpatient")()]
        return super().get_permissions()

    def retrieve(self, request, *args, **kwargs):
        # A merged canonical patient's id answers 308 to its survivor's URL (docs/API.md).
        return retrieve_unless_merged(
            self,
            merged=lambda canonical: canonical.merged_into_id is not None,
            redirect=lambda: redirect_if_merged(
                request,
                model=CanonicalPatient,
                pk=kwargs.get("pk"),
                url_name="cm-canonical-patient-detail",
                scope=selectors.canonical_patients_visible_to,
            ),
        )

    @extend_schema(
        request=MergeInputSerializer,
        responses={201: MergeLogSerializer},
        summary="Merge a duplicate canonical patient into a survivor (CM supervisors)",
        description="Enrollments, the CM profile's enrollments, the IntakeQ link and match candidates move to the "
        "survivor; the points ledger keeps its rows (the enrollment, with its totals, moves). `fields` chooses "
        "`first_name`, `last_name`, `date_of_birth` (the survivor's by default). Two enrollments in one program "
        "or two IntakeQ links are a 409 `merge_refused`. Undo with `POST /api/v1/cm/merges/{id}/undo/`.",
    )
    @action(detail=False, methods=["post"])
    def merge(self, request, *args, **kwargs):
        return merge_view(
            self,
            request,
            model=CanonicalPatient,
            scope=selectors.canonical_patients_visible_to,
            service=services.canonical_patient_merge,
            label="canonical patient",
        )

    def create(self, request, *args, **kwargs):
        data = self.input(s.CMCanonicalPatientCreateSerializer)
        identity = services.canonical_patient_create(actor=request.user, **data)
        return self.respond(identity.canonical_patient, code=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        return self.update_with(
            services.canonical_patient_update, s.CMCanonicalPatientUpdateSerializer, target="canonical_patient"
        )

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

    @extend_schema(
        summary="Possible duplicates of a canonical patient, best first",
        description="Canonical patients that may be the same human (docs/DUPLICATES.md): `score` (0-1) and its "
        '`reasons` ("same DOB", "name 0.82", "same phone"). Pairs marked \'not the same person\' never '
        "appear. CM supervisors only.",
        request=None,
        responses=DuplicateCandidateSerializer(many=True),
    )
    @action(
        detail=True,
        methods=["get"],
        permission_classes=[IsAuthenticated, SeesAllCM, action_permission(VIEW_PAIRS)],
        pagination_class=None,  # one short list: not paginated
    )
    def duplicates(self, request, pk=None):
        patient = self.get_object()
        found = selectors.canonical_patient_duplicate_candidates(patient, user=request.user, limit=DUPLICATES_SHOWN)
        return Response(DuplicateCandidateSerializer(found, many=True).data)

    @extend_schema(
        summary="Not the same person",
        description="Stores the decision on the pair (this canonical patient, `other`): it is never proposed again, "
        "whatever later edits do. 400 naming `other` when it is missing, not a UUID, this patient or unknown; "
        "409 when the pair was merged. CM supervisors only.",
        request=NotDuplicateSerializer,
        responses=DuplicatePairSerializer,
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="not-duplicate",
        permission_classes=[IsAuthenticated, SeesAllCM, action_permission(DECIDE_PAIRS)],
    )
    def not_duplicate(self, request, pk=None):
        patient = self.get_object()
        data = self.input(NotDuplicateSerializer)
        other = selectors.canonical_patients_visible_to(
            request.user, CanonicalPatient.objects.filter(LIVE_CANONICAL, pk=data["other"])
        ).first()
        if other is None and data["other"] != patient.pk:
            raise ValidationError({"other": ["No such canonical patient."]})
        pair = services.canonical_patient_mark_not_duplicate(
            canonical_patient=patient, other=other or patient, actor=request.user
        )
        return Response(DuplicatePairSerializer(pair).data)


@cm_schema(
    response=s.CMPatientSerializer,
    list_summary="List CM profiles (patients_cm)",
    retrieve_summary="A CM profile",
    create_summary="Create the CM profile of a canonical patient",
    create_description="409 with `existing_id` when the canonical patient already has one.",
    create_request=s.CMPatientCreateSerializer,
    update_summary="Change a CM profile",
    update_description="Withdraw a patient with `status`; profiles are never deleted.",
    update_request=s.CMPatientUpdateSerializer,
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
        return self.create_with(services.cm_patient_profile_create, s.CMPatientCreateSerializer)

    def partial_update(self, request, *args, **kwargs):
        return self.update_with(services.cm_patient_profile_update, s.CMPatientUpdateSerializer, target="cm_patient")


@cm_schema(
    response=s.CMIntakeQPatientSerializer,
    list_summary="List IntakeQ patients",
    list_description="`first_name` + `last_name` + `date_of_birth` find a client as scenario 2's first step.",
    retrieve_summary="An IntakeQ patient",
    create_summary="Mirror an IntakeQ client",
    create_description="409 with `existing_id` when the IntakeQ client id is already mirrored.",
    create_request=s.CMIntakeQPatientInputSerializer,
    update_summary="Change a mirrored IntakeQ client",
    update_request=s.CMIntakeQPatientInputSerializer,
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
        return self.create_with(services.intakeq_patient_create, s.CMIntakeQPatientInputSerializer)

    def partial_update(self, request, *args, **kwargs):
        return self.update_with(
            services.intakeq_patient_update, s.CMIntakeQPatientInputSerializer, target="intakeq_patient"
        )


@cm_schema(
    response=s.CMIntakeQLinkSerializer,
    list_summary="List IntakeQ links",
    retrieve_summary="An IntakeQ link",
    create_summary="Link a canonical patient to an IntakeQ record",
    create_description="`linked_by` is you. 409 with `existing_id` (the existing link) when either side is "
    "already linked, to each other or to someone else.",
    create_request=s.CMIntakeQLinkCreateSerializer,
    update_summary="Change a link's confidence or notes",
    update_request=s.CMIntakeQLinkUpdateSerializer,
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
        return self.update_with(services.intakeq_link_update, s.CMIntakeQLinkUpdateSerializer, target="link")


@extend_schema(tags=["cm merges"])
class CanonicalPatientMergeLogViewSet(MergeLogViewSetBase):
    """The merges of canonical patients, newest first (CM supervisors); ``POST {id}/undo/`` puts one back."""

    model_label = "cm_program.canonicalpatient"
    permission = "cm_program.merge_canonicalpatient"
    unmerge_service = staticmethod(services.canonical_patient_unmerge)
