"""The CM search boxes (``common.search``) on the CM identities' own fields: CM profile emails, phones and
Medicaid ids, IntakeQ emails, phones and client ids, each served by an index of its own (docs/PERFORMANCE.md,
"Search", Round 2); the enrollments' pod is a filter, and the ledger's reason is not searched in the admin."""

from __future__ import annotations

import pytest
from django.db import connection

from cm_program.models import CMEnrollment, CMPatient, CMPointsTransaction, IntakeQPatient
from common.search import search
from tests.admin_smoke import admin_url
from tests.factories.cm_program import CMEnrollmentFactory, CMPatientFactory, IntakeQPatientFactory
from tests.navigation_api import API, client_for

pytestmark = pytest.mark.django_db

CM_PATIENT_FIELDS = ("canonical_patient__last_name", "canonical_patient__first_name", "email", "phone", "medicaid_id")
INTAKEQ_FIELDS = ("last_name", "first_name", "intakeq_client_id", "email", "phone")


def _plan(queryset) -> str:
    """The plan when reading a whole table (or an unrelated index) costs more than anything: the search's
    bitmap scans on its own indexes stay as cheap as they are."""
    switches = ("enable_seqscan", "enable_indexscan", "enable_indexonlyscan")
    with connection.cursor() as cursor:
        for switch in switches:
            cursor.execute(f"SET LOCAL {switch} = off")
        try:
            return queryset.explain()
        finally:
            for switch in switches:
                cursor.execute(f"RESET {switch}")


@pytest.fixture
def profiles() -> dict[str, CMPatient]:
    return {
        "jose": CMPatientFactory(email="José.Núñez@Example.org", phone="+18015550199", medicaid_id="UT232638526"),
        "other": CMPatientFactory(email="someone@example.org", phone="+14155550123", medicaid_id="CA000111222"),
    }


@pytest.mark.parametrize(
    ("term", "who"),
    [
        ("jose.nunez", "jose"),  # accents and case ignored, anywhere in the email
        ("NÚÑEZ@EX", "jose"),
        ("(801) 555-0199", "jose"),  # the phone on the digits typed (stored E.164)
        ("5550199", "jose"),
        ("ut2326", "jose"),  # part of a Medicaid id, any case
        ("ut", "jose"),  # two characters: from the start
        ("232638526", "jose"),
    ],
)
def test_cm_profiles_are_found_by_email_phone_and_medicaid_id(profiles, term, who):
    assert list(search(CMPatient.objects.all(), CM_PATIENT_FIELDS, term)) == [profiles[who]]


def test_cm_profile_searches_use_their_indexes(profiles):
    plan = _plan(search(CMPatient.objects.all(), ("email", "medicaid_id"), "nunez"))
    assert "cm_patient_email_trgm" in plan and "cm_patient_medicaid_id_trgm" in plan, plan
    assert "cm_patient_phone_trgm" in _plan(search(CMPatient.objects.all(), ("phone",), "(801) 555-0199"))
    assert "cm_patient_medicaid_id_prefix" in _plan(search(CMPatient.objects.all(), ("medicaid_id",), "ut"))


@pytest.fixture
def clients() -> dict[str, IntakeQPatient]:
    return {
        "ana": IntakeQPatientFactory(
            intakeq_client_id="300002", email="Ana.Ortíz@Mail.example", phone="(717) 556-0977"
        ),
        "bo": IntakeQPatientFactory(intakeq_client_id="412345", email="bo@inbox.test", phone="+18015550100"),
    }


@pytest.mark.parametrize(
    ("term", "who"),
    [
        ("ana.ortiz", "ana"),
        ("ORTÍZ@mail", "ana"),
        ("556-0977", "ana"),  # the mirror keeps the EMR's format: matched as typed
        ("3000", "ana"),  # part of a client id
        ("41", "bo"),  # two characters: from the start
        ("+1801555", "bo"),
    ],
)
def test_intakeq_patients_are_found_by_email_phone_and_client_id(clients, term, who):
    assert list(search(IntakeQPatient.objects.all(), INTAKEQ_FIELDS, term)) == [clients[who]]


def test_intakeq_searches_use_their_indexes(clients):
    plan = _plan(search(IntakeQPatient.objects.all(), ("email", "phone", "intakeq_client_id"), "3000"))
    assert all(index in plan for index in ("intakeq_email_trgm", "intakeq_phone_trgm", "iq_intakeq_client_id_trgm"))


def test_the_api_and_admin_find_cm_identities_by_their_contact_details(profiles, clients, client, superuser):
    api = client_for(superuser)
    rows = api.get(f"{API}/cm/patients/", {"search": "(801) 555-0199"}).json()["results"]
    assert [row["id"] for row in rows] == [str(profiles["jose"].pk)]
    rows = api.get(f"{API}/cm/intakeq-patients/", {"search": "ana.ortiz"}).json()["results"]
    assert [row["id"] for row in rows] == [str(clients["ana"].pk)]
    client.force_login(superuser)
    response = client.get(admin_url(CMPatient, "changelist"), {"q": "UT2326"})
    assert response.status_code == 200 and list(response.context["cl"].result_list) == [profiles["jose"]]
    response = client.get(admin_url(IntakeQPatient, "changelist"), {"q": "300002"})
    assert response.status_code == 200 and list(response.context["cl"].result_list) == [clients["ana"]]


def test_the_pod_is_a_filter_not_a_search_word(client, superuser):
    in_b = CMEnrollmentFactory(pod_assignment="Pod B")
    CMEnrollmentFactory(pod_assignment="Pod C")
    api = client_for(superuser)
    assert api.get(f"{API}/cm/enrollments/", {"search": "Pod B"}).json()["results"] == []
    rows = api.get(f"{API}/cm/enrollments/", {"pod_assignment": "Pod B"}).json()["results"]
    assert [row["id"] for row in rows] == [str(in_b.pk)]
    client.force_login(superuser)
    url = admin_url(CMEnrollment, "changelist")
    response = client.get(url, {"q": "Pod B"})
    assert response.status_code == 200 and list(response.context["cl"].result_list) == []
    response = client.get(url, {"pod_assignment": "Pod B"})
    assert response.status_code == 200 and list(response.context["cl"].result_list) == [in_b]
    assert "?pod_assignment=Pod+C" in response.content.decode()  # the sidebar lists the pods


def test_the_ledger_admin_searches_names_not_reasons(client, superuser):
    enrollment = CMEnrollmentFactory(cm_patient__canonical_patient__last_name="Ledgerperson")
    entry = CMPointsTransaction.objects.create(
        enrollment=enrollment,
        canonical_patient=enrollment.canonical_patient,
        sequence=1,
        event_type="manual_adjustment",
        points=5,
        streak_after=0,
        reason="Correction agreed with the supervisor.",
    )
    client.force_login(superuser)
    url = admin_url(CMPointsTransaction, "changelist")
    response = client.get(url, {"q": "supervisor"})
    assert response.status_code == 200 and list(response.context["cl"].result_list) == []
    response = client.get(url, {"q": "ledgerperson"})
    assert response.status_code == 200 and list(response.context["cl"].result_list) == [entry]
