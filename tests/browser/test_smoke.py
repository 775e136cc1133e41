import pytest

from tests.browser.conftest import admin_login, expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_superuser_logs_into_the_admin(page, screenshot, superuser):
    admin_login(page, "root")
    expect(page.locator("#site-name")).to_have_text("Healthcare CRM")
    assert screenshot(page, "admin-index").stat().st_size > 0
