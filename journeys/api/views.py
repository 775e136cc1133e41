"""Clinical-trial and EAP journeys: open, correct, move along the allowed transitions, read the
timeline, soft delete. Views check shape and call ``journeys.services``."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from common.api.permissions import action_permission
from journeys import services
from journeys.api.serializers import (
    ClinicalTrialJourneyCreateSerializer,
    ClinicalTrialJourneySerializer,
    ClinicalTrialJourneyUpdateSerializer,
    ClinicalTrialTransitionSerializer,
    EAPJourneyCreateSerializer,
    EAPJourneySerializer,
    EAPJourneyUpdateSerializer,
    EAPTransitionSerializer,
    TimelineStepSerializer,
)
from journeys.filters import ClinicalTrialJourneyFilterSet, EAPJourneyFilterSet
from journeys.models import ClinicalTrialJourney, EAPJourney
from journeys.selectors import journey_timeline
from people.api.base import NavigationViewSetMixin, ServiceUpdateMixin, SoftDeleteViewSetMixin, validated

TRANSITION_DESCRIPTION = (
    "Moves the journey to `status` if its transition map allows it from the current status, and adds the "
    "step (from, to, at, by, note) to its timeline. A move that is not allowed is a 400 whose message names "
    "the allowed next statuses (also listed in the journey's `allowed_next_statuses`)."
)


class JourneyViewSet(NavigationViewSetMixin, SoftDeleteViewSetMixin, ServiceUpdateMixin, viewsets.ModelViewSet):
    kind: str
    create_serializer_class: type
    transition_serializer_class: type
    soft_delete_service = services.journey_soft_delete
    restore_service = services.journey_restore
    service_kwarg = "journey"

    def get_permissions(self):
        opts = self.queryset.model._meta
        if self.action == "transition":
            return [IsAuthenticated(), action_permission(f"journeys.change_{opts.model_name}")()]
        if self.action == "timeline":
            permissions = (f"journeys.view_{opts.model_name}", "journeys.view_journeystatuschange")
            return [IsAuthenticated(), action_permission(*permissions)()]
        return super().get_permissions()

    def create(self, request, *args, **kwargs):
        data = validated(self.create_serializer_class, request.data)
        journey = services.journey_open(kind=self.kind, **data, actor=request.user)
        return Response(self.get_serializer(self.reload(journey)).data, status=status.HTTP_201_CREATED)

    def perform_service_update(self, instance, data):
        return services.journey_update(journey=instance, data=data, actor=self.request.user)

    def transition(self, request, *args, **kwargs):
        journey = self.get_object()
        data = validated(self.transition_serializer_class, request.data)
        moved = services.journey_transition(journey=journey, to_status=data.pop("status"), **data, actor=request.user)
        return Response(self.get_serializer(self.reload(moved)).data)

    def timeline(self, request, *args, **kwargs):
        journey = self.get_object()
        page = self.paginate_queryset(journey_timeline(journey=journey))
        return self.get_paginated_response(TimelineStepSerializer(page, many=True).data)


def _journey_schemas(read, create, update, transition, noun: str) -> dict:
    return {
        "list": extend_schema(summary=f"List {noun}s"),
        "retrieve": extend_schema(summary=f"Get a {noun}"),
        "create": extend_schema(
            request=create,
            responses={201: read},
            summary=f"Open a {noun}",
            description="The journey starts in its first status, with the opening as the first step of its timeline.",
        ),
        "update": extend_schema(request=update(partial=True), responses=read, summary=f"Correct a {noun}'s details"),
        "partial_update": extend_schema(
            request=update(partial=True), responses=read, summary=f"Correct a {noun}'s details"
        ),
        "transition": extend_schema(
            request=transition, responses=read, summary="Move to another status", description=TRANSITION_DESCRIPTION
        ),
        "timeline": extend_schema(
            request=None, responses=TimelineStepSerializer(many=True), summary="The timeline, oldest step first"
        ),
    }


@extend_schema(tags=["ct-journeys"])
@extend_schema_view(
    **_journey_schemas(
        ClinicalTrialJourneySerializer,
        ClinicalTrialJourneyCreateSerializer,
        ClinicalTrialJourneyUpdateSerializer,
        ClinicalTrialTransitionSerializer,
        "clinical-trial journey",
    )
)
class ClinicalTrialJourneyViewSet(JourneyViewSet):
    """A patient's path towards one clinical trial: referred -> pre_screening -> screening -> enrolled ->
    completed, with ineligible / declined / withdrawn as exits."""

    kind = "clinical_trial"
    queryset = ClinicalTrialJourney.all_objects.all()
    serializer_class = ClinicalTrialJourneySerializer
    create_serializer_class = ClinicalTrialJourneyCreateSerializer
    update_serializer_class = ClinicalTrialJourneyUpdateSerializer
    transition_serializer_class = ClinicalTrialTransitionSerializer
    filterset_class = ClinicalTrialJourneyFilterSet
    search_fields = ("trial_id", "trial_name", "patient__person__first_name", "patient__person__last_name")
    ordering_fields = ("referral_date", "created_at", "updated_at", "status", "trial_id")

    def get_queryset(self):
        journeys = ClinicalTrialJourney.all_objects.select_related(
            "patient__person", "referring_physician__person"
        ).order_by("-referral_date", "-created_at", "id")
        return self.visible(journeys)

    @action(detail=True, methods=["post"])
    def transition(self, request, *args, **kwargs):
        return super().transition(request, *args, **kwargs)

    @action(detail=True, methods=["get"])
    def timeline(self, request, *args, **kwargs):
        return super().timeline(request, *args, **kwargs)


@extend_schema(tags=["eap-journeys"])
@extend_schema_view(
    **_journey_schemas(
        EAPJourneySerializer,
        EAPJourneyCreateSerializer,
        EAPJourneyUpdateSerializer,
        EAPTransitionSerializer,
        "EAP journey",
    )
)
class EAPJourneyViewSet(JourneyViewSet):
    """A patient's expanded-access request for one product: pending -> submitted -> approved -> active ->
    completed, with declined / withdrawn as exits."""

    kind = "eap"
    queryset = EAPJourney.all_objects.all()
    serializer_class = EAPJourneySerializer
    create_serializer_class = EAPJourneyCreateSerializer
    update_serializer_class = EAPJourneyUpdateSerializer
    transition_serializer_class = EAPTransitionSerializer
    filterset_class = EAPJourneyFilterSet
    search_fields = ("eap_number", "product", "patient__person__first_name", "patient__person__last_name")
    ordering_fields = ("created_at", "updated_at", "status", "eap_number", "approval_date")

    def get_queryset(self):
        journeys = EAPJourney.all_objects.select_related("patient__person", "physician__person").order_by(
            "-created_at", "id"
        )
        return self.visible(journeys)

    @action(detail=True, methods=["post"])
    def transition(self, request, *args, **kwargs):
        return super().transition(request, *args, **kwargs)

    @action(detail=True, methods=["get"])
    def timeline(self, request, *args, **kwargs):
        return super().timeline(request, *args, **kwargs)
