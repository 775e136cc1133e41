"""The admin and Swagger UI work under the Content-Security-Policy: no violation is reported while they
load and are used, and the pages do what they are for (autocomplete finds, Swagger lists operations)."""

from __future__ import annotations

import pytest

from tests.browser.conftest import admin_login, expect
from tests.factories.patients import PatientFactory, seeded_condition

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCHEMA_TIMEOUT_MS = 90_000

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
    expect(page.locator(".opblock").first).to_be_visible(timeout=SCHEMA_TIMEOUT_MS)
    screenshot(page, "swagger-ui")
    assert violations() == []


@pytest.mark.xfail(
    strict=True,
    reason="Known defect (session note 2026-11-30): since the merge endpoints joined the schema, Swagger UI draws "
    "the first two tags and stops, with no error in the console; any four of the twelve merge paths are enough, "
    "and the schema without them draws every tag. strict: this test fails once Swagger UI draws them all again.",
)
def test_swagger_ui_lists_the_operations_of_every_tag(page, superuser, violations):
    admin_login(page, "root")
    page.goto("/api/docs/")
    expect(page.locator(".opblock").first).to_be_visible(timeout=SCHEMA_TIMEOUT_MS)
    expect(page.locator(".opblock-summary-path", has_text="/api/v1/patients/").first).to_be_visible(timeout=20_000)
    assert violations() == []
