"""Local development: ``make run`` and ``manage.py`` use these settings by default."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)

# Serve static files straight from the apps (no collectstatic needed locally).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# `make run`: the demo logins work without an authenticator app, and the API docs are open.
REQUIRE_2FA = env.bool("REQUIRE_2FA", default=False)
API_DOCS_PUBLIC = env.bool("API_DOCS_PUBLIC", default=True)
