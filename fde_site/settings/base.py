"""Base settings, read from the environment (twelve-factor).

With nothing set FDE runs on the *embedded default*: a SQLite file in the project folder,
online features in a database table, and Celery tasks run eagerly in-process.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(os.environ.get("FDE_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return default if value in (None, "") else int(value)


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return default if value in (None, "") else float(value)


def _local_secret_key() -> str:
    """A per-checkout key for local use, generated once and kept under var/."""
    path = VAR_DIR / "secret_key"
    if path.exists():
        return path.read_text().strip()
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    path.write_text(key)
    path.chmod(0o600)
    return key


VAR_DIR.mkdir(parents=True, exist_ok=True)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or _local_secret_key()
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = [h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "decisioning",
    "review",
    "audit",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "decisioning.api.middleware.ApiGuardMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "fde_site.urls"
WSGI_APPLICATION = "fde_site.wsgi.application"

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
                "fde_site.context_processors.roles",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{VAR_DIR / 'fde.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env_int("DATABASE_CONNECT_TIMEOUT", 3)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
SESSION_COOKIE_AGE = env_int("FDE_SESSION_IDLE_SECONDS", 30 * 60)
SESSION_SAVE_EVERY_REQUEST = True  # the age above is an inactivity timeout
SESSION_COOKIE_HTTPONLY = True

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "fde_site" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --------------------------------------------------------------------------- FDE
#: ``redis://…`` for production; unset → online features in a database table.
REDIS_URL = os.environ.get("REDIS_URL", "")
#: Reads slower than this count as a miss for that read (seconds).
FDE_FEATURE_STORE_TIMEOUT = env_float("FDE_FEATURE_STORE_TIMEOUT", 0.05)
#: Groups older than this are STALE (minutes), per group; others use the default.
FDE_FRESHNESS_MINUTES = {"default": env_int("FDE_FRESHNESS_MINUTES", 60)}
#: How long the warm copy (last good value) is kept (seconds).
FDE_WARM_COPY_TTL = env_int("FDE_WARM_COPY_TTL", 24 * 3600)
#: Where model artifacts live.
FDE_MODEL_DIR = Path(os.environ.get("FDE_MODEL_DIR", VAR_DIR / "models"))
#: The active model is re-checked at most this often (seconds).
FDE_MODEL_REFRESH_SECONDS = env_float("FDE_MODEL_REFRESH_SECONDS", 5.0)
#: Default decision policy (thresholds and hard-rule limits); a stored PolicyVersion overrides it.
FDE_DEFAULT_POLICY = {
    "version": "default-1",
    "decline_threshold": 0.85,
    "review_threshold": 0.60,
    "challenge_threshold": 0.40,
    "velocity_1h_limit": 10_000.0,
    "high_velocity_reason": 2_000.0,
    "geo_min_international_ratio": 0.01,
    "decline_rate_limit_count": 3,
    "decline_rate_limit_window_minutes": 10,
    "high_priority_score": 0.75,
    "known_fraud_score_30d": 0.30,
    "known_fraud_floor": "challenge",
}
#: Maker-checker for policy changes: people propose, a different admin approves (``policy approve``
#: or /policy/). Off → admins and ``policy set`` activate at once, as before.
FDE_POLICY_FOUR_EYES = env_bool("FDE_POLICY_FOUR_EYES", True)
#: API body size limit (bytes).
FDE_MAX_BODY_BYTES = env_int("FDE_MAX_BODY_BYTES", 64 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = FDE_MAX_BODY_BYTES

# --------------------------------------------------------------------------- Celery
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_TIME_LIMIT = 60
CELERY_TASK_SOFT_TIME_LIMIT = 50
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}

# --------------------------------------------------------------------------- DRF
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "decisioning.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["decisioning.api.throttling.ClientRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"client": os.environ.get("FDE_API_RATE", "6000/min")},
    "EXCEPTION_HANDLER": "decisioning.api.exceptions.fde_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "FDE — fraud decision API",
    "DESCRIPTION": (
        "Feature → Decision → Execution fraud decisions for card transactions. Authenticate with "
        "`Authorization: Bearer <token>` (create one with `python manage.py create_api_client NAME`). "
        'Errors are `{"error": {"code", "message", "fields"}}`.'
    ),
    "VERSION": "1.0.0",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
}

# Throttle counters and other short-lived shared state: Redis when configured, else the database.
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL, "KEY_PREFIX": "fde"}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "fde_cache"}
    )
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "fde": {"handlers": ["console"], "level": os.environ.get("FDE_LOG_LEVEL", "INFO"), "propagate": False},
    },
}

# --------------------------------------------------------------------------- review
#: Time allowed to resolve a case, per priority (minutes).
FDE_REVIEW_SLA_MINUTES = {"high": env_int("FDE_SLA_HIGH_MINUTES", 60), "normal": env_int("FDE_SLA_NORMAL_MINUTES", 240)}
#: A claim with no activity for this long may be taken by someone else (minutes).
FDE_CLAIM_IDLE_MINUTES = env_int("FDE_CLAIM_IDLE_MINUTES", 30)
#: Audit events younger than this are never purged (days; PCI DSS 10.5.1: at least 12 months).
FDE_AUDIT_RETENTION_DAYS = env_int("FDE_AUDIT_RETENTION_DAYS", 365)
#: Named lists (blocklist and others) are cached in the online store this long (seconds).
FDE_LIST_CACHE_TTL = env_int("FDE_LIST_CACHE_TTL", 60)

# --------------------------------------------------------------------------- areas with their own settings
from .async_layers import *  # noqa: E402, F403
from .learning import *  # noqa: E402, F403
