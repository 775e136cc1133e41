from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Staff logins: lockout after failed logins, API tokens that expire, two-factor login."""

    name = "accounts"
    verbose_name = "Login security"
