"""Time the API's hot requests in-process and print wall time, CPU and queries per request.

Runs against a database filled by ``python -m bench.generate`` (never the development database): the
requests go through the whole Django stack (middleware, authentication by token, DRF, the renderer)
with Django's test client, as a token-authenticated script would send them, and each is timed N times.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm_bench_api .venv/bin/python -m bench.api_path
    ... -m bench.api_path --requests 200 --only patients
    ... -m bench.api_path --writes         # POST /patients/, POST /call-history/, a CM event
    ... -m bench.api_path --explain        # EXPLAIN ANALYZE of each request's SELECTs instead of timings

Figures: p50 / p95 of wall time, the median of process CPU time (``time.process_time``: the app's own
work, the database's excluded), and the queries of one request. ``--explain`` prints, per request,
each SELECT's server execution time, to tell the database's share from the app's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

# CRM_ROOT: measure another checkout (e.g. an export of main, for "before" figures).
ROOT = Path(os.environ.get("CRM_ROOT") or Path(__file__).resolve().parent.parent)

WRITE_ENDPOINTS = ("POST /patients/", "POST /call-history/", "POST /cm/enrollments/{id}/events/")


def _setup(renderer: str = "default") -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm_project.settings.local")
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    if "DATABASE_URL" not in os.environ:
        sys.exit("Set DATABASE_URL to a database filled by `python -m bench.generate` (e.g. .../crm_bench_api).")
    import django

    django.setup()
    from django.conf import settings

    # The bench measures the request path, not the throttle's counter table (it would refuse the run).
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_CLASSES": []}
    if renderer == "drf":  # A/B: DRF's own JSONRenderer instead of the configured one
        settings.REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"] = ["rest_framework.renderers.JSONRenderer"]
    from rest_framework.settings import api_settings

    api_settings.reload()
    settings.ALLOWED_HOSTS = ["*"]


def _requests() -> list[tuple[str, str, dict | None]]:
    from cm_program.models import CMEnrollment
    from patients.models import CallHistory, MedicalCondition, Patient

    busy = (
        CallHistory.objects.values("patient_id")
        .order_by()
        .annotate(n=__import__("django.db.models", fromlist=["Count"]).Count("id"))
        .order_by("-n")
        .first()
    )
    patient = Patient.objects.filter(is_active=True).order_by("person__last_name").first()
    condition = MedicalCondition.objects.filter(is_active=True).first()
    # A call names a patient and a navigator who called them before (so the navigator holds the role).
    called, navigator = (
        CallHistory.objects.filter(is_active=True, patient__is_active=True)
        .exclude(navigator=None)
        .order_by("pk")
        .values_list("patient_id", "navigator_id")
        .first()
    )
    enrollment = CMEnrollment.objects.filter(status="active").order_by("pk").first()
    return [
        ("GET", "/api/v1/patients/", None),
        ("GET", "/api/v1/patients/?status=active&page_size=50", None),
        ("GET", "/api/v1/patients/?search=smi", None),
        ("GET", "/api/v1/patients/?page=150", None),
        ("GET", "/api/v1/patients/?ordering=-created_at", None),
        ("GET", f"/api/v1/patients/{patient.pk}/", None),
        ("GET", f"/api/v1/patients/{busy['patient_id']}/calls/", None),
        ("GET", "/api/v1/call-history/", None),
        ("GET", "/api/v1/persons/", None),
        ("GET", "/api/v1/persons/?email=nobody@example.org", None),
        ("GET", "/api/v1/leads/", None),
        ("GET", "/api/v1/physicians/", None),
        ("GET", "/api/v1/medical-conditions/", None),
        ("GET", "/api/v1/ct-journeys/", None),
        ("GET", "/api/v1/eap-journeys/", None),
        ("GET", "/api/v1/cm/canonical-patients/", None),
        ("GET", "/api/v1/cm/enrollments/", None),
        ("GET", "/api/v1/cm/intakeq-links/", None),
        ("POST", "/api/v1/patients/", {"medical_condition": str(condition.pk) if condition else None}),
        ("POST", "/api/v1/call-history/", {"patient": str(called), "navigator": str(navigator), "outcome": "reached"}),
        ("POST", f"/api/v1/cm/enrollments/{enrollment.pk}/events/", {"event_type": "group_attendance"}),
    ]


def _client():
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    from people.models import User

    user = User.objects.get(username="admin")
    token, _ = Token.objects.get_or_create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def _send(client, method: str, url: str, body: dict | None, index: int):
    if method == "GET":
        return client.get(url)
    if not url.endswith("/patients/"):
        return client.post(url, body, format="json")
    data = {
        "first_name": "Bench",
        "last_name": f"Runner{index}",
        "email": f"bench.runner.{time.time_ns()}@example.org",
        **(body or {}),
    }
    return client.post(url, data, format="json")


def _cursor_page(client) -> str:
    """A page reached through ``next`` five pages in, as a client following links gets it."""
    body = client.get("/api/v1/patients/").json()
    for _ in range(5):
        if not body.get("next"):
            break
        url = body["next"]
        body = client.get(url).json()
    return url.split("testserver", 1)[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100, help="requests per endpoint (default 100)")
    parser.add_argument("--only", default="", help="only the URLs containing this text")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE each request's SELECTs")
    parser.add_argument("--writes", action="store_true", help="only the writes (" + ", ".join(WRITE_ENDPOINTS) + ")")
    parser.add_argument(
        "--renderer", choices=("default", "drf"), default="default", help="drf: DRF's JSONRenderer, to compare"
    )
    args = parser.parse_args(argv)
    _setup(args.renderer)
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    client = _client()
    plan = _requests()
    if "cursor" not in args.only:
        plan.insert(4, ("GET", _cursor_page(client), None))
    plan = [p for p in plan if args.only in p[1] and (p[0] == "POST" or not args.writes)]
    print(f"{'request':<64} {'p50 ms':>8} {'p95 ms':>8} {'cpu ms':>8} {'queries':>7}  status")
    for method, url, body in plan:
        label = f"{method} {url if len(url) < 58 else url[:55] + '...'}"
        if args.explain:
            _explain(client, method, url, body, label)
            continue
        walls, cpus = [], []
        status = queries = None
        # Writes roll back, so the data set stays as generated.
        for index in range(args.requests + 3):
            # The query log is a bounded deque: once full, CaptureQueriesContext would count nothing.
            connection.queries_log.clear()
            with transaction.atomic():
                with CaptureQueriesContext(connection) as ctx:
                    wall, cpu = time.perf_counter(), time.process_time()
                    response = _send(client, method, url, body, index)
                    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                transaction.set_rollback(True)
            if index >= 3:  # warm-up
                walls.append(wall * 1000)
                cpus.append(cpu * 1000)
            status, queries = response.status_code, len(ctx.captured_queries)
        walls.sort()
        p95 = walls[min(len(walls) - 1, int(len(walls) * 0.95))]
        print(
            f"{label:<64} {statistics.median(walls):8.2f} {p95:8.2f} {statistics.median(cpus):8.2f} "
            f"{queries:7d}  {status}"
        )
    return 0


def _explain(client, method, url, body, label) -> None:
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    with transaction.atomic():
        with CaptureQueriesContext(connection) as ctx:
            _send(client, method, url, body, 0)
        print(label)
        with connection.cursor() as cursor:
            for query in ctx.captured_queries:
                sql = query["sql"]
                if not sql.lstrip().upper().startswith("SELECT") or "set_config" in sql:
                    continue
                cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql)
                plan = cursor.fetchone()[0]
                ms = plan[0]["Execution Time"] if isinstance(plan, list) else 0
                print(f"    {ms:9.2f} ms  {sql[:150]}")
        transaction.set_rollback(True)


if __name__ == "__main__":
    raise SystemExit(main())
