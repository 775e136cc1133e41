"""List filters of the journeys API."""

from __future__ import annotations

import django_filters

from journeys.models import ClinicalTrialJourney, EAPJourney, Eligibility
from journeys.transitions import CTStatus, EAPStatus
from patients.models import Patient, Physician
from people.api.base import SoftDeleteFilterSet


class ClinicalTrialJourneyFilterSet(SoftDeleteFilterSet):
    patient = django_filters.ModelChoiceFilter(queryset=Patient.all_objects.all(), help_text="Patient id.")
    status = django_filters.ChoiceFilter(choices=CTStatus.choices)
    trial_id = django_filters.CharFilter(lookup_expr="iexact", max_length=50, help_text="Exact, ignoring case.")
    eligible = django_filters.ChoiceFilter(choices=Eligibility.choices)
    referring_physician = django_filters.ModelChoiceFilter(
        queryset=Physician.all_objects.all(), help_text="Physician id."
    )
    referral_date_after = django_filters.DateFilter(field_name="referral_date", lookup_expr="gte")
    referral_date_before = django_filters.DateFilter(field_name="referral_date", lookup_expr="lte")

    class Meta:
        model = ClinicalTrialJourney
        fields = ("patient", "status", "trial_id", "eligible", "referring_physician", "is_active")


class EAPJourneyFilterSet(SoftDeleteFilterSet):
    patient = django_filters.ModelChoiceFilter(queryset=Patient.all_objects.all(), help_text="Patient id.")
    status = django_filters.ChoiceFilter(choices=EAPStatus.choices)
    eap_number = django_filters.CharFilter(lookup_expr="iexact", max_length=50, help_text="Exact, ignoring case.")
    physician = django_filters.ModelChoiceFilter(queryset=Physician.all_objects.all(), help_text="Physician id.")

    class Meta:
        model = EAPJourney
        fields = ("patient", "status", "eap_number", "physician", "is_active")
