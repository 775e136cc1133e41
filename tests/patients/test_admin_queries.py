"""Every patient-navigation changelist costs the same number of queries for 1 row as for 50 (a full page),
for a superuser and for a navigator (whose patient list opens on "my patients")."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.admin.widgets import AutocompleteSelect
from django.db import connection
from django.forms import ModelChoiceField
from django.test import Client
from django.test.utils import CaptureQueriesContext

from common import admin as crm_admin
from common.admin import CrmModelAdmin, EstimatedCountPaginator
from journeys.models import ClinicalTrialJourney, EAPJourney, JourneyStatusChange
from patients.models import (
    CallHistory,
    Hospital,
    MedicalCondition,
    Patient,
    PatientLead,
    PatientPhysicianRelationship,
    Physician,
    Specialization,
)
from people.models import ContactType, Person, PersonContactType, PersonDuplicatePair, PersonMergeRequest
from tests.admin_smoke import admin_url, list_variants
from tests.factories.journeys import ClinicalTrialJourneyFactory, EAPJourneyFactory, JourneyStatusChangeFactory
from tests.factories.patients import (
    CallHistoryFactory,
    HospitalFactory,
    MedicalConditionFactory,
    PatientFactory,
    PatientLeadFactory,
    PatientPhysicianRelationshipFactory,
    PhysicianFactory,
    SpecializationFactory,
)
from tests.factories.people import ContactTypeFactory, NavigatorFactory, PersonContactTypeFactory, PersonFactory

pytestmark = pytest.mark.django_db


def _duplicate_pair(me) -> PersonDuplicatePair:
    # Two patients of the navigator: a pair within the navigator's scope (the queue shows no other).
    low, high = sorted((PatientFactory(navigator=me).person, PatientFactory(navigator=me).person), key=lambda p: p.pk)
    return PersonDuplicatePair.objects.create(person_low=low, person_high=high, score=Decimal("0.70"))


# model -> how to make one more row of it. ``me`` is the navigator's Person (so "my patients" fill up);
# rows that hang off a patient share one, which keeps 50 rows quick to make.
MAKERS = {
    Person: lambda me, patient: PersonFactory(),
    PersonContactType: lambda me, patient: PersonContactTypeFactory(),
    ContactType: lambda me, patient: ContactTypeFactory(),
    MedicalCondition: lambda me, patient: MedicalConditionFactory(),
    Hospital: lambda me, patient: HospitalFactory(),
    Specialization: lambda me, patient: SpecializationFactory(),
    PatientLead: lambda me, patient: PatientLeadFactory(),
    Patient: lambda me, patient: PatientFactory(navigator=me),
    Physician: lambda me, patient: PhysicianFactory(hospital=None, specialization=None),
    PatientPhysicianRelationship: lambda me, patient: PatientPhysicianRelationshipFactory(
        patient=patient, physician__hospital=None, physician__specialization=None
    ),
    CallHistory: lambda me, patient: CallHistoryFactory(patient=patient, navigator=me),
    ClinicalTrialJourney: lambda me, patient: ClinicalTrialJourneyFactory(patient=patient, referring_physician=None),
    EAPJourney: lambda me, patient: EAPJourneyFactory(patient=patient, physician=None),
    PersonMergeRequest: lambda me, patient: PersonMergeRequest.objects.create(
        survivor=PersonFactory(), duplicate=PersonFactory(), reason="Same phone", requested_by=me.user
    ),
    PersonDuplicatePair: lambda me, patient: _duplicate_pair(me),
    JourneyStatusChange: lambda me, patient: JourneyStatusChangeFactory(
        ct_journey__patient=patient, ct_journey__referring_physician=None
    ),
}


def test_every_navigation_changelist_is_covered():
    registered = {m for m in admin.site._registry if m._meta.app_label in ("people", "patients", "journeys")}
    assert {m._meta.model_name for m in registered - set(MAKERS)} == {"user"}  # logins: superusers only


def _queries(client: Client, url: str) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(captured.captured_queries), len(response.context["cl"].result_list)


@pytest.mark.parametrize("model", list(MAKERS), ids=lambda m: m.__name__)
def test_changelist_queries_do_not_grow_with_rows(model, superuser, navigator_user):
    me = NavigatorFactory(user=navigator_user)
    patient = PatientFactory(navigator=me)
    make = lambda: MAKERS[model](me, patient)  # noqa: E731
    url = admin_url(model, "changelist")
    clients = {}
    for name, user in (("superuser", superuser), ("navigator", navigator_user)):
        clients[name] = Client()
        clients[name].force_login(user)
        clients[name].get(url)  # warm the per-process caches (content types, permissions)

    make()
    at_one = {name: _queries(c, url) for name, c in clients.items()}
    for _ in range(49):
        make()
    at_fifty = {name: _queries(c, url) for name, c in clients.items()}
    for name in clients:
        (queries_one, rows_one), (queries_fifty, rows_fifty) = at_one[name], at_fifty[name]
        assert rows_one >= 1 and rows_fifty >= 50, (name, rows_one, rows_fifty)
        assert queries_fifty == queries_one, f"{model.__name__} as {name}: {queries_one} queries for 1 row, " + (
            f"{queries_fifty} for 50"
        )


@pytest.mark.parametrize("model", list(MAKERS), ids=lambda m: m.__name__)
def test_searched_and_filtered_changelist_queries_do_not_grow_with_rows(model, superuser, navigator_user):
    me = NavigatorFactory(user=navigator_user)
    patient = PatientFactory(navigator=me)
    client = Client()
    client.force_login(superuser)
    MAKERS[model](me, patient)
    urls = list_variants(client, admin_url(model, "changelist"))
    at_one = {url: _queries(client, url)[0] for url in urls}
    for _ in range(49):
        MAKERS[model](me, patient)
    at_fifty = {url: _queries(client, url)[0] for url in urls}
    assert at_fifty == at_one


NAVIGATION_ADMINS = [
    (model, model_admin)
    for model, model_admin in admin.site._registry.items()
    if model._meta.app_label in ("people", "patients", "journeys") and model._meta.model_name != "user"
]


def test_every_navigation_admin_is_a_crm_admin():
    # CrmModelAdmin: the audit-trail history page, estimated counts for large unfiltered lists.
    assert NAVIGATION_ADMINS
    for model, model_admin in NAVIGATION_ADMINS:
        assert isinstance(model_admin, CrmModelAdmin), model
        assert model_admin.paginator is EstimatedCountPaginator and not model_admin.show_full_result_count, model


def test_every_foreign_key_on_an_add_or_change_form_is_an_autocomplete(admin_client):
    patient = PatientFactory()
    call = CallHistoryFactory(patient=patient)
    journeys = [ClinicalTrialJourneyFactory(patient=patient), EAPJourneyFactory(patient=patient)]
    seen = 0
    for model, _ in NAVIGATION_ADMINS:
        urls = [admin_url(model, "add")]
        obj = {CallHistory: call, ClinicalTrialJourney: journeys[0], EAPJourney: journeys[1]}.get(model)
        if obj is not None:
            urls.append(admin_url(model, "change", obj.pk))
        for url in urls:
            response = admin_client.get(url)
            if response.status_code == 403:  # read-only lists (the timeline) have no form
                continue
            for name, field in response.context["adminform"].form.fields.items():
                if isinstance(field, ModelChoiceField):
                    seen += 1
                    assert isinstance(field.widget.widget, AutocompleteSelect), f"{model.__name__}.{name} at {url}"
    assert seen >= 15


@pytest.mark.parametrize(("model", "table"), [(CallHistory, "call_history"), (Patient, "patient")])
def test_large_unfiltered_lists_use_the_row_estimate_and_filtered_ones_count(admin_client, monkeypatch, model, table):
    for _ in range(3):
        CallHistoryFactory()
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {table}")
    monkeypatch.setattr(crm_admin, "ESTIMATE_THRESHOLD", 2)

    def counts(params):
        with CaptureQueriesContext(connection) as captured:
            response = admin_client.get(admin_url(model, "changelist"), params)
        sql = [q["sql"] for q in captured.captured_queries]
        exact = [q for q in sql if q.startswith("SELECT COUNT(*)") and f'FROM "{table}"' in q]
        return response, exact, [q for q in sql if "reltuples" in q]

    response, exact, estimated = counts({})
    assert response.context["cl"].result_count == 3 and estimated and not exact
    response, exact, estimated = counts({"q": "no-such-name"})
    assert response.context["cl"].result_count == 0 and exact and not estimated


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client
