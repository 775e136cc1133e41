"""A keep-alive HTTP client for the benchmark: a token for the API, a session cookie for the admin."""

from __future__ import annotations

import http.client
import json
import re
import time
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float

    def json(self):
        return json.loads(self.body)

    @property
    def queries(self) -> int | None:
        value = self.headers.get("x-query-count")
        return int(value) if value is not None else None


class Client:
    def __init__(self, base_url: str):
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=300)
        self.cookies: dict[str, str] = {}
        self.token: str | None = None

    def request(self, method: str, path: str, *, body: dict | None = None, auth: str = "token", form=None) -> Reply:
        headers = {"Host": f"{self.host}:{self.port}", "Accept": "*/*"}
        data = None
        if auth == "token" and self.token:
            headers["Authorization"] = f"Token {self.token}"
        if auth == "session" and self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            if method != "GET" and "csrftoken" in self.cookies:
                headers["X-CSRFToken"] = self.cookies["csrftoken"]
                headers["Referer"] = f"http://{self.host}:{self.port}/"
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        elif form is not None:
            data = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (1, 2):
            start = time.perf_counter()
            try:
                self.connection.request(method, path, body=data, headers=headers)
                response = self.connection.getresponse()
                payload = response.read()
            except (http.client.HTTPException, ConnectionError):
                self.connection.close()  # a worker closed the keep-alive connection: reconnect once
                if attempt == 2:
                    raise
                continue
            seconds = time.perf_counter() - start
            break
        reply_headers = {k.lower(): v for k, v in response.getheaders()}
        for key, value in response.getheaders():
            if key.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
        return Reply(response.status, reply_headers, payload, seconds)

    def login_admin(self, username: str, password: str) -> None:
        page = self.request("GET", "/admin/login/", auth="session")
        match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.body)
        if not match:
            raise RuntimeError(f"no CSRF token on the admin login page (HTTP {page.status})")
        reply = self.request(
            "POST",
            "/admin/login/?next=/admin/",
            auth="session",
            form={"csrfmiddlewaretoken": match.group(1).decode(), "username": username, "password": password},
        )
        if reply.status != 302 or "sessionid" not in self.cookies:
            raise RuntimeError(f"admin login as {username} failed (HTTP {reply.status})")
