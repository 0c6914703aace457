"""``python manage.py demo [--serve]`` — the embedded-default demo, safe to run again.

Migrates, creates one demo user per role and an API client, trains a model if none is active,
writes demo features, replays simulated transactions through the real pipeline (so the review
queue and the audit trail have content), then optionally serves with gunicorn.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from decisioning.clients import api_client_create, api_client_rotate_token
from decisioning.contracts import FeatureSet
from decisioning.execution.errors import ExecutionFailed, IdempotencyConflict
from decisioning.models import ApiClient, DecisionRecord, ModelVersion
from fde_site.roles import ADMIN, ANALYST, COMPLIANCE, SENIOR_ANALYST, ensure_role_groups

DEMO_CLIENT = "demo-acquirer"
#: Demo accounts: local use only, printed on every run.
DEMO_USERS = {
    "analyst": ("fde-demo-analyst", ANALYST),
    "senior": ("fde-demo-senior", SENIOR_ANALYST),
    "compliance": ("fde-demo-compliance", COMPLIANCE),
    "admin": ("fde-demo-admin", ADMIN),
}
#: Every this many customers one is left without stored features (→ INSUFFICIENT_FEATURES).
NO_FEATURES_EVERY = 40
STORED_GROUPS = ("customer_risk", "spend_behaviour")


class Command(BaseCommand):
    help = "Set up the demo (users, API client, model, features, decisions) and optionally serve it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--transactions", type=int, default=400, help="simulated transactions to replay")
        parser.add_argument("--train-customers", type=int, default=1500, help="customers simulated for training")
        parser.add_argument("--serve", action="store_true", help="serve with gunicorn afterwards")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--workers", type=int, default=2)

    def handle(self, *args: Any, **options: Any) -> None:
        self.step("Migrating the database")
        call_command("migrate", interactive=False, verbosity=0)
        call_command("createcachetable", verbosity=0)
        self.step("Demo users and API client")
        users = self.ensure_users()
        token = self.ensure_client()
        if not ModelVersion.objects.filter(is_active=True).exists():
            self.step("Training a model (no active model yet)")
            call_command(
                "train_model", "--customers", str(options["train_customers"]), "--days", "75", stdout=self.stdout
            )
        demo_decisions = DecisionRecord.objects.filter(client__name=DEMO_CLIENT, request_id__startswith="demo-")
        if demo_decisions.exists():
            self.step("Demo transactions were replayed on an earlier run; keeping them")
            summary = {"decided on an earlier run": demo_decisions.count()}
        else:
            self.step(f"Replaying {options['transactions']} simulated transactions through the pipeline")
            summary = self.quietly_replay(options["transactions"])
        self.print_summary(users, token, summary, options)
        if options["serve"]:
            self.serve(options)

    def quietly_replay(self, count: int) -> dict[str, int]:
        """The replay with the pipeline's per-layer INFO lines silenced (progress is printed instead)."""
        pipeline_log = logging.getLogger("fde")
        previous_level = pipeline_log.level
        pipeline_log.setLevel(logging.WARNING)
        try:
            return self.replay(count)
        finally:
            pipeline_log.setLevel(previous_level)

    def step(self, text: str) -> None:
        self.stdout.write(self.style.MIGRATE_HEADING(f"== {text}"))

    # ------------------------------------------------------------------ users and client

    def ensure_users(self) -> dict[str, str]:
        ensure_role_groups(Group)
        user_model = get_user_model()
        for username, (password, role) in DEMO_USERS.items():
            user, created = user_model.objects.get_or_create(username=username)
            if created:
                user.set_password(password)
                user.is_staff = role == ADMIN
                user.is_superuser = role == ADMIN
                user.save()
            user.groups.add(Group.objects.get(name=role))
        return {username: password for username, (password, _) in DEMO_USERS.items()}

    def ensure_client(self) -> str:
        """The demo client's token: kept under var/ (local demo only) so a re-run can print it."""
        path = Path(settings.VAR_DIR) / "demo-credentials.json"
        known = json.loads(path.read_text()) if path.exists() else {}
        token = known.get("token", "")
        client = ApiClient.objects.filter(name=DEMO_CLIENT).first()
        if client is not None and token and client.token_hash == ApiClient.hash_token(token):
            return str(token)
        if client is None:
            _, token = api_client_create(name=DEMO_CLIENT, actor="system:demo")
        else:  # the token was lost (var/ wiped): rotate it, keeping the client and its history
            token = api_client_rotate_token(name=DEMO_CLIENT, actor="system:demo")
        users = {name: password for name, (password, _) in DEMO_USERS.items()}
        path.write_text(json.dumps({"token": token, "users": users}, indent=2))
        path.chmod(0o600)
        return token

    # ------------------------------------------------------------------ replay

    def replay(self, count: int) -> dict[str, int]:
        from decisioning.features.store import build_store
        from decisioning.ml.simulator import SimulationConfig, simulate
        from decisioning.service import default_service

        history = simulate(SimulationConfig(seed=2026, customers=400, days=30, warmup_days=30))
        start = max(0, len(history) - count)
        shift = timedelta(days=(datetime.now(UTC) - history.timestamp(len(history) - 1)).days)
        store = build_store()
        service = default_service()
        client = ApiClient.objects.get(name=DEMO_CLIENT)
        summary: dict[str, int] = {}
        for position, index in enumerate(range(start, len(history)), start=1):
            txn = history.transaction(index)
            txn = replace(txn, request_id=f"demo-{index}", timestamp=txn.timestamp + shift)
            if self.has_features(txn.customer_id):
                self.push_features(store, history.feature_set(index))
            try:
                result = service.process(txn, client=client)
            except (IdempotencyConflict, ExecutionFailed) as exc:
                self.stderr.write(f"  {txn.request_id}: {exc}")
                continue
            key = "replayed (already decided)" if result.is_idempotent else result.action.value
            summary[key] = summary.get(key, 0) + 1
            if position % 100 == 0 or position == len(history) - start:
                self.stdout.write(f"  {position}/{len(history) - start} transactions")
        self.push_latest_features(store, history)
        return summary

    @staticmethod
    def has_features(customer_id: str) -> bool:
        """Every NO_FEATURES_EVERY-th customer has nothing stored, so some cases lack features."""
        return int(customer_id.lstrip("C")) % NO_FEATURES_EVERY != 0

    def push_latest_features(self, store: Any, history: Any) -> None:
        """Each customer's features as of their last simulated transaction, so any id can be tried."""
        latest: dict[str, int] = {}
        for index in range(len(history)):
            latest[history.transaction(index).customer_id] = index
        for customer_id, index in latest.items():
            if self.has_features(customer_id):
                self.push_features(store, history.feature_set(index))
        self.stdout.write(f"  online features written for {len(latest)} customers")

    @staticmethod
    def push_features(store: Any, feature_set: FeatureSet) -> None:
        now = datetime.now(UTC)
        for name in STORED_GROUPS:
            values = feature_set.get_vector(name)
            if values:
                store.write_group(name, feature_set.customer_id, values, now)

    # ------------------------------------------------------------------ output and serving

    def print_summary(self, users: dict[str, str], token: str, summary: dict[str, int], options: Any) -> None:
        base = f"http://{options['host']}:{options['port']}"
        self.step("Demo ready")
        for action, number in sorted(summary.items()):
            self.stdout.write(f"  {action:<28} {number}")
        self.stdout.write(f"\n  Web UI:    {base}/  (sign in as one of:)")
        for username, password in users.items():
            self.stdout.write(f"             {username:<11} / {password}")
        self.stdout.write(f"  API docs:  {base}/api/v1/docs")
        self.stdout.write(f"  API token: {token}")
        self.stdout.write(
            f"  Try:       curl -s {base}/api/v1/transactions -H 'Authorization: Bearer {token}' "
            '-H \'Content-Type: application/json\' -d \'{"request_id": "try-1", "transaction_id": "t-1", '
            '"customer_id": "C000001", "amount": "42.50", "merchant_id": "M00001", "mcc": "5411"}\''
        )

    def serve(self, options: Any) -> None:
        call_command("collectstatic", interactive=False, verbosity=0)
        bind = f"{options['host']}:{options['port']}"
        self.step(f"Serving on http://{bind} with gunicorn ({options['workers']} workers); Ctrl-C stops")
        sys.stdout.flush()
        gunicorn = Path(sys.executable).with_name("gunicorn")
        argv = [str(gunicorn), "fde_site.wsgi", "--bind", bind, "--workers", str(options["workers"])]
        argv += ["--access-logfile", "-", "--timeout", "60"]
        os.execv(str(gunicorn), argv)  # noqa: S606 - replace this process with the server
