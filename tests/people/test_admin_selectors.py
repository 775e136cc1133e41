"""Reads about people used by the admin: a login's navigator Person."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from people.selectors import navigator_for_user
from people.services import person_role_end
from tests.factories.people import NavigatorFactory, PersonFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_navigator_for_user_is_the_login_s_person_while_they_hold_the_role(django_assert_num_queries):
    user = UserFactory()
    navigator = NavigatorFactory(user=user)
    with django_assert_num_queries(1):
        assert navigator_for_user(user) == navigator
    person_role_end(person=navigator, role="patient_navigator", valid_to=timezone.now() - dt.timedelta(seconds=1))
    assert navigator_for_user(user) is None


def test_no_navigator_for_other_logins():
    plain = UserFactory()
    PersonFactory(user=plain)  # a Person, but not a navigator
    assert navigator_for_user(plain) is None
    assert navigator_for_user(UserFactory()) is None
    assert navigator_for_user(AnonymousUser()) is None
    assert navigator_for_user(None) is None
