"""The curl examples of docs/API.md run against a live test server and answer what the doc says."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.core.management import call_command
from rest_framework.authtoken.models import Token

from people.models import User

DOC = Path(__file__).resolve().parents[2] / "docs" / "API.md"
BLOCK = re.compile(r"<!-- expect: (?P<expect>[^>]*?) -->\s*```bash\n(?P<code>.*?)```", re.S)


def examples() -> list[tuple[str, list[int], str]]:
    text = DOC.read_text()
    found = []
    for match in BLOCK.finditer(text):
        line = text[: match.start()].count("\n") + 1
        expected = [int(code) for code in re.findall(r"\d{3}", match["expect"])]
        found.append((f"API.md:{line}", expected, match["code"]))
    return found


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed on this machine")
@pytest.mark.django_db(transaction=True)
def test_every_documented_curl_example(live_server):
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    tokens = {
        name: Token.objects.get_or_create(user=User.objects.get(username=username))[0].key
        for name, username in {
            "TOKEN": "admin",
            "NAV_TOKEN": "navigator",
            "SUP_TOKEN": "crm_supervisor",
            "CPSS_TOKEN": "cpss",
            "CMSUP_TOKEN": "cm_supervisor",
        }.items()
    }
    found = examples()
    assert len(found) >= 4, "docs/API.md lost its examples"
    failures = []
    for where, expected, code in found:
        result = subprocess.run(
            ["bash", "-c", "set -euo pipefail\n" + code],
            env={"PATH": "/usr/bin:/bin", "BASE": live_server.url, **tokens},
            capture_output=True,
            text=True,
            timeout=60,
        )
        statuses = [int(s) for s in re.findall(r"^HTTP/[\d.]+ (\d{3})", result.stdout, re.M)]
        if result.returncode != 0 or statuses != expected:
            failures.append(
                f"{where}: exit {result.returncode}, statuses {statuses}, expected {expected}\n"
                f"{result.stdout[-1500:]}\n{result.stderr[-500:]}"
            )
    assert not failures, "\n\n".join(failures)
