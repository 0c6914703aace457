"""FDE site: settings, URLs, the Celery app and the WSGI entry point."""
