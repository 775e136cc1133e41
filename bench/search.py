"""Benchmark: the search box in the admin and the API, on a database made by ``python -m bench.generate``.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm .venv/bin/python -m bench.generate \\
        --persons 200000 --database crm_bench_search
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm .venv/bin/python -m bench.search \\
        --database crm_bench_search

Requests go through Django in-process (the test client, logged in as the generated superuser ``admin``
and, for the scoped figures, ``navigator0000``): the admin changelists of persons, patients, leads,
physicians and calls with ``?q=``, and the API lists with ``?search=``. Search terms are taken from the
data (a common surname, one person's full name, an accented name typed without accents, a 2-letter
prefix, part of an email, a formatted phone number). Prints the median / best wall time and the SQL
queries of each request; it only reads (and writes the PHI access log rows that viewing writes).
"""

from __future__ import annotations

import argparse
import os
import sys
from urllib.parse import urlsplit, urlunsplit

from bench.harness import measure, setup_django


def _use_database(name: str) -> None:
    url = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/crm"
    parts = urlsplit(url)
    os.environ["DATABASE_URL"] = urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


def _terms() -> dict[str, str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT last_name FROM person GROUP BY last_name ORDER BY count(*) DESC, last_name LIMIT 1")
        common = cursor.fetchone()[0]
        cursor.execute(
            "SELECT first_name, last_name, email, phone FROM person p WHERE email IS NOT NULL AND phone <> '' "
            "AND EXISTS (SELECT 1 FROM patient WHERE person_id = p.id) ORDER BY id LIMIT 1 OFFSET 4321"
        )
        first, last, email, phone = cursor.fetchone()
        cursor.execute(
            "SELECT last_name FROM person WHERE last_name <> crm_unaccent(last_name) ORDER BY id LIMIT 1 OFFSET 17"
        )
        accented = cursor.fetchone()[0]
        cursor.execute("SELECT crm_unaccent(%s)", [accented])
        unaccented = cursor.fetchone()[0].lower()
    digits = phone[-10:]
    return {
        "common surname": common.lower(),
        "full name": f"{first} {last}",
        "accented, typed plain": unaccented[: max(4, len(unaccented) - 1)],
        "2-letter prefix": last[:2].lower(),
        "email part": email.split("@")[0][:8],
        "formatted phone": f"({digits[:3]}) {digits[3:6]}-{digits[6:]}",
    }


def compare_queries(terms: dict[str, str], repeat: int) -> None:
    """The SQL alone, in the same run: Django's stock admin search (``UPPER(x) LIKE UPPER('%x%')``, what
    the admin and DRF ran before ``common.search``) against ``common.search``, each as the changelist runs
    it: the exact COUNT and the first page of 50 in the list's order."""
    from django.contrib import admin
    from django.test import RequestFactory

    from common.search import search
    from patients.models import CallHistory, Patient, PatientLead
    from people.models import Person, User

    request = RequestFactory().get("/")
    request.user = User.objects.get(username="admin")
    person_fields = ("person__last_name", "person__first_name", "person__email", "person__phone")
    lists = [
        (
            "persons",
            Person.all_objects.order_by("last_name", "first_name", "id"),
            ("last_name", "first_name", "email", "phone"),
            None,
        ),
        (
            "patients",
            Patient.all_objects.select_related("person").order_by("person__last_name", "person__first_name", "id"),
            person_fields,
            None,
        ),
        (
            "leads",
            PatientLead.objects.select_related("person").order_by("-created_at", "id"),
            person_fields,
            (*person_fields, "landing_page_url"),
        ),
        (
            "calls",
            CallHistory.all_objects.select_related("patient__person", "navigator").order_by(
                "-call_date", "-created_at", "id"
            ),
            (
                "patient__person__last_name",
                "patient__person__first_name",
                "patient__person__email",
            ),
            (
                "patient__person__last_name",
                "patient__person__first_name",
                "patient__person__email",
                "navigator__last_name",
                "notes",
            ),
        ),
    ]
    stock = admin.ModelAdmin(Person, admin.site)
    print("\nSQL only (COUNT + first page of 50), Django's stock search before, common.search after:")
    for name, queryset, fields, old_fields in lists:
        stock.search_fields = old_fields or fields
        for kind, term in terms.items():

            def before(queryset=queryset, term=term):
                found, _ = admin.ModelAdmin.get_search_results(stock, request, queryset, term)
                found.count(), list(found[:50])

            def after(queryset=queryset, fields=fields, term=term):
                found = search(queryset, fields, term)
                found.count(), list(found[:50])

            measure(f"{name} before: {kind}", before, repeat=repeat)
            measure(f"{name} after: {kind}", after, repeat=repeat)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default="crm_bench_search", help="a database made by bench.generate")
    parser.add_argument("--repeat", type=int, default=5, help="requests per figure (default 5)")
    parser.add_argument("--sql-only", action="store_true", help="only the SQL comparison, no requests")
    parser.add_argument("--requests-only", action="store_true", help="only the requests, no SQL comparison")
    parser.add_argument(
        "--only", action="append", default=[], metavar="TEXT", help="only the pages whose label contains TEXT"
    )
    parser.add_argument(
        "--without-search-table",
        action="store_true",
        help="read the searched name-ordered lists without person_search (people.search_table.ENABLED = False: "
        "the path before it, for before/after figures on the same database)",
    )
    args = parser.parse_args(argv)
    _use_database(args.database)
    # The suite's settings: no two-factor step, throttling out of reach, static files without a manifest.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm_project.settings.test")
    setup_django()

    from django.conf import settings
    from django.test import Client
    from django.urls import reverse

    from people.models import User

    settings.ALLOWED_HOSTS = ["*"]
    if args.without_search_table:
        from people import search_table

        search_table.ENABLED = False
    terms = _terms()
    print(f"database {args.database}; terms: " + "; ".join(f"{k} = {v!r}" for k, v in terms.items()))
    admin_user = User.objects.get(username="admin")
    navigator = User.objects.get(username="navigator0000")

    def client_for(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    if not args.requests_only:
        compare_queries(terms, args.repeat)
    if args.sql_only:
        return
    clients = {"admin": client_for(admin_user), "navigator": client_for(navigator)}

    def get(client: Client, url: str, params: dict) -> None:
        response = client.get(url, params)
        if response.status_code != 200:
            raise SystemExit(f"{url} {params}: {response.status_code} {response.content[:300]!r}")

    pages = [
        ("admin persons", reverse("admin:people_person_changelist"), "q"),
        ("admin patients", reverse("admin:patients_patient_changelist"), "q"),
        ("admin leads", reverse("admin:patients_patientlead_changelist"), "q"),
        ("admin physicians", reverse("admin:patients_physician_changelist"), "q"),
        ("admin calls", reverse("admin:patients_callhistory_changelist"), "q"),
        ("API persons", "/api/v1/persons/", "search"),
        ("API patients", "/api/v1/patients/", "search"),
        ("API leads", "/api/v1/leads/", "search"),
        ("API calls", "/api/v1/call-history/", "search"),
    ]
    for who in ("admin", "navigator"):
        print(f"\nas {who}:")
        for label, url, param in pages:
            if who == "navigator" and label in ("admin physicians", "admin calls", "API calls"):
                continue  # the scoped figures: persons, patients and leads are enough
            if args.only and not any(text in label for text in args.only):
                continue
            for kind, term in terms.items():
                measure(
                    f"{label}: {kind}",
                    lambda url=url, param=param, term=term, who=who: get(clients[who], url, {param: term}),
                    repeat=args.repeat,
                )


if __name__ == "__main__":
    sys.exit(main())
