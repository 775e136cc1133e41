"""Who may do what through the patient-navigation API: every role x every endpoint x read / write /
delete, as the "Who sees what" table and the roles tables give it.

Navigators read and write patient-navigation data but delete nothing (except voiding calls) and only
read the condition list; CRM supervisors do everything; CPSS and CM supervisors get 403 everywhere;
anonymous requests get 401; superusers do everything.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from django.urls import resolve

from journeys.api import urls as journeys_urls
from patients.api import urls as patients_urls
from people.api import urls as people_urls
from people.models import ContactType
from tests.conftest import make_user
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
from tests.factories.people import NavigatorFactory, PersonContactTypeFactory, PersonFactory
from tests.navigation_api import API, client_for

pytestmark = pytest.mark.django_db

# What each level needs: read = view; write = add/change (navigators have it); write_sup = add/change that
# navigators lack (the condition list); delete = soft delete / restore (supervisors); void = the calls'
# void / restore, which needs only change.
READ, WRITE, WRITE_SUP, DELETE, VOID = "read", "write", "write_sup", "delete", "void"


@dataclass(frozen=True)
class Op:
    name: str
    method: str
    url: str  # formatted with the world's ids
    level: str
    success: int
    body: Any = None


def _unique(prefix: str) -> str:
    _unique.n += 1
    return f"{prefix}{_unique.n}"


_unique.n = 0

OPS = [
    # people
    Op("persons list", "get", "/persons/", READ, 200),
    Op("persons detail", "get", "/persons/{person}/", READ, 200),
    Op("persons roles", "get", "/persons/{person}/roles/", READ, 200),
    Op("persons history", "get", "/persons/{person}/history/", READ, 200),
    Op("contact types", "get", "/contact-types/", READ, 200),
    Op("contact type detail", "get", "/contact-types/{contact_type}/", READ, 200),
    Op("persons create", "post", "/persons/", WRITE, 201, lambda w: {"first_name": "A", "last_name": "B"}),
    Op("persons patch", "patch", "/persons/{person}/", WRITE, 200, lambda w: {"first_name": "Renamed"}),
    Op("persons role start", "post", "/persons/{person}/roles/", WRITE, 201, lambda w: {"role": "pharmacist"}),
    Op("persons role end", "post", "/persons/{person}/roles/end/", WRITE, 200, lambda w: {"role": "caregiver"}),
    Op("persons delete", "delete", "/persons/{person}/", DELETE, 204),
    Op("persons restore", "post", "/persons/{person}/restore/", DELETE, 200),
    # patients
    Op("patients list", "get", "/patients/", READ, 200),
    Op("patients detail", "get", "/patients/{patient}/", READ, 200),
    Op("patients calls", "get", "/patients/{patient}/calls/", READ, 200),
    Op(
        "patients create",
        "post",
        "/patients/",
        WRITE,
        201,
        lambda w: {"first_name": "New", "last_name": "Patient", "email": f"{_unique('p')}@example.org"},
    ),
    Op("patients patch", "patch", "/patients/{patient}/", WRITE, 200, lambda w: {"status": "inactive"}),
    Op("patients delete", "delete", "/patients/{patient}/", DELETE, 204),
    Op("patients restore", "post", "/patients/{patient}/restore/", DELETE, 200),
    # calls
    Op("calls list", "get", "/call-history/", READ, 200),
    Op("calls detail", "get", "/call-history/{call}/", READ, 200),
    Op(
        "calls create",
        "post",
        "/call-history/",
        WRITE,
        201,
        lambda w: {"patient": w["patient"], "navigator": w["navigator"], "direction": "inbound", "outcome": "reached"},
    ),
    Op("calls patch", "patch", "/call-history/{call}/", WRITE, 200, lambda w: {"notes": "Corrected."}),
    Op("calls void", "delete", "/call-history/{call}/", VOID, 204),
    Op("calls restore", "post", "/call-history/{call}/restore/", VOID, 200),
    # medical conditions
    Op("conditions list", "get", "/medical-conditions/", READ, 200),
    Op("conditions detail", "get", "/medical-conditions/{condition}/", READ, 200),
    Op("conditions create", "post", "/medical-conditions/", WRITE_SUP, 201, lambda w: {"name": _unique("Cond ")}),
    Op("conditions patch", "patch", "/medical-conditions/{condition}/", WRITE_SUP, 200, lambda w: {"description": "x"}),
    Op("conditions delete", "delete", "/medical-conditions/{condition}/", DELETE, 204),
    Op("conditions restore", "post", "/medical-conditions/{condition}/restore/", DELETE, 200),
    # leads
    Op("leads list", "get", "/leads/", READ, 200),
    Op("leads detail", "get", "/leads/{lead}/", READ, 200),
    Op(
        "leads create",
        "post",
        "/leads/",
        WRITE,
        201,
        lambda w: {"first_name": "L", "last_name": "Ead", "email": f"{_unique('l')}@example.org"},
    ),
    Op("leads patch", "patch", "/leads/{lead}/", WRITE, 200, lambda w: {"status": "contacted"}),
    Op("leads convert", "post", "/leads/{lead}/convert/", WRITE, 201, lambda w: {}),
    # physicians and lookups
    Op("physicians list", "get", "/physicians/", READ, 200),
    Op("physicians detail", "get", "/physicians/{physician}/", READ, 200),
    Op(
        "physicians create",
        "post",
        "/physicians/",
        WRITE,
        201,
        lambda w: {"first_name": "Doc", "last_name": "Tor", "email": f"{_unique('d')}@example.org"},
    ),
    Op("physicians patch", "patch", "/physicians/{physician}/", WRITE, 200, lambda w: {"job_title": "Head"}),
    Op("physicians delete", "delete", "/physicians/{physician}/", DELETE, 204),
    Op("physicians restore", "post", "/physicians/{physician}/restore/", DELETE, 200),
    Op("hospitals list", "get", "/hospitals/", READ, 200),
    Op("hospitals create", "post", "/hospitals/", WRITE, 201, lambda w: {"name": _unique("Hospital ")}),
    Op("hospitals patch", "patch", "/hospitals/{hospital}/", WRITE, 200, lambda w: {"city": "Provo"}),
    Op("hospitals delete", "delete", "/hospitals/{hospital}/", DELETE, 204),
    Op("hospitals restore", "post", "/hospitals/{hospital}/restore/", DELETE, 200),
    Op("specializations list", "get", "/specializations/", READ, 200),
    Op("specializations create", "post", "/specializations/", WRITE, 201, lambda w: {"name": _unique("Spec ")}),
    Op("specializations delete", "delete", "/specializations/{specialization}/", DELETE, 204),
    Op("specializations restore", "post", "/specializations/{specialization}/restore/", DELETE, 200),
    # journeys
    Op("ct list", "get", "/ct-journeys/", READ, 200),
    Op("ct detail", "get", "/ct-journeys/{ct}/", READ, 200),
    Op("ct timeline", "get", "/ct-journeys/{ct}/timeline/", READ, 200),
    Op(
        "ct create",
        "post",
        "/ct-journeys/",
        WRITE,
        201,
        lambda w: {"patient": w["patient"], "trial_id": "NCT12345678"},
    ),
    Op("ct patch", "patch", "/ct-journeys/{ct}/", WRITE, 200, lambda w: {"notes": "Called the site."}),
    Op("ct transition", "post", "/ct-journeys/{ct}/transition/", WRITE, 200, lambda w: {"status": "pre_screening"}),
    Op("ct delete", "delete", "/ct-journeys/{ct}/", DELETE, 204),
    Op("ct restore", "post", "/ct-journeys/{ct}/restore/", DELETE, 200),
    Op("eap list", "get", "/eap-journeys/", READ, 200),
    Op("eap detail", "get", "/eap-journeys/{eap}/", READ, 200),
    Op("eap timeline", "get", "/eap-journeys/{eap}/timeline/", READ, 200),
    Op("eap create", "post", "/eap-journeys/", WRITE, 201, lambda w: {"patient": w["patient"], "product": "Drug Y"}),
    Op("eap transition", "post", "/eap-journeys/{eap}/transition/", WRITE, 200, lambda w: {"status": "submitted"}),
    Op("eap delete", "delete", "/eap-journeys/{eap}/", DELETE, 204),
    Op("eap restore", "post", "/eap-journeys/{eap}/restore/", DELETE, 200),
]

NAVIGATOR_MAY = {READ, WRITE, VOID}
ROLES = {
    # role -> (user factory, the levels it may use)
    "navigator": (lambda: make_user("nav_m", "Patient Navigators"), NAVIGATOR_MAY),
    "crm_supervisor": (lambda: make_user("sup_m", "CRM Supervisors"), {READ, WRITE, WRITE_SUP, DELETE, VOID}),
    "superuser": (lambda: make_user("root_m", superuser=True), {READ, WRITE, WRITE_SUP, DELETE, VOID}),
    "cpss": (lambda: make_user("cpss_m", "CPSS"), set()),
    "cm_supervisor": (lambda: make_user("cmsup_m", "CM Supervisors"), set()),
    "anonymous": (lambda: None, set()),
}


WORLD_KEYS = (
    "navigator",
    "patient",
    "person",
    "call",
    "condition",
    "lead",
    "physician",
    "hospital",
    "specialization",
    "ct",
    "eap",
    "contact_type",
)


@pytest.fixture
def world() -> dict[str, str]:
    navigator = NavigatorFactory()
    patient = PatientFactory(navigator=navigator)
    person = PersonFactory()
    PersonContactTypeFactory(
        person=person, contact_type=ContactType.objects.get(code=ContactType.CAREGIVER), valid_to=None
    )
    ct = ClinicalTrialJourneyFactory(patient=patient)
    JourneyStatusChangeFactory(ct_journey=ct)
    eap = EAPJourneyFactory(patient=patient)
    objects = {
        "navigator": navigator,
        "patient": patient,
        "person": person,
        "call": CallHistoryFactory(patient=patient),
        "condition": MedicalConditionFactory(),
        "lead": PatientLeadFactory(),
        "physician": PhysicianFactory(),
        "hospital": HospitalFactory(),
        "specialization": SpecializationFactory(),
        "ct": ct,
        "eap": eap,
        "contact_type": ContactType.objects.get(code=ContactType.PATIENT),
    }
    return {name: str(obj.pk) for name, obj in objects.items()}


@pytest.mark.parametrize("role", list(ROLES))
@pytest.mark.parametrize("op", OPS, ids=[op.name for op in OPS])
def test_role_matrix(request, role, op):
    make, levels = ROLES[role]
    # Refusals come before any lookup, so the roles refused everything need no rows, only ids.
    world = request.getfixturevalue("world") if levels else {key: str(uuid.uuid4()) for key in WORLD_KEYS}
    client = client_for(make())
    url = API + op.url.format(**world)
    body = op.body(world) if op.body else None
    send = getattr(client, op.method)
    response = send(url, body, format="json") if body is not None else send(url)
    if role == "anonymous":
        expected = 401
    elif op.level in levels:
        expected = op.success
    else:
        expected = 403
    assert response.status_code == expected, (role, op.name, response.content[:1000])
    if expected >= 400:
        code = {401: "not_authenticated", 403: "permission_denied"}[expected]
        assert response.json()["error"]["code"] == code
    elif expected == 204:
        assert response.content == b""
    else:
        body = response.json()
        assert "id" in body or set(body) == {"count", "count_is", "next", "previous", "results"}, body


def test_every_navigation_route_is_in_the_matrix(world):
    """A new patient-navigation endpoint must join the matrix: every route the three apps serve is used."""
    served = {route.name for module in (people_urls, patients_urls, journeys_urls) for route in module.urlpatterns}
    used = {resolve(API + op.url.format(**world)).url_name for op in OPS}
    # Merging has its own role rules (supervisors merge and undo, navigators file requests), walked with
    # every role in tests/people/test_merge_api.py.
    merging = {name for name in served if name and name.startswith("person-merge")}
    # So have the duplicate candidates (navigators within their scope, supervisors, nobody from CM), walked with
    # every role in tests/people/test_api_duplicates.py.
    duplicates = {"person-duplicates", "person-not-duplicate"}
    # And the navigation report (supervisors: every navigator; navigators: their own Person's figures, so a login
    # linked to one; CM staff refused), walked with every role in tests/patients/test_navigation_report.py.
    reports = {"report-navigation"}
    assert served - used - merging - duplicates - reports == set()


@pytest.mark.parametrize("op", OPS, ids=[op.name for op in OPS])
def test_every_path_answers_without_its_trailing_slash(world, crm_supervisor_user, op):
    """The original API's paths had no trailing slash: both forms reach the view, for every method, with no
    redirect (a redirected POST would lose its body)."""
    url = API + op.url.format(**world).rstrip("/")
    body = op.body(world) if op.body else None
    send = getattr(client_for(crm_supervisor_user), op.method)
    response = send(url, body, format="json") if body is not None else send(url)
    assert response.status_code == op.success, (op.name, response.status_code, response.content[:500])
