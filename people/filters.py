"""List filters of the people API."""

from __future__ import annotations

import django_filters
from django.db.models.lookups import Exact
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from common.db import name_key
from people.api.base import DateTimeBoundFilter, SoftDeleteFilterSet
from people.models import ContactType, Person, PersonContactType
from people.normalize import normalize_email


def with_email(queryset, field: str, value: str):
    """Rows whose ``field`` (a Person's email, e.g. ``person__email``) is ``value`` ignoring case and
    surrounding spaces. Compared as ``lower(trim(email))``, the expression of the unique index
    ``person_email_normalised_uniq``, so PostgreSQL finds the row through that index instead of scanning."""
    return queryset.filter(Exact(name_key(field), normalize_email(value) or ""))


class PersonFilterSet(SoftDeleteFilterSet):
    email = django_filters.CharFilter(
        method="filter_email", max_length=254, help_text="Exact email, ignoring case and surrounding spaces."
    )
    role = django_filters.ModelChoiceFilter(
        queryset=ContactType.objects.all(),
        to_field_name="code",
        method="filter_role",
        help_text="Persons holding this role now, by code: patient_lead, patient, physician, patient_navigator, ...",
    )
    created_after = DateTimeBoundFilter(field_name="created_at", bound="after")
    created_before = DateTimeBoundFilter(field_name="created_at", bound="before")

    class Meta:
        model = Person
        fields = ("email", "role", "is_active", "created_after", "created_before")

    def filter_email(self, queryset, name, value):
        return with_email(queryset, "email", value)

    @extend_schema_field(OpenApiTypes.STR)
    def filter_role(self, queryset, name, value: ContactType):
        holders = PersonContactType.objects.filter(contact_type=value).current(timezone.now()).values("person_id")
        return queryset.filter(pk__in=holders)
