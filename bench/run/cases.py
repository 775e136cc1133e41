"""What the benchmark requests: discovered from the API routers and the admin site, so a new endpoint or
changelist is measured without editing this file. Each case carries its raw-SQL floor (``floors``).

The discovery runs against the live server: page 1 of each list gives the ids for its detail and
nested pages, its ``next`` link gives the deep page, its first row a value for the filtered page; the
admin changelist's filter sidebar gives each filter's first choice.
"""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from html import unescape
from urllib.parse import parse_qsl, urlencode, urlsplit

from bench.run.floors import Floor, select_floor

API = "/api/v1/"
DEEP_OFFSET = 50_000  # the depth of "a deep page" (rows), or the last page when the list is shorter
ADMIN_PAGE = 100

API_URL_MODULES = ("people.api.urls", "patients.api.urls", "journeys.api.urls", "cm_program.api.urls")


@dataclass
class Case:
    group: str
    name: str
    method: str
    path: str
    auth: str = "token"  # "token" (API) or "session" (admin)
    body: Callable[[int], dict] | None = None  # POST body for the i-th request
    floor: Floor | None = None
    ok: tuple[int, ...] = (200,)
    tags: set[str] = field(default_factory=set)

    @property
    def label(self) -> str:
        return f"{self.group}: {self.name}"


@dataclass
class Terms:
    """Search terms taken from the data: one person's surname (a prefix of it), email and phone digits."""

    name: str
    email: str
    phone: str


def search_terms(connection) -> Terms:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT last_name, email, phone FROM person WHERE email <> '' AND phone <> '' "
            "ORDER BY id OFFSET (SELECT count(*) / 2 FROM person WHERE email <> '' AND phone <> '') LIMIT 1"
        )
        last_name, email, phone = cursor.fetchone()
    connection.commit()
    digits = re.sub(r"\D", "", phone)
    return Terms(name=last_name[:5].lower(), email=email, phone=digits[-7:])


def _registries():
    import importlib

    for module_name in API_URL_MODULES:
        router = importlib.import_module(module_name).router
        yield from router.registry  # (prefix, viewset, basename)


def _model(viewset):
    """The listed model: the view's queryset's, else its FilterSet's or serializer's (views that build
    their queryset per request)."""
    queryset = getattr(viewset, "queryset", None)
    if queryset is not None:
        return queryset.model
    for holder in (getattr(viewset, "filterset_class", None), getattr(viewset, "serializer_class", None)):
        meta = getattr(holder, "_meta", None) or getattr(holder, "Meta", None)
        if getattr(meta, "model", None) is not None:
            return meta.model
    return None


def _view_ordering(viewset) -> list[str]:
    ordering = getattr(viewset, "ordering", None)
    if ordering:
        return [ordering] if isinstance(ordering, str) else list(ordering)
    queryset = getattr(viewset, "queryset", None)
    if queryset is not None and queryset.query.order_by:
        return list(queryset.query.order_by)
    model = _model(viewset)
    return list(model._meta.ordering) if model is not None else []


def _filter_from_row(viewset, row: dict) -> tuple[str, object] | None:
    """A filter of the list's FilterSet that the first row has a plain value for (a real, non-empty filter)."""
    filterset = getattr(viewset, "filterset_class", None)
    if filterset is None:
        return None
    for name in filterset.base_filters:
        value = row.get(name)
        if isinstance(value, dict):
            value = value.get("id")
        if isinstance(value, bool | int | str) and value not in ("", None) and name not in ("search", "ordering"):
            if isinstance(value, bool):
                value = "true" if value else "false"
            return name, value
    return None


def _deep_path(reply_json: dict, path: str, client) -> str | None:
    """The page DEEP_OFFSET rows down, reached the way ``next`` links work today: by changing ``page``
    when they carry one, or by following a cursor ``next`` link a few times when they carry a cursor."""
    next_link = reply_json.get("next")
    if not next_link:
        return None
    parts = urlsplit(next_link)
    query = dict(parse_qsl(parts.query))
    if "page" in query:
        per_page = len(reply_json.get("results") or []) or 50
        count = reply_json.get("count") or 0
        page = max(2, min(DEEP_OFFSET // per_page + 1, (count + per_page - 1) // per_page))
        query["page"] = str(page)
        return f"{parts.path}?{urlencode(query)}"
    link = next_link
    for _ in range(5):
        reply = client.request("GET", _local(link))
        data = reply.json() if reply.status == 200 else {}
        if not data.get("next"):
            break
        link = data["next"]
    return _local(link)


def _local(link: str) -> str:
    parts = urlsplit(link)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def api_cases(client, terms: Terms) -> list[Case]:
    cases: list[Case] = []
    first_ids: dict[str, object] = {}
    nested = []
    for prefix, viewset, basename in _registries():
        if "(?P<" in prefix:
            nested.append((prefix, viewset, basename))
            continue
        cases.extend(_api_resource_cases(client, prefix, viewset, basename, terms, first_ids))
    for prefix, viewset, basename in nested:
        parent = re.search(r"^([\w-]+)/\(\?P<(\w+)>", prefix)
        parent_basename = {"enrollments": "cm-enrollment"}.get(parent.group(1), parent.group(1))
        parent_id = first_ids.get(parent_basename)
        if parent_id is None:
            continue
        path_prefix = re.sub(r"\(\?P<\w+>[^)]*\)", str(parent_id), prefix)
        shown = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", prefix)
        for case in _api_resource_cases(client, path_prefix, viewset, basename, terms, first_ids):
            case.name = case.name.replace(path_prefix, shown)
            cases.append(case)
    return cases


def _api_resource_cases(client, prefix, viewset, basename, terms, first_ids) -> list[Case]:
    cases = []
    group = "API"
    path = f"{API}{'cm/' if basename.startswith('cm-') else ''}{prefix}/"
    model = _model(viewset)
    ordering = _view_ordering(viewset)
    if "list" not in viewset.__dict__ and not hasattr(viewset, "list"):
        return cases
    reply = client.request("GET", path)
    if reply.status != 200:
        return [Case(group, f"GET {path} (HTTP {reply.status} at discovery)", "GET", path, ok=(reply.status,))]
    data = reply.json()
    rows = data.get("results", data) if isinstance(data, dict) else data
    per_page = len(rows) or 50

    def floor(**kwargs):
        return select_floor(model, ordering=ordering, limit=per_page, **kwargs) if model is not None else None

    cases.append(Case(group, f"GET {path} page 1", "GET", path, floor=floor(), tags={"list"}))
    if rows and isinstance(rows[0], dict):
        row = rows[0]
        chosen = _filter_from_row(viewset, row)
        if chosen:
            name, value = chosen
            cases.append(
                Case(group, f"GET {path}?{name}=…", "GET", f"{path}?{urlencode({name: value})}",
                     floor=floor(where=[(name, value)]), tags={"list", "filter"})
            )  # fmt: skip
        if getattr(viewset, "search_fields", None):
            cases.append(
                Case(group, f"GET {path}?search={terms.name}", "GET", f"{path}?{urlencode({'search': terms.name})}",
                     floor=floor(search=(list(viewset.search_fields), terms.name)), tags={"list", "search"})
            )  # fmt: skip
        deep = _deep_path(data, path, client) if isinstance(data, dict) else None
        if deep:
            query = dict(parse_qsl(urlsplit(deep).query))
            offset = (int(query["page"]) - 1) * per_page if "page" in query else 0
            cases.append(Case(group, f"GET {path} deep ({_depth(query, per_page)})", "GET", deep,
                              floor=floor(offset=offset), tags={"list", "deep"}))  # fmt: skip
        pk = row.get("id")
        if pk is not None:
            first_ids[basename] = pk
            if hasattr(viewset, "retrieve"):
                detail = f"{path}{pk}/"
                cases.append(Case(group, f"GET {path}{{id}}/", "GET", detail, floor=floor(pk=pk), tags={"detail"}))
            for action in viewset.get_extra_actions():
                if action.detail and "get" in action.mapping:
                    sub = f"{path}{pk}/{action.url_path}/"
                    cases.append(Case(group, f"GET {path}{{id}}/{action.url_path}/", "GET", sub, tags={"detail"}))
    for action in viewset.get_extra_actions():
        if not action.detail and "get" in action.mapping:
            sub = f"{path}{action.url_path}/"
            cases.append(Case(group, f"GET {sub}", "GET", sub, tags={"list"}))
    return cases


def _depth(query: dict, per_page: int) -> str:
    if "page" in query:
        return f"page {query['page']}, offset {(int(query['page']) - 1) * per_page:,}"
    return "cursor, 5 next links down"


# --- writes -------------------------------------------------------------------------------------------


# The ledger numbers each enrollment's entries: the floor's copy takes the next number, as the service does.
NEXT_SEQUENCE = {
    "sequence": "(SELECT max(sequence) + 1 FROM cm_points_transactions WHERE enrollment_id = src.enrollment_id)"
}


def write_cases(run_id: str) -> list[Case]:
    """POST /patients/, POST /call-history/ and a CM event, each body fresh per request."""
    from bench.run.floors import copy_floor
    from cm_program.models import CMEnrollment, CMPointsTransaction
    from patients.models import CallHistory, Patient
    from people.models import Person

    enrollment = CMEnrollment.objects.filter(status="active").order_by("pk").first()
    # A patient and the navigator who called them: a new call names both.
    patient_id, navigator_id = (
        CallHistory.objects.exclude(navigator=None).order_by("pk").values_list("patient_id", "navigator_id").first()
    )
    cases = [
        Case("API write", "POST /api/v1/patients/", "POST", f"{API}patients/", ok=(201,),
             body=lambda i: {"first_name": "Bench", "last_name": f"Writer{run_id}{i}",
                             "email": f"bench-{run_id}-{i}@example.org"},
             floor=copy_floor([Person, Patient], Patient.objects.values_list("pk", flat=True).first()),
             tags={"write"}),
        Case("API write", "POST /api/v1/call-history/", "POST", f"{API}call-history/", ok=(201,),
             body=lambda i: {"patient": str(patient_id), "navigator": str(navigator_id),
                             "outcome": "reached", "notes": f"bench call {i}"},
             floor=copy_floor([CallHistory], CallHistory.objects.values_list("pk", flat=True).first()),
             tags={"write"}),
    ]  # fmt: skip
    ledger_entry = (
        CMPointsTransaction.objects.filter(enrollment=enrollment, event_type="group_attendance")
        .values_list("pk", flat=True)
        .first()
    )
    if enrollment is not None:
        cases.append(
            Case("API write", "POST /api/v1/cm/enrollments/{id}/events/ (group_attendance)", "POST",
                 f"{API}cm/enrollments/{enrollment.pk}/events/", ok=(201,),
                 body=lambda i: {"event_type": "group_attendance"},
                 floor=copy_floor([CMPointsTransaction], ledger_entry, overrides=NEXT_SEQUENCE),
                 tags={"write"})
        )  # fmt: skip
    return cases


# --- admin --------------------------------------------------------------------------------------------

_FILTER_BLOCK = re.compile(r'<details data-filter-title="([^"]*)"[^>]*>(.*?)</details>', re.S)
_HREF = re.compile(r'<a href="(\?[^"]*)"')


def admin_cases(client, terms: Terms) -> list[Case]:
    from django.contrib import admin

    cases = []
    for model, model_admin in sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label):
        opts = model._meta
        path = f"/admin/{opts.app_label}/{opts.model_name}/"
        group = "admin"
        ordering = list(model_admin.ordering or opts.ordering or [])
        per_page = model_admin.list_per_page

        def floor(model=model, ordering=ordering, per_page=per_page, **kwargs):
            return select_floor(model, ordering=ordering, limit=per_page, **kwargs)

        reply = client.request("GET", path, auth="session")
        if reply.status >= 500:  # too slow (the statement timeout) or broken: the table says so
            cases.append(Case(group, f"{opts.label} changelist", "GET", path, auth="session", tags={"admin"}))
            continue
        if reply.status != 200:
            continue  # not a changelist this user sees (or one that only redirects)
        cases.append(Case(group, f"{opts.label} changelist", "GET", path, auth="session", floor=floor(),
                          tags={"admin", "changelist"}))  # fmt: skip
        search_fields = list(model_admin.search_fields or [])
        if search_fields:
            kinds = [("name", terms.name)]
            if any("email" in f for f in search_fields):
                kinds.append(("email", terms.email))
            if any("phone" in f for f in search_fields):
                kinds.append(("phone", terms.phone))
            for kind, term in kinds:
                cases.append(
                    Case(group, f"{opts.label} search by {kind}", "GET", f"{path}?{urlencode({'q': term})}",
                         auth="session", floor=floor(search=(search_fields, term)), tags={"admin", "search"})
                )  # fmt: skip
        html = reply.body.decode("utf-8", "replace")
        for title, block in _FILTER_BLOCK.findall(html):
            links = [unescape(h) for h in _HREF.findall(block) if unescape(h) not in ("?", "?q=")]
            if not links:
                continue
            query = links[0].lstrip("?")
            # A field's own lookup (status__exact, medical_condition__id__exact) becomes the floor's WHERE; a
            # custom filter's parameter (follow_up=overdue) cannot be expressed, and the floor is unfiltered ("~").
            where = [
                (k.removesuffix("__exact"), v) if k.endswith("__exact") else (k, None) for k, v in parse_qsl(query)
            ]
            cases.append(
                Case(group, f"{opts.label} filter {unescape(title)}", "GET", f"{path}?{query}", auth="session",
                     floor=floor(where=where), tags={"admin", "filter"})
            )  # fmt: skip
    return cases


def page_cases(client) -> list[Case]:
    """The desk pages: the patient hub, both caseload pages and their CSVs, the CM program report (page and API),
    the complete patient view."""
    from cm_program.models import CanonicalPatient, CMEnrollment
    from patients.models import CallHistory, Patient

    patient_id = (
        CallHistory.objects.values("patient_id").order_by("patient_id").values_list("patient_id", flat=True).first()
        or Patient.objects.values_list("pk", flat=True).first()
    )
    canonical = (
        CMEnrollment.objects.order_by("pk").values_list("canonical_patient_id", flat=True).first()
        or CanonicalPatient.objects.values_list("pk", flat=True).first()
    )
    hub = Floor(
        "SELECT t0.*, p.first_name, p.last_name, p.email, p.phone, p.date_of_birth, "
        "(SELECT json_agg(c) FROM (SELECT * FROM call_history WHERE patient_id = t0.id "
        "ORDER BY call_date DESC LIMIT 20) c) AS calls FROM patient t0 JOIN person p ON p.id = t0.person_id "
        "WHERE t0.id = %s",
        (patient_id,),
    )
    # The caseload floors are the counts the pages show, grouped in SQL (approximate: "~").
    navigator_caseloads = Floor(
        "SELECT navigator_id, count(*) AS patients, count(*) FILTER (WHERE status = 'active') AS active "
        "FROM patient WHERE deleted_at IS NULL GROUP BY navigator_id",
        note="~",
    )
    cpss_caseloads = Floor(
        "SELECT cpss_provider_id, count(*) FILTER (WHERE status = 'active') AS active, sum(total_points) "
        "FROM cm_enrollments GROUP BY cpss_provider_id",
        note="~",
    )
    complete = Floor(
        "SELECT t0.*, (SELECT json_agg(e) FROM cm_enrollments e WHERE e.canonical_patient_id = t0.id) AS enrollments, "
        "(SELECT json_agg(l) FROM (SELECT x.* FROM cm_points_transactions x JOIN cm_enrollments e "
        "ON e.id = x.enrollment_id WHERE e.canonical_patient_id = t0.id ORDER BY x.occurred_at DESC LIMIT 20) l) "
        "AS ledger FROM patients_canonical t0 WHERE t0.id = %s",
        (canonical,),
        note="~",
    )
    cases = [
        Case("admin page", "patient hub (change page)", "GET", f"/admin/patients/patient/{patient_id}/change/",
             auth="session", floor=hub, tags={"admin", "page"}),
        Case("admin page", "navigator caseloads", "GET", "/admin/patients/patient/caseload/", auth="session",
             floor=navigator_caseloads, tags={"admin", "page", "caseload"}),
        Case("admin page", "navigator caseloads CSV", "GET", "/admin/patients/patient/caseload/csv/",
             auth="session", floor=navigator_caseloads, tags={"admin", "page", "caseload", "csv"}),
        Case("admin page", "CPSS caseloads", "GET", "/admin/cm_program/cmprovider/caseloads/", auth="session",
             floor=cpss_caseloads, tags={"admin", "page", "caseload"}),
        Case("admin page", "CPSS caseloads CSV", "GET", "/admin/cm_program/cmprovider/caseloads/csv/",
             auth="session", floor=cpss_caseloads, tags={"admin", "page", "caseload", "csv"}),
    ]  # fmt: skip
    # The CM program report (issue 14): the floor is its biggest part, the period's ledger by week and event type.
    cm_report = Floor(
        "SELECT date_trunc('week', occurred_at), event_type, count(*), sum(points) FROM cm_points_transactions "
        "WHERE occurred_at >= date_trunc('week', now()) - interval '12 weeks' "
        "AND occurred_at < date_trunc('week', now()) GROUP BY 1, 2",
        note="~",
    )
    cases += [
        Case("admin page", "CM program report (last 12 weeks)", "GET", "/admin/reports/cm/", auth="session",
             floor=cm_report, tags={"admin", "page", "report"}),
        Case("API report", "GET /api/v1/reports/cm/ (last 12 weeks)", "GET", f"{API}reports/cm/", floor=cm_report,
             tags={"report"}),
    ]  # fmt: skip
    cases.extend(cm_report_cases(cm_report))
    cases.extend(audit_event_cases(client))
    cases.extend(report_cases())
    if canonical is not None:
        cases.append(
            Case("admin page", "complete patient view", "GET",
                 f"/admin/cm_program/canonicalpatient/{canonical}/complete/", auth="session",
                 floor=complete, tags={"admin", "page"})
        )  # fmt: skip
    return cases


def cm_report_cases(floor: Floor) -> list[Case]:
    """The CM program report for one CPSS and for one program (issue 14), and the billing patient pool's CSV
    for the last full month (streamed: the time is the whole CSV's; its first byte is in docs/REPORTS.md)."""
    import datetime as dt

    from cm_program.models import CMEnrollment

    first = (
        CMEnrollment.objects.filter(cpss_provider__isnull=False)
        .order_by("pk")
        .values("cpss_provider_id", "cm_program_id")
        .first()
    )
    if first is None:
        return []
    this_month = dt.date.today().replace(day=1)
    last_month = (this_month - dt.timedelta(days=1)).replace(day=1)
    pool = f"from={last_month}&to={this_month - dt.timedelta(days=1)}"
    return [
        Case("API report", "GET /api/v1/reports/cm/ (CM program report, one CPSS, last 12 weeks)", "GET",
             f"{API}reports/cm/?cpss={first['cpss_provider_id']}", floor=floor, tags={"report"}),
        Case("API report", "GET /api/v1/reports/cm/ (CM program report, one program, last 12 weeks)", "GET",
             f"{API}reports/cm/?program={first['cm_program_id']}", floor=floor, tags={"report"}),
        Case("API report", "GET /api/v1/cm/reports/patient-pool/ CSV (CM program report's billing pool, a month)",
             "GET", f"{API}cm/reports/patient-pool/?{pool}&format=csv", floor=floor, tags={"report", "csv"}),
    ]  # fmt: skip


def report_cases() -> list[Case]:
    """The navigation report (issue 14): the admin page and the API, every navigator over the default 12 weeks,
    and one navigator's own report."""
    from patients.models import CallHistory

    # A navigator who made calls (the first by id: read off the calls' navigator index).
    navigator = CallHistory.objects.order_by("navigator_id").values_list("navigator_id", flat=True).first()
    page, api = "/admin/reports/navigation/", f"{API}reports/navigation/"
    cases = [
        Case("admin page", "navigation report (every navigator, 12 weeks)", "GET", page, auth="session",
             tags={"admin", "page", "report"}),
        Case("API", f"GET {api} (every navigator, 12 weeks)", "GET", api, tags={"report"}),
    ]  # fmt: skip
    if navigator is not None:
        one = urlencode({"navigator": navigator})
        cases += [
            Case("admin page", "navigation report (one navigator)", "GET", f"{page}?{one}", auth="session",
                 tags={"admin", "page", "report"}),
            Case("API", f"GET {api}?navigator=… (one navigator)", "GET", f"{api}?{one}", tags={"report"}),
        ]  # fmt: skip
    return cases


_OLDER = re.compile(r'<a href="(\?[^"]*)" rel="next">')


def audit_event_cases(client) -> list[Case]:
    """The audit events list (common.admin_events) on the biggest event table, the calls': one model (the
    "Events" button of the calls list), one label of it, and a deep page reached through 5 "Older" links."""
    path = "/admin/pghistory/events/"
    calls = f"{path}?{urlencode({'model': 'patients.CallHistory'})}"
    cases = [
        Case("admin page", "audit events of the calls", "GET", calls, auth="session", tags={"admin", "page", "audit"}),
        Case("admin page", "audit events of the calls, label update", "GET", f"{calls}&label=update",
             auth="session", tags={"admin", "page", "audit"}),
    ]  # fmt: skip
    deep = calls
    for _ in range(5):
        reply = client.request("GET", deep, auth="session")
        found = _OLDER.search(reply.body.decode("utf-8", "replace")) if reply.status == 200 else None
        if not found:
            return cases
        deep = path + unescape(found.group(1))
    cases.append(Case("admin page", "audit events of the calls, deep (cursor, 5 older links down)", "GET", deep,
                      auth="session", tags={"admin", "page", "audit", "deep"}))  # fmt: skip
    return cases


def all_cases(client, connection, *, run_id: str | None = None) -> list[Case]:
    terms = search_terms(connection)
    run_id = run_id or uuid.uuid4().hex[:8]
    return list(
        itertools.chain(api_cases(client, terms), write_cases(run_id), admin_cases(client, terms),
                        page_cases(client))
    )  # fmt: skip
