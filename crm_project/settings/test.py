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

# Issue 9 protections, tuned for the suite: no two-factor unless a test turns it on, open API docs
# (the schemathesis run reads the schema), throttle rates no test reaches (tests/accounts lower them),
# and the throttle's counters in memory (the suite's own tests of the database counters opt in).
REQUIRE_2FA = False
API_DOCS_PUBLIC = True
REST_FRAMEWORK = {
    **REST_FRAMEWORK,  # noqa: F405
    "DEFAULT_THROTTLE_RATES": {"anon": "100000/min", "user": "100000/min"},
}
CACHES = {
    **CACHES,  # noqa: F405
    "throttle": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "api-throttle"},
}

# A test-only app whose model has a foreign key to Person: the merge moves it too (tests/people/test_merge.py).
INSTALLED_APPS = [*INSTALLED_APPS, "tests.merge_app"]  # noqa: F405

# A test-only task the worker processes of tests/scaling/test_workers.py run (tests/scaling/worker_tasks.py).
PROCRASTINATE_IMPORT_PATHS = [*PROCRASTINATE_IMPORT_PATHS, "tests.scaling.worker_tasks"]  # noqa: F405

# A replica alias for the router's tests (tests/common/test_replicas.py): the test database under a
# connection of its own. Reads stay on "default" (DATABASE_REPLICAS is empty) unless a test lists it.
if "replica_1" not in DATABASES:  # noqa: F405  (DATABASE_REPLICA_URLS set: the suite reads a real replica_1)
    DATABASES["replica_1"] = {  # noqa: F405
        **DATABASES["default"],  # noqa: F405
        "ATOMIC_REQUESTS": False,
        "TEST": {"MIRROR": "default"},
    }
