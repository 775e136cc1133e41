"""Shapes of the people API. Shape only: every rule (normalisation, one Person per email, periods that
never overlap) is the services'."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from common.api.serializers import StrictCharField, StrictInputSerializer, StrictModelSerializer, StrictSlugRelatedField
from people.api.base import PersonDetailsInput
from people.models import ContactType, Person, PersonContactType, PersonMergeRequest


class PersonSerializer(StrictModelSerializer):
    class Meta:
        model = Person
        fields = (
            "id",
            "first_name",
            "last_name",
            "email",
            "phone",
            "date_of_birth",
            "is_active",
            "deleted_at",
            "deletion_reason",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class PersonWriteSerializer(PersonDetailsInput):
    """``first_name`` and ``last_name`` are required on POST; PUT and PATCH send only what changes."""


class ContactTypeSerializer(StrictModelSerializer):
    class Meta:
        model = ContactType
        fields = ("id", "code", "name", "description")
        read_only_fields = fields


class RolePeriodSerializer(StrictModelSerializer):
    role = StrictCharField(source="contact_type.code", read_only=True, help_text="The role's code.")
    role_name = StrictCharField(source="contact_type.name", read_only=True)
    is_current = serializers.SerializerMethodField()

    class Meta:
        model = PersonContactType
        fields = ("id", "role", "role_name", "valid_from", "valid_to", "is_current")
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_is_current(self, period: PersonContactType) -> bool:
        return period.is_current


class RoleStartSerializer(StrictInputSerializer):
    role = StrictSlugRelatedField(
        slug_field="code",
        queryset=ContactType.objects.all(),
        help_text="The role's code (see /api/v1/contact-types/): patient_lead, patient, patient_navigator, ...",
    )
    valid_from = serializers.DateTimeField(required=False, allow_null=True, help_text="Now when omitted.")
    valid_to = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Only to record a past period; open-ended when omitted."
    )


class RoleEndSerializer(StrictInputSerializer):
    role = StrictSlugRelatedField(
        slug_field="code", queryset=ContactType.objects.all(), help_text="The code of the role to end."
    )
    valid_to = serializers.DateTimeField(required=False, allow_null=True, help_text="Now when omitted.")


class AuditEntrySerializer(serializers.Serializer):
    """One change of a record: when, what, who, through which channel (admin, api, command)."""

    at = serializers.DateTimeField()
    action = serializers.ChoiceField(choices=("insert", "update", "delete"))
    user_id = serializers.UUIDField(allow_null=True)
    username = StrictCharField(allow_null=True)
    channel = StrictCharField(allow_null=True)
    changes = serializers.DictField(
        child=serializers.ListField(child=serializers.JSONField()),
        help_text="field -> [old, new]; on insert every field -> [null, value].",
    )


class DuplicateCandidateSerializer(serializers.Serializer):
    """One possible duplicate of the record asked about (``people.selectors.DuplicateCandidate``)."""

    id = serializers.UUIDField(source="record.pk")
    first_name = serializers.CharField(source="record.first_name")
    last_name = serializers.CharField(source="record.last_name")
    date_of_birth = serializers.DateField(source="record.date_of_birth", allow_null=True)
    score = serializers.DecimalField(max_digits=3, decimal_places=2)
    reasons = serializers.ListField(child=serializers.CharField())


class NotDuplicateSerializer(StrictInputSerializer):
    other = serializers.UUIDField(help_text="The id of the other record: not the same person as this one.")


class DuplicatePairSerializer(serializers.Serializer):
    """A decided (or proposed) pair: both records, the score and reasons, the decision."""

    id = serializers.IntegerField()
    low = serializers.UUIDField(help_text="The record with the lower id.")
    high = serializers.UUIDField(help_text="The record with the higher id.")
    score = serializers.DecimalField(max_digits=3, decimal_places=2)
    reasons = serializers.ListField(child=serializers.CharField())
    status = serializers.CharField()
    decided_by = serializers.UUIDField(source="decided_by_id", allow_null=True)
    decided_at = serializers.DateTimeField(allow_null=True)

    def to_representation(self, instance):
        data = super().to_representation(_PairView(instance))
        return data


class _PairView:
    """Either pair model seen with the same attribute names (``low`` / ``high`` ids)."""

    def __init__(self, pair) -> None:
        self._pair = pair
        names = [f.attname for f in pair._meta.concrete_fields if f.attname.endswith(("_low_id", "_high_id"))]
        self.low = getattr(pair, next(n for n in names if n.endswith("_low_id")))
        self.high = getattr(pair, next(n for n in names if n.endswith("_high_id")))

    def __getattr__(self, name):
        return getattr(self._pair, name)


class PersonMergeRequestSerializer(serializers.ModelSerializer):
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = PersonMergeRequest
        fields = (
            "id",
            "survivor",
            "duplicate",
            "reason",
            "field_choices",
            "status",
            "requested_by",
            "created_at",
            "decided_by",
            "decided_at",
            "decision_note",
            "merge",
        )
        read_only_fields = fields
