"""Settings for the API benchmark server: the real app plus one bare baseline endpoint."""

from fde_site.settings.local import *  # noqa: F403

ROOT_URLCONF = "bench.urls_bench"
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"client": "100000000/min"}}  # noqa: F405
LOGGING = {"version": 1, "disable_existing_loggers": True}
