"""The API's router: every path answers with and without its trailing slash.

The customer's original API (FastAPI) had paths without trailing slashes (``/api/v1/patients``), and
scripts written against it must keep working. A redirect to the slashed form is no answer: clients
re-send a redirected POST as a GET, without its body. So each route's pattern ends in ``/?`` and both
forms reach the same view. The OpenAPI schema shows the canonical slashed form (Django's
``simplify_regex`` reads ``/?`` as ``/``), so every operation appears once.
"""

from __future__ import annotations

from rest_framework.routers import SimpleRouter


class OptionalSlashRouter(SimpleRouter):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.trailing_slash = "/?"
