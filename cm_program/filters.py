"""One django-filter FilterSet per CM model the API lists. Query-string names are the model's field names;
ids are UUIDs (a malformed one is a 400 naming the parameter, an unknown one simply matches nothing)."""

from __future__ import annotations

import django_filters as filters
from django.db.models import QuerySet, Value

from cm_program.models import (
    CanonicalPatient,
    CMEnrollment,
    CMPatient,
    CMPointsTransaction,
    CMProgram,
    CMProvider,
    CMStatus,
    EnrollmentSource,
    IntakeQLink,
    IntakeQMatchCandidate,
    IntakeQPatient,
    MatchBand,
    MatchStatus,
    PointsEvent,
    ProviderRole,
    ProviderStatus,
    SmartphoneAccess,
    normalised_name,
)

NAME_HELP = "Exact name, ignoring case, accents and surrounding spaces (as the canonical identity compares names)."


def _same_name(queryset: QuerySet, field: str, value: str) -> QuerySet:
    # The comparison the identity's unique index uses, so "jose" finds "José ".
    return queryset.annotate(**{f"_norm_{field}": normalised_name(field)}).filter(
        **{f"_norm_{field}": normalised_name(Value(value))}
    )


class _NameFilterMixin(filters.FilterSet):
    first_name = filters.CharFilter(method="filter_first_name", max_length=200, help_text=NAME_HELP)
    last_name = filters.CharFilter(method="filter_last_name", max_length=200, help_text=NAME_HELP)

    def filter_first_name(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return _same_name(queryset, "first_name", value)

    def filter_last_name(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return _same_name(queryset, "last_name", value)


class CanonicalPatientFilter(_NameFilterMixin):
    has_cm_patient = filters.BooleanFilter(
        field_name="cm_profile", lookup_expr="isnull", exclude=True, help_text="Has a CM profile."
    )
    has_intakeq_link = filters.BooleanFilter(
        field_name="intakeq_link", lookup_expr="isnull", exclude=True, help_text="Is linked to an IntakeQ record."
    )
    created_after = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = CanonicalPatient
        fields = ("first_name", "last_name", "date_of_birth")


class CMPatientFilter(filters.FilterSet):
    canonical_patient = filters.UUIDFilter()
    status = filters.MultipleChoiceFilter(choices=CMStatus.choices)
    enrollment_source = filters.MultipleChoiceFilter(choices=EnrollmentSource.choices)
    smartphone_access = filters.MultipleChoiceFilter(choices=SmartphoneAccess.choices)
    email = filters.CharFilter(lookup_expr="iexact", max_length=254)
    address_state = filters.CharFilter(lookup_expr="iexact", max_length=100)
    preferred_language = filters.CharFilter(lookup_expr="iexact", max_length=100)

    class Meta:
        model = CMPatient
        fields = (
            "canonical_patient",
            "status",
            "enrollment_source",
            "smartphone_access",
            "email",
            "address_state",
            "preferred_language",
        )


class CMProviderFilter(filters.FilterSet):
    role = filters.MultipleChoiceFilter(choices=ProviderRole.choices)
    status = filters.ChoiceFilter(choices=ProviderStatus.choices)
    email = filters.CharFilter(lookup_expr="iexact", max_length=254)
    credentials = filters.CharFilter(lookup_expr="iexact", max_length=100)

    class Meta:
        model = CMProvider
        fields = ("role", "status", "email", "credentials")


class CMProgramFilter(filters.FilterSet):
    name = filters.CharFilter(lookup_expr="iexact", max_length=200)

    class Meta:
        model = CMProgram
        fields = ("is_active", "name")


class CMEnrollmentFilter(filters.FilterSet):
    status = filters.MultipleChoiceFilter(
        choices=CMStatus.choices, help_text="Repeat for several: ?status=active&status=paused"
    )
    cm_program = filters.UUIDFilter()
    cpss_provider = filters.UUIDFilter()
    has_cpss_provider = filters.BooleanFilter(
        field_name="cpss_provider", lookup_expr="isnull", exclude=True, help_text="false: waiting for a CPSS."
    )
    canonical_patient = filters.UUIDFilter()
    cm_patient = filters.UUIDFilter()
    enrollment_date_after = filters.DateFilter(field_name="enrollment_date", lookup_expr="date__gte")
    enrollment_date_before = filters.DateFilter(field_name="enrollment_date", lookup_expr="date__lte")
    total_points_min = filters.NumberFilter(field_name="total_points", lookup_expr="gte")
    total_points_max = filters.NumberFilter(field_name="total_points", lookup_expr="lte")

    class Meta:
        model = CMEnrollment
        fields = ("status", "cm_program", "cpss_provider", "canonical_patient", "cm_patient", "pod_assignment")


class CMPointsTransactionFilter(filters.FilterSet):
    event_type = filters.MultipleChoiceFilter(choices=PointsEvent.choices)
    occurred_after = filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="lt")
    reversed = filters.BooleanFilter(
        field_name="reversed_by", lookup_expr="isnull", exclude=True, help_text="Cancelled by a reversal entry."
    )

    class Meta:
        model = CMPointsTransaction
        fields = ("event_type",)


class IntakeQPatientFilter(_NameFilterMixin):
    """``first_name`` + ``last_name`` + ``date_of_birth`` is step 1 of the CM document's scenario 2."""

    intakeq_client_id = filters.CharFilter(max_length=200)
    email = filters.CharFilter(lookup_expr="iexact", max_length=254)
    linked = filters.BooleanFilter(
        field_name="canonical_link", lookup_expr="isnull", exclude=True, help_text="Linked to a canonical patient."
    )

    class Meta:
        model = IntakeQPatient
        fields = ("intakeq_client_id", "first_name", "last_name", "date_of_birth", "email")


class IntakeQLinkFilter(filters.FilterSet):
    canonical_patient = filters.UUIDFilter()
    intakeq_patient = filters.UUIDFilter()
    confidence_score_min = filters.NumberFilter(field_name="confidence_score", lookup_expr="gte")
    confidence_score_max = filters.NumberFilter(field_name="confidence_score", lookup_expr="lte")
    linked_after = filters.IsoDateTimeFilter(field_name="linked_date", lookup_expr="gte")
    linked_before = filters.IsoDateTimeFilter(field_name="linked_date", lookup_expr="lt")

    class Meta:
        model = IntakeQLink
        fields = ("canonical_patient", "intakeq_patient")


class IntakeQMatchCandidateFilter(filters.FilterSet):
    band = filters.MultipleChoiceFilter(choices=MatchBand.choices, help_text="certain, probable or possible.")
    status = filters.MultipleChoiceFilter(
        choices=MatchStatus.choices, help_text="proposed (the queue), linked or rejected."
    )
    canonical_patient = filters.UUIDFilter()
    intakeq_patient = filters.UUIDFilter()
    score_min = filters.NumberFilter(field_name="score", lookup_expr="gte")
    score_max = filters.NumberFilter(field_name="score", lookup_expr="lte")

    class Meta:
        model = IntakeQMatchCandidate
        fields = ("band", "status", "canonical_patient", "intakeq_patient")
