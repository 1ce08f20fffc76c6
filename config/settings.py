"""Settings, read only from environment variables (see README, "Configuration").

Development defaults need no server: SQLite under var/ and Celery's filesystem
broker. Nothing insecure is a default: DEBUG is off unless asked for, the
development secret key is generated per checkout, and DJANGO_ENV=production
refuses to start with DEBUG on, a weak SECRET_KEY or no ALLOWED_HOSTS.
"""

import contextlib
import hashlib
import ipaddress
import os
import secrets
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import environ
from cryptography.fernet import Fernet
from django.core.checks.security.base import (
    SECRET_KEY_INSECURE_PREFIX,
    SECRET_KEY_MIN_LENGTH,
    SECRET_KEY_MIN_UNIQUE_CHARACTERS,
)
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
VAR_DIR = Path(env.str("SCHEDULER_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DJANGO_ENV = env.str("DJANGO_ENV", default="development")
PRODUCTION = DJANGO_ENV == "production"


def _key_from_var(
    name: str, generate: Callable[[], str] = lambda: secrets.token_urlsafe(64)
) -> str:
    """A development key kept in VAR_DIR/<name>, generated on first use.

    Generated, never written in the repository: a published key signs anyone's
    sessions and password-reset links. Kept, so sessions survive a restart and
    web, worker and beat agree. Mode 0600 because it is a secret. The file is
    written under a temporary name and hard-linked into place, so processes that
    start together never read a half-written key: all of them get the winner's.
    """
    path = VAR_DIR / name
    if not path.exists():
        temporary = path.with_name(f".{name}.{secrets.token_hex(8)}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as file:
                file.write(generate() + "\n")
            # FileExistsError: another process won the race; its key is used.
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
    if os.name == "posix" and path.stat().st_mode & 0o077:
        raise ImproperlyConfigured(
            f"{path} is readable by other users; restrict it with `chmod 600 {path}`."
        )
    key = path.read_text().strip()
    if not key:
        raise ImproperlyConfigured(f"{path} is empty; delete it to generate a new key.")
    return key


def _weak_secret_key(key: str) -> bool:
    """The same test as Django's security.W009 (check --deploy), at start-up."""
    return (
        len(key) < SECRET_KEY_MIN_LENGTH
        or len(set(key)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS
        or key.startswith(SECRET_KEY_INSECURE_PREFIX)
        or hashlib.sha256(key.encode()).hexdigest() in _published_key_digests
    )


# Keys that were once written in this repository (an earlier development default):
# they are public through its history, however long they are.
_published_key_digests = {
    "40f9199dd5b780b379165dd561282edd26f59750aa7ac618499e1f70d1a538a6",
}

# Production takes the key from the environment only: a file under var/ may be a
# development leftover, and several web machines must share one key.
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY and not PRODUCTION:
    SECRET_KEY = _key_from_var("secret_key")

# Fernet keys that encrypt stored secrets (webhook signing secrets and header
# values, Slack URLs), comma-separated: the first encrypts, all decrypt. To
# rotate: put a new key first, keep the old ones, run `manage.py rotate_secrets
# --apply`, then drop the old keys. Development generates one under var/;
# production requires it (a secret in a dump must be useless without the key).
SCHEDULER_SECRETS_KEYS = env.list("SCHEDULER_SECRETS_KEYS", default=[])
if not SCHEDULER_SECRETS_KEYS and not PRODUCTION:
    SCHEDULER_SECRETS_KEYS = [
        _key_from_var("secrets_key", generate=lambda: Fernet.generate_key().decode())
    ]

DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=[] if PRODUCTION else ["127.0.0.1", "localhost", "[::1]"]
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

if PRODUCTION:
    _key_hint = (
        "Generate one with: "
        "python -c 'import secrets; print(secrets.token_urlsafe(64))'"
    )
    _refusals = []
    if DEBUG:
        _refusals.append("DEBUG must be off: it shows settings and code to visitors.")
    if not SECRET_KEY:
        _refusals.append(f"SECRET_KEY must be set. {_key_hint}")
    elif _weak_secret_key(SECRET_KEY):
        _refusals.append(
            f"SECRET_KEY must be set to a strong key: at least {SECRET_KEY_MIN_LENGTH} "
            f"characters, {SECRET_KEY_MIN_UNIQUE_CHARACTERS} of them different, not "
            f"starting with '{SECRET_KEY_INSECURE_PREFIX}', never a published one. "
            f"{_key_hint}"
        )
    if not ALLOWED_HOSTS:
        _refusals.append("ALLOWED_HOSTS must be set (comma-separated host names).")
    if not SCHEDULER_SECRETS_KEYS:
        _refusals.append(
            "SCHEDULER_SECRETS_KEYS must be set: stored secrets are encrypted with "
            "it. Generate one with: python -c 'from cryptography.fernet import "
            "Fernet; print(Fernet.generate_key().decode())'"
        )
    if _refusals:
        raise ImproperlyConfigured(
            "DJANGO_ENV=production refuses to start: " + " ".join(_refusals)
        )

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_celery_beat",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "formtools",
    "django_jsonform",
    "axes",
    "audit",
    "job_templates",
    "scheduler_jobs",
    "executions",
    *env.list("SCHEDULER_EXTRA_APPS", default=[]),
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its response.
    "axes.middleware.AxesMiddleware",
]

# Brute-force protection for logins (django-axes): after AXES_FAILURE_LIMIT
# failures for one username from one address, that pair is locked out for
# AXES_COOLOFF_MINUTES. Failed logins are also written to the audit log.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True

# Reverse proxies -------------------------------------------------------------
# Addresses or networks (comma-separated, e.g. "10.0.0.0/8,127.0.0.1") of the
# proxies in front of the web processes. Only when the request comes from one of
# them is X-Forwarded-For read, from the right, past the trusted proxies; without
# them every user would share the proxy's address and one attacker could lock
# out everyone. Empty: X-Forwarded-For is ignored (audit.client_ip).
SCHEDULER_TRUSTED_PROXIES = env.list("SCHEDULER_TRUSTED_PROXIES", default=[])
for _proxy in SCHEDULER_TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy.strip(), strict=False)
    except ValueError as error:
        raise ImproperlyConfigured(
            f"SCHEDULER_TRUSTED_PROXIES: {_proxy!r} is not an IP address or network."
        ) from error
AXES_CLIENT_IP_CALLABLE = "audit.client_ip.client_ip"
# The header by which the proxy tells Django the client used HTTPS. Trusted only
# when named, since any client can send it: by default behind trusted proxies
# (which must overwrite it), never without them. Set it empty to turn it off.
SCHEDULER_PROXY_SSL_HEADER = env.str(
    "SCHEDULER_PROXY_SSL_HEADER",
    default="X-Forwarded-Proto" if SCHEDULER_TRUSTED_PROXIES else "",
).strip()
if SCHEDULER_PROXY_SSL_HEADER:
    SECURE_PROXY_SSL_HEADER = (
        "HTTP_" + SCHEDULER_PROXY_SSL_HEADER.upper().replace("-", "_"),
        "https",
    )

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "executions.context_processors.scheduler_health",
            ],
        },
    },
]

# Database ------------------------------------------------------------------
DATABASES = {
    "default": env.db(
        "DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'dynamic_scheduler.sqlite3'}"
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share one SQLite file. WAL lets readers run beside the
    # writer; IMMEDIATE transactions take the write lock at BEGIN so two writers
    # queue on the busy timeout instead of failing with "database is locked" when a
    # read transaction tries to upgrade.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": env.int("SQLITE_BUSY_TIMEOUT_SECONDS", default=30),
        }
    )
    # A file, not :memory:, so worker and beat processes started by the
    # integration tests see the test database.
    DATABASES["default"]["TEST"] = {
        "NAME": str(VAR_DIR / "test_dynamic_scheduler.sqlite3")
    }
else:
    DATABASES["default"].setdefault(
        "CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60)
    )
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"django.contrib.auth.password_validation.{name}"}
    for name in (
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    )
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# "2026-12-01 13:34 UTC" wherever Django formats a date (config/formats).
FORMAT_MODULE_PATH = "config.formats"

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns when it is missing
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# Cache: API throttle counters. Per process by default; point CACHE_URL at Redis
# (e.g. rediscache://127.0.0.1:6379/3) so several web processes share them.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}

# Email ---------------------------------------------------------------------
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
# Seconds an SMTP connection may block (Django waits forever by default): a
# stuck mail server must not hold a worker or beat's alert sender for good.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="scheduler@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Celery --------------------------------------------------------------------
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "control_folder": str(BROKER_DIR / "control"),
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "store_processed": False,
        "polling_interval": 0.2,
    }
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # Unacked messages are redelivered after this many seconds; job timeouts and
    # retry delays must stay below it (checked at worker and beat start-up).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3 * 3600),
    }
# RabbitMQ's consumer_timeout (its default is 30 minutes): an unacknowledged
# message is redelivered after it, so job timeouts must stay below it too.
SCHEDULER_RABBITMQ_CONSUMER_TIMEOUT_SECONDS = env.int(
    "SCHEDULER_RABBITMQ_CONSUMER_TIMEOUT_SECONDS", default=1800
)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fix-up closes every database connection after every task unless
# CELERY_DB_REUSE_MAX is set (celery#9824 reverted honouring CONN_MAX_AGE):
# reconnecting to PostgreSQL was a quarter of a heartbeat's time in a py-spy
# profile of a worker. A connection now serves this many tasks, and
# close_old_connections() around each task (config/celery.py) still drops one
# that is broken, left in a transaction, or older than CONN_MAX_AGE.
CELERY_DB_REUSE_MAX = env.int("SCHEDULER_DB_REUSE_MAX_TASKS", default=1000)
CELERY_TASK_DEFAULT_QUEUE = env.str("SCHEDULER_DEFAULT_QUEUE", default="celery")
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_BEAT_SCHEDULER = "executions.beat:DynamicJobScheduler"
CELERY_IMPORTS = ["executions.housekeeping_tasks"]
# Retention: prune old executions in batches (executions.housekeeping). Both
# beats of a two-beat deployment send it; the task is idempotent.
SCHEDULER_HOUSEKEEPING_INTERVAL_SECONDS = env.int(
    "SCHEDULER_HOUSEKEEPING_INTERVAL_SECONDS", default=3600
)
CELERY_BEAT_SCHEDULE = {
    "scheduler-housekeeping": {
        "task": "executions.housekeeping",
        "schedule": SCHEDULER_HOUSEKEEPING_INTERVAL_SECONDS,
    }
}
CELERY_WORKER_SEND_TASK_EVENTS = False
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
DJANGO_CELERY_BEAT_TZ_AWARE = True

# Dynamic Scheduler ---------------------------------------------------------
# Schedules
SCHEDULER_MIN_INTERVAL_SECONDS = env.int("SCHEDULER_MIN_INTERVAL_SECONDS", default=10)
# Dispatcher (beat)
SCHEDULER_TICK_SECONDS = env.float("SCHEDULER_TICK_SECONDS", default=1.0)
SCHEDULER_DISPATCH_BATCH = env.int("SCHEDULER_DISPATCH_BATCH", default=500)
SCHEDULER_MISFIRE_GRACE_SECONDS = env.int("SCHEDULER_MISFIRE_GRACE_SECONDS", default=60)
# The watch (executions/health.py; README, "Watching the scheduler").
SCHEDULER_HEALTH_MAX_TICK_AGE_SECONDS = env.float(
    "SCHEDULER_HEALTH_MAX_TICK_AGE_SECONDS", default=60.0
)
SCHEDULER_HEALTH_MAX_QUEUED_AGE_SECONDS = env.float(
    "SCHEDULER_HEALTH_MAX_QUEUED_AGE_SECONDS", default=300.0
)
SCHEDULER_HEARTBEAT_SECONDS = env.float("SCHEDULER_HEARTBEAT_SECONDS", default=1.0)
SCHEDULER_HEALTH_WORKER_WINDOW_SECONDS = env.float(
    "SCHEDULER_HEALTH_WORKER_WINDOW_SECONDS", default=300.0
)
SCHEDULER_LATE_GRACE_SECONDS = env.float(
    "SCHEDULER_LATE_GRACE_SECONDS", default=float(SCHEDULER_MISFIRE_GRACE_SECONDS)
)
# How often beat's watch pass looks for late, missed and slow runs.
SCHEDULER_WATCH_INTERVAL_SECONDS = env.float(
    "SCHEDULER_WATCH_INTERVAL_SECONDS", default=5.0
)
# Executor and reaper
SCHEDULER_HARD_LIMIT_EXTRA_SECONDS = env.int(
    "SCHEDULER_HARD_LIMIT_EXTRA_SECONDS", default=30
)
SCHEDULER_REAPER_INTERVAL_SECONDS = env.int(
    "SCHEDULER_REAPER_INTERVAL_SECONDS", default=15
)
SCHEDULER_REAPER_GRACE_SECONDS = env.int("SCHEDULER_REAPER_GRACE_SECONDS", default=60)
SCHEDULER_REQUEUE_AFTER_SECONDS = env.int(
    "SCHEDULER_REQUEUE_AFTER_SECONDS", default=300
)
SCHEDULER_LOG_MAX_ENTRIES = env.int("SCHEDULER_LOG_MAX_ENTRIES", default=1000)
SCHEDULER_LOG_MAX_MESSAGE_CHARS = env.int(
    "SCHEDULER_LOG_MAX_MESSAGE_CHARS", default=4000
)
SCHEDULER_NOTIFICATION_TIMEOUT_SECONDS = env.int(
    "SCHEDULER_NOTIFICATION_TIMEOUT_SECONDS", default=10
)
# Celery queue per template resource usage (low/medium/high), e.g. "high=heavy".
SCHEDULER_QUEUES = env.dict("SCHEDULER_QUEUES", default={})
# Templates
SCHEDULER_CLEANUP_MODELS = env.list(
    "SCHEDULER_CLEANUP_MODELS", default=["executions.JobExecution"]
)
SCHEDULER_EXPORT_MODELS = env.list(
    "SCHEDULER_EXPORT_MODELS",
    default=[
        "scheduler_jobs.DynamicJob",
        "executions.JobExecution",
        "audit.AuditEntry",
    ],
)
SCHEDULER_EXPORT_ROOT = env.str(
    "SCHEDULER_EXPORT_ROOT", default=str(VAR_DIR / "exports")
)
SCHEDULER_REPORT_ROOT = env.str(
    "SCHEDULER_REPORT_ROOT", default=str(VAR_DIR / "reports")
)
SCHEDULER_BACKUP_ROOT = env.str(
    "SCHEDULER_BACKUP_ROOT", default=str(VAR_DIR / "backups")
)
# The two-person rule: "high-risk" (changes that make a job high-risk wait for
# another staff user's approval) or "off".
SCHEDULER_APPROVALS = env.str("SCHEDULER_APPROVALS", default="high-risk")
if SCHEDULER_APPROVALS not in ("high-risk", "off"):
    raise ImproperlyConfigured("SCHEDULER_APPROVALS must be 'high-risk' or 'off'.")
SCHEDULER_WEBHOOK_ALLOWED_HOSTS = env.list(
    "SCHEDULER_WEBHOOK_ALLOWED_HOSTS", default=[]
)
SCHEDULER_LEGACY_TICKETS_MODEL = env.str("SCHEDULER_LEGACY_TICKETS_MODEL", default="")
# legacy_jobs mapping rules, merged over the built-in ones (a dict set in a
# settings module, not an environment variable); see README.
SCHEDULER_LEGACY_RULES: dict = {}
# Extra template classes (dotted paths) registered beside the built-ins and the
# entry points, e.g. a project's own templates without packaging them.
SCHEDULER_EXTRA_TEMPLATES = env.list("SCHEDULER_EXTRA_TEMPLATES", default=[])
# API
SCHEDULER_THROTTLE_WRITES = env.str("SCHEDULER_THROTTLE_WRITES", default="60/min")
SCHEDULER_THROTTLE_RUNS = env.str("SCHEDULER_THROTTLE_RUNS", default="10/min")
SCHEDULER_MAX_JOBS_PER_USER = env.int("SCHEDULER_MAX_JOBS_PER_USER", default=100)
SCHEDULER_MAX_JOBS = env.int("SCHEDULER_MAX_JOBS", default=10_000)
SCHEDULER_METRICS_TOKEN = env.str("SCHEDULER_METRICS_TOKEN", default="")
# Housekeeping
SCHEDULER_EXECUTION_RETENTION_DAYS = env.int(
    "SCHEDULER_EXECUTION_RETENTION_DAYS", default=90
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

if PRODUCTION:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# REST API (owned by the API work) ---------------------------------------------
REST_FRAMEWORK = {
    # Token first: its WWW-Authenticate header turns "not logged in" into a 401.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "config.rest.IsStaff",
        "config.rest.ModelPermissions",
    ],
    # JSON only: jobs are nested objects, which forms cannot express.
    "DEFAULT_PARSER_CLASSES": ["config.rest.StrictJSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "config.rest.CountedPagination",
    "EXCEPTION_HANDLER": "config.rest.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Scoped throttles (writes, runs) are applied by the views after validation;
    # their rates are read from SCHEDULER_THROTTLE_* at each request.
    "DEFAULT_THROTTLE_CLASSES": [],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    # Swagger UI from drf-spectacular-sidecar's static files: no CDN needed.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "TITLE": "Dynamic Scheduler API",
    "DESCRIPTION": "Create, schedule, run and watch maintenance jobs. Authenticate "
    "with `Authorization: Token <key>` (manage.py drf_create_token <username>) or "
    "the admin's session. Staff only. Text must not contain NUL characters "
    "(refused with 400: PostgreSQL cannot store them).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["config.rest.IsStaff"],
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "ExecutionStatusEnum": "executions.models.JobExecution.Status",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.rest.schema_postprocessing_hook",
    ],
}
