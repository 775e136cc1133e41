"""List filters of the patient-navigation API. Invalid values (a bad id, date or choice) are a 400 naming
the parameter, never an ignored filter."""

from __future__ import annotations

import django_filters
from django.db.models import Q
from django.utils import timezone

from patients.models import (
    CallDirection,
    CallHistory,
    CallOutcome,
    Hospital,
    LeadSource,
    LeadStatus,
    MedicalCondition,
    Patient,
    PatientLead,
    PatientStatus,
    Physician,
    Specialization,
)
from patients.selectors import patients_follow_up_due
from people.api.base import DateTimeBoundFilter, SoftDeleteFilterSet, StrictBooleanFilter
from people.filters import with_email
from people.models import Person


def _email(queryset, name, value):
    return with_email(queryset, name, value)


EMAIL_HELP = "Exact email, ignoring case and surrounding spaces."


class MedicalConditionFilterSet(SoftDeleteFilterSet):
    name = django_filters.CharFilter(lookup_expr="iexact", max_length=200, help_text="Exact name, ignoring case.")

    class Meta:
        model = MedicalCondition
        fields = ("name", "is_active")


class HospitalFilterSet(SoftDeleteFilterSet):
    city = django_filters.CharFilter(lookup_expr="iexact", max_length=100)
    country = django_filters.CharFilter(lookup_expr="iexact", max_length=100)

    class Meta:
        model = Hospital
        fields = ("city", "country", "is_active")


class SpecializationFilterSet(SoftDeleteFilterSet):
    class Meta:
        model = Specialization
        fields = ("is_active",)


class PatientFilterSet(SoftDeleteFilterSet):
    status = django_filters.ChoiceFilter(choices=PatientStatus.choices)
    medical_condition = django_filters.ModelChoiceFilter(
        queryset=MedicalCondition.all_objects.all(), help_text="Medical condition id."
    )
    navigator = django_filters.ModelChoiceFilter(
        queryset=Person.all_objects.all(), help_text="Person id of the assigned navigator."
    )
    email = django_filters.CharFilter(field_name="person__email", method=_email, max_length=254, help_text=EMAIL_HELP)
    created_after = DateTimeBoundFilter(
        field_name="created_at", bound="after", help_text="created_at on or after (a date or a date-time)."
    )
    created_before = DateTimeBoundFilter(
        field_name="created_at", bound="before", help_text="created_at on or before (a date covers its whole day)."
    )
    follow_up_due = StrictBooleanFilter(
        method="filter_follow_up_due",
        help_text="`true`: active patients whose follow-up (the reminder of their latest call) is today or earlier.",
    )

    class Meta:
        model = Patient
        fields = ("status", "medical_condition", "navigator", "email", "is_active")

    def filter_follow_up_due(self, queryset, name, value: bool):
        due = patients_follow_up_due(today=timezone.localdate()).values("pk")
        return queryset.filter(pk__in=due) if value else queryset.exclude(pk__in=due)


class CallHistoryFilterSet(SoftDeleteFilterSet):
    """Voided calls are the inactive rows: ``?is_active=false`` lists them, ``?include_inactive=true`` adds
    them to the others."""

    patient = django_filters.ModelChoiceFilter(queryset=Patient.all_objects.all(), help_text="Patient id.")
    navigator = django_filters.ModelChoiceFilter(
        queryset=Person.all_objects.all(), help_text="Person id of the navigator who made or took the call."
    )
    direction = django_filters.ChoiceFilter(choices=CallDirection.choices)
    outcome = django_filters.ChoiceFilter(choices=CallOutcome.choices)
    call_date_after = DateTimeBoundFilter(
        field_name="call_date", bound="after", help_text="call_date on or after (a date or a date-time)."
    )
    call_date_before = DateTimeBoundFilter(
        field_name="call_date", bound="before", help_text="call_date on or before (a date covers its whole day)."
    )
    follow_up_due = StrictBooleanFilter(
        method="filter_follow_up_due",
        help_text="`true`: calls whose reminder_date is today or earlier; `false`: no reminder or a later one.",
    )
    no_show = StrictBooleanFilter()

    class Meta:
        model = CallHistory
        fields = ("patient", "navigator", "direction", "outcome", "no_show", "is_active")

    def filter_follow_up_due(self, queryset, name, value: bool):
        due = Q(reminder_date__lte=timezone.localdate())
        return queryset.filter(due) if value else queryset.exclude(due)


class PatientLeadFilterSet(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=LeadStatus.choices)
    source = django_filters.ChoiceFilter(choices=LeadSource.choices)
    medical_condition = django_filters.ModelChoiceFilter(
        queryset=MedicalCondition.all_objects.all(), help_text="Medical condition id."
    )
    email = django_filters.CharFilter(field_name="person__email", method=_email, max_length=254, help_text=EMAIL_HELP)
    created_after = DateTimeBoundFilter(field_name="created_at", bound="after")
    created_before = DateTimeBoundFilter(field_name="created_at", bound="before")

    class Meta:
        model = PatientLead
        fields = ("status", "source", "medical_condition", "email")


class PhysicianFilterSet(SoftDeleteFilterSet):
    hospital = django_filters.ModelChoiceFilter(queryset=Hospital.all_objects.all(), help_text="Hospital id.")
    specialization = django_filters.ModelChoiceFilter(
        queryset=Specialization.all_objects.all(), help_text="Specialization id."
    )
    email = django_filters.CharFilter(field_name="person__email", method=_email, max_length=254, help_text=EMAIL_HELP)

    class Meta:
        model = Physician
        fields = ("hospital", "specialization", "email", "is_active")
