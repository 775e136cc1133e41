"""Settings for the test suite (pytest sets ``DJANGO_SETTINGS_MODULE`` to this module)."""

from .base import *  # noqa: F403
from .base import LOGGING

CRM_ENVIRONMENT = "test"
DEBUG = False
# Hashing with PBKDF2 at full strength makes every login in a test take ~100 ms.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# The manifest storage needs collectstatic; tests render admin pages without it.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
LOGGING = {**LOGGING, "root": {"handlers": ["stdout"], "level": "WARNING"}}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
