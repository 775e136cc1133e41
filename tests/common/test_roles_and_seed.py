import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from common import roles
from people.models import User
from tests.subprocess_utils import PRODUCTION_ENV, run_manage


@pytest.mark.django_db
def test_role_groups_exist():
    assert set(Group.objects.values_list("name", flat=True)) >= {
        "Patient Navigators",
        "CRM Supervisors",
        "CPSS",
        "CM Supervisors",
    }
    assert set(roles.ROLE_NAMES) == {"Patient Navigators", "CRM Supervisors", "CPSS", "CM Supervisors"}


@pytest.mark.django_db
def test_seed_demo_is_idempotent(capsys):
    call_command("seed_demo")
    first = {u.username: (u.is_superuser, list(u.groups.values_list("name", flat=True))) for u in User.objects.all()}
    call_command("seed_demo")
    second = {u.username: (u.is_superuser, list(u.groups.values_list("name", flat=True))) for u in User.objects.all()}
    assert first == second
    assert first["admin"] == (True, [])
    assert first["navigator"] == (False, ["Patient Navigators"])
    assert first["cpss"] == (False, ["CPSS"])
    out = capsys.readouterr().out
    assert "navigator" in out and "demo-pass-2026" in out


@pytest.mark.django_db
def test_seed_demo_logins_work(client):
    call_command("seed_demo")
    # Through the login page: django-axes checks every password login, and it needs the request.
    response = client.post("/admin/login/", {"username": "navigator", "password": "demo-pass-2026", "next": "/admin/"})
    assert response.status_code == 302 and response["Location"] == "/admin/"


def test_seed_demo_refuses_production_settings():
    result = run_manage("seed_demo", env=PRODUCTION_ENV)
    assert result.returncode != 0
    assert "refuses to run with production settings" in result.stderr
