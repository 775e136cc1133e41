"""Swagger UI (/api/docs/) draws every tag of the schema, without a browser: what it is handed stays under the
size where it stops drawing whole lists, and every operation is filed under its resource.

Swagger UI 5.33 (drf-spectacular-sidecar 2026.10.1) hands a list of 150 rows or more (tags, plus the
operations of every open tag) to a windowed renderer that draws only the rows inside the viewport: on a page
opened with every tag's operations listed (its default, docExpansion "list"), ours showed two tags and stopped
until scrolled. The settings open it with the tags only (docExpansion "none"); these checks fail when the
schema or the settings bring the first page, or one opened tag, back to that size. The browser test
(tests/browser/test_content_security_policy.py) opens every tag in Chromium.
"""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest
from django.conf import settings
from drf_spectacular.generators import SchemaGenerator

from common.api.schema import tag_for_path

# swagger-ui 5.33.1, src/core/components/operations.jsx: the list is windowed from this many rows.
SWAGGER_UI_WINDOWED_FROM_ROWS = 150
METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}


@pytest.fixture(scope="module")
def operations_per_tag() -> Counter:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    tags: Counter = Counter()
    for item in schema["paths"].values():
        for method, operation in item.items():
            if method in METHODS:
                assert len(operation["tags"]) == 1, operation["operationId"]
                tags[operation["tags"][0]] += 1
    return tags


def _swagger_settings() -> dict:
    return settings.SPECTACULAR_SETTINGS["SWAGGER_UI_SETTINGS"]


def test_the_first_page_of_swagger_ui_is_drawn_whole(operations_per_tag):
    expansion = _swagger_settings().get("docExpansion", "list")  # Swagger UI's default: every tag open
    rows = len(operations_per_tag)
    if expansion in ("list", "full"):
        rows += sum(operations_per_tag.values())
    assert rows < SWAGGER_UI_WINDOWED_FROM_ROWS, (expansion, rows)


def test_each_tag_opened_on_its_own_is_drawn_whole(operations_per_tag):
    tag, largest = operations_per_tag.most_common(1)[0]
    assert len(operations_per_tag) + largest < SWAGGER_UI_WINDOWED_FROM_ROWS, (tag, largest)


def test_every_operation_is_filed_under_its_resource(operations_per_tag):
    # drf-spectacular's own rule filed every CM operation under "v1" (the part after the common "/api").
    assert not [tag for tag in operations_per_tag if re.fullmatch(r"v\d+|api", tag)]
    cm_tags = {tag for tag in operations_per_tag if tag.startswith("cm ")}
    assert {"cm canonical-patients", "cm enrollments", "cm providers", "cm programs", "cm merges"} <= cm_tags
    assert {"patients", "persons", "call-history", "merges", "auth"} <= set(operations_per_tag)
    assert operations_per_tag["cm enrollments"] == 9 + 2  # the two enroll flows join the enrollments


@pytest.mark.parametrize(
    ("path", "tag"),
    [
        ("/api/v1/patients/{id}/calls/", "patients"),
        ("/api/v1/cm/canonical-patients/{id}/duplicates/", "cm canonical-patients"),
        ("/api/v1/cm/enrollments/{enrollment_id}/ledger/{id}/", "cm enrollments"),
        ("/api/v1/cm/", "cm"),
        ("/api/v2/leads/", "leads"),
    ],
)
def test_tag_for_path(path, tag):
    assert tag_for_path(path) == tag


@pytest.mark.django_db
def test_the_docs_page_starts_swagger_ui_with_these_settings(client):
    script = client.get("/api/docs/?script=").content.decode()
    match = re.search(r"const swaggerSettings = (\{.*?\});", script, re.DOTALL)
    assert match, script[:300]
    assert json.loads(match.group(1)) == {**_swagger_settings()}
