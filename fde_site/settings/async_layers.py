"""Settings of the asynchronous layers (Celery queues, outbox, callbacks). Imported by base."""
