"""The merge API, shared by persons (``/api/v1/persons/merge/``, ``/api/v1/merges/``) and canonical patients
(``/api/v1/cm/canonical-patients/merge/``, ``/api/v1/cm/merges/``). Thin: shape checks, then the services."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import Http404, HttpResponseRedirect
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from common.api.permissions import action_permission
from common.api.serializers import StrictCharField, StrictInputSerializer
from common.idempotency import IdempotentViewMixin
from common.merge.models import MergeLog
from common.merge.services import DUPLICATE, SURVIVOR, merged_chain_end


class MergeInputSerializer(StrictInputSerializer):
    survivor = serializers.UUIDField(help_text="The record that stays.")
    duplicate = serializers.UUIDField(help_text="The record merged into the survivor (marked merged, soft-deleted).")
    reason = StrictCharField(max_length=1000, multiline=True, help_text="Why the two are one (kept in the merge log).")
    fields = serializers.DictField(
        child=serializers.ChoiceField(choices=[SURVIVOR, DUPLICATE]),
        required=False,
        default=dict,
        help_text='Whose value each field takes, e.g. {"phone": "duplicate"}; the survivor\'s by default.',
    )


class MergeRequestDecisionSerializer(StrictInputSerializer):
    note = StrictCharField(
        max_length=1000, multiline=True, required=False, allow_blank=True, help_text="Why (on a rejection)."
    )


class UndoInputSerializer(StrictInputSerializer):
    reason = StrictCharField(
        max_length=1000, multiline=True, required=False, allow_blank=True, help_text="Why the merge is undone."
    )


class MergeLogSerializer(serializers.ModelSerializer):
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    undone_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    rows_moved = serializers.SerializerMethodField(help_text="Rows re-pointed at the survivor, in all.")

    class Meta:
        model = MergeLog
        fields = (
            "id",
            "model",
            "survivor_id",
            "duplicate_id",
            "actor",
            "at",
            "reason",
            "field_choices",
            "duplicate_values",
            "survivor_values",
            "summary",
            "rows_moved",
            "left",
            "undone_at",
            "undone_by",
            "undo_reason",
        )
        read_only_fields = fields

    def get_rows_moved(self, log: MergeLog) -> int:
        return sum(log.summary.values())


def merge_view(
    view, request, *, model, scope: Callable[[Any], Any], service: Callable[..., MergeLog], label: str
) -> Response:
    """``POST .../merge/``: both records must be within the user's scope (else a 400 naming the field)."""
    data = MergeInputSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    values = data.validated_data
    visible = scope(request.user)
    found = {r.pk: r for r in visible.filter(pk__in=[values["survivor"], values["duplicate"]])}
    errors = {name: [f"No such {label}."] for name in ("survivor", "duplicate") if values[name] not in found}
    if errors:
        raise ValidationError(errors)
    log = service(
        survivor=found[values["survivor"]],
        duplicate=found[values["duplicate"]],
        field_choices=values["fields"],
        actor=request.user,
        reason=values["reason"],
    )
    return Response(MergeLogSerializer(log).data, status=status.HTTP_201_CREATED)


def redirect_if_merged(request, *, model, pk: Any, url_name: str, scope) -> HttpResponseRedirect | None:
    """308 to the survivor's URL when ``pk`` is a merged record whose survivor the user may see."""
    try:
        pk = model._meta.pk.to_python(pk)
    except Exception:  # noqa: BLE001 - a malformed id is the normal 404 path's business
        return None
    target = merged_chain_end(model, pk)
    if target is None or not scope(request.user).filter(pk=target).exists():
        return None
    url = reverse(url_name, kwargs={"pk": target})
    if request.META.get("QUERY_STRING"):
        url = f"{url}?{request.META['QUERY_STRING']}"
    return HttpResponseRedirect(url, status=308)


def retrieve_unless_merged(
    view, *, merged: Callable[[Any], bool], redirect: Callable[[], HttpResponseRedirect | None]
) -> Response | HttpResponseRedirect:
    """DRF's ``retrieve`` (``get_object``, the serializer's data) for a model whose merged records answer a 308
    (``redirect``: ``redirect_if_merged`` / ``redirect_if_merged_record``). The record is read first: one the view
    finds and that ``merged(record)`` says is not merged (it carries what the redirect would query: the Person's
    ``merged_into_id``, the Patient's deletion reason) is answered without a query about merges; a merged one,
    or one the view does not find (a merged record is soft-deleted: hidden from most users), asks ``redirect``."""
    try:
        instance = view.get_object()
    except Http404:
        moved = redirect()
        if moved is not None:
            return moved
        raise
    if merged(instance):
        moved = redirect()
        if moved is not None:
            return moved
    return Response(view.get_serializer(instance).data)


def is_merged_record(record) -> bool:
    """A record soft-deleted by a merge at the second level (the reason "merged into #<id>")."""
    from common.merge.engine import MERGED_REASON_PREFIX

    return not record.is_active and (record.deletion_reason or "").startswith(MERGED_REASON_PREFIX)


def redirect_if_merged_record(request, *, model, pk: Any, url_name: str, queryset) -> HttpResponseRedirect | None:
    """308 for a record a merge soft-deleted at the second level (a merged person's Patient, deleted with
    the reason "merged into #<id>") to the record it was merged into, when ``queryset`` holds that one."""
    from common.merge.engine import MERGED_REASON_PREFIX

    try:
        pk = model._meta.pk.to_python(pk)
    except Exception:  # noqa: BLE001 - a malformed id is the normal 404 path's business
        return None
    reason = model._base_manager.filter(pk=pk, is_active=False).values_list("deletion_reason", flat=True).first()
    if not reason or not reason.startswith(MERGED_REASON_PREFIX):
        return None
    try:
        target = model._meta.pk.to_python(reason.removeprefix(MERGED_REASON_PREFIX))
    except Exception:  # noqa: BLE001
        return None
    if not queryset.filter(pk=target).exists():
        return None
    url = reverse(url_name, kwargs={"pk": target})
    if request.META.get("QUERY_STRING"):
        url = f"{url}?{request.META['QUERY_STRING']}"
    return HttpResponseRedirect(url, status=308)


class MergeLogViewSetBase(
    IdempotentViewMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """The merge log of one model: newest first; ``POST {id}/undo/`` puts the merge back."""

    serializer_class = MergeLogSerializer
    lookup_value_regex = "[0-9]+"
    model_label = ""
    permission = ""
    unmerge_service: Callable[..., MergeLog] | None = None

    def get_permissions(self):
        return [IsAuthenticated(), action_permission(self.permission)()]

    def get_queryset(self):
        return (
            MergeLog.objects.filter(model=self.model_label).select_related("actor", "undone_by").order_by("-at", "-id")
        )

    @extend_schema(request=UndoInputSerializer, responses=MergeLogSerializer, summary="Undo a merge")
    @action(detail=True, methods=["post"])
    def undo(self, request, pk=None):
        log = self.get_object()
        data = UndoInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        log = type(self).unmerge_service(merge=log, actor=request.user, reason=data.validated_data.get("reason", ""))
        return Response(MergeLogSerializer(log).data)
