"""Every CM changelist runs the same number of queries at 1 row and at 50 rows (a full page), as a
superuser and as a CPSS, and large unfiltered lists are counted from PostgreSQL's estimate."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cm_program import services
from cm_program.models import (
    CanonicalPatient,
    CMEnrollment,
    CMPatient,
    CMPointsTransaction,
    CMProgram,
    CMProvider,
    IntakeQLink,
    IntakeQPatient,
)
from common import admin as crm_admin
from tests.admin_smoke import list_variants
from tests.factories.cm_program import CMProgramFactory, CMProviderFactory, IntakeQPatientFactory

CHANGELISTS = (
    CanonicalPatient,
    CMPatient,
    IntakeQPatient,
    IntakeQLink,
    CMProvider,
    CMProgram,
    CMEnrollment,
    CMPointsTransaction,
)


def changelist(model) -> str:
    return reverse(f"admin:cm_program_{model._meta.model_name}_changelist")


def add_rows(count: int, *, program, cpss, providers_and_programs: int) -> None:
    """``count`` more dual-enrolled patients of ``cpss``, each with one ledger entry (the enrollment
    bonus), and more providers and programs."""
    for _ in range(count):
        services.cm_patient_enroll_from_intakeq(
            intakeq_patient=IntakeQPatientFactory(), program=program, cpss_provider=cpss
        )
    for _ in range(providers_and_programs):
        CMProviderFactory()
        CMProgramFactory()


def measure(client, variants: dict | None = None) -> tuple[dict[str, int], dict[str, int]]:
    """Queries and rows of each changelist's default view, and queries of its search and of each filter
    (``variants``: the URLs to use, from ``list_variants``)."""
    queries, rows = {}, {}
    for model in CHANGELISTS:
        client.get(changelist(model))  # caches that fill once per process (content types) are warm
        with CaptureQueriesContext(connection) as captured:
            response = client.get(changelist(model))
        assert response.status_code == 200, model
        queries[model.__name__] = len(captured)
        rows[model.__name__] = len(response.context["cl"].result_list)
        for url in (variants or {}).get(model, [])[1:]:
            with CaptureQueriesContext(connection) as captured:
                assert client.get(url).status_code == 200, url
            queries[url] = len(captured)
    return queries, rows


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["superuser", "cpss"])
def test_changelist_queries_do_not_grow_with_rows(client, superuser, make_cpss, role):
    cpss = make_cpss("counting_cpss", max_caseload=100)
    program = CMProgramFactory(name="Counted CM")
    client.force_login(superuser if role == "superuser" else cpss.user)
    # The provider and program lists start with the CPSS and the program above.
    add_rows(1, program=program, cpss=cpss, providers_and_programs=0)

    variants = {model: list_variants(client, changelist(model)) for model in CHANGELISTS}
    queries_at_one, rows_at_one = measure(client, variants)
    assert set(rows_at_one.values()) == {1}

    add_rows(49, program=program, cpss=cpss, providers_and_programs=49)
    queries_at_fifty, rows_at_fifty = measure(client, variants)
    expected = dict.fromkeys(rows_at_fifty, 50)
    if role == "cpss":
        expected["CMProvider"] = 1  # a CPSS sees their own provider record only
    assert rows_at_fifty == expected
    assert queries_at_fifty == queries_at_one


@pytest.mark.django_db
def test_large_unfiltered_lists_use_the_estimate_and_filtered_ones_count(client, superuser, program, cpss, monkeypatch):
    for _ in range(3):
        services.cm_patient_enroll_from_intakeq(
            intakeq_patient=IntakeQPatientFactory(), program=program, cpss_provider=cpss
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE cm_points_transactions")
        # The planner's estimate, made deliberately wrong so that the test sees which number is used.
        cursor.execute("UPDATE pg_class SET reltuples = 123456 WHERE oid = 'cm_points_transactions'::regclass")
    monkeypatch.setattr(crm_admin, "ESTIMATE_THRESHOLD", 1000)

    client.force_login(superuser)
    unfiltered = client.get(changelist(CMPointsTransaction))
    assert unfiltered.context["cl"].result_count == 123456
    filtered = client.get(changelist(CMPointsTransaction), {"event_type__exact": "enrollment_bonus"})
    assert filtered.context["cl"].result_count == 3
    # A CPSS's list is always filtered by their caseload: counted exactly.
    client.force_login(cpss.user)
    assert client.get(changelist(CMPointsTransaction)).context["cl"].result_count == 3
