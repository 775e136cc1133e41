"""Two web nodes behind a load balancer (issue 13, point 3; docs/OPERATIONS.md, "Several web nodes").

Two gunicorn processes with production's settings (tests/scaling/web_node_settings.py) serve the test
database on two ports; a real HAProxy balances between them round robin with ``option forwardfor``.
Addresses of the loopback network stand for the machines: the client connects from 127.0.0.4 to the
balancer on 127.0.0.2, which reaches the nodes from 127.0.0.3 - the only address in the nodes'
``TRUSTED_PROXIES``. Each node names itself in ``X-Served-By`` (``NODE_NAME``), so every assertion below
knows which node answered. Shown:

* a login on one node is a session the other node knows (sessions in PostgreSQL);
* failed logins counted on both nodes lock the account on both (django-axes' database handler), against
  the client's address from ``X-Forwarded-For``;
* the PHI access log records that address, not the balancer's, and a forged header is ignored (from the
  client through the balancer, and from an untrusted sender straight to a node);
* the API throttle counts one client's requests on both nodes together (DatabaseCache in PostgreSQL);
* an ``Idempotency-Key`` claimed on one node answers the retry that reaches the other.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
import requests
from django.db import connections
from requests.adapters import HTTPAdapter
from rest_framework.authtoken.models import Token

from common.models import PHIAccess
from people.models import Person
from tests.conftest import make_user
from tests.factories.people import PersonFactory
from tests.scaling.conftest import require_program
from tests.scaling.processes import database_env, free_port, start, start_haproxy, stop, wait_for_port

BALANCER = "127.0.0.2"
PROXY_SOURCE = "127.0.0.3"  # the address the nodes see the balancer's connections come from
CLIENT = "127.0.0.4"
NODES = ("web1", "web2")
ROOT = Path(__file__).resolve().parents[2]
FAILURE_LIMIT = 5
ANON_RATE = 3

pytestmark = pytest.mark.django_db(transaction=True)


class _FromAddress(HTTPAdapter):
    """Connections made from a given local address (the "client machine")."""

    def __init__(self, address: str):
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def browser() -> requests.Session:
    session = requests.Session()
    session.mount("http://", _FromAddress(CLIENT))
    return session


@pytest.fixture(scope="module")
def cluster(django_db_setup, django_db_blocker):
    """Two gunicorn nodes and HAProxy in front of them, started once for the module: the balancer's URL and
    each node's own URL."""
    haproxy = require_program("haproxy")
    folder = Path(tempfile.mkdtemp(prefix="crm-web-nodes-"))
    db = connections["default"].settings_dict
    ports = {name: free_port() for name in NODES}
    nodes = []
    try:
        for name, port in ports.items():
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "PG"))},
                "DJANGO_SETTINGS_MODULE": "tests.scaling.web_node_settings",
                **database_env(db),
                "SECRET_KEY": "web-nodes-test-secret-key-shared-by-both-nodes-0123456789abcdef",
                "ALLOWED_HOSTS": f"{BALANCER},127.0.0.1,localhost",
                "SECURE_SSL_REDIRECT": "false",
                "SECURE_COOKIES": "false",
                "REQUIRE_2FA": "false",
                "TRUSTED_PROXIES": PROXY_SOURCE,
                "NODE_NAME": name,
                "LOGIN_FAILURE_LIMIT": str(FAILURE_LIMIT),
                "API_THROTTLE_ANON": f"{ANON_RATE}/min",
                "WEB_CONCURRENCY": "1",
                "GUNICORN_THREADS": "2",
                "GUNICORN_BIND": f"127.0.0.1:{port}",
                "PYTHONPATH": str(ROOT),
            }
            log = folder / f"{name}.log"
            gunicorn = str(Path(sys.executable).with_name("gunicorn"))
            nodes.append(start([gunicorn, "-c", str(ROOT / "gunicorn.conf.py")], log=log, env=env, cwd=ROOT))
            wait_for_port(port, process=nodes[-1], log=log, timeout=120)
        balancer, port = start_haproxy(
            haproxy, folder, bind=BALANCER, source=PROXY_SOURCE, servers={name: ports[name] for name in NODES}
        )
        nodes.append(balancer)
        yield {
            "url": f"http://{BALANCER}:{port}",
            "nodes": {name: f"http://127.0.0.1:{port}" for name, port in ports.items()},
            "folder": folder,
        }
    finally:
        for process in nodes:
            stop(process)
        shutil.rmtree(folder, ignore_errors=True)


def _csrf(session: requests.Session, url: str) -> str:
    page = session.get(url)
    assert page.status_code == 200, page.text[:500]
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)


def _login(
    session: requests.Session, base: str, username: str, password: str, token: str | None = None
) -> requests.Response:
    """POST the admin's login form (reading a CSRF token from the login page unless ``token`` is given)."""
    token = token or _csrf(session, f"{base}/admin/login/")
    return session.post(
        f"{base}/admin/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token, "next": "/admin/"},
        allow_redirects=False,
    )


def test_a_session_started_on_one_node_continues_on_the_other(cluster):
    make_user("traveller", superuser=True)
    session = browser()
    login = _login(session, cluster["url"], "traveller", "pw")
    assert login.status_code == 302 and login.headers["Location"] == "/admin/", login.text[:500]
    served = {login.headers["X-Served-By"]}
    for _ in range(4):
        page = session.get(f"{cluster['url']}/admin/", allow_redirects=False)
        assert page.status_code == 200, (page.status_code, page.headers.get("Location"))
        assert "traveller" in page.text
        served.add(page.headers["X-Served-By"])
    assert served == set(NODES)  # the session was read by the node that did not create it
    session.get(f"{cluster['url']}/admin/logout/")  # GET logout is refused; the session is ended by POST
    logout = session.post(f"{cluster['url']}/admin/logout/", data={"csrfmiddlewaretoken": session.cookies["csrftoken"]})
    assert logout.status_code == 200
    for _ in range(2):  # ... and ended for both nodes
        page = session.get(f"{cluster['url']}/admin/", allow_redirects=False)
        assert page.status_code == 302 and "/admin/login/" in page.headers["Location"]


def test_a_lockout_counted_on_both_nodes_holds_on_both(cluster):
    from axes.models import AccessAttempt

    make_user("target", superuser=True)
    session = browser()
    token = _csrf(session, f"{cluster['url']}/admin/login/")  # one page, then only POSTs: they alternate
    served = []
    for _ in range(FAILURE_LIMIT - 1):
        attempt = _login(session, cluster["url"], "target", "wrong", token)
        assert attempt.status_code == 200  # the form again, with its error
        served.append(attempt.headers["X-Served-By"])
    assert set(served) == set(NODES)  # the failures were counted by both nodes, into one count
    last = _login(session, cluster["url"], "target", "wrong", token)
    assert last.status_code == 429
    locked = {}
    for _ in range(2):  # the right password now: refused by each node
        attempt = _login(session, cluster["url"], "target", "pw", token)
        locked[attempt.headers["X-Served-By"]] = attempt.status_code
    assert locked == dict.fromkeys(NODES, 429)
    (counted,) = AccessAttempt.objects.filter(username="target")
    assert counted.ip_address == CLIENT  # the client's address from X-Forwarded-For, not the balancer's
    # Another client address is not locked out (the lock is per username and address).
    other = requests.Session()
    other.mount("http://", _FromAddress("127.0.0.5"))
    assert _login(other, cluster["url"], "target", "pw").status_code == 302


def test_the_access_log_records_the_client_address_and_ignores_forged_headers(cluster):
    make_user("reader", superuser=True)
    person = PersonFactory()
    session = browser()
    assert _login(session, cluster["url"], "reader", "pw").status_code == 302
    page = f"/admin/people/person/{person.pk}/change/"
    served = set()
    for forged in (None, "198.51.100.1", "198.51.100.1, 10.0.0.1"):
        response = session.get(cluster["url"] + page, headers={"X-Forwarded-For": forged} if forged else {})
        assert response.status_code == 200
        served.add(response.headers["X-Served-By"])
    assert served == set(NODES)
    # Straight to a node, from an address that is not a trusted proxy: its header is ignored.
    direct = browser().get(
        cluster["nodes"]["web1"] + page,
        headers={"X-Forwarded-For": "198.51.100.1"},
        cookies={"sessionid": session.cookies["sessionid"]},  # the cookie was set for the balancer's host
        allow_redirects=False,
    )
    assert direct.status_code == 200 and direct.headers["X-Served-By"] == "web1"
    logged = list(PHIAccess.objects.filter(resource_id=str(person.pk)).values_list("client_ip", flat=True))
    assert logged == [CLIENT] * 4


def test_the_api_throttle_counts_one_client_on_both_nodes_together(cluster):
    statuses, served = [], set()
    for _ in range(ANON_RATE + 1):
        response = browser().get(f"{cluster['url']}/api/v1/persons/")
        statuses.append(response.status_code)
        served.add(response.headers["X-Served-By"])
    # Counted per node, neither would have reached the rate (two requests each).
    assert statuses == [401] * ANON_RATE + [429] and served == set(NODES)


def test_an_idempotency_key_claimed_on_one_node_answers_the_retry_on_the_other(cluster):
    user = make_user("api", superuser=True)
    token = Token.objects.create(user=user)
    answers = []
    for _ in range(2):
        answers.append(
            browser().post(
                f"{cluster['url']}/api/v1/persons/",
                json={"first_name": "Once", "last_name": "Only"},
                headers={"Authorization": f"Token {token.key}", "Idempotency-Key": "retry-42"},
            )
        )
    first, retry = answers
    assert first.status_code == 201 and retry.status_code == 201, (first.text, retry.text)
    assert {first.headers["X-Served-By"], retry.headers["X-Served-By"]} == set(NODES)
    assert retry.headers.get("Idempotent-Replayed") == "true" and retry.json() == first.json()
    assert Person.objects.filter(first_name="Once").count() == 1
