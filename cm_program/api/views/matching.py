"""The review queue of the IntakeQ matching over the API: list, read, accept, reject."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated

from cm_program import selectors, services
from cm_program.api import serializers as s
from cm_program.api.views._common import CMViewSet, SeesAllCM
from cm_program.filters import IntakeQMatchCandidateFilter
from cm_program.models import IntakeQMatchCandidate
from common.api.permissions import action_permission

DECIDE = "cm_program.change_intakeqmatchcandidate"


@extend_schema_view(
    list=extend_schema(
        summary="List IntakeQ match candidates",
        description="Pairs of a canonical patient and an IntakeQ client that `import_intakeq` graded as possibly "
        "the same human, best score first. The queue is `status=proposed` with `band=certain` (a side linked "
        "elsewhere, or two certain pairs for one side) and `band=probable`; `band=possible` pairs are shown as "
        "candidates. CM supervisors only.",
    ),
    retrieve=extend_schema(summary="An IntakeQ match candidate"),
)
class IntakeQMatchCandidateViewSet(CMViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """``intakeq_match_candidate``: the matching's pairs and the decisions on them."""

    model = IntakeQMatchCandidate
    scope = staticmethod(selectors.intakeq_match_candidates_visible_to)
    serializer_class = s.CMIntakeQMatchCandidateSerializer
    filterset_class = IntakeQMatchCandidateFilter
    search_fields = (
        "canonical_patient__first_name",
        "canonical_patient__last_name",
        "intakeq_patient__first_name",
        "intakeq_patient__last_name",
        "intakeq_patient__intakeq_client_id",
    )
    ordering_fields = ("score", "created_at", "decided_at")
    ordering = ("-score", "pk")

    def get_permissions(self):
        return [*super().get_permissions(), SeesAllCM()]

    def base_queryset(self):
        return IntakeQMatchCandidate.objects.select_related("canonical_patient", "intakeq_patient", "decided_by")

    @extend_schema(
        summary="Link the pair (the same person)",
        description="Creates the IntakeQ link with the pair's score as its confidence and you as `linked_by`. "
        "409 with `existing_id` when the pair was already decided or either side is linked elsewhere.",
        request=s.CMMatchDecisionSerializer,
        responses=s.CMIntakeQMatchCandidateSerializer,
    )
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated, action_permission(DECIDE)])
    def accept(self, request, pk=None):
        candidate = self.get_object()
        self.input(s.CMMatchDecisionSerializer)
        return self.respond(services.intakeq_match_candidate_link(candidate=candidate, actor=request.user))

    @extend_schema(
        summary="Not the same person",
        description="The pair is rejected for good: no later import proposes it again. 409 for a linked pair.",
        request=s.CMMatchDecisionSerializer,
        responses=s.CMIntakeQMatchCandidateSerializer,
    )
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated, action_permission(DECIDE)])
    def reject(self, request, pk=None):
        candidate = self.get_object()
        self.input(s.CMMatchDecisionSerializer)
        return self.respond(services.intakeq_match_candidate_reject(candidate=candidate, actor=request.user))
