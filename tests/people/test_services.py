"""People services: creating and matching persons, temporal roles, soft delete."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from common.audit import record_history
from common.errors import ConflictError
from people import services
from people.models import Person, PersonContactType
from people.selectors import navigators, person_has_role, person_history, person_role_periods, persons_with_role
from tests.factories.people import NavigatorFactory, PersonFactory

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2025, 1, 1, 9, 0, tzinfo=dt.UTC)


def test_person_create_normalises_and_refuses_a_known_email():
    person = services.person_create(first_name="Ann", last_name="Lee", email=" Ann@X.org ", phone="801.555.0123")
    assert (person.email, person.phone) == ("ann@x.org", "+18015550123")
    with pytest.raises(ConflictError) as caught:
        services.person_create(first_name="Other", last_name="Ann", email="ANN@x.org")
    assert caught.value.existing_id == person.pk and caught.value.field == "email"
    assert Person.objects.count() == 1


def test_person_create_reports_every_bad_field_at_once():
    with pytest.raises(ValidationError) as caught:
        services.person_create(
            first_name="",
            last_name="Lee",
            email="nope",
            phone="555",
            date_of_birth=timezone.localdate() + dt.timedelta(days=1),
        )
    assert set(caught.value.message_dict) == {"first_name", "email", "phone", "date_of_birth"}
    assert caught.value.message_dict["date_of_birth"] == ["A date of birth cannot be in the future."]
    assert not Person.all_objects.exists()


def test_person_update_keeps_old_values_in_history_and_refuses_a_taken_email(superuser):
    ann = services.person_create(first_name="Ann", last_name="Lee", email="ann@x.org")
    bob = services.person_create(first_name="Bob", last_name="Ray", email="bob@x.org")
    services.person_update(person=ann, data={"phone": "+1 801 555 0177", "last_name": "Lee-Ray"}, actor=superuser)
    last = person_history(person=ann)[-1]
    assert last.changes["last_name"] == ["Lee", "Lee-Ray"] and last.username == "root"
    with pytest.raises(ConflictError) as caught:
        services.person_update(person=ann, data={"email": " BOB@x.org"})
    assert caught.value.existing_id == bob.pk
    with pytest.raises(ValidationError) as caught:
        services.person_update(person=ann, data={"phone": "garbage"})
    assert list(caught.value.message_dict) == ["phone"]
    assert Person.objects.get(pk=ann.pk).phone == "+18015550177"


def test_person_find_or_create_refuses_to_revive_a_deleted_person_silently():
    person = PersonFactory(email="gone@x.org")
    services.person_soft_delete(person=person, reason="asked to be forgotten")
    with pytest.raises(ConflictError) as caught:
        services.person_find_or_create(first_name="G", last_name="One", email="GONE@x.org")
    assert caught.value.existing_id == person.pk and "restore" in caught.value.message
    services.person_restore(person=person)
    match = services.person_find_or_create(first_name=person.first_name, last_name=person.last_name, email="gone@x.org")
    assert match.person == person and match.reused


def test_role_start_and_end_keep_history():
    person = PersonFactory()
    period = services.person_role_start(person=person, role="patient_lead", valid_from=T0)
    assert period.valid_to is None and person_has_role(person=person, code="patient_lead")
    ended = services.person_role_end(person=person, role="patient_lead", valid_to=T0 + dt.timedelta(days=3))
    assert ended.pk == period.pk and ended.valid_to == T0 + dt.timedelta(days=3)
    again = services.person_role_start(person=person, role="patient_lead", valid_from=T0 + dt.timedelta(days=3))
    assert [(p.valid_from, p.valid_to) for p in person_role_periods(person=person)] == [
        (T0, T0 + dt.timedelta(days=3)),
        (T0 + dt.timedelta(days=3), None),
    ]
    assert again.pk != period.pk


def test_overlapping_role_periods_are_refused_naming_the_field():
    person = PersonFactory()
    services.person_role_start(person=person, role="caregiver", valid_from=T0)
    before = PersonContactType.objects.count()
    for valid_from, valid_to in ((T0 + dt.timedelta(days=1), None), (T0 - dt.timedelta(days=5), T0 + dt.timedelta(1))):
        with pytest.raises(ValidationError) as caught:
            services.person_role_start(person=person, role="caregiver", valid_from=valid_from, valid_to=valid_to)
        assert "Overlaps the existing Caregiver period" in caught.value.message_dict["valid_from"][0]
    assert PersonContactType.objects.count() == before
    # A period entirely before the current one is fine.
    services.person_role_start(
        person=person, role="caregiver", valid_from=T0 - dt.timedelta(days=9), valid_to=T0 - dt.timedelta(days=2)
    )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"role": "astronaut"}, "contact_type"),
        ({"role": "caregiver", "valid_from": T0, "valid_to": T0}, "valid_to"),
    ],
)
def test_role_start_bad_input(kwargs, field):
    with pytest.raises(ValidationError) as caught:
        services.person_role_start(person=PersonFactory(), **kwargs)
    assert field in caught.value.message_dict
    assert not PersonContactType.objects.exists()


def test_role_end_without_a_current_period_is_refused():
    with pytest.raises(ValidationError) as caught:
        services.person_role_end(person=PersonFactory(), role="pharmacist")
    assert "does not hold the role Pharmacist" in caught.value.message_dict["contact_type"][0]


def test_role_selectors():
    navigator = NavigatorFactory()
    PersonFactory()
    assert list(navigators()) == [navigator]
    assert list(persons_with_role(code="patient_navigator", at=timezone.now() - dt.timedelta(days=365 * 4))) == []


def test_person_soft_delete_needs_a_reason_and_is_recorded(crm_supervisor_user):
    person = PersonFactory()
    with pytest.raises(ValidationError):
        services.person_soft_delete(person=person, reason="")
    services.person_soft_delete(person=person, reason="duplicate of another record", actor=crm_supervisor_user)
    assert not Person.objects.filter(pk=person.pk).exists()
    last = record_history(person)[-1]
    assert last.changes["is_active"] == [True, False] and last.username == "crmsup"
