"""The settings of the web nodes tests/scaling/test_web_nodes.py starts: production's, with two changes
that only spare the test work unrelated to what it proves (collectstatic and slow password hashing)."""

from crm_project.settings.production import *  # noqa: F403

# The manifest storage needs `collectstatic`; the nodes serve the apps' files as the test settings do.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
# The test process stores passwords with the test settings' hasher.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
