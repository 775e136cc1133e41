"""The PHI access log through the API: one entry per record of patient data shown, none otherwise; the
table itself refuses every change but an INSERT."""

from __future__ import annotations

import re
import uuid

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from common import phi_access
from common.models import PHIAccess
from tests.cm_program.api_support import World, build_world
from tests.factories.journeys import ClinicalTrialJourneyFactory, EAPJourneyFactory
from tests.factories.patients import (
    CallHistoryFactory,
    HospitalFactory,
    PatientFactory,
    PatientLeadFactory,
    PhysicianFactory,
)

pytestmark = pytest.mark.django_db

API = "/api/v1"


@pytest.fixture
def world() -> World:
    return build_world()


@pytest.fixture
def navigation():
    patient = PatientFactory()
    return {
        "patient": patient,
        "person": patient.person,
        "lead": PatientLeadFactory(),
        "call": CallHistoryFactory(patient=patient),
        "ct": ClinicalTrialJourneyFactory(patient=patient),
        "eap": EAPJourneyFactory(patient=patient),
    }


def _navigation_cases(n):
    patient, person = n["patient"], n["person"]
    return {
        "person": (f"persons/{person.pk}/", "people.person", person.pk, person.pk, "retrieve"),
        "person history": (f"persons/{person.pk}/history/", "people.person", person.pk, person.pk, "history"),
        "person roles": (f"persons/{person.pk}/roles/", "people.person", person.pk, person.pk, "roles"),
        "patient": (f"patients/{patient.pk}/", "patients.patient", patient.pk, person.pk, "retrieve"),
        "patient calls": (f"patients/{patient.pk}/calls/", "patients.patient", patient.pk, person.pk, "calls"),
        "lead": (f"leads/{n['lead'].pk}/", "patients.patientlead", n["lead"].pk, n["lead"].person_id, "retrieve"),
        "call": (f"call-history/{n['call'].pk}/", "patients.callhistory", n["call"].pk, person.pk, "retrieve"),
        "ct journey": (
            f"ct-journeys/{n['ct'].pk}/",
            "journeys.clinicaltrialjourney",
            n["ct"].pk,
            person.pk,
            "retrieve",
        ),
        "ct timeline": (
            f"ct-journeys/{n['ct'].pk}/timeline/",
            "journeys.clinicaltrialjourney",
            n["ct"].pk,
            person.pk,
            "timeline",
        ),
        "eap journey": (f"eap-journeys/{n['eap'].pk}/", "journeys.eapjourney", n["eap"].pk, person.pk, "retrieve"),
    }


NAVIGATION_CASES = (
    "person",
    "person history",
    "person roles",
    "patient",
    "patient calls",
    "lead",
    "call",
    "ct journey",
    "ct timeline",
    "eap journey",
)


@pytest.mark.parametrize("case", NAVIGATION_CASES)
@pytest.mark.parametrize("role", ["navigator", "superuser"])
def test_a_navigation_record_read_through_the_api_writes_one_entry(world, navigation, case, role):
    url, resource_type, resource_id, person_id, scope = _navigation_cases(navigation)[case]
    user = world.users[role]
    response = world.client(role).get(f"{API}/{url}", REMOTE_ADDR="203.0.113.7", HTTP_X_REQUEST_ID="req-phi-1")
    assert response.status_code == 200, response.content
    entry = PHIAccess.objects.get()
    assert (entry.user, entry.channel, entry.access_type) == (user, "api", "detail")
    assert (entry.resource_type, entry.resource_id, entry.scope) == (resource_type, str(resource_id), scope)
    assert entry.person_id == person_id
    assert (entry.client_ip, entry.request_id, entry.path) == ("203.0.113.7", "req-phi-1", f"{API}/{url}")
    assert entry.record_count is None


def _cm_cases(w: World):
    own = w.own
    canonical = own.canonical_patient
    entry = w.own_entry()
    iq = w.own_iq
    return {
        "canonical patient": (f"canonical-patients/{canonical.pk}/", "cm_program.canonicalpatient", canonical),
        "complete view": (f"canonical-patients/{canonical.pk}/complete/", "cm_program.canonicalpatient", canonical),
        "cm profile": (f"patients/{own.cm_patient.pk}/", "cm_program.cmpatient", own.cm_patient),
        "enrollment": (f"enrollments/{own.enrollment.pk}/", "cm_program.cmenrollment", own.enrollment),
        "ledger": (f"enrollments/{own.enrollment.pk}/ledger/", "cm_program.cmenrollment", own.enrollment),
        "ledger entry": (
            f"enrollments/{own.enrollment.pk}/ledger/{entry.pk}/",
            "cm_program.cmpointstransaction",
            entry,
        ),
        "intakeq patient": (
            f"intakeq-patients/{iq.intakeq_link.intakeq_patient_id}/",
            "cm_program.intakeqpatient",
            iq.intakeq_link.intakeq_patient,
        ),
        "intakeq link": (f"intakeq-links/{iq.intakeq_link.pk}/", "cm_program.intakeqlink", iq.intakeq_link),
    }


CM_CASES = (
    "canonical patient",
    "complete view",
    "cm profile",
    "enrollment",
    "ledger",
    "ledger entry",
    "intakeq patient",
    "intakeq link",
)


@pytest.mark.parametrize("case", CM_CASES)
@pytest.mark.parametrize("role", ["cpss", "cm_supervisor"])
def test_a_cm_record_read_through_the_api_writes_one_entry(world, case, role):
    url, resource_type, record = _cm_cases(world)[case]
    response = world.client(role).get(f"{API}/cm/{url}")
    assert response.status_code == 200, response.content
    entry = PHIAccess.objects.get()
    canonical = record if resource_type == "cm_program.canonicalpatient" else None
    canonical_id = canonical.pk if canonical else getattr(record, "canonical_patient_id", None)
    if resource_type == "cm_program.intakeqpatient":
        canonical_id = record.canonical_link.canonical_patient_id
    expected_type = "complete_view" if case == "complete view" else "detail"
    assert (entry.user, entry.channel, entry.access_type) == (world.users[role], "api", expected_type)
    assert (entry.resource_type, entry.resource_id) == (resource_type, str(record.pk))
    assert entry.canonical_patient_id == canonical_id
    assert entry.client_ip == "127.0.0.1" and entry.request_id == response["X-Request-ID"]
    # The Person comes from what the view loaded, or from a subquery of the INSERT (the ledger entry).
    human = world.own_iq if resource_type.startswith("cm_program.intakeq") else world.own
    expected_person = None if resource_type == "cm_program.intakeqpatient" else human.canonical_patient.person_id
    assert entry.person_id == expected_person
    assert human.canonical_patient.person_id is not None


def test_lists_writes_and_records_that_are_not_patient_data_write_nothing(world, navigation):
    physician = PhysicianFactory()
    root = world.client("superuser")
    reads = [
        f"{API}/physicians/{physician.pk}/",  # physicians are not patients (workforce data)
        f"{API}/hospitals/{HospitalFactory().pk}/",
        f"{API}/cm/providers/{world.cpss.pk}/",
        f"{API}/cm/programs/{world.program.pk}/",
        f"{API}/patients/",
        f"{API}/call-history/",
        f"{API}/cm/enrollments/",
        f"{API}/cm/canonical-patients/",
    ]
    for url in reads:
        assert root.get(url).status_code == 200, url
    patient = navigation["patient"]
    assert root.patch(f"{API}/patients/{patient.pk}/", {"status": "inactive"}, format="json").status_code == 200
    assert root.head(f"{API}/patients/{patient.pk}/").status_code == 200  # no body: nothing shown
    assert PHIAccess.objects.count() == 0


def test_404_and_403_write_nothing(world, navigation):
    other = world.other.enrollment
    assert world.client("cpss").get(f"{API}/cm/enrollments/{other.pk}/").status_code == 404
    assert world.client("cpss").get(f"{API}/cm/enrollments/{other.pk}/ledger/").status_code == 404
    complete = f"{API}/cm/canonical-patients/{other.canonical_patient_id}/complete/"
    assert world.client("cpss").get(complete).status_code == 404
    assert world.client("navigator").get(f"{API}/cm/enrollments/{other.pk}/").status_code == 403
    assert world.client("cpss").get(f"{API}/patients/{navigation['patient'].pk}/").status_code == 403
    assert world.client("superuser").get(f"{API}/patients/{uuid.uuid4()}/").status_code == 404
    assert world.client(None).get(f"{API}/patients/{navigation['patient'].pk}/").status_code == 401
    assert PHIAccess.objects.count() == 0


_PGHISTORY_CONTEXT = re.compile(
    r"^SELECT set_config\('pghistory\.context_id', '[^']*', true\), "
    r"set_config\('pghistory\.context_metadata', '(?:[^']|'')*', true\); "
)


def _queries(client, url) -> list[str]:
    """The request's statements, without what differs from one request to the next (pghistory's context
    prefix, savepoint names)."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return [re.sub(r'"s\d+_x\d+"', '"sp"', _PGHISTORY_CONTEXT.sub("", q["sql"])) for q in captured.captured_queries]


@pytest.mark.parametrize("kind", ["navigation", "cm"])
def test_a_detail_read_costs_exactly_one_insert_and_the_set_after_its_reads(world, navigation, kind, monkeypatch):
    if kind == "navigation":
        client, url = world.client("navigator"), f"{API}/patients/{navigation['patient'].pk}/"
    else:
        client, url = world.client("cpss"), f"{API}/cm/enrollments/{world.own.enrollment.pk}/"
    logged = _queries(client, url)
    monkeypatch.setattr(phi_access, "phi_access_record", lambda **kwargs: None)
    unlogged = _queries(client, url)

    # One statement: the switch to an asynchronous commit sent with the INSERT (one round trip).
    assert len(logged) == len(unlogged) + 1
    at = next(i for i, query in enumerate(logged) if "phi_access_log" in query)
    switch = "SET LOCAL synchronous_commit = off; "
    assert logged[at].startswith(switch)
    assert _PGHISTORY_CONTEXT.sub("", logged[at].removeprefix(switch)).startswith('INSERT INTO "phi_access_log"')
    assert logged[:at] + logged[at + 1 :] == unlogged  # the view's own statements are unchanged
    assert all(not query.startswith("SELECT") for query in logged[at:])  # the log comes after every read
    assert PHIAccess.objects.count() == 1
    with connection.cursor() as cursor:  # the test's transaction holds the request's: the switch took effect
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "off"


# --- The table is append-only -----------------------------------------------------------------------------


@pytest.fixture
def entry(world) -> PHIAccess:
    assert world.client("cpss").get(f"{API}/cm/enrollments/{world.own.enrollment.pk}/").status_code == 200
    return PHIAccess.objects.get()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE phi_access_log SET user_id = user_id",
        "UPDATE phi_access_log SET accessed_at = now() - interval '1 year'",
        "DELETE FROM phi_access_log",
        "TRUNCATE phi_access_log",
        "TRUNCATE phi_access_log CASCADE",
    ],
)
def test_the_database_refuses_any_change_but_an_insert(entry, statement):
    refused = pytest.raises(IntegrityError, match="phi_access_log is append-only")
    with refused, transaction.atomic(), connection.cursor() as cursor:
        # The entry's deferred foreign-key check would otherwise keep TRUNCATE from even starting.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(statement)
    stored = PHIAccess.objects.get()
    assert (stored.pk, stored.accessed_at, stored.user_id) == (entry.pk, entry.accessed_at, entry.user_id)


def test_the_orm_cannot_change_or_delete_an_entry_either(entry):
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        PHIAccess.objects.filter(pk=entry.pk).update(scope="rewritten")
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        entry.delete()
    assert PHIAccess.objects.get().scope == entry.scope


@pytest.mark.parametrize(
    ("proxies", "expected"),
    [
        (0, "10.0.0.5"),  # no trusted proxy: the connection's own address, the header is the client's word
        (1, "198.51.100.23"),  # one trusted proxy: the address it saw, the rightmost entry
        (2, "192.0.2.99"),  # two: the address the outer proxy saw
    ],
)
def test_the_logged_address_follows_the_trusted_proxies(world, navigation, settings, proxies, expected):
    settings.TRUSTED_PROXY_COUNT = proxies
    url = _navigation_cases(navigation)["patient"][0]
    response = world.client("navigator").get(
        f"{API}/{url}", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="192.0.2.99, 198.51.100.23"
    )
    assert response.status_code == 200, response.content
    assert PHIAccess.objects.get().client_ip == expected
