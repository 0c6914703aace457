"""Decision policy storage: the active PolicyVersion, or the settings default, and maker-checker changes.

``policy_activate`` is the primitive that stores and activates a version at once. People change the
policy through proposals when ``settings.FDE_POLICY_FOUR_EYES`` is on (the default): one admin
proposes (``policy_propose``), a different one approves (``policy_approve``, which activates) or
rejects; the proposer may withdraw. Each step writes a ``policy.changed`` audit event whose
``outcome`` names the step, in the same transaction as the change.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import AuditEventType
from audit.services import audit_record

from .decision.policy import DecisionPolicy
from .models import PolicyProposal, PolicyVersion

#: Longest proposal or decision note kept (characters).
NOTE_MAX_LENGTH = 2000


class StoredPolicyProvider:
    """Reads the active policy, caching it for a few seconds so a change applies quickly."""

    def __init__(self, refresh_seconds: float = 2.0) -> None:
        self.refresh_seconds = refresh_seconds
        self._cached: DecisionPolicy | None = None
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    def current(self) -> DecisionPolicy:
        with self._lock:
            if self._cached is None or time.monotonic() - self._loaded_at > self.refresh_seconds:
                self._cached = active_policy()
                self._loaded_at = time.monotonic()
            return self._cached

    def invalidate(self) -> None:
        with self._lock:
            self._cached = None


def active_policy() -> DecisionPolicy:
    stored = PolicyVersion.objects.filter(is_active=True).first()
    if stored is None:
        return DecisionPolicy.from_dict(settings.FDE_DEFAULT_POLICY)
    return DecisionPolicy.from_dict({**stored.settings, "version": stored.version})


def policy_activate(*, version: str, changes: dict[str, Any], actor: str) -> PolicyVersion:
    """Store a new policy version built from the active one plus ``changes`` and activate it."""
    current = active_policy()
    policy = DecisionPolicy.from_dict({**current.to_dict(), **changes, "version": version})
    with transaction.atomic():
        PolicyVersion.objects.filter(is_active=True).update(is_active=False)
        stored = PolicyVersion.objects.create(
            version=version, settings=policy.to_dict(), is_active=True, created_by=actor, created_at=timezone.now()
        )
        audit_record(
            event_type=AuditEventType.POLICY_CHANGED,
            actor=actor,
            outcome="activated",
            payload={"from": current.to_dict(), "to": policy.to_dict()},
        )
    return stored


# ------------------------------------------------------------------ maker-checker


class PolicyChangeRefused(Exception):
    """A proposal step that cannot be applied; nothing was changed. ``message`` is shown to the person."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _SelfApproval(PolicyChangeRefused):
    """The proposer tried to approve their own change."""


class PolicyProposalSuperseded(PolicyChangeRefused):
    """The policy in force changed after the proposal was made: it is now superseded, nothing was activated."""


def four_eyes_required() -> bool:
    """Whether people must propose changes for a second admin to approve (``FDE_POLICY_FOUR_EYES``)."""
    return bool(settings.FDE_POLICY_FOUR_EYES)


def pending_proposal() -> PolicyProposal | None:
    return PolicyProposal.objects.filter(status=PolicyProposal.Status.PENDING).first()


def policy_differences(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{field: {"from": …, "to": …}}`` for every setting (not the version name) that differs."""
    names = sorted((set(before) | set(after)) - {"version"})
    return {name: {"from": before.get(name), "to": after.get(name)} for name in names
            if before.get(name) != after.get(name)}  # fmt: skip


def policy_propose(
    *, version: str, changes: dict[str, Any], actor: str, note: str, based_on: str | None = None
) -> PolicyProposal:
    """Propose the policy in force plus ``changes`` as a new version ``version``, for another person to approve.

    Refused (``PolicyChangeRefused``) when the note is empty or too long, a proposal is pending already
    (one at a time), ``based_on`` is given and is no longer the version in force, the version name is
    taken, or nothing would change; ``ContractError`` when the resulting policy is invalid. Audited
    as ``policy.changed`` / ``proposed``.
    """
    version, note = version.strip(), _checked_note(note, required=True)
    try:
        with transaction.atomic():
            # Lock order, as in policy_approve: the pending proposal, then the active version.
            if PolicyProposal.objects.select_for_update().filter(status=PolicyProposal.Status.PENDING).first():
                raise PolicyChangeRefused("A proposal is pending already: approve, reject or withdraw it first.")
            current = _locked_active_policy()
            if based_on is not None and based_on != current.version:
                raise PolicyChangeRefused("The policy changed since this page was loaded: reload it and try again.")
            if not version or PolicyVersion.objects.filter(version=version).exists():
                raise PolicyChangeRefused(f"Policy version {version!r} exists already; versions are never reused.")
            proposed = DecisionPolicy.from_dict({**current.to_dict(), **changes, "version": version})
            differences = policy_differences(current.to_dict(), proposed.to_dict())
            if not differences:
                raise PolicyChangeRefused("Nothing changed: change at least one setting.")
            proposal = PolicyProposal.objects.create(
                version=version, settings=proposed.to_dict(), base_version=current.version,
                base_settings=current.to_dict(), note=note, proposed_by=actor, proposed_at=timezone.now(),
            )  # fmt: skip
            _audit(proposal, actor=actor, outcome="proposed", changes=differences, settings=proposed.to_dict())
    except IntegrityError as exc:  # a concurrent proposal took the one pending slot
        raise PolicyChangeRefused("A proposal is pending already: approve, reject or withdraw it first.") from exc
    return proposal


def policy_approve(*, proposal_id: int, actor: str, note: str = "") -> PolicyVersion:
    """Approve a pending proposal made by someone else and activate it (through ``policy_activate``).

    Refused when ``actor`` proposed it (four eyes) or it is not pending. When the policy in force is no
    longer the one it was proposed against, the proposal is marked superseded (audited), nothing is
    activated, and ``PolicyProposalSuperseded`` is raised after that commits. Otherwise audited as
    ``approved`` then ``activated``. The proposal row lock makes two approvers queue: one wins.
    """
    note = _checked_note(note, required=False)
    try:
        with transaction.atomic():
            proposal = _locked_pending(proposal_id)
            if proposal.proposed_by == actor:
                raise _SelfApproval("You proposed this change: another admin must approve it (four eyes).")
            current = _locked_active_policy()
            if current.to_dict() != proposal.base_settings:
                _supersede(proposal, actor=actor, current=current)
                stored = None
            else:
                stored = _approve(proposal, actor=actor, note=note)
    except _SelfApproval:
        # An attempt to be both pairs of eyes is what compliance looks for: recorded, in its own transaction.
        with transaction.atomic():
            audit_record(
                event_type=AuditEventType.PERMISSION_DENIED,
                actor=actor,
                outcome="refused",
                payload={"reason": "four eyes: the proposer may not approve", "proposal_id": proposal_id},
            )
        raise
    except IntegrityError as exc:  # a concurrent direct activation took the active slot or the name
        raise PolicyChangeRefused("Another change won: reload the page and try again.") from exc
    if stored is None:
        raise PolicyProposalSuperseded(proposal.decision_note)
    return stored


def policy_reject(*, proposal_id: int, actor: str, note: str) -> PolicyProposal:
    """Reject a pending proposal made by someone else, with a mandatory reason (audited as ``rejected``)."""
    note = _checked_note(note, required=True)
    with transaction.atomic():
        proposal = _locked_pending(proposal_id)
        if proposal.proposed_by == actor:
            raise PolicyChangeRefused("You proposed this change: withdraw it instead of rejecting it.")
        _decide(proposal, PolicyProposal.Status.REJECTED, actor=actor, note=note)
        _audit(proposal, actor=actor, outcome="rejected", note=note)
    return proposal


def policy_withdraw(*, proposal_id: int, actor: str, note: str = "") -> PolicyProposal:
    """Withdraw a pending proposal; only its proposer may (audited as ``withdrawn``)."""
    note = _checked_note(note, required=False)
    with transaction.atomic():
        proposal = _locked_pending(proposal_id)
        if proposal.proposed_by != actor:
            raise PolicyChangeRefused(f"Only the proposer ({proposal.proposed_by}) can withdraw this proposal.")
        _decide(proposal, PolicyProposal.Status.WITHDRAWN, actor=actor, note=note)
        _audit(proposal, actor=actor, outcome="withdrawn", note=note)
    return proposal


def _checked_note(note: str, *, required: bool) -> str:
    note = note.strip()
    if required and not note:
        raise PolicyChangeRefused("A note is required: say why, for the audit trail.")
    if len(note) > NOTE_MAX_LENGTH:
        raise PolicyChangeRefused(f"A note has at most {NOTE_MAX_LENGTH:,} characters.")
    return note


def _locked_active_policy() -> DecisionPolicy:
    # Holds the active row until commit, so no activation slips between the check and the change.
    # (With only the settings default in force there is no row; the one_active_policy constraint
    # then refuses the second of two concurrent activations.)
    PolicyVersion.objects.select_for_update().filter(is_active=True).first()
    return active_policy()


def _locked_pending(proposal_id: int) -> PolicyProposal:
    proposal = PolicyProposal.objects.select_for_update().filter(pk=proposal_id).first()
    if proposal is None:
        raise PolicyChangeRefused(f"There is no proposal #{proposal_id}.")
    if not proposal.is_pending:
        raise PolicyChangeRefused(
            f"Proposal #{proposal.pk} is {proposal.status} already (by {proposal.decided_by}); nothing was changed."
        )
    return proposal


def _approve(proposal: PolicyProposal, *, actor: str, note: str) -> PolicyVersion:
    _audit(proposal, actor=actor, outcome="approved", note=note)
    changes = {name: value for name, value in proposal.settings.items() if name != "version"}
    stored = policy_activate(version=proposal.version, changes=changes, actor=actor)
    _decide(proposal, PolicyProposal.Status.APPROVED, actor=actor, note=note, activated=stored)
    return stored


def _supersede(proposal: PolicyProposal, *, actor: str, current: DecisionPolicy) -> None:
    reason = (
        f"The policy in force changed since proposal #{proposal.pk} was made against {proposal.base_version} "
        f"(now {current.version}): it is superseded and nothing was activated."
    )
    _decide(proposal, PolicyProposal.Status.SUPERSEDED, actor=actor, note=reason)
    _audit(proposal, actor=actor, outcome="superseded", note=reason, now_in_force=current.version)


def _decide(
    proposal: PolicyProposal, status: str, *, actor: str, note: str, activated: PolicyVersion | None = None
) -> None:
    proposal.status, proposal.decided_by, proposal.decided_at = status, actor, timezone.now()
    proposal.decision_note, proposal.activated = note, activated
    proposal.save(update_fields=["status", "decided_by", "decided_at", "decision_note", "activated"])


def _audit(proposal: PolicyProposal, *, actor: str, outcome: str, **details: Any) -> None:
    payload = {"proposal_id": proposal.pk, "version": proposal.version, "base_version": proposal.base_version,
               "proposed_by": proposal.proposed_by, "proposal_note": proposal.note, **details}  # fmt: skip
    audit_record(event_type=AuditEventType.POLICY_CHANGED, actor=actor, outcome=outcome, payload=payload)
