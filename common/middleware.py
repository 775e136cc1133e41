"""Request id and audit-trail context for every request."""

from __future__ import annotations

import re
import uuid

from pghistory.middleware import HistoryMiddleware

from common.logging import request_id_var

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    """Takes ``X-Request-ID`` from the caller when it is sane, otherwise makes one; echoes it back."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response


def channel_for_path(path: str) -> str:
    if path.startswith("/admin/"):
        return "admin"
    if path.startswith("/api/"):
        return "api"
    return "web"


class AuditContextMiddleware(HistoryMiddleware):
    """pghistory's middleware (user + url; it also follows DRF's late authentication) plus the channel."""

    def get_context(self, request):
        context = super().get_context(request)
        context["channel"] = channel_for_path(request.path)
        context["request_id"] = getattr(request, "request_id", None)
        return context


class NodeNameMiddleware:
    """``X-Served-By: <NODE_NAME>`` on every response: which web node behind the load balancer answered
    (on only when ``NODE_NAME`` is set; docs/OPERATIONS.md, "Several web nodes")."""

    def __init__(self, get_response):
        from django.conf import settings

        self.get_response = get_response
        self.node_name = settings.NODE_NAME

    def __call__(self, request):
        response = self.get_response(request)
        response["X-Served-By"] = self.node_name
        return response
