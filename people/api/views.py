"""People: the single source of truth for name, email, phone and date of birth, their role periods and
their audit trail. Views check shape and call ``people.services``."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from common.api.permissions import action_permission
from common.api.views import UUIDLookupMixin
from common.idempotency import IdempotentViewMixin
from common.merge.api import (
    MergeInputSerializer,
    MergeLogSerializer,
    MergeLogViewSetBase,
    MergeRequestDecisionSerializer,
    merge_view,
    redirect_if_merged,
    retrieve_unless_merged,
)
from people.api.base import NavigationViewSetMixin, ServiceUpdateMixin, SoftDeleteViewSetMixin, validated
from people.api.serializers import (
    AuditEntrySerializer,
    ContactTypeSerializer,
    DuplicateCandidateSerializer,
    DuplicatePairSerializer,
    NotDuplicateSerializer,
    PersonMergeRequestSerializer,
    PersonSerializer,
    PersonWriteSerializer,
    RoleEndSerializer,
    RolePeriodSerializer,
    RoleStartSerializer,
)
from people.duplicates import LIVE_PERSON
from people.filters import PersonFilterSet
from people.models import ContactType, Person, PersonMergeRequest
from people.selectors import (
    person_duplicate_candidates,
    person_history,
    person_role_periods,
    persons_visible_to,
)
from people.services import (
    person_create,
    person_mark_not_duplicate,
    person_merge,
    person_merge_request_approve,
    person_merge_request_file,
    person_merge_request_reject,
    person_restore,
    person_role_end,
    person_role_start,
    person_soft_delete,
    person_unmerge,
    person_update,
)

# The candidates a GET .../duplicates/ answers (best first); the queue holds the rest.
DUPLICATES_SHOWN = 50

_ROLE_PERMISSIONS = {
    "GET": "people.view_personcontacttype",
    "POST": "people.add_personcontacttype",
}


@extend_schema(tags=["persons"])
@extend_schema_view(
    list=extend_schema(summary="List persons"),
    update=extend_schema(
        request=PersonWriteSerializer(partial=True), responses=PersonSerializer, summary="Change a person's details"
    ),
    partial_update=extend_schema(
        request=PersonWriteSerializer(partial=True), responses=PersonSerializer, summary="Change a person's details"
    ),
)
class PersonViewSet(NavigationViewSetMixin, SoftDeleteViewSetMixin, ServiceUpdateMixin, viewsets.ModelViewSet):
    """People: one row per human. Each user sees the Persons of ``persons_visible_to``: patient-navigation
    staff everyone but the humans the CRM knows only through contingency management."""

    queryset = Person.all_objects.all()
    serializer_class = PersonSerializer
    update_serializer_class = PersonWriteSerializer
    filterset_class = PersonFilterSet
    search_fields = ("first_name", "last_name", "email", "phone")
    ordering_fields = ("last_name", "first_name", "email", "created_at", "updated_at")
    ordering = ("last_name", "first_name", "id")
    soft_delete_service = person_soft_delete
    restore_service = person_restore
    service_kwarg = "person"

    def get_queryset(self):
        # The user's Person scope (the same as the admin's and the services'): outside it, not found.
        return self.visible(persons_visible_to(self.request.user)).order_by(*self.ordering)

    def get_permissions(self):
        if self.action == "roles":
            permission = _ROLE_PERMISSIONS.get(self.request.method, "people.view_personcontacttype")
            return [IsAuthenticated(), action_permission(permission)()]
        if self.action == "end_role":
            return [IsAuthenticated(), action_permission("people.change_personcontacttype")()]
        if self.action == "history":
            return [IsAuthenticated(), action_permission("people.view_person")()]
        if self.action == "duplicates":
            return [IsAuthenticated(), action_permission("people.view_personduplicatepair")()]
        if self.action == "not_duplicate":
            return [IsAuthenticated(), action_permission("people.change_personduplicatepair")()]
        if self.action == "merge":
            return [IsAuthenticated(), action_permission("people.merge_person")()]
        return super().get_permissions()

    @extend_schema(
        summary="Get a person (deleted ones too, for users who may restore them)",
        description="A merged person's id keeps working: it answers `308 Permanent Redirect` to the "
        "survivor's URL (following merges of merges), when you may see the survivor.",
    )
    def retrieve(self, request, *args, **kwargs):
        return retrieve_unless_merged(
            self,
            merged=lambda person: person.merged_into_id is not None,
            redirect=lambda: redirect_if_merged(
                request, model=Person, pk=kwargs.get("pk"), url_name="person-detail", scope=persons_visible_to
            ),
        )

    @extend_schema(
        request=MergeInputSerializer,
        responses={201: MergeLogSerializer},
        summary="Merge a duplicate person into a survivor (CRM supervisors)",
        description="Every record of the duplicate (lead, patient, calls, journeys, role periods, ...) is "
        "re-pointed at the survivor; the survivor takes the values chosen in `fields` (the survivor's by "
        "default); the duplicate is marked merged and soft-deleted. Answers the merge log entry (undo it "
        "with `POST /api/v1/merges/{id}/undo/`). A merge that cannot be done safely (both persons have a CM "
        "identity, two staff logins, ...) is a 409 `merge_refused` saying what to do first.",
    )
    @action(detail=False, methods=["post"])
    def merge(self, request, *args, **kwargs):
        return merge_view(self, request, model=Person, scope=persons_visible_to, service=person_merge, label="person")

    @extend_schema(
        request=PersonWriteSerializer,
        responses={201: PersonSerializer},
        summary="Create a person",
        description="One Person per email (ignoring case and spaces): an email already on file is a 409 whose "
        "`existing_id` is that person, or, when that person is outside your scope, the neutral 409 "
        "`unavailable` that names nobody.",
    )
    def create(self, request, *args, **kwargs):
        data = validated(PersonWriteSerializer, request.data)
        person = person_create(**data, actor=request.user)
        return Response(self.get_serializer(person).data, status=status.HTTP_201_CREATED)

    def perform_service_update(self, instance, data):
        return person_update(person=instance, data=data, actor=self.request.user)

    @extend_schema(
        methods=["GET"],
        request=None,
        responses=RolePeriodSerializer(many=True),
        summary="A person's role periods, current and past, oldest first",
    )
    @extend_schema(
        methods=["POST"],
        request=RoleStartSerializer,
        responses={201: RolePeriodSerializer},
        summary="Start a role period",
        description="Periods of one role never overlap: an overlapping period is a 400 naming the one it clashes with.",
    )
    @action(detail=True, methods=["get", "post"])
    def roles(self, request, *args, **kwargs):
        person = self.get_object()
        if request.method == "GET":
            page = self.paginate_queryset(person_role_periods(person=person))
            return self.get_paginated_response(RolePeriodSerializer(page, many=True).data)
        data = validated(RoleStartSerializer, request.data)
        period = person_role_start(
            person=person,
            role=data["role"],
            valid_from=data.get("valid_from"),
            valid_to=data.get("valid_to"),
            actor=request.user,
        )
        return Response(RolePeriodSerializer(period).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=RoleEndSerializer,
        responses=RolePeriodSerializer,
        summary="End the current period of a role",
        description="The period is closed at `valid_to` (now when omitted), never deleted.",
    )
    @action(detail=True, methods=["post"], url_path="roles/end")
    def end_role(self, request, *args, **kwargs):
        person = self.get_object()
        data = validated(RoleEndSerializer, request.data)
        period = person_role_end(person=person, role=data["role"], valid_to=data.get("valid_to"), actor=request.user)
        return Response(RolePeriodSerializer(period).data)

    @extend_schema(
        request=None,
        responses=AuditEntrySerializer(many=True),
        summary="A person's audit trail, oldest first (who, when, channel, changes)",
    )
    @action(detail=True, methods=["get"])
    def history(self, request, *args, **kwargs):
        person = self.get_object()
        page = self.paginate_queryset(person_history(person=person))
        return self.get_paginated_response(AuditEntrySerializer(page, many=True).data)

    @extend_schema(
        request=None,
        responses=DuplicateCandidateSerializer(many=True),
        summary="Possible duplicates of a person, best first",
        description="Live Persons within your scope that may be the same human (docs/DUPLICATES.md): `score` "
        '(0-1) and its `reasons` ("same DOB", "name 0.82", "same phone"). Pairs marked \'not the same '
        "person' never appear. Patient-navigation staff only (403 for other roles).",
    )
    @action(detail=True, methods=["get"], pagination_class=None)  # one short list: not paginated
    def duplicates(self, request, *args, **kwargs):
        person = self.get_object()
        found = person_duplicate_candidates(person, user=request.user, limit=DUPLICATES_SHOWN)
        return Response(DuplicateCandidateSerializer(found, many=True).data)

    @extend_schema(
        request=NotDuplicateSerializer,
        responses=DuplicatePairSerializer,
        summary="Not the same person",
        description="Stores the decision on the pair (this person, `other`): it is never proposed again, whatever "
        "later edits do. 400 naming `other` when it is missing, not a UUID, this person, or no live person in "
        "your scope; 409 when the pair was merged.",
    )
    @action(detail=True, methods=["post"], url_path="not-duplicate")
    def not_duplicate(self, request, *args, **kwargs):
        person = self.get_object()
        data = validated(NotDuplicateSerializer, request.data)
        other = persons_visible_to(request.user, Person.all_objects.filter(LIVE_PERSON, pk=data["other"])).first()
        if other is None and data["other"] != person.pk:
            raise ValidationError({"other": ["No such person."]})
        pair = person_mark_not_duplicate(person=person, other=other or person, actor=request.user)
        return Response(DuplicatePairSerializer(pair).data)


@extend_schema(tags=["merges"])
class PersonMergeLogViewSet(MergeLogViewSetBase):
    """The merges of persons, newest first (CRM supervisors); ``POST {id}/undo/`` puts one back."""

    model_label = "people.person"
    permission = "people.merge_person"
    unmerge_service = staticmethod(person_unmerge)


@extend_schema(tags=["merges"])
class PersonMergeRequestViewSet(
    IdempotentViewMixin,
    UUIDLookupMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Merge requests: navigators file them (``POST``, the body of ``/persons/merge/``), CRM supervisors
    ``approve`` (which merges) or ``reject`` them. Navigators see the requests they filed."""

    serializer_class = PersonMergeRequestSerializer
    queryset = PersonMergeRequest.objects.all()

    def get_queryset(self):
        requests = PersonMergeRequest.objects.select_related("requested_by", "decided_by").order_by("-created_at", "id")
        if not self.request.user.has_perm("people.merge_person"):
            requests = requests.filter(requested_by=self.request.user)
        return requests

    def get_permissions(self):
        if self.action in ("approve", "reject"):
            return [IsAuthenticated(), action_permission("people.merge_person", "people.change_personmergerequest")()]
        return super().get_permissions()

    @extend_schema(
        request=MergeInputSerializer, responses={201: PersonMergeRequestSerializer}, summary="Ask for a merge"
    )
    def create(self, request, *args, **kwargs):
        data = validated(MergeInputSerializer, request.data)
        visible = {
            p.pk: p for p in persons_visible_to(request.user).filter(pk__in=[data["survivor"], data["duplicate"]])
        }
        errors = {name: ["No such person."] for name in ("survivor", "duplicate") if data[name] not in visible}
        if errors:
            raise ValidationError(errors)
        filed = person_merge_request_file(
            survivor=visible[data["survivor"]],
            duplicate=visible[data["duplicate"]],
            reason=data["reason"],
            field_choices=data["fields"],
            actor=request.user,
        )
        return Response(self.get_serializer(filed).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=MergeRequestDecisionSerializer,
        responses=PersonMergeRequestSerializer,
        summary="Approve a merge request (merges)",
    )
    @action(detail=True, methods=["post"])
    def approve(self, request, *args, **kwargs):
        data = validated(MergeRequestDecisionSerializer, request.data)
        decided = person_merge_request_approve(request=self.get_object(), note=data.get("note", ""), actor=request.user)
        return Response(self.get_serializer(decided).data)

    @extend_schema(
        request=MergeRequestDecisionSerializer, responses=PersonMergeRequestSerializer, summary="Reject a merge request"
    )
    @action(detail=True, methods=["post"])
    def reject(self, request, *args, **kwargs):
        data = validated(MergeRequestDecisionSerializer, request.data)
        decided = person_merge_request_reject(request=self.get_object(), note=data.get("note", ""), actor=request.user)
        return Response(self.get_serializer(decided).data)


@extend_schema(tags=["persons"])
class ContactTypeViewSet(NavigationViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """The roles a person can hold; ``code`` is what ``/persons/{id}/roles/`` takes."""

    queryset = ContactType.objects.all().order_by("name")
    serializer_class = ContactTypeSerializer
    search_fields = ("code", "name")
    ordering_fields = ("name", "code")
