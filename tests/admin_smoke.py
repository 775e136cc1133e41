"""Shared admin smoke checks: every page of a model admin loads (and shows the row) for a superuser."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import escape
from django.utils.http import urlencode


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def smoke(client, obj, *, search: str) -> None:
    """Changelist, search, add and change pages answer 200 and show what they should."""
    model = type(obj)
    model_admin = admin.site._registry[model]
    assert model_admin.search_fields, f"{model.__name__} admin has no search"

    response = client.get(admin_url(model, "changelist"))
    assert response.status_code == 200, response.content[:500]
    assert response.context["cl"].result_count >= 1

    response = client.get(admin_url(model, "changelist"), {"q": search})
    assert response.status_code == 200
    assert obj.pk in [row.pk for row in response.context["cl"].result_list], f"search {search!r} missed the row"

    response = client.get(admin_url(model, "changelist"), {"q": "zzz-no-such-thing-zzz"})
    assert response.status_code == 200 and response.context["cl"].result_count == 0

    if model_admin.has_add_permission(response.wsgi_request):
        response = client.get(admin_url(model, "add"))
        assert response.status_code == 200

    response = client.get(admin_url(model, "change", obj.pk))
    assert response.status_code == 200
    assert escape(str(obj)) in response.content.decode()


def list_variants(client, url: str, *, search: str = "a") -> list[str]:
    """A changelist's default view, a search (when it has one) and each of its filters with its first
    choice that is not "All": the pages whose query count must not grow with the rows."""
    response = client.get(url)
    assert response.status_code == 200, url
    cl = response.context["cl"]
    urls = [url, f"{url}?{urlencode({'q': search})}"] if cl.model_admin.search_fields else [url]
    for spec in cl.filter_specs:
        for choice in spec.choices(cl):
            query = choice.get("query_string", "")
            if not choice.get("selected") and query not in ("", "?"):
                urls.append(url + query)
                break
    return urls
