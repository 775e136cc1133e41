"""Who may do what under /api/v1/cm/: every role x every endpoint x read / write, anonymous 401, a CPSS
limited to their own caseload (404 outside it, for reads and writes), and list query counts."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cm_program import services
from cm_program.models import CanonicalPatient, CMEnrollment, CMPointsTransaction, CMProgram, CMProvider
from tests.cm_program.api_support import API, NEVER_CM, ROLES, World, error, ids, lonely_canonical_patient, world
from tests.factories.cm_program import (
    CMEnrollmentFactory,
    CMPatientFactory,
    CMProviderFactory,
    IntakeQLinkFactory,
)

__all__ = ["world"]

pytestmark = pytest.mark.django_db

Request = Callable[[World], tuple[str, str, dict | None]]

# Reads: (name, request). Every CM role reads these; patient-navigation roles get 403.
READS: dict[str, Request] = {
    "canonical-patients list": lambda w: ("get", f"{API}/canonical-patients/", None),
    "canonical-patients detail": lambda w: ("get", f"{API}/canonical-patients/{w.own.canonical_patient.pk}/", None),
    "canonical-patients complete": lambda w: (
        "get",
        f"{API}/canonical-patients/{w.own.canonical_patient.pk}/complete/",
        None,
    ),
    "patients list": lambda w: ("get", f"{API}/patients/", None),
    "patients detail": lambda w: ("get", f"{API}/patients/{w.own.cm_patient.pk}/", None),
    "providers list": lambda w: ("get", f"{API}/providers/", None),
    "providers detail": lambda w: ("get", f"{API}/providers/{w.cpss.pk}/", None),
    "providers caseloads": lambda w: ("get", f"{API}/providers/caseloads/", None),
    "programs list": lambda w: ("get", f"{API}/programs/", None),
    "programs detail": lambda w: ("get", f"{API}/programs/{w.program.pk}/", None),
    "enrollments list": lambda w: ("get", f"{API}/enrollments/", None),
    "enrollments detail": lambda w: ("get", f"{API}/enrollments/{w.own.enrollment.pk}/", None),
    "ledger list": lambda w: ("get", f"{API}/enrollments/{w.own.enrollment.pk}/ledger/", None),
    "ledger detail": lambda w: ("get", f"{API}/enrollments/{w.own.enrollment.pk}/ledger/{w.own_entry().pk}/", None),
    "intakeq-patients list": lambda w: ("get", f"{API}/intakeq-patients/", None),
    "intakeq-patients detail": lambda w: (
        "get",
        f"{API}/intakeq-patients/{w.own_iq.intakeq_link.intakeq_patient_id}/",
        None,
    ),
    "intakeq-links list": lambda w: ("get", f"{API}/intakeq-links/", None),
    "intakeq-links detail": lambda w: ("get", f"{API}/intakeq-links/{w.own_iq.intakeq_link.pk}/", None),
}


def _new_provider(w: World):
    return CMProviderFactory(first_name="Free", last_name="Provider")


# Writes: (name, request, status for a CPSS). CM supervisors and superusers succeed with the first status.
WRITES: dict[str, tuple[Request, int, int]] = {
    "canonical-patients create": (
        lambda w: (
            "post",
            f"{API}/canonical-patients/",
            {"first_name": "New", "last_name": "Person", "date_of_birth": "1990-01-01"},
        ),
        201,
        403,
    ),
    "canonical-patients update": (
        lambda w: ("patch", f"{API}/canonical-patients/{w.own.canonical_patient.pk}/", {"first_name": "Jess"}),
        200,
        403,
    ),
    "patients create": (
        lambda w: ("post", f"{API}/patients/", {"canonical_patient": str(lonely_canonical_patient().pk)}),
        201,
        403,
    ),
    "patients update": (
        lambda w: ("patch", f"{API}/patients/{w.own.cm_patient.pk}/", {"insurance_primary": "Utah Medicaid"}),
        200,
        403,
    ),
    "providers create": (
        lambda w: ("post", f"{API}/providers/", {"first_name": "Sam", "last_name": "Lee", "email": "sam@cm.org"}),
        201,
        403,
    ),
    "providers update": (lambda w: ("patch", f"{API}/providers/{w.cpss.pk}/", {"credentials": "CPSS-II"}), 200, 403),
    "providers delete": (lambda w: ("delete", f"{API}/providers/{_new_provider(w).pk}/", None), 204, 403),
    "providers restore": (lambda w: ("post", f"{API}/providers/{w.cpss.pk}/restore/", None), 200, 403),
    "programs create": (lambda w: ("post", f"{API}/programs/", {"name": "Second program"}), 201, 403),
    "programs update": (
        lambda w: ("patch", f"{API}/programs/{w.program.pk}/", {"points_weekly_checkin": 15}),
        200,
        403,
    ),
    "programs delete": (lambda w: ("delete", f"{API}/programs/{w.program.pk}/", None), 204, 403),
    "programs restore": (lambda w: ("post", f"{API}/programs/{w.program.pk}/restore/", None), 200, 403),
    "enrollments create": (
        lambda w: (
            "post",
            f"{API}/enrollments/",
            {
                "cm_patient": str(CMPatientFactory().pk),
                "cm_program": str(w.program.pk),
                "cpss_provider": str(w.cpss.pk),
            },
        ),
        201,
        403,
    ),
    "enrollments update": (
        lambda w: ("patch", f"{API}/enrollments/{w.own.enrollment.pk}/", {"notes": "Prefers mornings."}),
        200,
        200,
    ),
    "enrollments status": (
        lambda w: ("post", f"{API}/enrollments/{w.own.enrollment.pk}/status/", {"status": "paused"}),
        200,
        200,
    ),
    "enrollments events": (
        lambda w: ("post", f"{API}/enrollments/{w.own.enrollment.pk}/events/", {"event_type": "group_attendance"}),
        201,
        201,
    ),
    "ledger reverse": (
        lambda w: (
            "post",
            f"{API}/enrollments/{w.own.enrollment.pk}/ledger/{w.own_entry().pk}/reverse/",
            {"reason": "Recorded on the wrong patient."},
        ),
        201,
        201,
    ),
    "intakeq-patients create": (
        lambda w: ("post", f"{API}/intakeq-patients/", {"first_name": "Tom", "last_name": "Whitaker"}),
        201,
        403,
    ),
    "intakeq-patients update": (
        lambda w: (
            "patch",
            f"{API}/intakeq-patients/{w.own_iq.intakeq_link.intakeq_patient_id}/",
            {"phone": "(801) 555-0199"},
        ),
        200,
        403,
    ),
    "intakeq-links create": (
        lambda w: (
            "post",
            f"{API}/intakeq-links/",
            {
                "canonical_patient": str(lonely_canonical_patient().pk),
                "intakeq_patient": str(w.free_iq.pk),
                "confidence_score": 0.9,
            },
        ),
        201,
        403,
    ),
    "intakeq-links update": (
        lambda w: ("patch", f"{API}/intakeq-links/{w.own_iq.intakeq_link.pk}/", {"notes": "Confirmed by phone."}),
        200,
        403,
    ),
    "enroll": (
        lambda w: (
            "post",
            f"{API}/enroll/",
            {
                "first_name": "Amanda",
                "last_name": "Lee",
                "date_of_birth": "1995-12-01",
                "cm_program": str(w.program.pk),
                "cpss_provider": str(w.cpss.pk),
            },
        ),
        201,
        403,
    ),
    "enroll-from-intakeq": (
        lambda w: ("post", f"{API}/enroll-from-intakeq/", {"intakeq_patient": str(w.free_iq.pk)}),
        201,
        403,
    ),
}


def _send(world: World, role: str | None, request: Request | tuple[str, str, dict | None]):
    method, url, body = request if isinstance(request, tuple) else request(world)
    client = world.client(role)
    return getattr(client, method)(url, body, format="json") if body is not None else getattr(client, method)(url)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", READS)
def test_read_matrix(world, role, name):
    response = _send(world, role, READS[name])
    if role in NEVER_CM:
        assert response.status_code == 403, response.content
        assert error(response)["code"] == "permission_denied"
    else:
        assert response.status_code == 200, response.content
        body = response.json()
        assert body.get("id") or "results" in body or "identity" in body, body


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", WRITES)
def test_write_matrix(world, role, name):
    request, allowed, for_cpss = WRITES[name]
    prepared = request(world)  # may create the rows it targets: count after
    counts_before = _row_counts()
    response = _send(world, role, prepared)
    expected = 403 if role in NEVER_CM else for_cpss if role == "cpss" else allowed
    assert response.status_code == expected, response.content
    if expected == 403:
        assert error(response)["code"] == "permission_denied"
        assert _row_counts() == counts_before  # a refusal writes nothing
    elif expected == 204:
        assert response.content == b""
    else:
        assert "error" not in response.json()


def _row_counts() -> tuple[int, ...]:
    return tuple(
        model.objects.count() for model in (CanonicalPatient, CMEnrollment, CMPointsTransaction, CMProvider, CMProgram)
    )


@pytest.mark.parametrize("name", [*READS, *WRITES])
def test_anonymous_gets_401(world, name):
    request = READS[name] if name in READS else WRITES[name][0]
    response = _send(world, None, request)
    assert response.status_code == 401
    assert error(response)["code"] == "not_authenticated"


def test_dual_enrollments_are_for_cm_supervisors_only(world):
    for role, expected in {"superuser": 200, "cm_supervisor": 200, "cpss": 403, "navigator": 403}.items():
        response = world.client(role).get(f"{API}/dual-enrollments/")
        assert response.status_code == expected, (role, response.content)
        if expected == 403:
            assert error(response)["code"] == "permission_denied"
    body = world.client("cm_supervisor").get(f"{API}/dual-enrollments/").json()
    assert body["count"] == 2
    assert {row["id"] for row in body["results"]} == {
        str(world.own_iq.canonical_patient.pk),
        str(world.other_iq.canonical_patient.pk),
    }


# ---------------------------------------------------------------------------------------------------
# A CPSS sees only their own caseload


def test_cpss_lists_hold_only_their_own_caseload(world):
    cpss = world.client("cpss")
    own_patients = {str(world.own.canonical_patient.pk), str(world.own_iq.canonical_patient.pk)}
    assert ids(cpss.get(f"{API}/canonical-patients/")) == own_patients
    assert ids(cpss.get(f"{API}/patients/")) == {str(world.own.cm_patient.pk), str(world.own_iq.cm_patient.pk)}
    assert ids(cpss.get(f"{API}/enrollments/")) == {str(world.own.enrollment.pk), str(world.own_iq.enrollment.pk)}
    assert ids(cpss.get(f"{API}/providers/")) == {str(world.cpss.pk)}
    assert ids(cpss.get(f"{API}/intakeq-links/")) == {str(world.own_iq.intakeq_link.pk)}
    assert ids(cpss.get(f"{API}/intakeq-patients/")) == {str(world.own_iq.intakeq_link.intakeq_patient_id)}
    assert ids(cpss.get(f"{API}/programs/")) == {str(world.program.pk)}
    caseloads = cpss.get(f"{API}/providers/caseloads/").json()["results"]
    assert [row["cpss_provider"] for row in caseloads] == [str(world.cpss.pk)]
    # A CM supervisor sees both caseloads.
    everything = ids(world.client("cm_supervisor").get(f"{API}/enrollments/"))
    assert str(world.other.enrollment.pk) in everything and len(everything) == 4


OUT_OF_SCOPE: dict[str, Request] = {
    "canonical patient": lambda w: ("get", f"{API}/canonical-patients/{w.other.canonical_patient.pk}/", None),
    "complete view": lambda w: ("get", f"{API}/canonical-patients/{w.other.canonical_patient.pk}/complete/", None),
    "cm patient": lambda w: ("get", f"{API}/patients/{w.other.cm_patient.pk}/", None),
    "provider": lambda w: ("get", f"{API}/providers/{w.other_cpss.pk}/", None),
    "enrollment": lambda w: ("get", f"{API}/enrollments/{w.other.enrollment.pk}/", None),
    "ledger": lambda w: ("get", f"{API}/enrollments/{w.other.enrollment.pk}/ledger/", None),
    "ledger entry": lambda w: (
        "get",
        f"{API}/enrollments/{w.other.enrollment.pk}/ledger/{w.other_entry().pk}/",
        None,
    ),
    "ledger entry under own enrollment": lambda w: (
        "get",
        f"{API}/enrollments/{w.own.enrollment.pk}/ledger/{w.other_entry().pk}/",
        None,
    ),
    "intakeq patient": lambda w: (
        "get",
        f"{API}/intakeq-patients/{w.other_iq.intakeq_link.intakeq_patient_id}/",
        None,
    ),
    "unlinked intakeq patient": lambda w: ("get", f"{API}/intakeq-patients/{w.free_iq.pk}/", None),
    "intakeq link": lambda w: ("get", f"{API}/intakeq-links/{w.other_iq.intakeq_link.pk}/", None),
    "enrollment update": lambda w: ("patch", f"{API}/enrollments/{w.other.enrollment.pk}/", {"notes": "x"}),
    "enrollment status": lambda w: (
        "post",
        f"{API}/enrollments/{w.other.enrollment.pk}/status/",
        {"status": "paused"},
    ),
    "enrollment events": lambda w: (
        "post",
        f"{API}/enrollments/{w.other.enrollment.pk}/events/",
        {"event_type": "test_negative"},
    ),
    "ledger reverse": lambda w: (
        "post",
        f"{API}/enrollments/{w.other.enrollment.pk}/ledger/{w.other_entry().pk}/reverse/",
        {"reason": "x"},
    ),
}


@pytest.mark.parametrize("name", OUT_OF_SCOPE)
def test_cpss_gets_404_outside_their_caseload(world, name):
    before = (CMPointsTransaction.objects.count(), list(CMEnrollment.objects.values_list("status", "notes")))
    response = _send(world, "cpss", OUT_OF_SCOPE[name])
    assert response.status_code == 404, response.content
    assert error(response) == {"code": "not_found", "message": "Not found."}
    assert (CMPointsTransaction.objects.count(), list(CMEnrollment.objects.values_list("status", "notes"))) == before
    # The same request by a CM supervisor finds the record: the 404 was the scope, not a typo.
    # (An entry asked for under the wrong enrollment is not found by anyone.)
    expected = {"enrollment events": 201, "ledger reverse": 201, "ledger entry under own enrollment": 404}
    assert _send(world, "cm_supervisor", OUT_OF_SCOPE[name]).status_code == expected.get(name, 200)


def test_cpss_cannot_name_other_caseloads_in_a_body(world):
    """Foreign keys in a body are looked up within the scope too: another CPSS's patient "does not exist"."""
    response = world.client("superuser").post(
        f"{API}/enrollments/",
        {"cm_patient": "00000000-0000-0000-0000-000000000000", "cpss_provider": str(world.cpss.pk)},
        format="json",
    )
    assert response.status_code == 400
    assert "cm_patient" in error(response)["fields"]


def test_cpss_may_not_reassign_an_enrollment(world):
    cpss = world.client("cpss")
    for body in ({"cpss_provider": str(world.other_cpss.pk)}, {"cpss_provider": None}, {"cpss_provider_id": None}):
        response = cpss.patch(f"{API}/enrollments/{world.own.enrollment.pk}/", body, format="json")
        assert response.status_code == 403
        assert error(response)["message"] == "Moving a patient to another CPSS is a CM supervisor's decision."
    world.own.enrollment.refresh_from_db()
    assert world.own.enrollment.cpss_provider_id == world.cpss.pk


def test_complete_view_shows_a_cpss_only_their_enrollments_of_a_shared_patient(world):
    """A patient in two programs with two CPSS: each CPSS sees the patient and their own enrollment."""
    second = CMEnrollmentFactory(
        cm_patient=world.own.cm_patient, cm_program__name="Second program", cpss_provider=world.other_cpss
    )
    url = f"{API}/canonical-patients/{world.own.canonical_patient.pk}/complete/"
    mine = world.client("cpss").get(url).json()
    assert [e["id"] for e in mine["enrollments"]] == [str(world.own.enrollment.pk)]
    everything = world.client("cm_supervisor").get(url).json()
    assert [e["id"] for e in everything["enrollments"]] == [str(world.own.enrollment.pk), str(second.pk)]
    assert everything["enrollment"]["id"] == str(second.pk)


# ---------------------------------------------------------------------------------------------------
# The number of queries of a list does not grow with the page


def _more_rows(world: World, name: str, n: int) -> None:
    for _ in range(n):
        if name in ("canonical-patients", "patients", "enrollments"):
            CMEnrollmentFactory(cm_program=world.program, cpss_provider=CMProviderFactory())
        elif name == "providers" or name == "providers/caseloads":
            CMProviderFactory()
        elif name == "programs":
            CMEnrollmentFactory()  # a program of its own
        elif name in ("intakeq-patients", "intakeq-links", "dual-enrollments"):
            link = IntakeQLinkFactory(linked_by=world.users["cm_supervisor"])
            CMPatientFactory(canonical_patient=link.canonical_patient)
        elif name == "ledger":
            services.cm_event_record(enrollment=world.own.enrollment, event_type="weekly_checkin")
        else:  # pragma: no cover
            raise AssertionError(name)


LISTS = (
    "canonical-patients",
    "patients",
    "providers",
    "providers/caseloads",
    "programs",
    "enrollments",
    "ledger",
    "intakeq-patients",
    "intakeq-links",
    "dual-enrollments",
)


@pytest.mark.parametrize(
    ("name", "role"),
    [(name, "cm_supervisor") for name in LISTS] + [(name, "cpss") for name in LISTS if name != "dual-enrollments"],
)
def test_list_query_count_is_the_same_at_1_and_at_50_rows(world, name, role):
    url = f"{API}/enrollments/{world.own.enrollment.pk}/ledger/" if name == "ledger" else f"{API}/{name}/"
    client = world.client(role)

    def measure(page_size: int) -> tuple[int, int]:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"{url}?page_size={page_size}")
        assert response.status_code == 200, response.content
        return len(queries), len(response.json()["results"])

    small, small_rows = measure(1)
    if role == "cm_supervisor" or name == "programs":
        _more_rows(world, name, 50)
    else:
        # A CPSS's page grows with their own caseload.
        for _ in range(50):
            enrollment = CMEnrollmentFactory(cm_program=world.program, cpss_provider=world.cpss)
            IntakeQLinkFactory(canonical_patient=enrollment.canonical_patient)
            services.cm_event_record(enrollment=world.own.enrollment, event_type="weekly_checkin")
    large, large_rows = measure(50)
    assert small_rows == 1
    assert large_rows == (1 if name in ("providers", "providers/caseloads") and role == "cpss" else 50)
    assert small == large, (small, large)
    # An enrollment's ledger is one patient's record: its PHI access log entry is a SET and an INSERT.
    assert large <= 10 + (2 if name == "ledger" else 0)


def test_other_rows_do_not_leak_into_a_cpss_search(world):
    response = world.client("cpss").get(f"{API}/canonical-patients/?search=Reed")
    assert response.status_code == 200 and response.json()["count"] == 0
    mine = world.client("cpss").get(f"{API}/canonical-patients/?search=martinez").json()["results"]
    assert [row["last_name"] for row in mine] == ["Martinez"]
