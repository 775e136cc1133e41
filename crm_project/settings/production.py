"""Production: every secret and host comes from the environment; nothing insecure is defaulted.

Required: ``SECRET_KEY``, ``DATABASE_URL``, ``ALLOWED_HOSTS``. Without ``SECRET_KEY`` the process
refuses to start (``ImproperlyConfigured``).
"""

from .base import *  # noqa: F403
from .base import LOGGING, env

CRM_ENVIRONMENT = "production"
DEBUG = False
SECRET_KEY = env.str("SECRET_KEY")  # no default: refuse to start without it
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
if not env.str("DATABASE_URL", default=""):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("Set the DATABASE_URL environment variable (production never uses the embedded server).")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^health/$"]  # load balancers probe over plain HTTP
# Only a local trial over plain HTTP (docker compose on a laptop) should turn these off.
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=True)
CSRF_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=True)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# Two-factor login for superusers and supervisors, and a login for the API schema and docs.
REQUIRE_2FA = env.bool("REQUIRE_2FA", default=True)
API_DOCS_PUBLIC = env.bool("API_DOCS_PUBLIC", default=False)

LOGGING = {
    **LOGGING,
    "handlers": {**LOGGING["handlers"], "stdout": {**LOGGING["handlers"]["stdout"], "formatter": "json"}},
}
