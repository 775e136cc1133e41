"""A person's stored search keys (``first_name_key``, ``last_name_key``, ``email_key``: ``lower(crm_unaccent(x))``
kept by PostgreSQL as generated columns): right after every kind of write — the ORM's save, a bulk ``update()``,
raw SQL, a merge and its undo — and what the search compares, so that it finds the new name and not the old."""

from __future__ import annotations

import pytest
from django.db import connection

from common.search import search
from patients.models import Patient
from people.models import Person
from people.services import person_merge, person_unmerge
from tests.db import raw_update
from tests.factories.patients import PatientFactory
from tests.factories.people import PersonFactory

pytestmark = pytest.mark.django_db

FIELDS = ("last_name", "first_name", "email", "phone")


def keys(person: Person) -> tuple[str, str, str | None]:
    row = Person.all_objects.values_list("first_name_key", "last_name_key", "email_key").get(pk=person.pk)
    return tuple(row)


def found(term: str) -> set:
    return set(search(Person.all_objects.all(), FIELDS, term).values_list("pk", flat=True))


def test_the_keys_are_the_names_and_email_lower_case_without_accents():
    person = PersonFactory(first_name="José", last_name="MÜLLER-Ñúñez", email="Zoë.Ångström@Example.org")
    assert keys(person) == ("jose", "muller-nunez", "zoe.angstrom@example.org")
    # Returned by the INSERT itself: no second query to read them.
    assert person.last_name_key == "muller-nunez"
    assert keys(PersonFactory(email=None))[2] is None


def test_a_rename_through_the_orm_moves_the_keys_and_the_search_follows():
    person = PersonFactory(first_name="Ann", last_name="García", email="ann@example.org")
    assert person.pk in found("garcia")
    person.last_name = "Øster"
    person.email = "ann.oster@example.org"
    person.save()
    assert keys(person) == ("ann", "oster", "ann.oster@example.org")
    assert person.pk in found("oster")
    assert person.pk not in found("garcia")


def test_a_bulk_update_and_raw_sql_move_the_keys():
    people = [PersonFactory(last_name="Smith") for _ in range(3)]
    Person.all_objects.filter(pk__in=[p.pk for p in people[:2]]).update(last_name="Ångel")
    assert [keys(p)[1] for p in people] == ["angel", "angel", "smith"]
    raw_update(Person, people[2].pk, first_name="Zoë")
    assert keys(people[2])[0] == "zoe"
    assert found("angel") >= {people[0].pk, people[1].pk}
    assert people[2].pk in found("zoe smith")


def test_a_merge_and_its_undo_move_the_keys(crm_supervisor_user):
    survivor = PersonFactory(first_name="Ann", last_name="Smyth", email="ann@example.org")
    duplicate = PersonFactory(first_name="Ann", last_name="Smíth", email="ann.smith@example.org")
    log = person_merge(
        survivor=survivor,
        duplicate=duplicate,
        field_choices={"last_name": "duplicate"},
        actor=crm_supervisor_user,
        reason="one human",
    )
    assert keys(survivor)[1] == "smith"
    assert survivor.pk in found("smith")
    person_unmerge(merge=log, actor=crm_supervisor_user, reason="two humans after all")
    assert keys(survivor)[1] == "smyth"
    assert keys(duplicate)[1] == "smith"
    assert survivor.pk not in found("smith")


def test_the_search_compares_the_stored_keys_not_the_columns():
    PersonFactory(last_name="Müller")
    for queryset, prefix in (
        (Person.all_objects.all(), ""),
        (Patient.all_objects.select_related("person"), "person__"),
    ):
        sql = str(search(queryset, [prefix + f for f in FIELDS], "müll jo").query)
        assert '"last_name_key"' in sql and '"first_name_key"' in sql and '"email_key"' in sql, sql
        # The words are still normalised in SQL, the columns no longer: no crm_unaccent over a person column.
        assert 'crm_unaccent("person".' not in sql and "crm_unaccent(person." not in sql, sql


def test_the_keys_stay_out_of_the_audit_trail():
    person = PersonFactory(last_name="Smith")
    events = Person.pgh_event_models["update"]
    assert "last_name_key" not in {f.name for f in events._meta.fields}
    person.last_name = "Smíth"
    person.save()
    assert events.objects.filter(pgh_obj_id=person.pk, pgh_label="update").count() == 1


def test_the_keys_are_generated_columns():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name, is_generated, generation_expression FROM information_schema.columns "
            "WHERE table_name = 'person' AND column_name LIKE '%%\\_key' ORDER BY column_name"
        )
        rows = cursor.fetchall()
    assert [(name, generated) for name, generated, _ in rows] == [
        ("email_key", "ALWAYS"),
        ("first_name_key", "ALWAYS"),
        ("last_name_key", "ALWAYS"),
    ]
    assert all("crm_unaccent" in expression for _, _, expression in rows)


def test_a_patient_search_by_a_renamed_persons_name():
    patient = PatientFactory(person=PersonFactory(last_name="García"))
    Person.all_objects.filter(pk=patient.person_id).update(last_name="Núñez")
    patients = Patient.all_objects.select_related("person")
    fields = ("person__last_name", "person__first_name", "person__email")
    assert list(search(patients, fields, "nunez").values_list("pk", flat=True)) == [patient.pk]
    assert not search(patients, fields, "garcia").filter(pk=patient.pk).exists()
