"""Storage of the decisioning app: API clients, decisions, lists, policy, models, features."""

from __future__ import annotations

import hashlib
import secrets

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from decisioning.contracts import ContractError
from decisioning.decision.policy import DecisionPolicy


class ApiClient(models.Model):
    """A payment system (or other caller) that authenticates with a token.

    Only the SHA-256 of the token is stored; the token itself is shown once at creation.
    Idempotency keys are scoped per client.
    """

    class Role(models.TextChoices):
        SYSTEM = "system", "System (decide, write features and lists)"
        READER = "reader", "Reader (read decisions only)"

    name = models.CharField(max_length=100, unique=True)
    token_hash = models.CharField(max_length=64, unique=True)
    token_prefix = models.CharField(max_length=12, help_text="First characters of the token, to recognise it.")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.SYSTEM)
    is_active = models.BooleanField(default=True)
    callback_url = models.URLField(blank=True, default="")
    callback_secret = models.CharField(max_length=128, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    TOKEN_PREFIX = "fde_"  # noqa: S105 - a visible prefix, not a secret

    def __str__(self) -> str:
        return self.name

    @staticmethod
    def hash_token(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    @classmethod
    def new_token(cls) -> str:
        return cls.TOKEN_PREFIX + secrets.token_urlsafe(32)


class DecisionRecord(models.Model):
    """One transaction decision, its execution, and its idempotency key.

    ``(client, request_id)`` is unique forever: it is the idempotency key. ``request_hash`` is
    the SHA-256 of the canonical request, so a retry with a different body is detected.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DECIDED = "decided", "Decided"
        FAILED = "failed", "Failed"

    client = models.ForeignKey(ApiClient, on_delete=models.PROTECT, related_name="decisions")
    request_id = models.CharField(max_length=128)
    request_hash = models.CharField(max_length=64)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    transaction_id = models.CharField(max_length=128, db_index=True)
    customer_id = models.CharField(max_length=128)
    merchant_id = models.CharField(max_length=128, blank=True, default="")
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3)
    event_time = models.DateTimeField(help_text="The transaction's own timestamp.")
    transaction = models.JSONField(help_text="TransactionIn contract as JSON.")
    feature_set = models.JSONField(null=True, blank=True, help_text="FeatureSet contract used for the decision.")
    decision = models.JSONField(null=True, blank=True, help_text="DecisionResult contract (explanation frozen).")
    execution = models.JSONField(null=True, blank=True, help_text="ExecutionResult contract returned to the caller.")
    action = models.CharField(max_length=24, blank=True, default="")
    fraud_score = models.FloatField(null=True, blank=True)
    model_version = models.CharField(max_length=64, blank=True, default="")
    policy_version = models.CharField(max_length=64, blank=True, default="")
    is_degraded = models.BooleanField(default=False)
    # Copied out of the JSON contracts for the analyses that scan many decisions (policy what-if,
    # challenger judgement): reading them from `decision` would unpack every stored explanation.
    recommended_action = models.CharField(
        max_length=10, blank=True, default="", help_text="DecisionResult.action (before execution)."
    )
    is_model_driven = models.BooleanField(default=False, help_text="DecisionResult.is_model_driven.")
    customer_fraud_score_30d = models.FloatField(
        null=True, blank=True, help_text="customer_risk.fraud_score_30d in the FeatureSet used."
    )
    challenger = models.JSONField(
        null=True, blank=True, help_text="What a shadow / canary said: DecisionResult.metadata shadow and canary."
    )
    reference_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["client", "request_id"], name="decision_idempotency_key"),
        ]
        indexes = [
            models.Index(fields=["customer_id", "-event_time"], name="decision_customer_time"),
            models.Index(fields=["action", "-created_at"], name="decision_action_created"),
            models.Index(fields=["request_id"], name="decision_request_id"),
            # The policy what-if and the challenger judgement read windows of transaction time.
            models.Index(fields=["event_time"], name="decision_event_time"),
        ]

    def __str__(self) -> str:
        return f"{self.request_id} → {self.action or self.status}"

    def copy_analysis_columns(self) -> None:
        """Fill the analysis columns from the stored ``decision`` and ``feature_set`` JSON."""
        decision = self.decision or {}
        metadata = decision.get("metadata") or {}
        self.recommended_action = str(decision.get("action") or "")
        self.is_model_driven = bool(decision.get("is_model_driven"))
        challenger = {key: metadata[key] for key in ("shadow", "canary") if key in metadata}
        self.challenger = challenger or None
        groups = (self.feature_set or {}).get("groups") or {}
        risk = ((groups.get("customer_risk") or {}).get("values") or {}).get("fraud_score_30d")
        self.customer_fraud_score_30d = (
            float(risk) if isinstance(risk, int | float) and not isinstance(risk, bool) else None
        )


class GatewayCall(models.Model):
    """What the built-in payment-gateway adapter did (authorise / decline / challenge)."""

    class Kind(models.TextChoices):
        AUTHORISE = "authorise", "Authorise"
        DECLINE = "decline", "Decline"
        CHALLENGE = "challenge", "Step-up challenge"

    reference_id = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    decision = models.ForeignKey(DecisionRecord, on_delete=models.PROTECT, related_name="gateway_calls")
    reason_codes = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["decision", "kind"], name="gateway_call_once_per_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.reference_id}"


class ListEntry(models.Model):
    """A member of a named list (``blocklist``, ``allowlist`` …), e.g. a blocked customer id."""

    list_name = models.CharField(max_length=50)
    value = models.CharField(max_length=128)
    reason = models.CharField(max_length=200, blank=True, default="")
    created_by = models.CharField(max_length=150, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["list_name", "value"], name="list_entry_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.list_name}:{self.value}"


class PolicyVersion(models.Model):
    """Thresholds and hard-rule limits: policy, changeable without retraining."""

    version = models.CharField(max_length=64, unique=True)
    settings = models.JSONField(help_text="DecisionPolicy fields (thresholds, limits).")
    is_active = models.BooleanField(default=False)
    created_by = models.CharField(max_length=150, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["is_active"], condition=models.Q(is_active=True), name="one_active_policy"),
        ]

    def __str__(self) -> str:
        return self.version


class PolicyProposal(models.Model):
    """A policy change waiting for a second person (maker-checker, four eyes).

    ``settings`` is the whole proposed policy, built from ``base_settings`` (the policy in force when
    it was proposed) plus the proposer's changes; approval activates it only while the policy in
    force is still exactly ``base_settings``. At most one proposal is pending at a time, so a
    checker never has to choose between competing changes made against the same base.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved and activated"
        REJECTED = "rejected", "Rejected"
        WITHDRAWN = "withdrawn", "Withdrawn by the proposer"
        SUPERSEDED = "superseded", "Superseded: the policy in force changed first"

    version = models.CharField(max_length=64, help_text="The name the new PolicyVersion gets on approval.")
    settings = models.JSONField(help_text="The full proposed DecisionPolicy (validated with from_dict).")
    base_version = models.CharField(max_length=64, help_text="The policy version in force when proposed.")
    base_settings = models.JSONField(help_text="The full policy in force when proposed.")
    note = models.TextField(help_text="Why the change is proposed (mandatory, audited).")
    proposed_by = models.CharField(max_length=150)
    proposed_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    decided_by = models.CharField(max_length=150, blank=True, default="")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True, default="")
    activated = models.OneToOneField(
        PolicyVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="proposal",
        help_text="The version this proposal's approval activated.",
    )  # fmt: skip

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["status"], condition=models.Q(status="pending"), name="one_pending_policy_proposal"
            ),
            models.CheckConstraint(condition=~models.Q(note=""), name="policy_proposal_has_note"),
            models.CheckConstraint(
                condition=models.Q(status="pending", decided_at__isnull=True, decided_by="")
                | (~models.Q(status="pending") & models.Q(decided_at__isnull=False) & ~models.Q(decided_by="")),
                name="policy_proposal_decided_unless_pending",
            ),
            models.CheckConstraint(
                condition=models.Q(status="approved", activated__isnull=False)
                | (~models.Q(status="approved") & models.Q(activated__isnull=True)),
                name="policy_proposal_activated_iff_approved",
            ),
        ]
        ordering = ["-proposed_at", "-pk"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.version} ({self.status})"

    @property
    def is_pending(self) -> bool:
        return self.status == self.Status.PENDING

    def clean(self) -> None:
        try:
            DecisionPolicy.from_dict({**self.settings, "version": self.version})
        except ContractError as exc:
            raise ValidationError({"settings": f"{exc.message}: {exc.fields}"}) from exc


class ModelVersion(models.Model):
    """The model registry: one row per trained artifact."""

    version = models.CharField(max_length=64, unique=True)
    artifact_path = models.CharField(max_length=500)
    sha256 = models.CharField(max_length=64)
    feature_names = models.JSONField()
    metadata = models.JSONField(default=dict, help_text="Training window, label counts, library versions.")
    metrics = models.JSONField(default=dict, help_text="Held-out ROC AUC, average precision, PR by threshold.")
    is_active = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    activated_at = models.DateTimeField(null=True, blank=True)

    class Stage(models.TextChoices):
        """A challenger's place beside the active (champion) model."""

        NONE = "", "Registered"
        SHADOW = "shadow", "Shadow: scores every decision, never acts"
        CANARY = "canary", "Canary: decides for a stable share of customers"

    stage = models.CharField(max_length=6, choices=Stage.choices, blank=True, default=Stage.NONE)
    canary_percent = models.PositiveSmallIntegerField(
        default=0, help_text="Share of customers (0–100) a canary decides for; 0 unless stage is canary."
    )
    staged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["is_active"], condition=models.Q(is_active=True), name="one_active_model"),
            models.UniqueConstraint(fields=["stage"], condition=models.Q(stage="shadow"), name="one_shadow_model"),
            models.UniqueConstraint(fields=["stage"], condition=models.Q(stage="canary"), name="one_canary_model"),
            models.CheckConstraint(
                condition=models.Q(is_active=False) | models.Q(stage=""), name="active_model_is_not_staged"
            ),
            models.CheckConstraint(
                condition=models.Q(stage="canary", canary_percent__gte=1, canary_percent__lte=100)
                | (~models.Q(stage="canary") & models.Q(canary_percent=0)),
                name="canary_percent_only_for_canary",
            ),
        ]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.version


class OnlineFeature(models.Model):
    """The online feature store in the embedded default (Redis hashes in production).

    ``kind`` separates the live value from the warm copy (last good value, kept 24 h).
    """

    class Kind(models.TextChoices):
        LIVE = "live", "Live"
        WARM = "warm", "Warm copy"

    group = models.CharField(max_length=50)
    entity_id = models.CharField(max_length=128)
    kind = models.CharField(max_length=4, choices=Kind.choices, default=Kind.LIVE)
    values = models.JSONField()
    computed_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "entity_id", "kind"], name="online_feature_key"),
        ]

    def __str__(self) -> str:
        return f"{self.group}:{self.entity_id} ({self.kind})"


class CounterEvent(models.Model):
    """A windowed counter member in the embedded default (Redis sorted sets in production).

    Used for decline rate limits: one row per (counter, member), so a replayed request id
    can never count twice.
    """

    counter = models.CharField(max_length=200)
    member = models.CharField(max_length=200)
    occurred_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["counter", "member"], name="counter_event_unique"),
        ]
        indexes = [models.Index(fields=["counter", "occurred_at"], name="counter_event_window")]

    def __str__(self) -> str:
        return f"{self.counter}:{self.member}"


class FeedbackEvent(models.Model):
    """An outcome learned after the decision: a label for retraining and a feature update.

    Idempotent per ``(source, event_id)``: the same event delivered twice is stored once.
    """

    class Outcome(models.TextChoices):
        FRAUD_CONFIRMED = "fraud_confirmed", "Fraud confirmed"
        DISPUTED = "disputed", "Disputed (chargeback)"
        LEGITIMATE = "legitimate", "Legitimate"
        CHALLENGE_PASSED = "challenge_passed", "Challenge passed"
        CHALLENGE_FAILED = "challenge_failed", "Challenge failed"

    #: Outcomes that label the transaction as fraud for training.
    FRAUD_OUTCOMES = frozenset({Outcome.FRAUD_CONFIRMED, Outcome.DISPUTED, Outcome.CHALLENGE_FAILED})

    source = models.CharField(max_length=100, help_text="analyst, a system client name, a chargeback feed …")
    event_id = models.CharField(max_length=128)
    decision = models.ForeignKey(DecisionRecord, on_delete=models.PROTECT, related_name="feedback")
    request_id = models.CharField(max_length=128)
    customer_id = models.CharField(max_length=128)
    merchant_id = models.CharField(max_length=128, blank=True, default="")
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    is_fraud = models.BooleanField()
    occurred_at = models.DateTimeField(help_text="When the outcome became known (event time).")
    recorded_at = models.DateTimeField(default=timezone.now)
    actor = models.CharField(max_length=150)
    note = models.TextField(blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "event_id"], name="feedback_idempotency_key"),
        ]
        indexes = [
            models.Index(fields=["customer_id", "occurred_at"], name="feedback_customer_time"),
            models.Index(fields=["merchant_id", "occurred_at"], name="feedback_merchant_time"),
        ]

    def __str__(self) -> str:
        return f"{self.outcome} for {self.request_id}"
