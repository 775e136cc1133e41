"""The PHI access log in the admin: every change / history page of patient data, the complete patient
view and the CSV exports write one entry; the log itself is a read-only list for superusers only."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client
from django.urls import reverse

from common.models import PHIAccess
from tests.cm_program.api_support import World, build_world
from tests.factories.journeys import ClinicalTrialJourneyFactory, EAPJourneyFactory, JourneyStatusChangeFactory
from tests.factories.patients import (
    CallHistoryFactory,
    HospitalFactory,
    PatientFactory,
    PatientLeadFactory,
    PatientPhysicianRelationshipFactory,
    PhysicianFactory,
)
from tests.factories.people import PersonContactTypeFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def world() -> World:
    return build_world()


def login(world: World, role: str) -> Client:
    client = Client()
    client.force_login(world.users[role])
    return client


@pytest.fixture
def navigation():
    patient = PatientFactory()
    return {
        "patient": patient,
        "lead": PatientLeadFactory(),
        "call": CallHistoryFactory(patient=patient),
        "ct": ClinicalTrialJourneyFactory(patient=patient),
        "eap": EAPJourneyFactory(patient=patient),
        "relationship": PatientPhysicianRelationshipFactory(patient=patient),
        "role period": PersonContactTypeFactory(person=patient.person),
    }


def _change(record) -> str:
    return reverse(f"admin:{record._meta.app_label}_{record._meta.model_name}_change", args=[record.pk])


def _records(w: World, n) -> dict:
    patient = n["patient"]
    return {
        "person": (patient.person, patient.person_id, None),
        "role period": (n["role period"], patient.person_id, None),
        "patient": (patient, patient.person_id, None),
        "lead": (n["lead"], n["lead"].person_id, None),
        "call": (n["call"], patient.person_id, None),
        "relationship": (n["relationship"], patient.person_id, None),
        "ct journey": (n["ct"], patient.person_id, None),
        "eap journey": (n["eap"], patient.person_id, None),
        "timeline step": (JourneyStatusChangeFactory(ct_journey=n["ct"]), patient.person_id, None),
        "canonical patient": (
            w.own.canonical_patient,
            w.own.canonical_patient.person_id,
            w.own.canonical_patient.pk,
        ),
        "cm profile": (w.own.cm_patient, w.own.canonical_patient.person_id, w.own.canonical_patient.pk),
        "enrollment": (w.own.enrollment, w.own.canonical_patient.person_id, w.own.canonical_patient.pk),
        "ledger entry": (w.own_entry(), w.own.canonical_patient.person_id, w.own.canonical_patient.pk),
        "intakeq patient": (w.own_iq.intakeq_link.intakeq_patient, None, w.own_iq.canonical_patient.pk),
        "intakeq link": (w.own_iq.intakeq_link, w.own_iq.canonical_patient.person_id, w.own_iq.canonical_patient.pk),
    }


NAVIGATION_RECORDS = (
    "person",
    "role period",
    "patient",
    "lead",
    "call",
    "relationship",
    "ct journey",
    "eap journey",
    "timeline step",
)
CM_RECORDS = ("canonical patient", "cm profile", "enrollment", "ledger entry", "intakeq patient", "intakeq link")


@pytest.mark.parametrize(
    ("record", "role"),
    [(r, "superuser") for r in NAVIGATION_RECORDS + CM_RECORDS]
    + [(r, "navigator") for r in ("person", "patient", "call", "ct journey")]
    + [(r, "cpss") for r in ("canonical patient", "enrollment", "ledger entry")],
)
def test_a_change_page_of_patient_data_writes_one_entry(world, navigation, record, role):
    obj, person_id, canonical_id = _records(world, navigation)[record]
    url = _change(obj)
    response = login(world, role).get(url, REMOTE_ADDR="198.51.100.4")
    assert response.status_code == 200, response.content[:500]
    entry = PHIAccess.objects.get()
    assert (entry.user, entry.channel) == (world.users[role], "admin")
    # A superuser's Person page also shows the cross-program section (both programs): its entry says so.
    scope = "change+cross_program" if (record, role) == ("person", "superuser") else "change"
    assert (entry.access_type, entry.scope) == ("detail", scope)
    assert (entry.resource_type, entry.resource_id) == (obj._meta.label_lower, str(obj.pk))
    assert (entry.person_id, entry.canonical_patient_id) == (person_id, canonical_id)
    assert (entry.client_ip, entry.path, entry.request_id) == ("198.51.100.4", url, response["X-Request-ID"])


def test_a_history_page_writes_one_entry(world, navigation):
    patient = navigation["patient"]
    url = reverse("admin:patients_patient_history", args=[patient.pk])
    assert login(world, "navigator").get(url).status_code == 200
    entry = PHIAccess.objects.get()
    assert (entry.scope, entry.resource_type, entry.person_id) == ("history", "patients.patient", patient.person_id)


def test_the_complete_patient_view_writes_one_entry(world):
    canonical = world.own.canonical_patient
    url = reverse("admin:cm_program_canonicalpatient_complete", args=[canonical.pk])
    response = login(world, "cpss").get(url)
    assert response.status_code == 200 and b"Complete patient view" in response.content
    entry = PHIAccess.objects.get()
    assert (entry.user, entry.channel, entry.access_type) == (world.users["cpss"], "admin", "complete_view")
    assert (entry.resource_type, entry.resource_id) == ("cm_program.canonicalpatient", str(canonical.pk))
    assert (entry.person_id, entry.canonical_patient_id) == (canonical.person_id, canonical.pk)


def test_pages_that_show_no_patient_record_or_refuse_write_nothing(world, navigation):
    root, nav, cpss = login(world, "superuser"), login(world, "navigator"), login(world, "cpss")
    assert root.get(_change(PhysicianFactory())).status_code == 200  # physicians are not patients
    assert root.get(_change(HospitalFactory())).status_code == 200
    assert root.get(_change(world.cpss)).status_code == 200  # a CM provider
    assert root.get(reverse("admin:patients_patient_changelist")).status_code == 200
    assert root.get(reverse("admin:patients_patient_add")).status_code == 200
    assert nav.get(_change(world.own.enrollment)).status_code == 403  # no CM access
    assert cpss.get(_change(world.other.enrollment)).status_code == 302  # another CPSS's patient: not found
    assert cpss.get(_change(navigation["patient"])).status_code == 403
    complete = reverse("admin:cm_program_canonicalpatient_complete", args=[world.other.canonical_patient.pk])
    assert cpss.get(complete).status_code == 404
    lead = navigation["lead"]
    saved = root.post(
        _change(lead),
        {"medical_condition": lead.medical_condition_id, "source": lead.source, "status": "contacted", "notes": ""},
    )
    assert saved.status_code in (200, 302)  # a save shows nothing new: its audit trail is pghistory's
    assert PHIAccess.objects.count() == 0


def test_each_caseload_csv_writes_one_entry_with_its_row_count(world, navigation):
    response = login(world, "cm_supervisor").get(reverse("admin:cm_program_cmprovider_caseloads_csv"))
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))[1:]
    entry = PHIAccess.objects.get()
    assert (entry.user, entry.channel, entry.access_type) == (world.users["cm_supervisor"], "admin", "export")
    assert (entry.resource_type, entry.record_count, entry.resource_id) == ("export.cpss_caseloads", len(rows), "")
    assert len(rows) == 2 and entry.person_id is None and entry.scope

    response = login(world, "crm_supervisor").get(reverse("admin:patients_caseload_csv"))
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))[1:]
    entry = PHIAccess.objects.exclude(resource_type="export.cpss_caseloads").get()
    assert (entry.user, entry.access_type) == (world.users["crm_supervisor"], "export")
    assert (entry.resource_type, entry.record_count) == ("export.navigator_caseloads", len(rows))
    assert len(rows) >= 1


# --- The log's own admin ---------------------------------------------------------------------------------


LOG = "/admin/common/phiaccess/"


@pytest.mark.parametrize("role", ["navigator", "crm_supervisor", "cpss", "cm_supervisor"])
def test_only_superusers_see_the_log(world, role):
    login(world, "superuser").get(_change(world.own.enrollment))
    entry = PHIAccess.objects.get()
    client = login(world, role)
    assert client.get(LOG).status_code == 403
    assert client.get(f"{LOG}{entry.pk}/change/").status_code == 403
    assert b"phiaccess" not in client.get("/admin/").content


def test_superusers_read_the_log_and_nobody_changes_it(world):
    root = login(world, "superuser")
    root.get(_change(world.own.enrollment))
    entry = PHIAccess.objects.get()
    listing = root.get(LOG)
    assert listing.status_code == 200 and str(entry.resource_id).encode() in listing.content
    assert b"phiaccess" in root.get("/admin/").content
    detail = root.get(f"{LOG}{entry.pk}/change/")
    assert detail.status_code == 200 and b'name="_save"' not in detail.content  # read only
    assert root.get(f"{LOG}add/").status_code == 403
    assert root.post(f"{LOG}{entry.pk}/change/", {"scope": "rewritten"}).status_code == 403
    assert root.post(f"{LOG}{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    bulk_delete = {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"}
    assert root.post(LOG, bulk_delete).status_code == 200  # no such action: the list again
    assert PHIAccess.objects.get().scope == "change"


def _shown_ids(response) -> set[str]:
    return {str(entry.pk) for entry in response.context["cl"].result_list}


def test_who_looked_at_this_patient_finds_their_records_under_either_id(world, navigation):
    own, root = world.own, login(world, "superuser")
    for role, url in (
        ("cpss", _change(own.enrollment)),  # CM: canonical patient and Person
        ("superuser", f"/api/v1/persons/{own.canonical_patient.person_id}/"),  # the same human's Person (API)
        ("cpss", _change(world.other.enrollment)),  # not found: no entry
        ("navigator", _change(navigation["patient"])),  # somebody else
    ):
        if url.startswith("/api/"):
            from rest_framework.test import APIClient

            api = APIClient()
            api.force_authenticate(world.users[role])
            assert api.get(url).status_code == 200
        else:
            login(world, role).get(url)
    about_own = {str(e.pk) for e in PHIAccess.objects.exclude(person_id=navigation["patient"].person_id)}
    assert len(about_own) == 2

    by_person = root.get(LOG, {"patient": str(own.canonical_patient.person_id)})
    by_canonical = root.get(LOG, {"patient": str(own.canonical_patient.pk)})
    assert _shown_ids(by_person) == _shown_ids(by_canonical) == about_own
    assert _shown_ids(root.get(LOG, {"patient": "not-an-id"})) == set()
    searched = root.get(LOG, {"q": str(own.canonical_patient.pk)})
    assert _shown_ids(searched) == about_own
    by_user = root.get(LOG, {"q": "nav"})
    assert {e.user.username for e in by_user.context["cl"].result_list} == {"nav"}
    assert _shown_ids(root.get(LOG, {"channel__exact": "api"})) == {str(PHIAccess.objects.get(channel="api").pk)}
    assert _shown_ids(root.get(LOG, {"resource": "patients.patient"})) == {
        str(PHIAccess.objects.get(resource_type="patients.patient").pk)
    }
    assert _shown_ids(root.get(LOG, {"user": str(world.users["cpss"].pk)})) == {
        str(PHIAccess.objects.get(user=world.users["cpss"]).pk)
    }


@pytest.mark.parametrize("record", ["person", "patient", "canonical patient", "enrollment"])
def test_a_patients_page_links_superusers_to_who_looked_at_them(world, navigation, record):
    obj, person_id, canonical_id = _records(world, navigation)[record]
    page = login(world, "superuser").get(_change(obj))
    link = f"{LOG}?patient={person_id or canonical_id}"
    assert f'href="{link}" id="phi-access-link"'.encode() in page.content
    assert login(world, "superuser").get(link).status_code == 200


def test_the_link_is_for_superusers_only(world, navigation):
    page = login(world, "navigator").get(_change(navigation["patient"]))
    assert page.status_code == 200 and b"phi-access-link" not in page.content
    page = login(world, "cm_supervisor").get(_change(world.own.canonical_patient))
    assert page.status_code == 200 and b"phi-access-link" not in page.content
