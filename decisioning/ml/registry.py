"""The model registry: register, activate and load versioned artifacts; serve the active one.

Artifacts are joblib files (pickles), so the recorded sha256 is checked *before* unpickling:
a corrupt or swapped file is refused with :class:`ModelLoadError` instead of being executed.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import joblib
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.models import AuditEventType
from audit.services import audit_record
from decisioning.decision.scoring import EnsembleScorer, ModelScorer, Scorer
from decisioning.decision.vector import FEATURE_NAMES, check_feature_names
from decisioning.decision.wrappers import CanaryRoute
from decisioning.models import ModelActivation, ModelVersion

logger = logging.getLogger("fde.decision.model")

#: The longest pause between load attempts after repeated failures (seconds).
MAX_FAILURE_BACKOFF_SECONDS = 300.0


class ModelLoadError(RuntimeError):
    """The active model could not be loaded: none active, artifact missing, corrupt or incompatible."""


# --------------------------------------------------------------------------- writes


def register_model(
    *,
    version: str,
    artifact_path: Path,
    sha256: str,
    metadata: dict[str, Any],
    metrics: dict[str, Any],
    activate: bool,
    feature_names: Sequence[str] = FEATURE_NAMES,
    actor: str = "system:train_model",
) -> ModelVersion:
    """Record a saved artifact in the registry, optionally making it the one active model."""
    with transaction.atomic():
        record = ModelVersion.objects.create(
            version=version,
            artifact_path=str(artifact_path),
            sha256=sha256,
            feature_names=list(check_feature_names(list(feature_names))),
            metadata=metadata,
            metrics=metrics,
        )
        if activate:
            activate_model_version(version=version, actor=actor, reason="registered with --activate")
            record.refresh_from_db()
    return record


class ActivationRefused(ValueError):
    """The version cannot be made active (unknown, or its features cannot be served)."""


def activate_model_version(*, version: str, actor: str = "system", reason: str = "") -> ModelVersion:
    """Make ``version`` the only active model, audited, in one transaction.

    Refused when the version is unknown or names features the vector function cannot compute, so
    activating an old version is always safe: it is served exactly its own feature columns.
    """
    with transaction.atomic():
        record = ModelVersion.objects.select_for_update().filter(version=version).first()
        if record is None:
            raise ActivationRefused(f"no model version {version!r} in the registry")
        _check_servable(record)
        previous = ModelVersion.objects.select_for_update().filter(is_active=True).exclude(pk=record.pk).first()
        ModelVersion.objects.filter(is_active=True).exclude(pk=record.pk).update(is_active=False)
        record.is_active, promoted_from = True, record.stage
        # Promoting the shadow or the canary: it leaves its stage as it becomes the champion.
        record.stage, record.canary_percent, record.staged_at = ModelVersion.Stage.NONE, 0, None
        record.activated_at = timezone.now()
        record.save(update_fields=["is_active", "activated_at", "stage", "canary_percent", "staged_at"])
        previous_version = previous.version if previous is not None else ""
        ModelActivation.objects.create(version=version, previous_version=previous_version, actor=actor, reason=reason)
        audit_record(
            event_type=AuditEventType.MODEL_ACTIVATED,
            actor=actor,
            outcome=version,
            payload={
                "version": version,
                "previous_version": previous_version,
                "promoted_from_stage": promoted_from,
                "sha256": record.sha256,
                "reason": reason,
            },
        )
    return record


def stage_model_version(*, version: str, stage: str, percent: int = 0, actor: str = "system") -> ModelVersion:
    """Deploy ``version`` as the shadow or the canary (``percent`` of customers), audited.

    The version replaces whichever model held that stage. It must be servable and not the active
    model. The first decisions after the change may still see the old challenger for up to
    ``FDE_MODEL_REFRESH_SECONDS``.
    """
    if stage not in (ModelVersion.Stage.SHADOW, ModelVersion.Stage.CANARY):
        raise ActivationRefused(f"unknown stage {stage!r} (shadow or canary)")
    if stage == ModelVersion.Stage.CANARY and not 1 <= percent <= 100:
        raise ActivationRefused("a canary decides for 1-100 % of customers")
    if stage == ModelVersion.Stage.SHADOW:
        percent = 0
    with transaction.atomic():
        record = ModelVersion.objects.select_for_update().filter(version=version).first()
        if record is None:
            raise ActivationRefused(f"no model version {version!r} in the registry")
        if record.is_active:
            raise ActivationRefused(f"{version} is the active model; a challenger must be another version")
        _check_servable(record)
        replaced = ModelVersion.objects.select_for_update().filter(stage=stage).exclude(pk=record.pk).first()
        if replaced is not None:
            replaced.stage, replaced.canary_percent, replaced.staged_at = ModelVersion.Stage.NONE, 0, None
            replaced.save(update_fields=["stage", "canary_percent", "staged_at"])
        previous_stage = record.stage
        record.stage, record.canary_percent, record.staged_at = stage, percent, timezone.now()
        record.save(update_fields=["stage", "canary_percent", "staged_at"])
        audit_record(
            event_type=AuditEventType.MODEL_ACTIVATED,
            actor=actor,
            outcome=f"{stage}:{version}",
            payload={
                "version": version,
                "stage": stage,
                "canary_percent": percent,
                "previous_stage": previous_stage,
                "replaced": replaced.version if replaced is not None else "",
                "sha256": record.sha256,
            },
        )
    return record


def unstage_model(*, stage: str, actor: str = "system") -> ModelVersion | None:
    """Withdraw the shadow or the canary (audited); returns the withdrawn version, or None."""
    with transaction.atomic():
        record = ModelVersion.objects.select_for_update().filter(stage=stage).first()
        if record is None:
            return None
        record.stage, record.canary_percent, record.staged_at = ModelVersion.Stage.NONE, 0, None
        record.save(update_fields=["stage", "canary_percent", "staged_at"])
        audit_record(
            event_type=AuditEventType.MODEL_ACTIVATED,
            actor=actor,
            outcome=f"{stage}:withdrawn",
            payload={"version": record.version, "stage": "", "previous_stage": stage},
        )
    return record


def _check_servable(record: ModelVersion) -> None:
    try:
        check_feature_names(list(record.feature_names))
    except ValueError as exc:
        raise ActivationRefused(f"model {record.version} cannot be served: {exc}") from exc


def rollback_model(*, actor: str = "system") -> ModelVersion:
    """Re-activate the version that was active before the current one (audited like any activation)."""
    latest = ModelActivation.objects.first()
    if latest is None or not latest.previous_version:
        raise ActivationRefused("no earlier active version to roll back to")
    return activate_model_version(
        version=latest.previous_version, actor=actor, reason=f"rollback from {latest.version}"
    )


# --------------------------------------------------------------------------- reads


def _sha256(path: Path) -> str:
    from decisioning.ml.training import sha256_of

    return sha256_of(path)


def load_model_version(record: ModelVersion) -> Scorer:
    """Load one registry entry's artifact, verifying its checksum and feature names.

    An ensemble's artifact names its members by version and sha256; each is loaded (and checked)
    from the registry in turn, and must still be the artifact the ensemble was built from.
    """
    path = Path(record.artifact_path)
    if not path.is_absolute():
        path = Path(settings.FDE_MODEL_DIR) / path
    if not path.is_file():
        raise ModelLoadError(f"model {record.version}: artifact {path} is missing")
    actual = _sha256(path)
    if actual != record.sha256:
        raise ModelLoadError(f"model {record.version}: artifact {path} is corrupt (sha256 {actual} ≠ {record.sha256})")
    try:
        payload = joblib.load(path)
        if payload.get("kind") == ENSEMBLE_KIND:
            return _load_ensemble(record, payload)
        return ModelScorer(payload["model"], version=record.version, feature_names=payload["feature_names"])
    except ModelLoadError:
        raise
    except Exception as exc:
        raise ModelLoadError(f"model {record.version}: artifact {path} cannot be used ({exc})") from exc


ENSEMBLE_KIND = "ensemble"
#: An ensemble's version names its artifact file: a plain name, never a path.
_VERSION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")


def _load_ensemble(record: ModelVersion, payload: dict[str, Any]) -> EnsembleScorer:
    members: list[tuple[ModelScorer, float]] = []
    for member in payload["members"]:
        stored = ModelVersion.objects.filter(version=member["version"]).first()
        if stored is None or stored.sha256 != member["sha256"]:
            raise ModelLoadError(f"ensemble {record.version}: member {member['version']} is missing or was replaced")
        scorer = load_model_version(stored)
        if not isinstance(scorer, ModelScorer):
            raise ModelLoadError(f"ensemble {record.version}: member {member['version']} is itself an ensemble")
        members.append((scorer, float(member["weight"])))
    return EnsembleScorer(members, version=record.version)


def create_ensemble(
    *, version: str, members: Sequence[tuple[str, float]], actor: str = "system", activate: bool = False
) -> ModelVersion:
    """Register a weighted vote of registered models as a new version (stage or activate it like any other).

    Its metrics are empty on purpose: members were trained on different windows, so there is no
    common held-out set. Judge it on live labels as a shadow or canary before promoting it.
    """
    if not _VERSION_NAME.fullmatch(version):
        raise ActivationRefused(
            f"{version!r} is not a version name: letters, digits, '.', '_' and '-', at most 64, starting alphanumeric"
        )
    if ModelVersion.objects.filter(version=version).exists():
        raise ActivationRefused(f"model version {version!r} already exists")
    records = []
    for member_version, weight in members:
        stored = ModelVersion.objects.filter(version=member_version).first()
        if stored is None:
            raise ActivationRefused(f"no model version {member_version!r} in the registry")
        records.append((stored, weight))
    try:
        scorers = [(load_model_version(stored), weight) for stored, weight in records]
        if any(not isinstance(scorer, ModelScorer) for scorer, _ in scorers):
            raise ActivationRefused("an ensemble's members must be single models, not ensembles")
        scorer = EnsembleScorer(scorers, version=version)  # type: ignore[arg-type]
    except (ModelLoadError, ValueError) as exc:
        raise ActivationRefused(str(exc)) from exc
    payload = {
        "kind": ENSEMBLE_KIND,
        "members": [
            {"version": stored.version, "sha256": stored.sha256, "weight": weight} for (stored, _), (_, weight) in
            zip(records, scorer.members, strict=True)
        ],
    }  # fmt: skip
    directory = Path(settings.FDE_MODEL_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{version}.joblib"
    joblib.dump(payload, path)
    try:
        return register_model(
            version=version,
            artifact_path=path,
            sha256=_sha256(path),
            metadata={"ensemble": payload["members"], "data": {"source": "ensemble"}, "created_by": actor},
            metrics={},
            activate=activate,
            feature_names=scorer.feature_names,
            actor=actor,
        )
    except Exception:
        path.unlink(missing_ok=True)  # nothing registered: leave no artifact behind either
        raise


def active_model_record() -> ModelVersion | None:
    return ModelVersion.objects.filter(is_active=True).first()


def load_active_model() -> Scorer:
    """The active model, ready to score; :class:`ModelLoadError` when there is none or it is unusable."""
    record = active_model_record()
    if record is None:
        raise ModelLoadError("no active model in the registry (run: python manage.py train_model)")
    return load_model_version(record)


class RegistryModelProvider:
    """A ModelProvider over the registry: loads the active model (or a stage's) once per process.

    The active version is re-checked at most every ``refresh_seconds``; a new version is loaded
    when it changes. A failed load is logged and answered with None (the Decision layer then
    decides rules-only, degraded) and is retried only after a growing back-off, so a broken
    artifact does not turn every request into a disk read and a stack trace.
    """

    def __init__(
        self,
        *,
        stage: str = "",
        refresh_seconds: float | None = None,
        failure_backoff_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.refresh_seconds = float(settings.FDE_MODEL_REFRESH_SECONDS if refresh_seconds is None else refresh_seconds)
        self.failure_backoff_seconds = max(
            self.refresh_seconds, 30.0 if failure_backoff_seconds is None else failure_backoff_seconds
        )
        self.stage = stage  #: "" serves the active model; "shadow" / "canary" serve that challenger
        self._clock = clock
        self._lock = threading.Lock()
        self._scorer: Scorer | None = None
        self._percent = 0
        self._failures = 0
        self._next_check = float("-inf")
        self.load_attempts = 0  #: how many artifact loads were tried (for tests and metrics)

    def current(self) -> Scorer | None:
        if self._clock() < self._next_check:
            return self._scorer
        with self._lock:
            if self._clock() >= self._next_check:
                self._refresh()
            return self._scorer

    def deployed_version(self) -> str | None:
        """The version this provider serves now (None without one): the ShadowLayer's switch."""
        scorer = self.current()
        return None if scorer is None else scorer.version

    def route(self) -> CanaryRoute | None:
        """The canary's version and share of customers (None without a loaded canary)."""
        scorer = self.current()
        return None if scorer is None or self._percent <= 0 else CanaryRoute(scorer.version, self._percent)

    def _record(self) -> ModelVersion | None:
        if not self.stage:
            return active_model_record()
        return ModelVersion.objects.filter(stage=self.stage).first()

    def _refresh(self) -> None:
        try:
            record = self._record()
        except Exception:
            # The database is down: keep serving what we have and look again later.
            logger.exception("could not read the active model version; keeping %s", self._version())
            self._next_check = self._clock() + self.refresh_seconds
            return
        if record is None and self.stage:
            # No challenger deployed is the normal state: look again soon, without complaint.
            if self._scorer is not None:
                logger.info("%s %s withdrawn", self.stage, self._scorer.version)
            self._scorer, self._percent = None, 0
            self._next_check = self._clock() + self.refresh_seconds
            return
        if record is None:
            if self._scorer is not None or self._failures == 0:
                logger.error("no active model in the registry: decisions are rules-only (degraded)")
            self._scorer = None
            self._schedule_failure()
            return
        self._percent = record.canary_percent
        if self._scorer is not None and self._scorer.version == record.version:
            self._next_check = self._clock() + self.refresh_seconds
            return
        self._load(record)

    def _load(self, record: ModelVersion) -> None:
        self.load_attempts += 1
        try:
            scorer = load_model_version(record)
        except ModelLoadError as exc:
            self._scorer = None
            self._schedule_failure()
            logger.error("%s; decisions are rules-only (degraded); next attempt in %.0f s", exc, self._backoff())
            return
        logger.info("loaded model %s%s", record.version, f" as {self.stage}" if self.stage else "")
        self._scorer = scorer
        self._failures = 0
        self._next_check = self._clock() + self.refresh_seconds

    def _backoff(self) -> float:
        exponent = max(self._failures - 1, 0)
        return float(min(self.failure_backoff_seconds * 2**exponent, MAX_FAILURE_BACKOFF_SECONDS))

    def _schedule_failure(self) -> None:
        self._failures += 1
        self._next_check = self._clock() + self._backoff()

    def _version(self) -> str:
        return "no model" if self._scorer is None else self._scorer.version
