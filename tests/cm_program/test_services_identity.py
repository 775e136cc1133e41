"""The CM identity services: one canonical patient per human, and its Person."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from cm_program import services
from cm_program.models import (
    CanonicalPatient,
)
from common.audit import record_history
from common.errors import ConflictError
from people.models import Person
from tests.cm_program.conftest import run_concurrently
from tests.cm_program.services_support import assert_field_error, counts
from tests.factories.people import PersonFactory
from tests.relative_dates import FromToday, resolve


@pytest.mark.django_db
def test_find_or_create_creates_the_identity_and_its_person(superuser):
    identity = services.canonical_patient_find_or_create(
        first_name="  Jessica ",
        last_name="Martinez",
        date_of_birth="1992-03-22",
        email=" Jessica@Email.com ",
        phone="(801) 555-0123",
        actor=superuser,
    )
    canonical = identity.canonical_patient
    assert identity.created and identity.person_created
    assert (canonical.first_name, canonical.last_name, canonical.date_of_birth) == (
        "Jessica",
        "Martinez",
        dt.date(1992, 3, 22),
    )
    person = Person.objects.get()
    assert canonical.person == person
    assert (person.first_name, person.email, person.phone, person.date_of_birth) == (
        "Jessica",
        "jessica@email.com",
        "+18015550123",
        dt.date(1992, 3, 22),
    )
    assert record_history(canonical)[0].username == "root"


@pytest.mark.django_db
def test_find_or_create_returns_the_same_row_ignoring_case_accents_and_spaces():
    first = services.canonical_patient_find_or_create(
        first_name="José", last_name="Hernández", date_of_birth=dt.date(1987, 9, 14)
    )
    for given_first, given_last in [("jose ", "HERNANDEZ"), ("  JOSÉ", "hernández"), ("Jose", "Hernandez")]:
        again = services.canonical_patient_find_or_create(
            first_name=given_first, last_name=given_last, date_of_birth="1987-09-14"
        )
        assert again.canonical_patient.pk == first.canonical_patient.pk
        assert not again.created and not again.person_created
    assert CanonicalPatient.objects.count() == 1 and Person.objects.count() == 1
    assert CanonicalPatient.objects.get().first_name == "José"


@pytest.mark.django_db
def test_existing_person_found_by_email_is_linked_and_never_overwritten():
    person = PersonFactory(
        first_name="Jess", last_name="Martinez", email="jessica@email.com", phone="", date_of_birth=None
    )
    identity = services.canonical_patient_find_or_create(
        first_name="Jessica",
        last_name="Martinez",
        date_of_birth="1992-03-22",
        email="JESSICA@email.com",
        phone="801-555-0123",
    )
    person.refresh_from_db()
    assert identity.person == person and not identity.person_created
    assert identity.person_conflicts == {"first_name": ("Jess", "Jessica")}
    # The stored name stays; empty fields are filled.
    assert (person.first_name, person.phone, person.date_of_birth) == ("Jess", "+18015550123", dt.date(1992, 3, 22))
    assert Person.objects.count() == 1


@pytest.mark.django_db
def test_person_matched_by_name_and_birthday_only_when_unambiguous():
    solo = PersonFactory(first_name="Marcus", last_name="Reed", email=None, date_of_birth=dt.date(1983, 5, 19))
    identity = services.canonical_patient_find_or_create(
        first_name="marcus", last_name="reed", date_of_birth="1983-05-19"
    )
    assert identity.person == solo and not identity.person_created

    PersonFactory(first_name="Kim", last_name="Twin", email=None, date_of_birth=dt.date(1990, 1, 1))
    PersonFactory(first_name="Kim", last_name="Twin", email=None, date_of_birth=dt.date(1990, 1, 1))
    ambiguous = services.canonical_patient_find_or_create(
        first_name="Kim", last_name="Twin", date_of_birth="1990-01-01"
    )
    assert ambiguous.person_created
    assert Person.objects.filter(last_name="Twin").count() == 3


@pytest.mark.django_db
def test_email_of_another_canonical_patient_is_a_conflict():
    first = services.canonical_patient_find_or_create(
        first_name="Ann", last_name="Lee", date_of_birth="1990-01-01", email="ann@x.org"
    )
    before = counts()
    with pytest.raises(ConflictError) as excinfo:
        services.canonical_patient_find_or_create(
            first_name="Bob", last_name="Lee", date_of_birth="1960-01-01", email="ANN@x.org"
        )
    assert excinfo.value.existing_id == first.canonical_patient.pk and excinfo.value.field == "email"
    assert counts() == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "field", "text"),
    [
        ({"date_of_birth": FromToday(days=1)}, "date_of_birth", "future"),
        ({"date_of_birth": "1899-12-31"}, "date_of_birth", "1900"),
        ({"date_of_birth": "22/03/1992"}, "date_of_birth", "not a date"),
        ({"first_name": "   "}, "first_name", "required"),
        ({"last_name": ""}, "last_name", "required"),
        ({"email": "not-an-email"}, "email", "not a valid email"),
        ({"phone": "12"}, "phone", "phone"),
    ],
)
def test_find_or_create_refuses_bad_input_and_writes_nothing(kwargs, field, text):
    given = {"first_name": "Ann", "last_name": "Lee", "date_of_birth": "1990-01-01", **resolve(kwargs)}
    with pytest.raises(ValidationError) as excinfo:
        services.canonical_patient_find_or_create(**given)
    assert_field_error(excinfo, field, text)
    assert counts()["canonical"] == 0 and counts()["person"] == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_find_or_create_for_one_human_gives_one_row_and_one_person():
    spellings = [("José", "Hernández"), ("jose", "hernandez"), (" JOSE ", "HERNANDEZ"), ("José", "Hernandez")]
    calls = [
        (
            lambda f=f, last=last: services.canonical_patient_find_or_create(
                first_name=f, last_name=last, date_of_birth="1987-09-14", email="jose@x.org"
            )
        )
        for f, last in spellings
    ]
    results = run_concurrently(*calls)
    assert [status for status, _ in results] == ["ok"] * 4, results
    ids = {value.canonical_patient.pk for _, value in results}
    assert len(ids) == 1
    assert sum(value.created for _, value in results) == 1
    assert CanonicalPatient.objects.count() == 1 and Person.objects.count() == 1
    assert CanonicalPatient.objects.get().person == Person.objects.get(email="jose@x.org")
