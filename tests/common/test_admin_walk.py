"""Every admin page a role may open loads for that role; the pages it may not open are refused.

Walks every registered ModelAdmin with the demo data set loaded, as each role and as a superuser:
changelist, changelist search, add page, change page and history page of one row.
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from people.models import User

pytestmark = pytest.mark.django_db

ROLE_USERS = ("admin", "navigator", "crm_supervisor", "cpss", "cm_supervisor")


def _pages(model, model_admin, obj):
    prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}"
    changelist = reverse(f"{prefix}_changelist")
    pages = [("changelist", changelist), ("search", changelist + "?q=a"), ("add", reverse(f"{prefix}_add"))]
    if obj is not None:
        pages.append(("change", reverse(f"{prefix}_change", args=[obj.pk])))
        pages.append(("history", reverse(f"{prefix}_history", args=[obj.pk])))
    return pages


def test_every_admin_page_loads_for_each_role_that_may_open_it():
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    failures = []
    opened = 0
    for username in ROLE_USERS:
        user = User.objects.get(username=username)
        client = Client()
        client.force_login(user)
        assert client.get("/admin/").status_code == 200
        for model, model_admin in admin.site._registry.items():
            obj = model_admin.get_queryset(_request_for(user)).first()
            for kind, url in _pages(model, model_admin, obj):
                response = client.get(url)
                may = _may_open(model_admin, user, kind, obj)
                if may:
                    opened += 1
                    if response.status_code != 200:
                        failures.append(f"{username} {kind} {url}: {response.status_code} (expected 200)")
                elif response.status_code not in (302, 403, 404):
                    failures.append(f"{username} {kind} {url}: {response.status_code} (expected refusal)")
    assert not failures, "\n".join(failures)
    assert opened > 20


def _request_for(user):
    from django.test import RequestFactory
    from django.urls import resolve

    request = RequestFactory().get("/admin/")
    request.user = user
    request.resolver_match = resolve("/admin/")
    return request


def _may_open(model_admin, user, kind, obj) -> bool:
    request = _request_for(user)
    if not model_admin.has_module_permission(request) and kind != "add":
        return False
    if kind in ("changelist", "search"):
        return model_admin.has_view_or_change_permission(request)
    if kind == "add":
        return model_admin.has_add_permission(request)
    return model_admin.has_view_or_change_permission(request, obj)
