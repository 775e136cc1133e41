"""The search box (``common.search``) in the admin and the API: accent- and case-insensitive substring search
on names and emails, short words from the start, every word in some field, phones however typed, the user's
scope kept, and the trigram / prefix indexes used."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from common.search import search, search_words
from patients.models import Patient
from people.models import Person
from tests.admin_smoke import admin_url
from tests.factories.patients import CallHistoryFactory, PatientFactory
from tests.factories.people import PersonContactTypeFactory, PersonFactory
from tests.navigation_api import API, assert_error, client_for, results
from tests.person_scope import scope_world  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

PERSON_FIELDS = ("last_name", "first_name", "email", "phone")


@pytest.fixture
def people() -> dict[str, Person]:
    def person(key, first, last, email, phone=""):
        made = PersonFactory(first_name=first, last_name=last, email=email, phone=phone)
        PersonContactTypeFactory(person=made)  # a lead: patient navigation sees them
        return key, made

    return dict(
        [
            person("jose", "José", "García", "jg@example.org", "+18015550101"),
            person("joseph", "Joseph", "Smith", "jsmith@example.org", "+18015550202"),
            person("mueller", "Anna", "Müller", "anna.m@example.de", "+4915112345678"),
            person("muller", "Paul", "MULLER", "paul@example.org"),
            person("zoe", "Zoë", "Ångström", "zoe@example.se"),
            person("percent", "Pam", "O_Neil", "pam100%@example.org"),
        ]
    )


def found(people: dict[str, Person], term: str) -> set[str]:
    by_pk = {person.pk: key for key, person in people.items()}
    return {by_pk[pk] for pk in search(Person.objects.all(), PERSON_FIELDS, term).values_list("pk", flat=True)}


def test_accents_and_case_are_ignored_both_ways(people):
    assert found(people, "jose") == {"jose", "joseph"}  # "José" and "Joseph"
    assert found(people, "JOSÉ") == {"jose", "joseph"}
    assert found(people, "MULL") == {"mueller", "muller"}
    assert found(people, "müller") == {"mueller", "muller"}
    assert found(people, "angstrom") == {"zoe"}
    assert found(people, "ZOE") == {"zoe"}  # first name "Zoë" and email "zoe@"


def test_a_word_of_three_or_more_characters_matches_inside_a_field(people):
    assert found(people, "arci") == {"jose"}
    assert found(people, "ngstr") == {"zoe"}
    assert found(people, "example.de") == {"mueller"}


def test_words_under_three_characters_match_from_the_start_of_a_field(people):
    assert found(people, "g") == {"jose"}  # García; "Ångström" has a g inside only
    assert found(people, "mü") == {"mueller", "muller"}
    assert found(people, "ll") == set()  # inside "Müller" only
    assert found(people, "an") == {"mueller", "zoe"}  # Anna, anna.m@; Ångström


def test_every_word_must_match_some_field(people):
    assert found(people, "jose garcia") == {"jose"}
    assert found(people, "garcia jose") == {"jose"}
    assert found(people, "jos smith") == {"joseph"}
    assert found(people, "garcia smith") == set()
    assert found(people, '"anna m"') == set()  # a quoted phrase is one word
    assert found(people, '"anna.m"') == {"mueller"}


def test_like_wildcards_are_plain_characters(people):
    assert found(people, "_") == set()
    assert found(people, "o_n") == {"percent"}
    assert found(people, "100%") == {"percent"}
    assert found(people, "%") == set()


def test_phones_are_found_however_they_are_typed(people):
    assert found(people, "(801) 555-0101") == {"jose"}
    assert found(people, "801.555.0202") == {"joseph"}
    assert found(people, "+49 151 1234") == {"mueller"}
    assert found(people, "555 0") == {"jose", "joseph"}  # one phone-like term, digits 5550
    assert found(people, "5550101") == {"jose"}
    assert search_words("(801) 555-0101") == ["(801) 555-0101"]
    assert search_words("ann  'van der' lee") == ["ann", "van der", "lee"]


def test_the_api_search_is_the_same_search(people, superuser):
    api = client_for(superuser)
    rows = results(api.get(f"{API}/persons/", {"search": "MULL"}))
    assert sorted(row["last_name"] for row in rows) == ["MULLER", "Müller"]
    rows = results(api.get(f"{API}/persons/", {"search": "jose garcia"}))
    assert [(row["first_name"], row["last_name"]) for row in rows] == [("José", "García")]
    rows = results(api.get(f"{API}/persons/", {"search": "(801) 555-0202"}))
    assert [row["email"] for row in rows] == ["jsmith@example.org"]


def test_the_patient_api_searches_the_persons_fields(superuser):
    amy = PatientFactory(person=PersonFactory(first_name="Amélie", last_name="Poulain", phone="+18015550999"))
    PatientFactory(person=PersonFactory(first_name="Bob", last_name="Ross"))
    api = client_for(superuser)
    for term in ("amelie", "POUL", "po", "801-555-0999"):
        rows = results(api.get(f"{API}/patients/", {"search": term}))
        assert [row["id"] for row in rows] == [str(amy.pk)], term


def test_bad_search_terms_are_a_400_naming_search(superuser):
    api = client_for(superuser)
    assert_error(api.get(f"{API}/persons/", {"search": "x" * 201}), 400, "invalid", fields=("search",))
    assert_error(api.get(f"{API}/patients/", {"search": "ann\x00"}), 400, "invalid", fields=("search",))


def test_admin_search_is_the_same_search(people, client, superuser):
    client.force_login(superuser)
    response = client.get(admin_url(Person, "changelist"), {"q": "müll"})
    assert response.status_code == 200
    assert {row.last_name for row in response.context["cl"].result_list} == {"Müller", "MULLER"}
    response = client.get(admin_url(Person, "changelist"), {"q": "(801) 555-0101"})
    assert [row.email for row in response.context["cl"].result_list] == ["jg@example.org"]
    assert "García" in response.content.decode()


def test_fields_on_several_tables_each_match(superuser, client):
    """A call matches on its patient's or its navigator's name (one UNION branch per table)."""
    client.force_login(superuser)
    call = CallHistoryFactory(patient=PatientFactory(person=PersonFactory(last_name="Øster")))
    CallHistoryFactory()
    response = client.get(admin_url(type(call), "changelist"), {"q": "oster"})
    assert [row.pk for row in response.context["cl"].result_list] == [call.pk]
    fields = ("patient__person__last_name", "navigator__last_name")
    assert list(search(type(call).objects.all(), fields, call.navigator.last_name)) == [call]
    assert list(search(type(call).objects.all(), fields, "oster")) == [call]
    rows = results(client_for(superuser).get(f"{API}/call-history/", {"search": "øSTER"}))
    assert [row["id"] for row in rows] == [str(call.pk)]


@pytest.mark.parametrize("role", ["navigator", "crm_supervisor"])
def test_navigation_staff_cannot_find_a_cm_only_person(scope_world, role, client):  # noqa: F811
    user = scope_world.users[role]
    for term in ("confidential", "carla", "carla@cm", "(801) 555-0111", "co"):
        assert results(client_for(user).get(f"{API}/persons/", {"search": term})) == [], term
    client.force_login(user)
    response = client.get(admin_url(Person, "changelist"), {"q": "confidential"})
    assert response.status_code == 200 and list(response.context["cl"].result_list) == []
    # The same search finds the navigation Person and, for a superuser, the CM-only one.
    assert [r["last_name"] for r in results(client_for(user).get(f"{API}/persons/", {"search": "navonly"}))] == [
        "Navonly"
    ]
    rows = results(client_for(scope_world.users["superuser"]).get(f"{API}/persons/", {"search": "confidential"}))
    assert [row["last_name"] for row in rows] == ["Confidential"]


def _plan(queryset) -> str:
    """The plan when scanning a whole table costs more than anything (a few test rows would otherwise be
    read sequentially, or through the ordering's index); bitmap scans, which the search indexes give,
    stay as cheap as they are."""
    switches = ("enable_seqscan", "enable_indexscan", "enable_indexonlyscan")
    with connection.cursor() as cursor:
        for switch in switches:
            cursor.execute(f"SET LOCAL {switch} = off")
        try:
            return queryset.explain()
        finally:
            for switch in switches:
                cursor.execute(f"RESET {switch}")


@pytest.mark.parametrize(
    ("term", "indexes"),
    [
        ("müll", {"person_last_name_trgm", "person_first_name_trgm", "person_email_trgm"}),
        ("mu", {"person_last_name_prefix", "person_first_name_prefix", "person_email_prefix"}),
        ("(801) 555-01", {"person_phone_trgm"}),
    ],
)
def test_the_search_uses_the_trigram_and_prefix_indexes(people, term, indexes):
    plan = _plan(search(Person.all_objects.all(), PERSON_FIELDS, term))
    assert all(index in plan for index in indexes), plan
    patients = Patient.all_objects.select_related("person")
    plan = _plan(search(patients, ("person__last_name", "person__first_name", "person__email"), term))
    assert all(index in plan for index in indexes if "phone" not in index), plan


def test_email_filters_use_the_normalised_email_index(people):
    from people.filters import with_email

    plan = _plan(with_email(Person.all_objects.all(), "email", " ANNA.M@example.DE "))
    assert "person_email_normalised_uniq" in plan, plan
    assert list(with_email(Person.objects.all(), "email", " ANNA.M@example.DE ")) == [people["mueller"]]


def test_searching_costs_the_same_queries_at_1_and_50_rows(superuser, client):
    client.force_login(superuser)
    api = client_for(superuser)

    def queries(rows: int) -> tuple[int, int]:
        for n in range(Patient.objects.count(), rows):
            PatientFactory(person=PersonFactory(last_name=f"Searchable{n:02d}", first_name="Ünal"))
        with CaptureQueriesContext(connection) as admin_queries:
            response = client.get(admin_url(Patient, "changelist"), {"q": "unal searchable"})
        assert response.context["cl"].result_count == rows
        with CaptureQueriesContext(connection) as api_queries:
            assert len(results(api.get(f"{API}/patients/", {"search": "unal searchable"}))) == rows
        return len(admin_queries), len(api_queries)

    assert queries(1) == queries(50)


def test_cm_names_are_searched_ignoring_accents_too(superuser):
    from tests.factories.cm_program import CanonicalPatientFactory, IntakeQPatientFactory

    canonical = CanonicalPatientFactory(first_name="Inés", last_name="González")
    CanonicalPatientFactory(first_name="Ines", last_name="Smith")
    intakeq = IntakeQPatientFactory(first_name="Łukasz", last_name="Wójcik")
    api = client_for(superuser)
    rows = results(api.get(f"{API}/cm/canonical-patients/", {"search": "ines gonzalez"}))
    assert [row["id"] for row in rows] == [str(canonical.pk)]
    rows = results(api.get(f"{API}/cm/intakeq-patients/", {"search": "WOJCIK"}))
    assert [row["id"] for row in rows] == [str(intakeq.pk)]
