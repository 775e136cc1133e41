"""Settings shared by every environment. Everything that varies is read from the environment."""

from __future__ import annotations

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
# A .env file at the project root is read when present (never committed); real environment variables win.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# Which settings module is in force: "local", "test" or "production" (each module sets its own).
CRM_ENVIRONMENT = "local"

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="insecure-local-development-key-not-for-production-use-0123456789")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "pgtrigger",
    "pghistory",
    "pghistory.admin",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "csp",
    "procrastinate.contrib.django",
    "common",
    "people",
    "patients",
    "journeys",
    "cm_program",
    "accounts",
]

MIDDLEWARE = [
    "common.middleware.RequestIdMiddleware",
    # Early, so that every response gets the headers, including those of the middleware below.
    "common.headers.SecurityHeadersMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before anything that reads the database: marks GET/HEAD requests readable from a replica.
    "common.replicas.ReplicaRoutingMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "accounts.middleware.TwoFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "common.middleware.AuditContextMiddleware",
    "common.outage.DatabaseUnavailableMiddleware",
    # Idempotency-Key on API POSTs: claims the key outside the view's transaction (common/idempotency.py).
    "common.idempotency.IdempotencyMiddleware",
    # Last, as django-axes asks: it turns a lockout noticed during authentication into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "crm_project.urls"
WSGI_APPLICATION = "crm_project.wsgi.application"
ASGI_APPLICATION = "crm_project.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def _database() -> dict:
    """``DATABASE_URL`` when set; otherwise the project's own embedded PostgreSQL (never SQLite)."""
    if env.str("DATABASE_URL", default=""):
        db = env.db("DATABASE_URL")
    else:
        from crm_project import embedded_db

        db = embedded_db.database_settings()
    # Keep connections for a minute, and check them before reuse so a restarted database server
    # costs one failed health check instead of a string of 500s.
    db["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    db["CONN_HEALTH_CHECKS"] = True
    # Each request is all or nothing: a request that fails half-way writes nothing, and a database
    # error that a view answers with a 4xx cannot leave the connection in a failed transaction.
    db["ATOMIC_REQUESTS"] = True
    # DATABASE_POOLER=transaction: DATABASE_URL is a PgBouncer in transaction mode (crm_project.db_pooler).
    from crm_project.db_pooler import apply_pooler

    return apply_pooler(db, env.str("DATABASE_POOLER", default=""))


DATABASES = {"default": _database()}
# The same database through a second connection, for the API throttle's DatabaseCache only
# (crm_project.cache_router): its counters must be committed at once, not rolled back with a request
# that fails (every 401 would otherwise be forgotten), nor hold a row lock for the request's length.
DATABASES["cache"] = {**DATABASES["default"], "ATOMIC_REQUESTS": False, "TEST": {"MIRROR": "default"}}


def _replicas(primary: dict) -> dict[str, dict]:
    """``DATABASE_REPLICA_URLS`` (comma-separated): streaming replicas of the primary, as ``replica_1..n``."""
    aliases = {}
    for number, url in enumerate(env.list("DATABASE_REPLICA_URLS", default=[]), start=1):
        db = environ.Env.db_url_config(url)
        db["CONN_MAX_AGE"] = primary["CONN_MAX_AGE"]
        db["CONN_HEALTH_CHECKS"] = True
        db["ATOMIC_REQUESTS"] = False  # only reads, outside transactions (common.replicas)
        # A stopped replica host must not hold a request for long: it is skipped (common.replicas).
        db.setdefault("OPTIONS", {}).setdefault("connect_timeout", env.int("REPLICA_CONNECT_TIMEOUT", default=2))
        # The test suite has no replica: the alias reads the test database (like the "cache" alias).
        db["TEST"] = {"MIRROR": "default"}
        aliases[f"replica_{number}"] = db
    return aliases


# Read replicas (issue 13; docs/OPERATIONS.md "Read replicas"): reads that may be a little stale (GET and
# HEAD requests) go to a replica; writes, transactions and the reads after a write go to the primary.
DATABASES.update(_replicas(DATABASES["default"]))
DATABASE_REPLICAS = [alias for alias in DATABASES if alias.startswith("replica_")]
# After a browser's write, its reads go to the primary for this many seconds (a signed cookie).
REPLICA_READ_YOUR_WRITES_SECONDS = env.int("REPLICA_READ_YOUR_WRITES_SECONDS", default=5)
# A replica further behind the primary than this much WAL is skipped until it catches up.
REPLICA_MAX_LAG_BYTES = env.int("REPLICA_MAX_LAG_BYTES", default=1024 * 1024)
# Each process measures each replica's lag at most this often (seconds)...
REPLICA_CHECK_SECONDS = env.float("REPLICA_CHECK_SECONDS", default=1.0)
# ...and leaves an unreachable replica alone for this long before trying it again.
REPLICA_RETRY_SECONDS = env.float("REPLICA_RETRY_SECONDS", default=5.0)
DATABASE_ROUTERS = ["crm_project.cache_router.CacheRouter", "crm_project.db_router.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "people.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"
CSRF_FAILURE_VIEW = "common.views.csrf_failure"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Audit trail (django-pghistory): record the acting user and channel for writes made through the
# web (the AuditContextMiddleware adds the channel) and through management commands.
PGHISTORY_MIDDLEWARE_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# The events admin (/admin/pghistory/events/) is the project's own list (common.admin_events): pghistory's
# unions every event table with a JSON diff per row (minutes over millions of events). Ours reads each chosen
# table by key, 50 a page, diffs for the page only; one record's trail (?obj=) stays pghistory's.
PGHISTORY_ADMIN_ALL_EVENTS = False
PGHISTORY_ADMIN_CLASS = "common.admin_events.CrmEventsAdmin"  # the project's own list: one table, keyset, page diffs
# Every event table gets an index on (pgh_label, pgh_id): the events admin filtered by label reads it.
PGHISTORY_BASE_MODEL = "common.models.Event"  # named Event: pghistory names each event model <Model><base>

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: its WWW-Authenticate header turns anonymous requests into 401, not 403.
        # DRF's Token with an expiry (API_TOKEN_TTL_DAYS); the session needs two-factor when required.
        "accounts.authentication.ExpiringTokenAuthentication",
        "accounts.authentication.VerifiedSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "common.api.permissions.ModelPermissions",
    ],
    "DEFAULT_PAGINATION_CLASS": "common.api.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "common.api.search.CrmSearchFilter",
        "common.api.ordering.AliasOrderingFilter",
    ],
    # Strict JSON: every body it refuses (too deep, not UTF-8, duplicate keys...) is a 400, never a 500.
    "DEFAULT_PARSER_CLASSES": ["common.api.parsers.StrictJSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "common.api.renderers.ORJSONRenderer",  # DRF's JSONRenderer, through orjson (docs/PERFORMANCE.md)
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "EXCEPTION_HANDLER": "common.api.exceptions.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "common.api.schema.CrmAutoSchema",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Healthcare CRM API",
    "DESCRIPTION": (
        "Patient navigation and contingency management. Authenticate with `Authorization: Token <key>` "
        "(`manage.py drf_create_token <username>`). Every error has the shape "
        '`{"error": {"code", "message", "fields"?, "existing_id"?}}`. See docs/API.md.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI and its assets come from the drf-spectacular-sidecar package: nothing is fetched from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="text")  # "text" or "json"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "common.logging.RequestIdFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "common.logging.JsonFormatter"},
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "filters": ["request_id"],
            "formatter": LOG_FORMAT,
        },
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
    },
}


def _pghistory_trackers():
    from common.audit_trackers import default_trackers

    return default_trackers()


# Insert, update and delete of every tracked model, as statement-level triggers (one trigger call per
# statement writes the events of all its rows: bulk writes ~30x faster, the same events; see
# common/audit_trackers.py). Events reference their row without a database constraint (pghistory's
# default), so a hard delete keeps its history.
PGHISTORY_DEFAULT_TRACKERS = _pghistory_trackers()


# --- Logins, API tokens, two-factor, throttling and security headers (issue 9) ------------------------
# Documented in README.md ("Settings and environment") and docs/API.md.
from datetime import timedelta  # noqa: E402

from csp.constants import NONE, SELF  # noqa: E402

AUTHENTICATION_BACKENDS = [
    # django-axes first: it refuses a locked-out username + address before the password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Failed logins are counted per username + client address, in the database (shared by every process).
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
# Proxies in front of the app whose X-Forwarded-For is believed (for the lockout, the API throttle and
# the PHI access log; common.http.client_ip). TRUSTED_PROXIES: the load balancers' addresses or CIDR
# networks; a request from one of them is attributed to the rightmost untrusted X-Forwarded-For entry, any
# other sender's header is ignored. Without it, TRUSTED_PROXY_COUNT proxies are believed whoever sent the
# request (0 = the connection's own address, so a client cannot pick a fresh address per attempt).
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
AXES_CLIENT_IP_CALLABLE = "common.http.client_ip"
AXES_ENABLE_ADMIN = False  # accounts.admin shows lockouts with a recorded "unlock" action instead
AXES_VERBOSE = False

# API tokens (DRF's Token) stop working this many days after they were issued or rotated.
API_TOKEN_TTL_DAYS = env.int("API_TOKEN_TTL_DAYS", default=90)

# Two-factor login (django-otp TOTP) for superusers and supervisors; production turns it on.
REQUIRE_2FA = env.bool("REQUIRE_2FA", default=False)
OTP_TOTP_ISSUER = "Healthcare CRM"

# The OpenAPI schema and Swagger UI describe every field of patient data: a login is needed unless this
# is on (local settings turn it on for `make run`).
API_DOCS_PUBLIC = env.bool("API_DOCS_PUBLIC", default=False)

# API throttling: counters live in PostgreSQL (DatabaseCache on its own connection, see DATABASES["cache"]),
# so every process and web node counts the same requests.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "throttle": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "api_throttle_cache",  # created by the accounts app's migration
        "OPTIONS": {"MAX_ENTRIES": 20_000},
    },
}
# REDIS_URL (optional; docs/OPERATIONS.md "Several web nodes"): the API throttle's counters go to Redis instead
# of PostgreSQL - one short write per API request taken off the primary's WAL; a counter lost on a Redis
# restart is harmless. Everything that must be transactional or kept (sessions, lockouts, idempotency keys,
# the audit trail, the PHI access log) stays in PostgreSQL whatever this says.
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES["throttle"] = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "crm-throttle",
    }
# API_THROTTLE=false switches throttling off entirely (benchmarks only: bench/README.md); rates stay as set.
API_THROTTLE = env.bool("API_THROTTLE", default=True)
REST_FRAMEWORK.update(
    {
        "DEFAULT_THROTTLE_CLASSES": [
            "common.api.throttling.AnonThrottle",
            "common.api.throttling.UserThrottle",
        ]
        if API_THROTTLE
        else [],
        "DEFAULT_THROTTLE_RATES": {
            "anon": env.str("API_THROTTLE_ANON", default="60/min"),
            "user": env.str("API_THROTTLE_USER", default="1000/min"),
        },
        "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    }
)

# Content-Security-Policy (django-csp): nothing inline, nothing from another origin. Django's admin and
# Swagger UI (drf-spectacular's split view, assets from the sidecar package) run under it.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],  # Swagger UI's icons are data: URIs
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
# Browser features the app never uses are switched off for every page (common.headers).
PERMISSIONS_POLICY = (
    "accelerometer",
    "autoplay",
    "camera",
    "display-capture",
    "geolocation",
    "gyroscope",
    "magnetometer",
    "microphone",
    "midi",
    "payment",
    "usb",
)
# Swagger UI opens with the list of tags, each tag's operations drawn when it is opened (or a deep link
# names one). Its default ("list": every operation of every tag at once) hands a list of 150 rows or more
# (tags + operations; ours has ~170) to a windowed renderer (Swagger UI 5.33, components/operations.jsx) that
# draws only the rows in the viewport: the page showed two tags and "stopped" until scrolled, and the
# browser's find-in-page could not see the rest. tests/common/test_swagger_ui.py keeps both views under it.
SPECTACULAR_SETTINGS["SWAGGER_UI_SETTINGS"] = {
    "deepLinking": True,
    "docExpansion": "none",
    "tagsSorter": "alpha",  # the CM tags ("cm ...") side by side
    "validatorUrl": None,  # the default sends the schema's address to an outside validator
}


# BENCH_QUERY_COUNT=true (python -m bench.run sets it for the server it starts; never in production) adds
# a middleware, outermost, that counts the SQL queries of each request on every connection and returns
# the number in the X-Query-Count response header (common.query_count).
BENCH_QUERY_COUNT = env.bool("BENCH_QUERY_COUNT", default=False)
if BENCH_QUERY_COUNT:
    MIDDLEWARE = ["common.query_count.QueryCountMiddleware", *MIDDLEWARE]

# Imports (issue 11): the upload screen stores files in PostgreSQL (common.imports); an upload holds at
# most this many megabytes in all (larger data sets: the import commands on the server).
IMPORT_UPLOAD_MAX_BYTES = env.int("IMPORT_UPLOAD_MAX_MB", default=100) * 1024 * 1024

# The task queue (procrastinate) lives in the same PostgreSQL: `manage.py procrastinate worker` runs
# the jobs (docs/OPERATIONS.md). Its tasks are in common.imports.tasks; no app has a `tasks` module.
PROCRASTINATE_IMPORT_PATHS = ["common.imports.tasks"]
PROCRASTINATE_AUTODISCOVER_MODULE_NAME = ""

# Workers on several machines (docs/SCALING.md, "Task workers"): each worker writes a heartbeat every
# TASK_HEARTBEAT_SECONDS; a worker silent for TASK_STALLED_AFTER_SECONDS is taken for dead (killed, machine
# lost) and the job it was running is requeued by the periodic task retry_stalled_jobs, which every worker
# schedules every TASK_STALLED_CHECK_SECONDS (one run per tick across all workers). A worker's database
# session checks every TASK_CLIENT_CHECK_SECONDS that its client is still there (PostgreSQL's
# client_connection_check_interval), so a killed worker's transaction and locks go within seconds even
# while a statement of it waits or runs.
TASK_HEARTBEAT_SECONDS = env.float("TASK_HEARTBEAT_SECONDS", default=10.0)
TASK_STALLED_AFTER_SECONDS = env.float("TASK_STALLED_AFTER_SECONDS", default=60.0)
TASK_STALLED_CHECK_SECONDS = env.int("TASK_STALLED_CHECK_SECONDS", default=60)
TASK_CLIENT_CHECK_SECONDS = env.int("TASK_CLIENT_CHECK_SECONDS", default=5)


def _check_task_timing() -> None:
    from django.core.exceptions import ImproperlyConfigured

    if not 0 < TASK_HEARTBEAT_SECONDS * 3 <= TASK_STALLED_AFTER_SECONDS:
        raise ImproperlyConfigured(
            f"TASK_STALLED_AFTER_SECONDS={TASK_STALLED_AFTER_SECONDS}: must be at least three heartbeats "
            f"(TASK_HEARTBEAT_SECONDS={TASK_HEARTBEAT_SECONDS}), or a live worker's job could be run twice at once"
        )
    if TASK_STALLED_CHECK_SECONDS <= 0 or 60 % TASK_STALLED_CHECK_SECONDS:
        raise ImproperlyConfigured(
            f"TASK_STALLED_CHECK_SECONDS={TASK_STALLED_CHECK_SECONDS}: must divide 60 (1, 2, 3, 5, 10, 15, 20, 30, 60)"
        )
    if TASK_CLIENT_CHECK_SECONDS < 0:
        raise ImproperlyConfigured(f"TASK_CLIENT_CHECK_SECONDS={TASK_CLIENT_CHECK_SECONDS}: must be 0 (off) or more")


_check_task_timing()
PROCRASTINATE_WORKER_DEFAULTS = {
    "update_heartbeat_interval": TASK_HEARTBEAT_SECONDS,
    # a starting worker forgets the workers silent this long (their running jobs become stalled jobs)
    "stalled_worker_timeout": TASK_STALLED_AFTER_SECONDS,
}

# Several web nodes behind a load balancer (docs/OPERATIONS.md): NODE_NAME names this node in an
# X-Served-By response header (off when unset), so an operator - and tests/scaling - can tell who answered.
NODE_NAME = env.str("NODE_NAME", default="")
if NODE_NAME:
    MIDDLEWARE = ["common.middleware.NodeNameMiddleware", *MIDDLEWARE]
