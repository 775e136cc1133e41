"""The PHI access log's user filter: a name box (common.admin_filters.NameBoxFilter), not every login."""

from __future__ import annotations

import pytest
from django.urls import reverse

from common import roles
from common.models import PHIAccess
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

URL = reverse("admin:common_phiaccess_changelist")


@pytest.fixture
def log(superuser):
    nina = make_user("nina_navigator", roles.PATIENT_NAVIGATORS)
    nils = make_user("nils_navigator", roles.PATIENT_NAVIGATORS)
    others = [make_user(f"staff{n:02d}", roles.PATIENT_NAVIGATORS) for n in range(30)]
    for user in (nina, nils, *others):
        user.is_staff = True
        user.save()
        PHIAccess.objects.create(user=user, channel="admin", access_type="detail", resource_type="patient")
    return nina, nils


def _choices(response) -> list[str]:
    spec = next(s for s in response.context["cl"].filter_specs if s.title == "user")
    return [choice["display"] for choice in spec.choices(response.context["cl"])]


def test_no_login_is_listed_until_a_name_is_typed(client, superuser, log):
    client.force_login(superuser)
    response = client.get(URL)
    assert response.status_code == 200
    assert _choices(response) == ["All"]
    assert b'name="user_name"' in response.content


def test_a_typed_name_lists_the_logins_and_narrows_the_log(client, superuser, log):
    nina, nils = log
    client.force_login(superuser)
    response = client.get(URL, {"user_name": "ni"})
    assert _choices(response) == ["All", "nils_navigator", "nina_navigator"]
    assert {row.user_id for row in response.context["cl"].result_list} == {nina.pk, nils.pk}
    response = client.get(URL, {"user": str(nina.pk)})
    assert [row.user_id for row in response.context["cl"].result_list] == [nina.pk]
    assert _choices(response) == ["All", "nina_navigator"]


@pytest.mark.parametrize("params", [{"user": "not-a-uuid"}, {"user_name": "y" * 1000}, {"user_name": "%_'\\"}])
def test_odd_values_give_a_page_not_an_error(client, superuser, log, params):
    client.force_login(superuser)
    response = client.get(URL, params)
    assert response.status_code == 200
