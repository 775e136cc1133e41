"""Benchmark: the admin pages on a generated data set (``python -m bench.generate``).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm_bench_admin .venv/bin/python -m bench.admin_pages

Times, through Django's test client logged in as the generated superuser ``admin``, every changelist
(default view, a search by surname, each of its filters with its first choice), the patient hub (the
patient with the most calls), both caseload pages with their CSVs and the navigation report; prints the
median and best wall time and the SQL queries per page. It only reads (the PHI access log of the pages it
opens is written as for any user). It never asserts on time: run it before and after a change and compare.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from bench.harness import ROOT


def setup() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm_project.settings.local")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.conf import settings

    settings.ALLOWED_HOSTS = ["*"]


def pages(surname: str, only: str | None):
    from django.contrib import admin
    from django.urls import reverse

    from patients.models import Patient

    for model, model_admin in sorted(admin.site._registry.items(), key=lambda kv: kv[0]._meta.label):
        name = model._meta.label
        if only and only.lower() not in name.lower():
            continue
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        yield f"{name} changelist", url, {}
        if model_admin.search_fields:
            yield f"{name} search '{surname}'", url, {"q": surname}
        yield name, url, ("filters", model_admin)
    if only and only.lower() not in "hub caseload report":
        return
    busiest = (
        Patient.objects.raw(
            "SELECT patient_id AS id FROM call_history GROUP BY patient_id ORDER BY count(*) DESC LIMIT 1"
        )[0].pk
        if Patient.objects.exists()
        else None
    )
    if busiest:
        yield "patient hub (most calls)", reverse("admin:patients_patient_change", args=[busiest]), {}
    yield "navigator caseloads", reverse("admin:patients_caseload"), {}
    yield "navigator caseloads CSV", reverse("admin:patients_caseload_csv"), {}
    yield "CPSS caseloads", reverse("admin:cm_program_cmprovider_caseloads"), {}
    yield "CPSS caseloads CSV", reverse("admin:cm_program_cmprovider_caseloads_csv"), {}
    yield "navigation report (every navigator, 12 weeks)", reverse("admin-report-navigation"), {}


def filter_pages(user, model_admin, label: str, url: str):
    """The changelist's filters, each with its first choice that is not "All" (read from the changelist)."""
    from django.test import RequestFactory
    from django.urls import resolve

    request = RequestFactory().get(url)
    request.user = user
    request.resolver_match = resolve(url)
    cl = model_admin.get_changelist_instance(request)
    for spec in cl.filter_specs:
        for choice in spec.choices(cl):
            query = choice.get("query_string", "")
            if choice.get("selected") or query in ("", "?"):
                continue
            yield f"{label} filter {spec.title}", url + query, {}
            break


def measure(client, url: str, params: dict, repeat: int) -> tuple[int, float, float, float, int]:
    """Status, median and best wall ms, median ms spent in SQL (less sensitive to a busy machine's
    Python CPU than the wall time), and queries."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times, sql_times, queries, status = [], [], 0, 0
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as ctx:
            start = time.perf_counter()
            response = client.get(url, params)
            if getattr(response, "streaming", False):
                b"".join(response.streaming_content)
            else:
                response.content  # noqa: B018
            times.append(time.perf_counter() - start)
        sql_times.append(sum(float(q["time"]) for q in ctx.captured_queries))
        queries, status = len(ctx.captured_queries), response.status_code
    return status, statistics.median(times) * 1000, min(times) * 1000, statistics.median(sql_times) * 1000, queries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="requests per page (default 3)")
    parser.add_argument("--only", help="only the admins whose model label contains this (e.g. patients.)")
    parser.add_argument("--search", default="García", help="the surname searched for (default García)")
    parser.add_argument("--no-filters", action="store_true", help="skip the filter pages")
    args = parser.parse_args()
    setup()
    from django.test import Client

    from people.models import User

    client = Client()
    user = User.objects.get(username="admin")
    client.force_login(user)
    print(f"{'page':<70} {'status':>6} {'p50 ms':>8} {'best ms':>8} {'SQL ms':>8} {'queries':>7}")
    for label, url, params in pages(args.search, args.only):
        if isinstance(params, tuple):
            if args.no_filters:
                continue
            targets = list(filter_pages(user, params[1], label, url))
        else:
            targets = [(label, url, params)]
        for name, target, query in targets:
            status, p50, best, sql, queries = measure(client, target, query, args.repeat)
            print(f"{name[:70]:<70} {status:>6} {p50:>8.1f} {best:>8.1f} {sql:>8.1f} {queries:>7}", flush=True)


if __name__ == "__main__":
    main()
