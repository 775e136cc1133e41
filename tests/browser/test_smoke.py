import pytest

from tests.browser.conftest import admin_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_superuser_logs_into_the_admin(page, screenshot, superuser):
    admin_login(page, "root")
    assert page.locator("#site-name").inner_text() == "Healthcare CRM"
    assert screenshot(page, "admin-index").stat().st_size > 0
