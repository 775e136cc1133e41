"""The CPSS filter of the enrollments and the ledger: a name box instead of every CPSS in the sidebar."""

from __future__ import annotations

import pytest
from django.urls import reverse

from cm_program import services
from tests.factories.cm_program import IntakeQPatientFactory

pytestmark = pytest.mark.django_db

ENROLLMENTS = reverse("admin:cm_program_cmenrollment_changelist")
LEDGER = reverse("admin:cm_program_cmpointstransaction_changelist")


@pytest.fixture
def caseloads(program, make_cpss, superuser):
    """Riley Stone and Rita Stoner with one patient each, and 30 other CPSS without any."""
    riley = make_cpss("riley_cpss", first_name="Riley", last_name="Stone")
    rita = make_cpss("rita_cpss", first_name="Rita", last_name="Stoner")
    for n in range(30):
        make_cpss(first_name=f"Other{n:02d}", last_name="Peer")
    made = {}
    for provider, last in ((riley, "Alpha"), (rita, "Beta")):
        made[provider.last_name] = services.cm_patient_enroll_from_intakeq(
            intakeq_patient=IntakeQPatientFactory(first_name="Pat", last_name=last),
            program=program,
            cpss_provider=provider,
            actor=superuser,
        ).enrollment
    return riley, rita, made


def _choices(response) -> list[str]:
    spec = next(s for s in response.context["cl"].filter_specs if s.title == "CPSS")
    return [choice["display"] for choice in spec.choices(response.context["cl"])]


def test_the_sidebar_offers_a_name_box_not_every_cpss(client, cm_supervisor_user, caseloads):
    client.force_login(cm_supervisor_user)
    response = client.get(ENROLLMENTS)
    assert response.status_code == 200
    assert _choices(response) == ["All", "No CPSS"]
    assert b'name="cpss_name"' in response.content
    assert b"Other07" not in response.content


def test_a_typed_name_lists_the_matching_cpss_and_narrows_the_list_to_them(client, cm_supervisor_user, caseloads):
    riley, rita, enrollments = caseloads
    client.force_login(cm_supervisor_user)
    response = client.get(ENROLLMENTS, {"cpss_name": "ston", "status__exact": "active"})
    assert response.status_code == 200
    assert _choices(response) == ["All", str(riley), str(rita), "No CPSS"]
    assert {e.pk for e in response.context["cl"].result_list} == {e.pk for e in enrollments.values()}
    # The other filters travel with the name box.
    assert b'<input type="hidden" name="status__exact" value="active">' in response.content
    response = client.get(ENROLLMENTS, {"cpss_name": "riley stone"})
    assert [e.pk for e in response.context["cl"].result_list] == [enrollments["Stone"].pk]


def test_picking_a_cpss_filters_by_its_id_as_the_caseload_page_links(client, cm_supervisor_user, caseloads):
    riley, _rita, enrollments = caseloads
    client.force_login(cm_supervisor_user)
    response = client.get(ENROLLMENTS, {"cpss": str(riley.pk)})
    assert [e.pk for e in response.context["cl"].result_list] == [enrollments["Stone"].pk]
    assert _choices(response) == ["All", str(riley), "No CPSS"]
    response = client.get(LEDGER, {"cpss": str(riley.pk)})
    assert response.status_code == 200
    assert {t.enrollment_id for t in response.context["cl"].result_list} == {enrollments["Stone"].pk}


@pytest.mark.parametrize("params", [{"cpss": "not-a-uuid"}, {"cpss_name": "x" * 500}, {"cpss_name": "%_\\'"}])
def test_odd_values_give_a_page_not_an_error(client, cm_supervisor_user, caseloads, params):
    client.force_login(cm_supervisor_user)
    for url in (ENROLLMENTS, LEDGER):
        response = client.get(url, params)
        assert response.status_code == 200


def test_a_cpss_gets_no_cpss_filter(client, caseloads):
    riley, _rita, enrollments = caseloads
    client.force_login(riley.user)
    response = client.get(ENROLLMENTS)
    assert response.status_code == 200
    assert not [s for s in response.context["cl"].filter_specs if s.title == "CPSS" and s.has_output()]
    assert [e.pk for e in response.context["cl"].result_list] == [enrollments["Stone"].pk]
