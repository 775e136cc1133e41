"""A search whose fields span several tables (a journey's own fields and its patient's names) collects the
matching keys once per request; the paginator's count and the page then read those keys
(``common.search.MATCHED_KEYS_MAX``, docs/PERFORMANCE.md "Searched journey lists")."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from common import search as common_search
from journeys.models import ClinicalTrialJourney, EAPJourney, JourneyStatusChange
from tests.admin_smoke import admin_url
from tests.factories.journeys import ClinicalTrialJourneyFactory, EAPJourneyFactory, JourneyStatusChangeFactory
from tests.factories.patients import PatientFactory
from tests.factories.people import PersonFactory
from tests.navigation_api import API, client_for, results

pytestmark = pytest.mark.django_db


def _unions(captured) -> int:
    return sum(1 for query in captured.captured_queries if " UNION " in query["sql"])


def _journeys(rows: int) -> list[ClinicalTrialJourney]:
    made = []
    for n in range(ClinicalTrialJourney.objects.filter(patient__person__first_name="Ana").count(), rows):
        patient = PatientFactory(person=PersonFactory(last_name=f"Ørsted{n:02d}", first_name="Ana"))
        made.append(ClinicalTrialJourneyFactory(patient=patient))
    return made


def test_a_searched_journey_list_runs_its_union_once_per_request(superuser, client):
    client.force_login(superuser)
    api = client_for(superuser)

    def queries(rows: int) -> tuple[int, int]:
        _journeys(rows)
        ClinicalTrialJourneyFactory()  # another name: not found
        with CaptureQueriesContext(connection) as admin_queries:
            response = client.get(admin_url(ClinicalTrialJourney, "changelist"), {"q": "orsted"})
        assert response.status_code == 200
        assert response.context["cl"].result_count == rows
        assert _unions(admin_queries) == 1
        with CaptureQueriesContext(connection) as api_queries:
            found = results(api.get(f"{API}/ct-journeys/", {"search": "ØRSTED"}))
        assert len(found) == rows
        assert _unions(api_queries) == 1
        return len(admin_queries), len(api_queries)

    assert queries(1) == queries(50)


def test_the_keys_find_the_same_rows_as_the_union(superuser, client, monkeypatch):
    """Each table's branch finds its rows (the journey's trial id, the patient's name), every word must match,
    and past ``MATCHED_KEYS_MAX`` the union stays a subquery with the same answer."""
    client.force_login(superuser)
    by_name = ClinicalTrialJourneyFactory(patient=PatientFactory(person=PersonFactory(last_name="Nguyễn")))
    by_trial = ClinicalTrialJourneyFactory(trial_name="Study NGUYEN-7")
    both = ClinicalTrialJourneyFactory(
        trial_name="Nguyen pilot", patient=PatientFactory(person=PersonFactory(last_name="Nguyen", first_name="Bao"))
    )
    ClinicalTrialJourneyFactory()
    fields = ("trial_id", "trial_name", "patient__person__first_name", "patient__person__last_name")
    expected = {by_name.pk, by_trial.pk, both.pk}
    for cap in (common_search.MATCHED_KEYS_MAX, 2):
        monkeypatch.setattr(common_search, "MATCHED_KEYS_MAX", cap)
        journeys = ClinicalTrialJourney.objects.all()
        assert {j.pk for j in common_search.search(journeys, fields, "nguyen")} == expected
        assert {j.pk for j in common_search.search(journeys, fields, "nguyen bao")} == {both.pk}
        assert list(common_search.search(journeys, fields, "nguyen nobody")) == []
        rows = results(client_for(superuser).get(f"{API}/ct-journeys/", {"search": "nguyen"}))
        assert {row["id"] for row in rows} == {str(pk) for pk in expected}
        response = client.get(admin_url(ClinicalTrialJourney, "changelist"), {"q": "nguyen"})
        assert {j.pk for j in response.context["cl"].result_list} == expected


def test_the_eap_list_and_the_timeline_collect_their_keys_once(superuser, client):
    client.force_login(superuser)
    eap = EAPJourneyFactory(patient=PatientFactory(person=PersonFactory(last_name="Þórsdóttir")))
    EAPJourneyFactory()
    step = JourneyStatusChangeFactory(ct_journey=ClinicalTrialJourneyFactory(patient=eap.patient))
    JourneyStatusChangeFactory()
    for model, expected in ((EAPJourney, [eap.pk]), (JourneyStatusChange, [step.pk])):
        with CaptureQueriesContext(connection) as captured:
            response = client.get(admin_url(model, "changelist"), {"q": "thorsdottir"})
        assert [row.pk for row in response.context["cl"].result_list] == expected
        assert _unions(captured) == 1, model
