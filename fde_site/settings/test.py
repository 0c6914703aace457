"""Tests: real PostgreSQL and Redis at their default local addresses unless overridden.

Each test run gets its own test database and Redis database number (from the process id), so
two runs on one machine (developers, helpers, CI) never drop or flush each other's data.
"""

import os

_RUN = os.getpid()
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/fde")
os.environ.setdefault("REDIS_URL", f"redis://127.0.0.1:6379/{2 + _RUN % 11}")

from .base import *  # noqa: E402, F403
from .base import DATABASES  # noqa: E402

DATABASES["default"]["TEST"] = {"NAME": f"test_fde_{_RUN}"}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only; tests
STATIC_ROOT = None  # type: ignore[assignment]  # whitenoise serves from the finders in tests
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
