"""Every write operation of the OpenAPI schema, with a URL to a real record and a known-good body.

The operations come from the schema itself (``SchemaGenerator``), so an endpoint added later is walked by
the tests that use this module; ``RECORDS`` and ``GOOD_BODIES`` must then learn about it, which
``test_every_write_operation_is_walked`` enforces.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from drf_spectacular.generators import SchemaGenerator
from pghistory.models import Events

from cm_program.models import IntakeQMatchCandidate
from people.models import ContactType, PersonContactType
from tests.cm_program.api_support import World, lonely_canonical_patient
from tests.factories.cm_program import CanonicalPatientFactory, CMPatientFactory, CMProviderFactory
from tests.factories.journeys import ClinicalTrialJourneyFactory, EAPJourneyFactory
from tests.factories.patients import (
    CallHistoryFactory,
    HospitalFactory,
    MedicalConditionFactory,
    PatientFactory,
    PatientLeadFactory,
    PhysicianFactory,
    SpecializationFactory,
)
from tests.factories.people import NavigatorFactory, PersonFactory

WRITE_METHODS = ("post", "put", "patch", "delete")
UNKNOWN = "zz_not_a_field"


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    body_schema: dict[str, Any] | None  # resolved request-body schema (properties, required), if any
    query_parameters: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"{self.method.upper()} {self.path}"


@functools.cache
def schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref is None:
        return node
    return schema()["components"]["schemas"][ref.rsplit("/", 1)[-1]]


@functools.cache
def write_operations() -> tuple[Operation, ...]:
    found = []
    for path, methods in schema()["paths"].items():
        for method, operation in methods.items():
            if method not in WRITE_METHODS:
                continue
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            query = tuple(p["name"] for p in operation.get("parameters", []) if p["in"] == "query")
            found.append(Operation(method, path, _resolve(body) if body else None, query))
    return tuple(found)


def string_properties(operation: Operation) -> dict[str, dict[str, Any]]:
    """Request-body properties that are JSON strings (free text, ids, dates, choices) -> their schema."""
    if operation.body_schema is None:
        return {}
    found = {}
    for name, node in operation.body_schema.get("properties", {}).items():
        if node.get("readOnly"):
            continue
        alternatives = [_resolve(n) for n in node.get("anyOf", node.get("oneOf", [node]))]
        alternatives = [a for a in alternatives if a.get("enum") != [None]]  # the NullEnum of nullable choices
        if alternatives and all(a.get("type", "string" if "enum" in a else None) == "string" for a in alternatives):
            found[name] = alternatives[0]
    return found


def free_text_properties(operation: Operation) -> list[str]:
    """String properties that take any text (no format, no choices)."""
    return [
        name
        for name, node in string_properties(operation).items()
        if "format" not in node and "enum" not in node and "pattern" not in node
    ]


# --- Records to point at, and bodies that the operation accepts ----------------------------------------------


class Context(dict):
    """The records of one test: ``ctx["patient"]`` etc., plus the CM world."""

    world: World


def build_context(world: World) -> Context:
    ctx = Context()
    ctx.world = world
    caregiver = ContactType.objects.get(code=ContactType.CAREGIVER)
    person = PersonFactory()
    PersonContactType.objects.create(person=person, contact_type=caregiver)
    patient = PatientFactory()
    ctx.update(
        patient=patient,
        person=person,
        navigator=NavigatorFactory(),
        call=CallHistoryFactory(patient=patient),
        condition=MedicalConditionFactory(),
        hospital=HospitalFactory(),
        specialization=SpecializationFactory(),
        lead=PatientLeadFactory(),
        physician=PhysicianFactory(),
        ct=ClinicalTrialJourneyFactory(patient=patient),
        eap=EAPJourneyFactory(patient=patient),
        idle_provider=CMProviderFactory(),  # no active enrollments: deactivating it is allowed
        match_candidate=IntakeQMatchCandidate.objects.create(
            canonical_patient=CanonicalPatientFactory(),
            intakeq_patient=world.free_iq,
            score="0.79",
            band="probable",
            components={"name": 0.8, "same_name": False, "date_of_birth": "exact", "email": "missing"},
        ),
    )
    # The other side of a "not the same person" decision (of ctx["person"], and of the CM world's patient).
    ctx["other_person"] = PersonFactory()
    ctx["other_canonical"] = CanonicalPatientFactory()
    # Merges to undo (their logs are the records of /merges/{id}/undo/).
    from cm_program.services import canonical_patient_merge
    from people.services import person_merge

    ctx["person_merge"] = person_merge(survivor=PersonFactory(), duplicate=PersonFactory(), reason="api walk")
    from people.services import person_merge_request_file

    ctx["merge_request"] = person_merge_request_file(
        survivor=PersonFactory(), duplicate=PersonFactory(), reason="api walk"
    )
    ctx["cm_merge"] = canonical_patient_merge(
        survivor=CanonicalPatientFactory(), duplicate=CanonicalPatientFactory(), reason="api walk"
    )
    return ctx


# list path -> the record its {id} operations act on
RECORDS: dict[str, Callable[[Context], Any]] = {
    "/api/v1/call-history/": lambda c: c["call"],
    "/api/v1/patients/": lambda c: c["patient"],
    "/api/v1/persons/": lambda c: c["person"],
    "/api/v1/medical-conditions/": lambda c: c["condition"],
    "/api/v1/hospitals/": lambda c: c["hospital"],
    "/api/v1/specializations/": lambda c: c["specialization"],
    "/api/v1/leads/": lambda c: c["lead"],
    "/api/v1/physicians/": lambda c: c["physician"],
    "/api/v1/ct-journeys/": lambda c: c["ct"],
    "/api/v1/eap-journeys/": lambda c: c["eap"],
    "/api/v1/cm/canonical-patients/": lambda c: c.world.own.canonical_patient,
    "/api/v1/cm/patients/": lambda c: c.world.own.cm_patient,
    "/api/v1/cm/providers/": lambda c: c["idle_provider"],
    "/api/v1/cm/programs/": lambda c: c.world.program,
    "/api/v1/cm/enrollments/": lambda c: c.world.own.enrollment,
    "/api/v1/cm/intakeq-patients/": lambda c: c.world.free_iq,
    "/api/v1/cm/intakeq-links/": lambda c: c.world.own_iq.intakeq_link,
    "/api/v1/cm/intakeq-match-candidates/": lambda c: c["match_candidate"],
    "/api/v1/merges/": lambda c: c["person_merge"],
    "/api/v1/merge-requests/": lambda c: c["merge_request"],
    "/api/v1/cm/merges/": lambda c: c["cm_merge"],
}


def url(operation: Operation, ctx: Context) -> str:
    path = operation.path
    if "{enrollment_id}" in path:
        path = path.replace("{enrollment_id}", str(ctx.world.own.enrollment.pk))
        return path.replace("{id}", str(ctx.world.own_entry().pk))
    if "{id}" in path:
        prefix = path.split("{id}")[0]
        return path.replace("{id}", str(RECORDS[prefix](ctx).pk))
    return path


# "METHOD path" -> a body the operation accepts (2xx). Updates, deletes and restores accept an empty body.
GOOD_BODIES: dict[str, Callable[[Context], dict[str, Any]]] = {
    "POST /api/v1/call-history/": lambda c: {
        "patient": str(c["patient"].pk),
        "navigator": str(c["navigator"].pk),
        "direction": "outbound",
        "outcome": "reached",
    },
    "POST /api/v1/patients/": lambda c: {"first_name": "Ann", "last_name": "Walker"},
    "POST /api/v1/persons/": lambda c: {"first_name": "Ann", "last_name": "Walker"},
    "POST /api/v1/persons/{id}/roles/": lambda c: {"role": "pharmacist"},
    "POST /api/v1/persons/{id}/roles/end/": lambda c: {"role": "caregiver"},
    "POST /api/v1/medical-conditions/": lambda c: {"name": "Rare condition"},
    "POST /api/v1/hospitals/": lambda c: {"name": "General Hospital"},
    "POST /api/v1/specializations/": lambda c: {"name": "Neuro-oncology"},
    "POST /api/v1/leads/": lambda c: {"first_name": "Lou", "last_name": "Walker", "email": "lou.walker@example.org"},
    "POST /api/v1/physicians/": lambda c: {"first_name": "Dana", "last_name": "Walker"},
    "POST /api/v1/ct-journeys/": lambda c: {"patient": str(c["patient"].pk), "trial_id": "NCT01234567"},
    "POST /api/v1/ct-journeys/{id}/transition/": lambda c: {"status": "pre_screening"},
    "POST /api/v1/eap-journeys/": lambda c: {"patient": str(c["patient"].pk), "product": "Compound Y"},
    "POST /api/v1/eap-journeys/{id}/transition/": lambda c: {"status": "submitted"},
    "POST /api/v1/cm/canonical-patients/": lambda c: {
        "first_name": "New",
        "last_name": "Person",
        "date_of_birth": "1990-01-01",
    },
    "POST /api/v1/cm/patients/": lambda c: {"canonical_patient": str(lonely_canonical_patient().pk)},
    "POST /api/v1/cm/providers/": lambda c: {"first_name": "Sam", "last_name": "Lee"},
    "POST /api/v1/cm/programs/": lambda c: {"name": "Another"},
    "POST /api/v1/cm/enrollments/": lambda c: {"cm_patient": str(CMPatientFactory().pk)},
    "POST /api/v1/cm/enrollments/{id}/status/": lambda c: {"status": "paused"},
    "POST /api/v1/cm/intakeq-match-candidates/{id}/accept/": lambda c: {},
    "POST /api/v1/cm/intakeq-match-candidates/{id}/reject/": lambda c: {},
    "POST /api/v1/cm/enrollments/{id}/events/": lambda c: {"event_type": "weekly_checkin"},
    "POST /api/v1/cm/enrollments/{enrollment_id}/ledger/{id}/reverse/": lambda c: {"reason": "Entered twice."},
    "POST /api/v1/cm/intakeq-patients/": lambda c: {"first_name": "Tom", "last_name": "Whitaker"},
    "POST /api/v1/cm/intakeq-links/": lambda c: {
        "canonical_patient": str(lonely_canonical_patient().pk),
        "intakeq_patient": str(c.world.free_iq.pk),
    },
    "POST /api/v1/cm/enroll/": lambda c: {
        "first_name": "Amanda",
        "last_name": "Lee",
        "date_of_birth": "1995-12-01",
        "cpss_provider": str(c.world.cpss.pk),
    },
    "POST /api/v1/cm/enroll-from-intakeq/": lambda c: {"intakeq_patient": str(c.world.free_iq.pk)},
    "POST /api/v1/persons/merge/": lambda c: {
        "survivor": str(PersonFactory().pk),
        "duplicate": str(PersonFactory().pk),
        "reason": "Same human",
        "fields": {"phone": "duplicate"},
    },
    "POST /api/v1/cm/canonical-patients/merge/": lambda c: {
        "survivor": str(CanonicalPatientFactory().pk),
        "duplicate": str(CanonicalPatientFactory().pk),
        "reason": "Same human",
    },
    "POST /api/v1/merges/{id}/undo/": lambda c: {"reason": "Two humans"},
    "POST /api/v1/persons/{id}/not-duplicate/": lambda c: {"other": str(c["other_person"].pk)},
    "POST /api/v1/cm/canonical-patients/{id}/not-duplicate/": lambda c: {"other": str(c["other_canonical"].pk)},
    "POST /api/v1/merge-requests/": lambda c: {
        "survivor": str(PersonFactory().pk),
        "duplicate": str(PersonFactory().pk),
        "reason": "Same human",
    },
    "POST /api/v1/merge-requests/{id}/approve/": lambda c: {},
    "POST /api/v1/merge-requests/{id}/reject/": lambda c: {"note": "Two humans"},
    "POST /api/v1/cm/merges/{id}/undo/": lambda c: {},
}

NO_BODY_POSTS = ("/restore/", "/convert/", "/auth/token/rotate/")


def good_body(operation: Operation, ctx: Context) -> dict[str, Any]:
    if operation.method != "post" or operation.path.endswith(NO_BODY_POSTS):
        return {}
    return GOOD_BODIES[operation.id](ctx)


def written() -> dict[str, int]:
    """Row counts of every table of the four apps, plus the audit trail's events (which also move when a
    row is only updated)."""
    counts = {
        model._meta.label: model._base_manager.count()
        for label in ("people", "patients", "journeys", "cm_program")
        for model in apps.get_app_config(label).get_models()
    }
    counts["events"] = Events.objects.count()
    return counts
