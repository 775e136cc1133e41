"""The admin and Swagger UI work under the Content-Security-Policy: no violation is reported while they
load and are used, and the pages do what they are for (autocomplete finds, Swagger lists operations)."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator

from tests.browser.conftest import admin_login, expect
from tests.factories.patients import PatientFactory, seeded_condition

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCHEMA_TIMEOUT_MS = 90_000
METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}

# Runs before any script of each page (Playwright injects it outside the page's CSP).
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${where}`);
});
"""


@pytest.fixture
def violations(page):
    """Every CSP violation of the test: the pages' own reports and the browser console's."""
    page.add_init_script(RECORD_VIOLATIONS)
    console: list[str] = []
    page.on(
        "console",
        lambda message: console.append(message.text) if "Content Security Policy" in message.text else None,
    )

    def collect() -> list[str]:
        return [*page.evaluate("window.__cspViolations || []"), *console]

    return collect


def test_admin_pages_and_swagger_ui_run_under_the_csp(page, screenshot, superuser, violations):
    patient = PatientFactory(medical_condition=seeded_condition("DMD"))
    admin_login(page, "root")

    # The admin index (dashboard links, app list, the project's stylesheet).
    expect(page.locator("#site-name")).to_have_text("Healthcare CRM")
    expect(page.locator("#user-tools a", has_text="Your account")).to_be_visible()
    assert violations() == []

    # A change form with an autocomplete (select2, loaded and driven by the admin's scripts).
    page.goto(f"/admin/patients/patient/{patient.pk}/change/")
    page.locator("#id_medical_condition + .select2 .select2-selection").click()
    page.locator(".select2-search__field").fill("Glio")
    expect(page.locator(".select2-results__option", has_text="Glioblastoma")).to_be_visible(timeout=15_000)
    screenshot(page, "change-form-autocomplete")
    assert violations() == []

    # The two-factor set-up page: its QR code is inline SVG markup, not an image from elsewhere.
    page.goto("/admin/account/two-factor/")
    expect(page.locator("#two-factor-qr svg")).to_be_visible()
    assert violations() == []

    # Swagger UI: its start-up script is a file (split view), the schema is fetched from this site.
    page.goto("/api/docs/")
    # Swagger UI draws nothing until the whole schema is generated and fetched: seconds on a busy machine.
    patients = page.locator('.opblock-tag[data-tag="patients"]')
    expect(patients).to_be_visible(timeout=SCHEMA_TIMEOUT_MS)
    patients.click()  # it opens with the tags only (settings: docExpansion)
    expect(page.locator(".opblock").first).to_be_visible()
    screenshot(page, "swagger-ui")
    assert violations() == []


def test_swagger_ui_lists_the_operations_of_every_tag(page, superuser, violations):
    """Every tag of the schema is drawn, and opening it draws all its operations. (With every tag open at
    once, Swagger UI windowed its list of ~170 rows and showed two tags until scrolled: test_swagger_ui.py.)"""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    expected: dict[str, list[str]] = {}
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                expected.setdefault(operation["tags"][0], []).append(path)
    admin_login(page, "root")
    page.goto("/api/docs/")
    expect(page.locator(".opblock-tag").first).to_be_visible(timeout=SCHEMA_TIMEOUT_MS)
    expect(page.locator(".opblock-tag")).to_have_count(len(expected))
    for tag, paths in expected.items():
        heading = page.locator(f'.opblock-tag[data-tag="{tag}"]')
        heading.click()
        section = page.locator(".opblock-tag-section", has=heading)
        expect(section.locator(".opblock")).to_have_count(len(paths))
        drawn = section.locator(".opblock-summary-path").evaluate_all("paths => paths.map(p => p.dataset.path)")
        assert sorted(drawn) == sorted(paths), tag
        heading.click()  # closed again: one tag open at a time
        expect(section.locator(".opblock")).to_have_count(0)
    assert violations() == []
