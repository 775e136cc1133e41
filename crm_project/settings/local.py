"""Local development: ``make run`` and ``manage.py`` use these settings by default."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)

# Serve static files straight from the apps (no collectstatic needed locally).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
