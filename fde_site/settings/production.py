"""Production: everything from the environment; refuses to start without a secret key."""

import os

from django.core.exceptions import ImproperlyConfigured

if not os.environ.get("DJANGO_SECRET_KEY"):
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set in production (no default is used).")

from .base import *  # noqa: F403

DEBUG = False
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
#: HTTPS only: plain HTTP is redirected, except the probes a load balancer calls on the inside.
SECURE_SSL_REDIRECT = env_bool("FDE_SSL_REDIRECT", True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
#: HSTS starts at an hour; raise FDE_HSTS_SECONDS (e.g. 31536000) once HTTPS is known good everywhere.
SECURE_HSTS_SECONDS = env_int("FDE_HSTS_SECONDS", 3600)
#: Whether every subdomain is HTTPS-only too, and preload-list submission: the domain owner's call.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("FDE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("FDE_HSTS_PRELOAD", False)
SESSION_COOKIE_HTTPONLY = True
