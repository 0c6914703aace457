"""``python manage.py policy show | set | proposals | approve | reject | withdraw`` — thresholds without retraining.

With ``FDE_POLICY_FOUR_EYES`` on (the default) ``set`` proposes the change and a different operator
approves it (``approve ID --actor NAME``), which activates it; off, ``set`` activates at once.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from decisioning.contracts import ContractError
from decisioning.decision.policy import DecisionPolicy
from decisioning.models import PolicyProposal, PolicyVersion
from decisioning.policy import (
    PolicyChangeRefused,
    active_policy,
    four_eyes_required,
    policy_activate,
    policy_approve,
    policy_differences,
    policy_propose,
    policy_reject,
    policy_withdraw,
)

_FIELD_TYPES = {name: type(value) for name, value in DecisionPolicy().to_dict().items() if name != "version"}
LIST_LIMIT = 20


class Command(BaseCommand):
    help = "Show the policy in force; propose (or, without four eyes, activate) a new version; decide proposals."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("show", help="print the active policy as JSON")
        change = sub.add_parser("set", help="propose (four eyes) or activate VERSION = the active policy + changes")
        change.add_argument("version")
        change.add_argument("changes", nargs="+", metavar="key=value", help=", ".join(sorted(_FIELD_TYPES)))
        change.add_argument("--actor", help="who proposes (required with four eyes; a bare NAME means user:NAME)")
        change.add_argument("--note", default="", help="why (required with four eyes)")
        listing = sub.add_parser("proposals", help=f"list the latest {LIST_LIMIT} proposals, newest first")
        listing.add_argument("--pending", action="store_true", help="only the pending one")
        for name, note_help in (("approve", "optional"), ("reject", "required"), ("withdraw", "optional")):
            decide = sub.add_parser(name, help=f"{name} proposal ID")
            decide.add_argument("proposal_id", type=int, metavar="ID")
            decide.add_argument("--actor", required=True, help="who decides (a bare NAME means user:NAME)")
            decide.add_argument("--note", default="", help=f"why ({note_help})")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "show":
            self.stdout.write(json.dumps(active_policy().to_dict(), indent=2))
        elif action == "set":
            self._set(options)
        elif action == "proposals":
            self._list(pending_only=options["pending"])
        else:
            self._decide(action, options["proposal_id"], actor=_admin_actor(options["actor"]), note=options["note"])

    def _set(self, options: dict[str, Any]) -> None:
        changes = dict(_parse(item) for item in options["changes"])
        if not four_eyes_required():
            self._activate(options["version"], changes, actor=_actor(options["actor"] or "system:cli"))
            return
        if not options["actor"] or not options["note"].strip():
            raise CommandError("Four eyes is on (FDE_POLICY_FOUR_EYES): `policy set` needs --actor and --note.")
        try:
            proposal = policy_propose(
                version=options["version"], changes=changes, actor=_admin_actor(options["actor"]), note=options["note"]
            )
        except ContractError as exc:
            raise CommandError(f"Refused: {exc.message} {exc.fields}") from exc
        except PolicyChangeRefused as exc:
            raise CommandError(f"Refused: {exc.message}") from exc
        self.stdout.write(
            f"Proposed policy {proposal.version} as proposal #{proposal.pk}: "
            f"{json.dumps(policy_differences(proposal.base_settings, proposal.settings))}\n"
            f"Another operator applies it with: manage.py policy approve {proposal.pk} --actor NAME"
        )

    def _activate(self, version: str, changes: dict[str, Any], *, actor: str) -> None:
        if PolicyVersion.objects.filter(version=version).exists():
            raise CommandError(f"Policy version {version!r} exists already; versions are never reused.")
        try:
            stored = policy_activate(version=version, changes=changes, actor=actor)
        except ContractError as exc:
            raise CommandError(f"Refused: {exc.message} {exc.fields}") from exc
        self.stdout.write(f"Activated policy {stored.version}: {json.dumps(stored.settings)}")

    def _list(self, *, pending_only: bool) -> None:
        proposals = PolicyProposal.objects.all()
        if pending_only:
            proposals = proposals.filter(status=PolicyProposal.Status.PENDING)
        rows = list(proposals[:LIST_LIMIT])
        if not rows:
            self.stdout.write("No proposals.")
        for proposal in rows:
            decided = f" by {proposal.decided_by} {proposal.decided_at:%Y-%m-%d %H:%M}" if proposal.decided_at else ""
            self.stdout.write(
                f"#{proposal.pk} {proposal.version} [{proposal.status}{decided}] proposed by {proposal.proposed_by} "
                f"{proposal.proposed_at:%Y-%m-%d %H:%M} against {proposal.base_version}: {proposal.note}\n"
                f"    {json.dumps(policy_differences(proposal.base_settings, proposal.settings))}"
            )

    def _decide(self, action: str, proposal_id: int, *, actor: str, note: str) -> None:
        try:
            if action == "approve":
                stored = policy_approve(proposal_id=proposal_id, actor=actor, note=note)
                self.stdout.write(f"Approved proposal #{proposal_id}; policy {stored.version} is now active.")
                return
            service = policy_reject if action == "reject" else policy_withdraw
            proposal = service(proposal_id=proposal_id, actor=actor, note=note)
        except PolicyChangeRefused as exc:
            raise CommandError(f"Refused: {exc.message}") from exc
        self.stdout.write(f"Proposal #{proposal.pk} ({proposal.version}) is {proposal.status}.")


def _admin_actor(raw: str) -> str:
    """Four eyes from the shell: the named operator must be a real, active admin of the web UI.

    This stops made-up or mistyped names (and ``system:…`` actors) from passing as the second pair of
    eyes. It can't authenticate whoever types the command: shell access to the server is already
    full access. The web pages, where each admin signs in, are the authenticated path.
    """
    from django.contrib.auth import get_user_model

    from fde_site.roles import ADMIN, has_role

    actor = _actor(raw)
    username = actor.removeprefix("user:")
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if not actor.startswith("user:") or user is None or not has_role(user, ADMIN):
        raise CommandError(f"--actor {raw!r} is not an active admin user: four eyes needs a real admin's name.")
    return actor


def _actor(raw: str) -> str:
    # The web pages record ``user:NAME``; a bare name means the same person here, so the proposer
    # cannot approve their own change by typing their name without the prefix.
    return raw if ":" in raw else f"user:{raw}"


def _parse(item: str) -> tuple[str, Any]:
    key, separator, raw = item.partition("=")
    if not separator or key not in _FIELD_TYPES:
        raise CommandError(f"{item!r}: expected key=value with key one of {', '.join(sorted(_FIELD_TYPES))}")
    try:
        return key, _FIELD_TYPES[key](raw)
    except ValueError as exc:
        raise CommandError(f"{item!r}: {raw!r} is not a {_FIELD_TYPES[key].__name__}") from exc
