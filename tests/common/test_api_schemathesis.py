"""Property-based run over the whole OpenAPI schema (schemathesis, in-process, against PostgreSQL).

For every operation it sends generated requests — valid-shaped ones and deliberately invalid ones —
as each of the five roles (the superuser and the four staff groups, the demo logins), with the demo
data set loaded and, half of the time, the id of a real record in the path (which, for a role that may
not see it, must be a 404, not a leak or a crash). Every response must be a documented status code with
the documented content type and body schema, and never a 5xx.

The superuser runs every operation. A staff role runs the generated requests only on the operations it
may use: for each operation it first sends one request (no body, a random id); a 403 there means the role
lacks the operation's permission, which DRF checks before it reads the body or looks the id up, so every
generated request would get that same 403 (the run checks the 403 against the schema and moves on).
Where a role may act, its answers differ from the superuser's (scoping, 404 for what it may not see), and
the generated requests run in full.

The seed is fixed (``derandomize``), so a run is reproducible. ``CRM_SCHEMATHESIS_EXAMPLES`` (default 8)
sets the examples per operation and mode.
"""

from __future__ import annotations

import os
import uuid

import pytest
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from django.urls import resolve
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token

from people.models import User

schemathesis = pytest.importorskip("schemathesis")
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import (  # noqa: E402
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES = int(os.environ.get("CRM_SCHEMATHESIS_EXAMPLES", "8"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def wsgi_app():
    # Django's test client keeps the test transaction's connection open; a real WSGI call closes it
    # at the end of each request unless these receivers are out of the way (as the test client does).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    from django.core.wsgi import get_wsgi_application

    yield get_wsgi_application()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _real_ids(path_template: str) -> list[str]:
    """Ids of existing records for a detail path like /api/v1/patients/{id}/..."""
    list_path = path_template.split("{id}")[0]
    try:
        view = resolve(list_path)
    except Exception:
        return []
    queryset = getattr(getattr(view.func, "cls", None), "queryset", None)
    if queryset is None:
        return []
    return [str(pk) for pk in queryset.model._default_manager.values_list("pk", flat=True)[:20]]


def _runner(strategy, ids: list[str], headers: dict):
    @given(case=strategy, use_real=st.booleans(), pick=st.integers(min_value=0, max_value=19))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
    )
    def run(case, use_real, pick):
        if ids and use_real and case.path_parameters and "id" in case.path_parameters:
            case.path_parameters["id"] = ids[pick % len(ids)]
        case.call_and_validate(headers=headers, checks=CHECKS)

    return run


def _forbidden(operation, headers: dict, failures: list[str]) -> bool:
    """Whether ``headers``' user may not use ``operation`` at all: one request without a body, its path
    ids random, answered 403 (validated against the schema like every other response)."""
    params = {name: str(uuid.uuid4()) for name in ("id", "enrollment_id") if f"{{{name}}}" in operation.path}
    case = operation.Case(path_parameters=params)
    try:
        response = case.call_and_validate(headers=headers, checks=CHECKS)
    except Exception as exc:
        failures.append(f"{operation.method.upper()} {operation.path} [probe]: {exc}"[:3000])
        return True
    return response.status_code == 403


# The demo logins: the superuser and one per staff group (common/management/commands/seed_demo.py).
ROLES = ("admin", "navigator", "crm_supervisor", "cpss", "cm_supervisor")


@pytest.fixture(scope="module")
def demo_data(django_db_setup, django_db_blocker):
    """The demo data set, made once for the five roles in a transaction rolled back after the module;
    each role's test runs in a savepoint of it, so none sees another's writes."""
    with django_db_blocker.unblock(), transaction.atomic():
        call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
        yield
        transaction.set_rollback(True)


@pytest.mark.django_db
@pytest.mark.parametrize("username", ROLES)
def test_no_server_error_and_every_response_matches_the_schema(demo_data, wsgi_app, username):
    token = Token.objects.get_or_create(user=User.objects.get(username=username))[0].key
    headers = {"Authorization": f"Token {token}"}
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", wsgi_app)
    failures: list[str] = []
    operations = forbidden = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.startswith("/api/v1/auth/"):
            continue  # rotating or revoking the run's own token would turn every later call into a 401
        operations += 1
        if username != "admin" and _forbidden(operation, headers, failures):
            forbidden += 1
            continue
        ids = _real_ids(operation.path) if "{id}" in operation.path else []
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            run = _runner(operation.as_strategy(generation_mode=mode), ids, headers)
            try:
                run()
            except Exception as exc:  # collect every operation's failure, then report them all
                failures.append(f"{operation.method.upper()} {operation.path} [{mode.value}]: {exc}"[:3000])
    assert operations > 0
    assert forbidden < operations  # every staff role uses part of the API
    assert not failures, "\n\n".join(failures)
