"""The Celery app. Without CELERY_BROKER_URL tasks run eagerly in-process (embedded default).

Queues (one per layer, see ``fde_site/settings/async_layers.py``): ``features``, ``decisions``,
``execution``, ``explain``, ``outbox``. Run each layer's workers where you like::

    celery -A fde_site worker -Q features  -n features@%h
    celery -A fde_site worker -Q decisions -n decisions@%h
    celery -A fde_site worker -Q execution -n execution@%h
    celery -A fde_site worker -Q outbox    -n outbox@%h
    celery -A fde_site beat                      # the outbox drainer, exactly one per deployment
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fde_site.settings.local")

app = Celery("fde_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
