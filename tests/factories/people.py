from __future__ import annotations

import datetime as dt

import factory
from django.utils import timezone

from people.models import ContactType, Person, PersonContactType, User


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@staff.example.org")
    is_staff = True
    password = factory.django.Password("pw")


class PersonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Person

    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.Sequence(lambda n: f"person{n}@example.org")
    phone = factory.Sequence(lambda n: f"+1801555{n % 10000:04d}")
    date_of_birth = factory.Faker("date_of_birth", minimum_age=18, maximum_age=90)


class ContactTypeFactory(factory.django.DjangoModelFactory):
    """The shipped roles exist already (data migration); this makes extra ones or fetches by code."""

    class Meta:
        model = ContactType
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"role_{n}")
    name = factory.LazyAttribute(lambda o: o.code.replace("_", " ").capitalize())


class PersonContactTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PersonContactType

    person = factory.SubFactory(PersonFactory)
    contact_type = factory.LazyFunction(lambda: ContactType.objects.get(code=ContactType.PATIENT_LEAD))
    valid_from = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=365))
    valid_to = None


class NavigatorFactory(PersonFactory):
    """A Person holding the patient-navigator role since a year ago (so back-dated calls are theirs)."""

    class Meta:
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"navigator{n}@staff.example.org")

    @factory.post_generation
    def navigator_role(obj, create, extracted, **kwargs):
        if create:
            PersonContactType.objects.create(
                person=obj,
                contact_type=ContactType.objects.get(code=ContactType.PATIENT_NAVIGATOR),
                valid_from=timezone.now() - dt.timedelta(days=365 * 3),
            )
