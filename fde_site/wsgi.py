"""WSGI entry point (gunicorn fde_site.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fde_site.settings.local")
application = get_wsgi_application()
