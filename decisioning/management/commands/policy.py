"""``python manage.py policy show | set VERSION key=value …`` — thresholds without retraining."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from decisioning.contracts import ContractError
from decisioning.decision.policy import DecisionPolicy
from decisioning.models import PolicyVersion
from decisioning.policy import active_policy, policy_activate

_FIELD_TYPES = {name: type(value) for name, value in DecisionPolicy().to_dict().items() if name != "version"}


class Command(BaseCommand):
    help = "Show the policy in force, or activate a new version with changed thresholds/limits (audited)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("show", help="print the active policy as JSON")
        change = sub.add_parser("set", help="activate VERSION = the active policy with the given changes")
        change.add_argument("version")
        change.add_argument("changes", nargs="+", metavar="key=value", help=", ".join(sorted(_FIELD_TYPES)))
        change.add_argument("--actor", default="system:cli")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "show":
            self.stdout.write(json.dumps(active_policy().to_dict(), indent=2))
            return
        if PolicyVersion.objects.filter(version=options["version"]).exists():
            raise CommandError(f"Policy version {options['version']!r} exists already; versions are never reused.")
        changes = dict(_parse(item) for item in options["changes"])
        try:
            stored = policy_activate(version=options["version"], changes=changes, actor=options["actor"])
        except ContractError as exc:
            raise CommandError(f"Refused: {exc.message} {exc.fields}") from exc
        self.stdout.write(f"Activated policy {stored.version}: {json.dumps(stored.settings)}")


def _parse(item: str) -> tuple[str, Any]:
    key, separator, raw = item.partition("=")
    if not separator or key not in _FIELD_TYPES:
        raise CommandError(f"{item!r}: expected key=value with key one of {', '.join(sorted(_FIELD_TYPES))}")
    try:
        return key, _FIELD_TYPES[key](raw)
    except ValueError as exc:
        raise CommandError(f"{item!r}: {raw!r} is not a {_FIELD_TYPES[key].__name__}") from exc
