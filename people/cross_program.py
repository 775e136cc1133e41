"""The cross-program view of one Person (issue 14, point 1): what patient navigation and contingency
management each know about the human, side by side, for superusers (the one role that may see both
programs; the CM document's "admin can see cross-system patient relationships").

Six queries whatever the number of roles, leads, calls, journeys or enrollments: the person with every
one-to-one record joined and the calls' count and latest date as subqueries, then one query each for
the current roles, the leads, the open clinical-trial and EAP journeys and the CM enrollments. The
other apps' models are looked up by name, so that the people app imports neither of them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.apps import apps
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Count, IntegerField, Max, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce

from people.models import Person, PersonContactType

# What the PHI access log's entry of a Person page says when the page showed this view.
CROSS_PROGRAM_SCOPE = "cross_program"


@dataclass(frozen=True)
class NavigationSection:
    roles: list[PersonContactType]  # role periods in force now (lead, patient, physician, navigator...)
    patient: Any | None
    physician: Any | None
    leads: list[Any]
    condition: Any | None  # the patient's condition, else the latest lead's
    navigator: Person | None
    calls_count: int  # voided calls left out
    last_call: dt.datetime | None
    open_journeys: list[Any]  # clinical-trial and EAP journeys not in a final status

    @property
    def is_empty(self) -> bool:
        return not (self.roles or self.patient or self.physician or self.leads)


@dataclass(frozen=True)
class CMSection:
    canonical: Any | None
    profile: Any | None
    enrollments: list[Any]
    cpss: list[Any]  # the enrollments' CPSS, each once, in enrollment order
    points_total: int  # the enrollments' balances (kept equal to their ledgers by the points services)
    intakeq_link: Any | None
    confidence: Decimal | None

    @property
    def is_empty(self) -> bool:
        return self.canonical is None


@dataclass(frozen=True)
class CrossProgramView:
    person: Person
    navigation: NavigationSection
    cm: CMSection


def _reverse_one(obj, name: str):
    try:
        return getattr(obj, name)
    except ObjectDoesNotExist:
        return None


def cross_program_view(person: Person | Any) -> CrossProgramView:
    """Both programs' view of ``person`` (a Person or its id), soft-deleted records included (a superuser
    restores them). Six queries, whatever the person holds."""
    from journeys.transitions import CT_FINAL, EAP_FINAL

    pk = getattr(person, "pk", person)
    call_history = apps.get_model("patients", "CallHistory")
    ct_journey = apps.get_model("journeys", "ClinicalTrialJourney")
    eap_journey = apps.get_model("journeys", "EAPJourney")
    lead_model = apps.get_model("patients", "PatientLead")
    enrollment_model = apps.get_model("cm_program", "CMEnrollment")

    calls = call_history.objects.filter(patient__person_id=OuterRef("pk"), is_active=True).order_by()
    calls_count = calls.values("patient__person_id").annotate(n=Count("pk")).values("n")
    last_call = calls.values("patient__person_id").annotate(at=Max("call_date")).values("at")
    found = (
        Person.all_objects.select_related(
            "patient__medical_condition",
            "patient__navigator",
            "physician",
            "canonical_patient__cm_profile",
            "canonical_patient__intakeq_link",
        )
        .annotate(
            _calls_count=Coalesce(Subquery(calls_count, output_field=IntegerField()), Value(0)),
            _last_call=Subquery(last_call),
        )
        .get(pk=pk)
    )
    roles = list(
        PersonContactType.objects.filter(person_id=pk)
        .current()
        .select_related("contact_type")
        .order_by("contact_type__name", "valid_from")
    )
    leads = list(
        lead_model.objects.filter(person_id=pk).select_related("medical_condition").order_by("-created_at", "pk")
    )
    open_ct = ct_journey.objects.filter(patient__person_id=pk).exclude(status__in=CT_FINAL).order_by("created_at")
    open_eap = eap_journey.objects.filter(patient__person_id=pk).exclude(status__in=EAP_FINAL).order_by("created_at")
    enrollments = list(
        enrollment_model.objects.filter(canonical_patient__person_id=pk)
        .select_related("cpss_provider", "cm_program")
        .order_by("enrollment_date", "pk")
    )

    patient = _reverse_one(found, "patient")
    condition = patient.medical_condition if patient is not None else None
    if condition is None:
        condition = next((lead.medical_condition for lead in leads if lead.medical_condition_id), None)
    navigation = NavigationSection(
        roles=roles,
        patient=patient,
        physician=_reverse_one(found, "physician"),
        leads=leads,
        condition=condition,
        navigator=patient.navigator if patient is not None else None,
        calls_count=found._calls_count,
        last_call=found._last_call,
        open_journeys=[*open_ct, *open_eap],
    )

    canonical = _reverse_one(found, "canonical_patient")
    link = _reverse_one(canonical, "intakeq_link") if canonical is not None else None
    cpss = list({e.cpss_provider_id: e.cpss_provider for e in enrollments if e.cpss_provider_id}.values())
    cm = CMSection(
        canonical=canonical,
        profile=_reverse_one(canonical, "cm_profile") if canonical is not None else None,
        enrollments=enrollments,
        cpss=cpss,
        points_total=sum(e.total_points for e in enrollments),
        intakeq_link=link,
        confidence=link.confidence_score if link is not None else None,
    )
    return CrossProgramView(person=found, navigation=navigation, cm=cm)
