import pytest

from people.models import Person


@pytest.mark.django_db
def test_soft_deleted_row_is_hidden_but_retrievable():
    kept = Person.objects.create(first_name="Kim", last_name="Kept", email="kim@example.org")
    gone = Person.objects.create(first_name="Gus", last_name="Gone", email="gus@example.org")
    gone.mark_deleted(reason="duplicate entry")
    gone.save()

    assert list(Person.objects.all()) == [kept]
    assert set(Person.all_objects.all()) == {kept, gone}
    assert list(Person.all_objects.inactive()) == [gone]
    assert Person._default_manager.filter(pk=gone.pk).exists(), "admin and forms must still see deleted rows"
    stored = Person.all_objects.get(pk=gone.pk)
    assert stored.is_active is False and stored.deletion_reason == "duplicate entry" and stored.deleted_at

    stored.mark_restored()
    stored.save()
    assert Person.objects.filter(pk=gone.pk).exists()


@pytest.mark.django_db
def test_uuid_primary_keys_and_timestamps():
    person = Person.objects.create(first_name="Ann", last_name="Lee")
    assert len(str(person.pk)) == 36
    assert person.created_at is not None and person.updated_at is not None
