"""The people tables refuse bad rows by themselves (plain SQL, no Python check in the way)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from people.models import ContactType, Person, PersonContactType
from tests.db import assert_refused, raw_insert, raw_update
from tests.factories.people import PersonFactory

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2025, 1, 1, 9, 0, tzinfo=dt.UTC)


def _role(code: str) -> ContactType:
    return ContactType.objects.get(code=code)


def test_the_document_s_roles_are_shipped():
    assert set(ContactType.objects.values_list("code", flat=True)) >= {
        "patient_lead",
        "patient",
        "physician",
        "pharmacist",
        "patient_navigator",
        "caregiver",
    }


def test_one_person_per_email_ignoring_case_and_surrounding_spaces():
    raw_insert(Person, first_name="Ann", last_name="Lee", email="ann@example.org")
    assert_refused(
        "person_email_normalised_uniq", raw_insert, Person, first_name="A", last_name="L", email="  ANN@Example.org "
    )
    # Persons without an email are not "duplicates" of each other.
    raw_insert(Person, first_name="No", last_name="Email", email=None)
    raw_insert(Person, first_name="Also", last_name="None", email=None)
    assert Person.all_objects.filter(email__isnull=True).count() == 2


def test_emails_are_stored_normalised():
    person = Person.objects.create(first_name="Ann", last_name="Lee", email="  Ann.Lee@Example.ORG ")
    with connection.cursor() as cursor:
        cursor.execute("SELECT email FROM person WHERE id = %s", [person.pk])
        assert cursor.fetchone()[0] == "ann.lee@example.org"


def test_phone_must_be_e164():
    assert_refused("person_phone_e164", raw_insert, Person, first_name="A", last_name="B", phone="(801) 555-0123")
    raw_insert(Person, first_name="A", last_name="B", phone="+18015550123")


def test_a_deleted_person_has_a_reason():
    person = PersonFactory()
    assert_refused("person_deletion_has_reason", raw_update, Person, person.pk, is_active=False, deletion_reason="")


def test_role_periods_of_the_same_role_never_overlap():
    person = PersonFactory()
    lead = _role("patient_lead")
    raw_insert(PersonContactType, person_id=person.pk, contact_type_id=lead.pk, valid_from=T0, valid_to=None)
    # An open period overlaps everything after its start.
    assert_refused(
        "person_contact_type_no_overlap",
        raw_insert,
        PersonContactType,
        person_id=person.pk,
        contact_type_id=lead.pk,
        valid_from=T0 + dt.timedelta(days=30),
        valid_to=T0 + dt.timedelta(days=40),
    )
    # A period that ends exactly when the next starts does not overlap it (half-open ranges).
    raw_update(PersonContactType, PersonContactType.objects.get().pk, valid_to=T0 + dt.timedelta(days=10))
    raw_insert(
        PersonContactType,
        person_id=person.pk,
        contact_type_id=lead.pk,
        valid_from=T0 + dt.timedelta(days=10),
        valid_to=None,
    )
    # Other roles and other people are independent.
    raw_insert(PersonContactType, person_id=person.pk, contact_type_id=_role("patient").pk, valid_from=T0)
    raw_insert(PersonContactType, person_id=PersonFactory().pk, contact_type_id=lead.pk, valid_from=T0)
    assert PersonContactType.objects.count() == 4


def test_role_period_ends_after_it_starts():
    person = PersonFactory()
    for valid_to in (T0, T0 - dt.timedelta(seconds=1)):
        assert_refused(
            "person_contact_type_valid_to_after_from",
            raw_insert,
            PersonContactType,
            person_id=person.pk,
            contact_type_id=_role("caregiver").pk,
            valid_from=T0,
            valid_to=valid_to,
        )


def test_exclusion_constraint_uses_btree_gist():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'person_contact_type_no_overlap'"
        )
        definition = cursor.fetchone()[0]
    assert definition.startswith("EXCLUDE USING gist")
    assert "tstzrange(valid_from, valid_to, '[)'::text) WITH &&" in definition
    assert "person_id WITH =" in definition and "contact_type_id WITH =" in definition


def test_current_periods():
    person = PersonFactory()
    now = timezone.now()
    PersonContactType.objects.create(
        person=person, contact_type=_role("patient_lead"), valid_from=now - dt.timedelta(days=9), valid_to=now
    )
    current = PersonContactType.objects.create(
        person=person, contact_type=_role("patient"), valid_from=now - dt.timedelta(days=1)
    )
    assert list(PersonContactType.objects.filter(person=person).current()) == [current]
    assert current.is_current
