"""The list filters rewritten for the full-size data set (docs/PERFORMANCE.md, "Admin pages at full size, round 2")
list the same rows as before: the persons' role filter, the journeys' navigator filter, the calls' no-show filter."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from journeys.models import ClinicalTrialJourney, EAPJourney
from people.models import ContactType, Person
from tests.admin_smoke import admin_url
from tests.factories.journeys import ClinicalTrialJourneyFactory, EAPJourneyFactory
from tests.factories.patients import CallHistoryFactory, PatientFactory
from tests.factories.people import NavigatorFactory, PersonContactTypeFactory, PersonFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def _listed(client, url, params) -> list:
    response = client.get(url, params)
    assert response.status_code == 200, response.content[:300]
    return [row.pk for row in response.context["cl"].result_list]


def test_the_role_filter_lists_each_holder_once_past_or_present(admin_client):
    caregiver = ContactType.objects.get(code=ContactType.CAREGIVER)
    now = timezone.now()
    twice = PersonFactory(last_name="Aalto")
    PersonContactTypeFactory(person=twice, contact_type=caregiver, valid_from=now - dt.timedelta(days=30),
                             valid_to=now - dt.timedelta(days=20))  # fmt: skip
    PersonContactTypeFactory(person=twice, contact_type=caregiver, valid_from=now - dt.timedelta(days=10))
    former = PersonFactory(last_name="Berg")
    PersonContactTypeFactory(person=former, contact_type=caregiver, valid_from=now - dt.timedelta(days=90),
                             valid_to=now - dt.timedelta(days=60))  # fmt: skip
    lead = PersonContactTypeFactory(person=PersonFactory(last_name="Chen")).person  # a lead, not a caregiver
    url = admin_url(Person, "changelist")

    with CaptureQueriesContext(connection) as captured:
        listed = _listed(admin_client, url, {"role": ContactType.CAREGIVER})
    assert listed == [twice.pk, former.pk]
    assert not any("DISTINCT" in q["sql"] for q in captured.captured_queries)
    assert _listed(admin_client, url, {"role": ContactType.PATIENT_LEAD}) == [lead.pk]
    # The sidebar offers each contact type by its code, the selected one marked.
    page = admin_client.get(url, {"role": ContactType.CAREGIVER}).content.decode()
    assert f'href="?role={ContactType.PATIENT_LEAD}"' in page and 'class="selected"' in page


def test_an_unknown_role_is_refused_not_ignored(admin_client):
    response = admin_client.get(admin_url(Person, "changelist"), {"role": "x"})
    # Django's answer to a bad list parameter: the list again, with the error flag and nothing filtered wrongly.
    assert response.status_code == 302 and response["Location"].endswith("?e=1")


@pytest.mark.parametrize(("model", "factory"), [(ClinicalTrialJourney, ClinicalTrialJourneyFactory),
                                                (EAPJourney, EAPJourneyFactory)])  # fmt: skip
def test_the_journey_navigator_filter_lists_the_journeys_of_that_navigator_s_patients(admin_client, model, factory):
    mine, theirs = NavigatorFactory(), NavigatorFactory()
    kept = [factory(patient=PatientFactory(navigator=mine)) for _ in range(3)]
    factory(patient=PatientFactory(navigator=theirs))
    factory(patient=PatientFactory(navigator=None))
    listed = _listed(admin_client, admin_url(model, "changelist"), {"navigator": str(mine.pk)})
    assert sorted(listed) == sorted(j.pk for j in kept)
    assert admin_client.get(admin_url(model, "changelist"), {"navigator": "not-an-id"}).status_code == 302


def test_the_no_show_filter_lists_no_shows_newest_first(admin_client):
    patient = PatientFactory()
    now = timezone.now()
    older = CallHistoryFactory(patient=patient, no_show=True, call_date=now - dt.timedelta(days=3))
    newer = CallHistoryFactory(patient=patient, no_show=True, call_date=now - dt.timedelta(days=1))
    CallHistoryFactory(patient=patient, no_show=False, call_date=now - dt.timedelta(days=2))
    listed = _listed(admin_client, admin_url(type(older), "changelist"), {"no_show__exact": "1"})
    assert listed == [newer.pk, older.pk]


def test_a_capped_count_turns_jit_off():
    from common.admin import EstimatedCountPaginator
    from patients.models import Patient

    def jit() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SHOW jit")
            return cursor.fetchone()[0]

    PatientFactory()
    before = jit()
    assert EstimatedCountPaginator(Patient.objects.filter(is_active=True), 50).count == 1
    assert jit() == "off"
    assert before == "on"  # PostgreSQL's default: the count turned it off
