"""``NODE_NAME``: which web node answered, in ``X-Served-By`` (docs/OPERATIONS.md, "Several web nodes")."""

from __future__ import annotations

from django.conf import settings as live_settings
from django.http import HttpResponse
from django.test import RequestFactory

from common.middleware import NodeNameMiddleware


def test_each_response_names_the_node(settings):
    settings.NODE_NAME = "web-2"
    response = NodeNameMiddleware(lambda request: HttpResponse("ok"))(RequestFactory().get("/health/"))
    assert response["X-Served-By"] == "web-2"


def test_without_a_node_name_the_header_is_not_sent(client, db):
    # NODE_NAME is unset in the test settings: the middleware is not installed at all.
    assert "common.middleware.NodeNameMiddleware" not in live_settings.MIDDLEWARE
    assert "X-Served-By" not in client.get("/health/").headers
