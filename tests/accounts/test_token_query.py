"""A token request authenticates in one query: the token, its user, the user's group names and permissions
(``accounts.authentication.token_with_user``), read afresh on every request, so that a revoked token, a
deactivated user or a role taken away count from the very next request."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.authentication import token_with_user
from common import roles
from tests.conftest import make_user
from tests.factories.patients import PatientFactory

pytestmark = pytest.mark.django_db


def _api(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_a_navigator_s_detail_read_is_the_token_the_record_and_the_log(navigator_user):
    patient = PatientFactory()
    token = Token.objects.create(user=navigator_user)
    with CaptureQueriesContext(connection) as captured:
        response = _api(token.key).get(f"/api/v1/patients/{patient.pk}/")
    assert response.status_code == 200, response.content
    assert response.json()["id"] == str(patient.pk)
    queries = [query["sql"] for query in captured.captured_queries]
    # The request's savepoint, the token with its user, groups and permissions, the record (in the navigator's
    # scope), the PHI log's INSERT, the release: no query of its own for the groups or the permissions.
    assert len(queries) == 5, [sql[:80] for sql in queries]
    assert sum('"auth_permission"' in sql for sql in queries) == 1
    assert sum('"authtoken_token"' in sql for sql in queries) == 1


def test_the_token_query_gives_the_roles_and_permissions_that_django_would():
    user = make_user("both", roles.PATIENT_NAVIGATORS)
    user.user_permissions.add(Permission.objects.get(codename="view_phiaccess"))
    token = Token.objects.create(user=user)
    with CaptureQueriesContext(connection) as captured:
        found, found_token = token_with_user(token.key)
        assert found.pk == user.pk and found_token.key == token.key and found_token.user is found
        assert roles.group_names(found) == {roles.PATIENT_NAVIGATORS}
        perms = found.get_all_permissions()
        assert found.has_perm("patients.add_callhistory") and found.has_perm("common.view_phiaccess")
        assert not found.has_perm("cm_program.view_cmenrollment")
    assert len(captured) == 1
    fresh = type(user).objects.get(pk=user.pk)
    assert perms == fresh.get_all_permissions() and "common.view_phiaccess" in perms


def test_a_superuser_s_token_answers_every_permission_without_a_query(superuser):
    token = Token.objects.create(user=superuser)
    with CaptureQueriesContext(connection) as captured:
        found, _ = token_with_user(token.key)
        assert found.is_superuser and found.has_perm("cm_program.delete_cmenrollment")
    assert len(captured) == 1


def test_revoking_deactivating_or_taking_a_role_away_counts_from_the_next_request(navigator_user):
    token = Token.objects.create(user=navigator_user)
    api = _api(token.key)
    assert api.get("/api/v1/patients/").status_code == 200
    navigator_user.groups.remove(Group.objects.get(name=roles.PATIENT_NAVIGATORS))
    assert api.get("/api/v1/patients/").status_code == 403
    navigator_user.groups.add(Group.objects.get(name=roles.PATIENT_NAVIGATORS))
    assert api.get("/api/v1/patients/").status_code == 200
    type(navigator_user).objects.filter(pk=navigator_user.pk).update(is_active=False)
    response = api.get("/api/v1/patients/")
    assert response.status_code == 401 and "inactive" in response.json()["error"]["message"]
    type(navigator_user).objects.filter(pk=navigator_user.pk).update(is_active=True)
    assert api.get("/api/v1/patients/").status_code == 200
    Token.objects.filter(pk=token.pk).delete()
    response = api.get("/api/v1/patients/")
    assert response.status_code == 401 and response.json()["error"]["message"] == "Invalid token."
