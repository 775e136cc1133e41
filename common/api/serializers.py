"""Strict building blocks for every serializer of the API.

* ``StrictCharField``: text is a JSON string. DRF's ``CharField`` turns ``-1`` into ``"-1"`` (a number is
  accepted as a name); here a number, a boolean, a list or an object is a 400 naming the field. Control
  characters are refused too (see ``common.validation.check_text``); multi-line fields (notes, reasons)
  keep tab and line breaks.
* ``StrictSlugRelatedField``: a record named by a text key (a username, a role code), given as a string.
* ``StrictModelSerializer``: a ``ModelSerializer`` whose model text fields become ``StrictCharField``.
* ``LocalDateField``: a date that also takes a date-time, read in ``settings.TIME_ZONE``.
* ``StrictInputSerializer``: a request body may hold only the fields the operation takes. DRF ignores
  the others silently, so a misspelt field (``frist_name``) or one the resource does not take
  (``total_points``) looked accepted; here each is a 400 naming it. ``aliases`` accepts other spellings of
  a field (the CM document's ``canonical_patient_id``, the original API's ``patient_id``), one at a time.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any, ClassVar

from django.core.exceptions import ObjectDoesNotExist
from django.core.signals import setting_changed
from django.db import models
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import SkipField
from rest_framework.relations import PKOnlyObject
from rest_framework.request import Request

from common.validation import control_character_problem, printable

UNKNOWN_FIELD = "Unknown field: this resource does not take it."
NO_BODY = "Unknown field: this request takes no body."

# The serializer context key of the fields an update may send back unchanged (see ``representation_fields``).
REPRESENTATION_FIELDS = "representation_fields"


class StrictCharField(serializers.CharField):
    """A string, and only a string, without control characters (``multiline`` keeps tab and line breaks)."""

    def __init__(self, *, multiline: bool = False, **kwargs: Any) -> None:
        self.multiline = multiline
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        value = super().to_internal_value(data)
        problem = control_character_problem(value, multiline=self.multiline)
        if problem is not None:
            raise serializers.ValidationError(problem, code="invalid")
        return value


class StrictSlugRelatedField(serializers.SlugRelatedField):
    """A related record named by a text key (a username, a role code): a string without control
    characters, else a 400 naming the field (a NUL would otherwise reach PostgreSQL, which refuses it)."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("invalid")
        if control_character_problem(data) is not None:
            self.fail("does_not_exist", slug_name=self.slug_field, value=printable(data))
        return super().to_internal_value(data)


class UnreadReferenceField(serializers.PrimaryKeyRelatedField):
    """A related record named by its UUID, *not* read here: the value is an unsaved stand-in that carries only
    the id (``Model(pk=id)``), for a service that reads the row itself anyway (with its lock, for instance)
    and answers a 400 naming the field when it does not exist. A malformed id is refused here, by name."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, bool) or not isinstance(data, (str, uuid.UUID)):
            self.fail("incorrect_type", data_type=type(data).__name__)
        try:
            pk = uuid.UUID(str(data))
        except ValueError:
            self.fail("does_not_exist", pk_value=printable(str(data)))
        return self.get_queryset().model(pk=pk)


class StrictModelSerializer(serializers.ModelSerializer):
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: StrictCharField,
        models.TextField: StrictCharField,
    }


class StrictInputSerializer(serializers.Serializer):
    """A request body: unknown (and read-only) fields are refused by name, ``aliases`` are accepted.

    ``refused`` gives a field a better reason than "unknown" (``total_points``: "follows the ledger").
    ``checked_in_validate`` names fields that are no serializer field but that ``validate()`` reads from
    ``initial_data`` (a journey's ``status``, accepted only unchanged). Fields listed in the context's
    ``representation_fields`` are dropped without complaint: the read-only part of a record sent back with
    PUT, as the original API allowed.
    """

    aliases: ClassVar[dict[str, str]] = {}
    refused: ClassVar[dict[str, str]] = {}
    checked_in_validate: ClassVar[tuple[str, ...]] = ()

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return super().to_internal_value(data)  # "Invalid data. Expected a dictionary, but got list."
        data, errors = self.check_keys(dict(data))
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if errors and isinstance(exc.detail, dict):
                raise serializers.ValidationError({**exc.detail, **errors}) from None
            raise
        if errors:
            raise serializers.ValidationError(errors)
        return value

    def check_keys(self, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
        """The body with aliases renamed and representation fields dropped, and the refused keys."""
        errors: dict[str, list[str]] = {}
        for alias, name in self.aliases.items():
            if alias not in data:
                continue
            if name in data:
                errors[alias] = [f"Give either {name} or {alias}, not both."]
            else:
                data[name] = data.pop(alias)
        writable = {name for name, field in self.fields.items() if not field.read_only}
        known = writable | set(self.checked_in_validate)
        sent_back = set(self.context.get(REPRESENTATION_FIELDS, ()))
        for name in list(data):
            if name in errors or name in known:
                continue
            if name in sent_back:
                del data[name]
                continue
            errors[printable(name)] = [self.refused.get(name, UNKNOWN_FIELD)]
        return data, errors


@extend_schema_field(
    {
        "anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}],
        "description": "A date, or a date and time whose date in the server's TIME_ZONE is taken.",
    }
)
class LocalDateField(serializers.DateField):
    """A date (``2026-03-02``), or an ISO date and time whose calendar day in ``settings.TIME_ZONE`` is
    taken: ``2026-03-01T23:30:00-08:00`` is 2026-03-02 when the time zone is UTC. The original API sent
    follow-up dates as date-times; scripts written for it keep working."""

    default_error_messages = {
        "invalid": "Give a date (2026-03-02) or a date and time (2026-03-01T23:30:00-08:00).",
    }

    def to_internal_value(self, value: Any) -> dt.date:
        if not isinstance(value, str):
            self.fail("invalid")
        try:
            return super().to_internal_value(value)
        except serializers.ValidationError:
            pass
        try:
            moment = serializers.DateTimeField().to_internal_value(value)
        except serializers.ValidationError:
            self.fail("invalid")
        return timezone.localtime(moment, timezone.get_default_timezone()).date()


def representation_fields(serializer: serializers.Serializer) -> frozenset[str]:
    """The read-only fields of a resource's representation (``id``, ``created_at``, names of related
    records...), with those of nested records as ``person.id``: what a GET body sent back may hold."""
    names: set[str] = set()
    for name, field in serializer.fields.items():
        names.add(name)
        if isinstance(field, serializers.Serializer):
            names.update(f"{name}.{nested}" for nested in field.fields)
    return frozenset(names)


def refuse_body(request: Request) -> None:
    """For requests that take no body (restore, a CM soft delete): an empty body or ``{}`` only."""
    data = request.data
    if not isinstance(data, Mapping):
        raise serializers.ValidationError(
            {"non_field_errors": [f"This request takes no body (got a JSON {_json_type(data)})."]}
        )
    if data:
        raise serializers.ValidationError({printable(name): [NO_BODY] for name in data})


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


class _Slow(Exception):
    pass


class FastRepresentationMixin:
    """``to_representation`` for the hottest read paths (patients, calls): the same output as DRF's, without
    its per-field, per-row ``get_attribute`` machinery. The plan (each field's attribute path and kind) is
    made once per serializer instance, i.e. once per request for a list; each row then costs a few
    ``getattr`` and the field's own ``to_representation``. Anything the plan does not cover (a missing
    related row, a lookup that raises) goes through DRF's code for that field, so the output never differs
    (``tests/common/test_fast_representation.py`` compares both)."""

    def _representation_plan(self) -> list[tuple[str, Any, str, serializers.Field]]:
        plan = []
        for field in self._readable_fields:
            attrs = tuple(field.source_attrs)
            if isinstance(field, serializers.SerializerMethodField):
                plan.append((field.field_name, attrs, "method", field))
            elif (
                isinstance(field, serializers.PrimaryKeyRelatedField)
                and field.use_pk_only_optimization()
                and field.pk_field is None
                and len(attrs) == 1
            ):
                model_field = self.Meta.model._meta.get_field(attrs[0])
                plan.append((field.field_name, model_field.attname, "pk", field))
            else:
                plan.append((field.field_name, attrs, "plain", field))
        return plan

    def to_representation(self, instance):
        plan = self.__dict__.get("_plan")
        if plan is None:
            plan = self.__dict__["_plan"] = self._shared_plan() or self._representation_plan()
        ret = {}
        for name, attrs, kind, field in plan:
            if kind == "method":
                # This serializer's own method (a shared plan's field is bound to the class's template).
                ret[name] = getattr(self, field.method_name)(instance)
                continue
            if kind == "pk":
                ret[name] = getattr(instance, attrs)
                continue
            value = instance
            try:
                for attr in attrs:
                    if value is None or isinstance(value, dict):
                        raise _Slow
                    value = getattr(value, attr)
                if callable(value) and not isinstance(value, models.Model):
                    raise _Slow
            except (_Slow, AttributeError, ObjectDoesNotExist):
                self._slow_field(ret, field, instance)
                continue
            ret[name] = None if value is None else field.to_representation(value)
        return ret

    def _shared_plan(self) -> list | None:
        """The plan made once per serializer class (not once per request): the fields of a template instance of the
        class, when its representation cannot depend on the request. Building a ModelSerializer's fields
        (introspecting the model, deep-copying the declared fields) was ~2 ms of the ~12 ms of CPU of a detail
        ``GET`` (docs/PERFORMANCE.md, "Request path"). Shared only when every field is one whose
        ``to_representation`` reads nothing but its value (``_CONTEXT_FREE``), a method of the serializer (called
        on this instance) or a nested serializer with a shared plan, and the instance's fields are the class's
        (no ``get_fields`` / ``__init__`` of its own, no ``fields`` built or changed on this instance)."""
        cls = type(self)
        if "fields" in self.__dict__ or getattr(self, "partial", False):
            return None
        plan = _SHARED_PLANS.get(cls)
        if plan is None:
            plan = _SHARED_PLANS[cls] = _shareable_plan(cls) or False
        return plan or None

    @staticmethod
    def _slow_field(ret: dict, field: serializers.Field, instance: Any) -> None:
        try:
            attribute = field.get_attribute(instance)
        except SkipField:
            return
        check = attribute.pk if isinstance(attribute, PKOnlyObject) else attribute
        ret[field.field_name] = None if check is None else field.to_representation(attribute)


# The ``to_representation`` of these DRF fields reads its value and the field's own options only (formats and time
# zones are read from the settings on each call): a field of the class's template serves every request.
_CONTEXT_FREE = frozenset(
    field_class.to_representation
    for field_class in (
        serializers.CharField,
        serializers.UUIDField,
        serializers.DateField,
        serializers.DateTimeField,
        serializers.BooleanField,
        serializers.IntegerField,
        serializers.FloatField,
        serializers.DecimalField,
        serializers.ChoiceField,
        serializers.ReadOnlyField,
        serializers.PrimaryKeyRelatedField,
    )
)
_SHARED_PLANS: dict[type, list | bool] = {}


def _shareable_plan(cls: type) -> list | None:
    own = ("get_fields", "__init__", "_readable_fields", "_representation_plan")
    for klass in cls.__mro__:
        if klass in (serializers.ModelSerializer, serializers.Serializer, FastRepresentationMixin):
            break
        if any(name in klass.__dict__ for name in own):
            return None
    template = cls()
    plan = template._representation_plan()
    for _name, _attrs, kind, field in plan:
        if kind in ("method", "pk"):
            continue
        if isinstance(field, FastRepresentationMixin):
            if field.__dict__.get("_plan") is None and field._shared_plan() is None:
                return None
            continue
        if type(field).to_representation not in _CONTEXT_FREE:
            return None
    return plan


def _forget_shared_plans(*, setting: str, **kwargs: Any) -> None:
    if setting in ("REST_FRAMEWORK", "USE_TZ", "TIME_ZONE"):
        _SHARED_PLANS.clear()


setting_changed.connect(_forget_shared_plans)
