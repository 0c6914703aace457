"""Outbox for the asynchronous layers: accepted async requests and outgoing HTTP calls."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("decisioning", "0003_feedback_event")]

    operations = [
        migrations.CreateModel(
            name='AsyncRequest',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('callback_url', models.URLField(blank=True, default='', help_text="Snapshot of the client's callback URL.")),
                ('enqueued_at', models.DateTimeField(blank=True, help_text='Last time the pipeline was enqueued.', null=True)),
                ('enqueue_count', models.PositiveIntegerField(default=0)),
                ('error', models.TextField(blank=True, default='', help_text='Why the pipeline refused the request, if it did.')),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('record', models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name='async_request', to='decisioning.decisionrecord')),
            ],
            options={
                'indexes': [models.Index(fields=['enqueued_at'], name='async_request_enqueued')],
            },
        ),
        migrations.CreateModel(
            name='OutboxMessage',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('callback', 'Decision callback to the client'), ('gateway.authorise', 'Payment gateway: authorise'), ('gateway.decline', 'Payment gateway: decline'), ('gateway.challenge', 'Payment gateway: step-up challenge')], max_length=24)),
                ('idempotency_key', models.CharField(help_text='Sent as Idempotency-Key.', max_length=200, unique=True)),
                ('url', models.URLField(max_length=500)),
                ('body', models.TextField(help_text='The exact bytes sent (UTF-8 JSON); fixed when the row is written.')),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('delivered', 'Delivered'), ('dead', 'Dead letter')], default='pending', max_length=10)),
                ('attempts', models.PositiveIntegerField(default=0)),
                ('max_attempts', models.PositiveIntegerField(default=8)),
                ('next_attempt_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('locked_until', models.DateTimeField(blank=True, help_text='Lease of the delivery in progress.', null=True)),
                ('enqueued_at', models.DateTimeField(blank=True, help_text='Last time a delivery task was enqueued.', null=True)),
                ('last_status_code', models.PositiveIntegerField(blank=True, null=True)),
                ('last_error', models.TextField(blank=True, default='')),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('delivered_at', models.DateTimeField(blank=True, null=True)),
                ('client', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='decisioning.apiclient')),
                ('decision', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='outbox_messages', to='decisioning.decisionrecord')),
            ],
            options={
                'indexes': [models.Index(fields=['status', 'next_attempt_at'], name='outbox_due')],
            },
        ),
    ]
