"""CM providers (providers_cm)."""

from __future__ import annotations

from rest_framework import serializers

from cm_program.api.serializers._common import (
    EMAIL_MAX,
    NAME_MAX,
    PHONE_MAX,
    ProviderRoleField,
    ProviderStatusField,
    StrictUUIDField,
    text,
)
from cm_program.models import (
    CMProvider,
    ProviderRole,
    ProviderStatus,
)
from common.api.serializers import StrictCharField, StrictInputSerializer, StrictModelSerializer, StrictSlugRelatedField
from people.models import User


class CMProviderSerializer(StrictModelSerializer):
    role = ProviderRoleField(choices=ProviderRole.choices, read_only=True)
    status = ProviderStatusField(choices=ProviderStatus.choices, read_only=True)
    username = StrictCharField(source="user.username", read_only=True, allow_null=True)
    active_enrollments = serializers.IntegerField(read_only=True, help_text="Active enrollments held (caseload).")

    class Meta:
        model = CMProvider
        fields = (
            "id",
            "canonical_provider_id",
            "first_name",
            "last_name",
            "email",
            "phone",
            "role",
            "credentials",
            "hire_date",
            "status",
            "max_caseload",
            "active_enrollments",
            "user",
            "username",
            "person",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class CMProviderInputSerializer(StrictInputSerializer):
    canonical_provider_id = StrictUUIDField(required=False, allow_null=True)
    first_name = StrictCharField(max_length=NAME_MAX)
    last_name = StrictCharField(max_length=NAME_MAX)
    email = text(EMAIL_MAX)
    phone = text(PHONE_MAX)
    role = ProviderRoleField(choices=ProviderRole.choices, required=False)
    credentials = text(100, help_text="CPSS-I, CPSS-II, ...")
    hire_date = serializers.DateField(required=False, allow_null=True)
    status = ProviderStatusField(choices=ProviderStatus.choices, required=False)
    max_caseload = serializers.IntegerField(required=False, min_value=0, max_value=10_000)
    user = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True),
        required=False,
        allow_null=True,
        pk_field=StrictUUIDField(),
        help_text="The staff login (id) that limits this CPSS to their caseload. Or give `username`.",
    )
    username = StrictSlugRelatedField(
        slug_field="username",
        queryset=User.objects.filter(is_active=True),
        required=False,
        write_only=True,
        help_text="Alternative to `user`: the staff login's username.",
    )
    refused = {
        "active_enrollments": "Computed from the enrollments.",
        "person": "Not settable through the API.",
    }

    def validate(self, attrs):
        if "username" in attrs:
            if "user" in attrs:
                raise serializers.ValidationError({"username": ["Give either user or username, not both."]})
            attrs["user"] = attrs.pop("username")
        return attrs
