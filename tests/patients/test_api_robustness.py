"""Nothing a client sends makes the patient-navigation API answer 500, and lists cost the same number of
queries for 1 row as for 50. Covers every endpoint of the people, patients and journeys apps."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from common.audit import audit_context
from journeys.transitions import EAP_INITIAL
from people.models import ContactType, PersonContactType
from tests.factories.journeys import ClinicalTrialJourneyFactory, EAPJourneyFactory, JourneyStatusChangeFactory
from tests.factories.patients import (
    CallHistoryFactory,
    HospitalFactory,
    MedicalConditionFactory,
    PatientFactory,
    PatientLeadFactory,
    PhysicianFactory,
    SpecializationFactory,
)
from tests.factories.people import ContactTypeFactory, PersonFactory
from tests.navigation_api import API, assert_error, client_for, written_rows

pytestmark = pytest.mark.django_db

HUGE = "x" * 100_000


@pytest.fixture
def root(superuser):
    return client_for(superuser)


@pytest.fixture
def rows() -> dict[str, str]:
    patient = PatientFactory()
    return {
        "person": str(PersonFactory().pk),
        "patient": str(patient.pk),
        "call": str(CallHistoryFactory(patient=patient).pk),
        "condition": str(MedicalConditionFactory().pk),
        "lead": str(PatientLeadFactory().pk),
        "physician": str(PhysicianFactory().pk),
        "hospital": str(HospitalFactory().pk),
        "specialization": str(SpecializationFactory().pk),
        "ct": str(ClinicalTrialJourneyFactory(patient=patient).pk),
        "eap": str(EAPJourneyFactory(patient=patient).pk),
    }


# (method, url, a field that takes free text or an id, so a 100 000-character value must be refused)
WRITES = [
    ("post", "/persons/", "first_name"),
    ("patch", "/persons/{person}/", "last_name"),
    ("post", "/persons/{person}/roles/", "role"),
    ("post", "/persons/{person}/roles/end/", "role"),
    ("post", "/patients/", "first_name"),
    ("put", "/patients/{patient}/", "email"),
    ("patch", "/patients/{patient}/", "phone"),
    ("post", "/call-history/", "notes"),
    ("patch", "/call-history/{call}/", "notes"),
    ("post", "/medical-conditions/", "name"),
    ("patch", "/medical-conditions/{condition}/", "description"),
    ("post", "/leads/", "landing_page_url"),
    ("patch", "/leads/{lead}/", "notes"),
    ("post", "/leads/{lead}/convert/", "navigator"),
    ("post", "/physicians/", "medical_license_number"),
    ("patch", "/physicians/{physician}/", "job_title"),
    ("post", "/hospitals/", "address"),
    ("patch", "/hospitals/{hospital}/", "city"),
    ("post", "/specializations/", "name"),
    ("patch", "/specializations/{specialization}/", "name"),
    ("post", "/ct-journeys/", "trial_name"),
    ("patch", "/ct-journeys/{ct}/", "outcome"),
    ("post", "/ct-journeys/{ct}/transition/", "note"),
    ("post", "/eap-journeys/", "product"),
    ("patch", "/eap-journeys/{eap}/", "eap_number"),
    ("post", "/eap-journeys/{eap}/transition/", "note"),
    ("delete", "/patients/{patient}/", "reason"),
    ("delete", "/call-history/{call}/", "reason"),
]


@pytest.mark.parametrize("method, url, field", WRITES, ids=[f"{m} {u}" for m, u, _ in WRITES])
def test_bad_bodies_are_4xx_and_change_nothing(root, rows, method, url, field):
    url = API + url.format(**rows)
    send = getattr(root, method)
    before = written_rows()
    malformed = send(url, data=b'{"first_name": "Ann",', content_type="application/json")
    assert assert_error(malformed, 400, "parse_error")["message"].startswith("JSON parse error")
    assert_error(send(url, data=b"first_name=Ann", content_type="text/plain"), 415, "unsupported_media_type")
    assert_error(send(url, data=b"[1, 2]", content_type="application/json"), 400, "invalid")
    assert_error(send(url, {field: HUGE}, format="json"), 400, "invalid", fields=(field,))
    assert_error(send(url, {field: {"nested": ["object"]}}, format="json"), 400, "invalid", fields=(field,))
    assert written_rows() == before


DETAILS = [
    "/persons/{id}/",
    "/persons/{id}/roles/",
    "/persons/{id}/history/",
    "/patients/{id}/",
    "/patients/{id}/calls/",
    "/call-history/{id}/",
    "/medical-conditions/{id}/",
    "/leads/{id}/",
    "/physicians/{id}/",
    "/hospitals/{id}/",
    "/specializations/{id}/",
    "/ct-journeys/{id}/",
    "/ct-journeys/{id}/timeline/",
    "/eap-journeys/{id}/",
    "/eap-journeys/{id}/timeline/",
]


@pytest.mark.parametrize("url", DETAILS)
@pytest.mark.parametrize("bad_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000", "1' OR '1'='1", "%00"])
def test_bad_or_unknown_ids_in_the_path_are_404(root, url, bad_id):
    assert_error(root.get(API + url.format(id=bad_id)), 404, "not_found")
    assert_error(root.get(API + url.format(id=bad_id).rstrip("/")), 404, "not_found")


LIST_FILTERS = [
    ("/persons/", {"role": "x", "created_after": "x", "is_active": "x"}),
    ("/patients/", {"navigator": "x", "created_before": "31/12/2025", "status": "x", "follow_up_due": "x"}),
    ("/call-history/", {"patient": "x", "navigator": "x", "outcome": "x", "direction": "x", "call_date_after": "x"}),
    ("/medical-conditions/", {"is_active": "x", "name": HUGE}),
    ("/leads/", {"status": "x", "source": "x", "medical_condition": "x", "created_after": "x"}),
    ("/physicians/", {"hospital": "x", "specialization": "00000000-0000-0000-0000-000000000000"}),
    ("/hospitals/", {"include_inactive": "x"}),
    ("/specializations/", {"is_active": "x"}),
    ("/ct-journeys/", {"patient": "x", "status": "x", "eligible": "x", "referral_date_after": "x"}),
    ("/eap-journeys/", {"physician": "x", "status": "x"}),
]


@pytest.mark.parametrize("url, params", LIST_FILTERS, ids=[u for u, _ in LIST_FILTERS])
def test_invalid_filter_values_are_400_naming_each_parameter(root, url, params):
    assert_error(root.get(API + url, params), 400, "invalid", fields=tuple(params))
    for nul in ({"search": "\x00"}, {"ordering": "\x00"}, {"page": "\x00"}, {"page_size": "-1"}):
        assert root.get(API + url, nul).status_code in (200, 400, 404)


def _role_periods(person, n: int) -> None:
    """Past caregiver periods, one a day, up to ``n`` more than the person has."""
    start = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0) - dt.timedelta(days=400)
    caregiver = ContactType.objects.get(code=ContactType.CAREGIVER)
    existing = PersonContactType.objects.filter(person=person).count()
    PersonContactType.objects.bulk_create(
        PersonContactType(
            person=person,
            contact_type=caregiver,
            valid_from=start + dt.timedelta(days=i),
            valid_to=start + dt.timedelta(days=i, hours=1),
        )
        for i in range(existing, existing + n)
    )


def _edits(person, n: int, actor) -> None:
    with audit_context(actor=actor):
        for i in range(n):
            person.first_name = f"Name {i}"
            person.save(update_fields=["first_name"])


LISTS = {
    "persons": ("/persons/", lambda ctx, n: PersonFactory.create_batch(n)),
    "patients": ("/patients/", lambda ctx, n: PatientFactory.create_batch(n)),
    "calls": ("/call-history/", lambda ctx, n: CallHistoryFactory.create_batch(n)),
    "conditions": ("/medical-conditions/", lambda ctx, n: MedicalConditionFactory.create_batch(n)),
    "leads": ("/leads/", lambda ctx, n: PatientLeadFactory.create_batch(n)),
    "physicians": ("/physicians/", lambda ctx, n: PhysicianFactory.create_batch(n)),
    "hospitals": ("/hospitals/", lambda ctx, n: HospitalFactory.create_batch(n)),
    "specializations": ("/specializations/", lambda ctx, n: SpecializationFactory.create_batch(n)),
    "ct": ("/ct-journeys/", lambda ctx, n: ClinicalTrialJourneyFactory.create_batch(n)),
    "eap": ("/eap-journeys/", lambda ctx, n: EAPJourneyFactory.create_batch(n)),
    "patient calls": (
        "/patients/{patient}/calls/",
        lambda ctx, n: CallHistoryFactory.create_batch(n, patient=ctx["p"]),
    ),
    "timeline": (
        "/ct-journeys/{ct}/timeline/",
        lambda ctx, n: JourneyStatusChangeFactory.create_batch(n, ct_journey=ctx["ct"]),
    ),
    "eap timeline": (
        "/eap-journeys/{eap}/timeline/",
        lambda ctx, n: JourneyStatusChangeFactory.create_batch(
            n, ct_journey=None, eap_journey=ctx["eap"], to_status=EAP_INITIAL
        ),
    ),
    "contact types": ("/contact-types/", lambda ctx, n: ContactTypeFactory.create_batch(n)),
    "roles": ("/persons/{person}/roles/", lambda ctx, n: _role_periods(ctx["person"], n)),
    "history": ("/persons/{person}/history/", lambda ctx, n: _edits(ctx["person"], n, ctx["user"])),
}


@pytest.mark.parametrize("name", list(LISTS))
def test_list_queries_do_not_grow_with_the_page(crm_supervisor_user, name):
    url, add = LISTS[name]
    ctx = {"p": PatientFactory(), "ct": ClinicalTrialJourneyFactory(), "person": PersonFactory()}
    ctx["eap"] = EAPJourneyFactory()
    ctx["user"] = crm_supervisor_user
    url = API + url.format(patient=ctx["p"].pk, ct=ctx["ct"].pk, eap=ctx["eap"].pk, person=ctx["person"].pk)
    client = client_for(crm_supervisor_user)

    def measure(expected_rows: int) -> int:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url, {"page_size": expected_rows})
        assert response.status_code == 200, response.content[:500]
        assert len(response.json()["results"]) == expected_rows
        return len(queries.captured_queries)

    add(ctx, 1)
    client.get(url)  # the first request of a user loads their permissions once
    one = measure(1)
    add(ctx, 50)
    fifty = measure(50)
    assert fifty == one, f"{name}: {one} queries for 1 row, {fifty} for 50"


LIST_URLS = [url for url, _ in LIST_FILTERS] + ["/contact-types/"]


@pytest.mark.parametrize("url", LIST_URLS)
def test_methods_a_resource_does_not_offer_are_405_for_every_role(navigator_user, crm_supervisor_user, url):
    unknown = "00000000-0000-0000-0000-000000000000"
    for user in (navigator_user, crm_supervisor_user):
        client = client_for(user)
        for method in ("put", "patch", "delete"):
            error = assert_error(getattr(client, method)(API + url, {}, format="json"), 405, "method_not_allowed")
            assert method.upper() in error["message"]
        assert_error(client.post(f"{API}{url}{unknown}/", {}, format="json"), 405, "method_not_allowed")
    assert_error(client_for().put(API + url, {}, format="json"), 401, "not_authenticated")


def test_a_patients_calls_load_no_more_than_they_show(crm_supervisor_user):
    """The calls endpoint reads the patient with its Person only (not its condition and navigator), and the
    calls with their navigator only (the author is shown by id: no join of the user table, let alone two)."""
    patient = PatientFactory()
    CallHistoryFactory.create_batch(3, patient=patient)
    client = client_for(crm_supervisor_user)
    client.get(f"{API}/patients/{patient.pk}/calls/")  # permissions loaded once
    with CaptureQueriesContext(connection) as queries:
        body = client.get(f"{API}/patients/{patient.pk}/calls/").json()
    assert body["count"] == 3 and {c["patient_name"] for c in body["results"]} == {patient.person.full_name}
    selects = [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().startswith("SELECT")]
    patient_reads = [sql for sql in selects if 'FROM "patient"' in sql]
    call_reads = [sql for sql in selects if 'FROM "call_history"' in sql and "COUNT(" not in sql]
    assert len(patient_reads) == 1 and patient_reads[0].count("JOIN") == 1, patient_reads  # the Person only
    assert len(call_reads) == 1 and 'JOIN "crm_user"' not in call_reads[0] and 'JOIN "patient"' not in call_reads[0]
