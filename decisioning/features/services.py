"""Django-side entry points of the Feature layer: the layer wired from settings, and the write
path (push API, ``push_features``, feedback loop) that validates then stores.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from django.conf import settings

from decisioning.contracts import utcnow
from decisioning.features.layer import FeatureLayer
from decisioning.features.store import FeatureStore, StoredRecord, build_store
from decisioning.features.windows import WindowFeatures

__all__ = ["build_feature_layer", "build_store", "write_group"]


def build_feature_layer(store: FeatureStore | None = None) -> FeatureLayer:
    """The Feature layer configured from settings (freshness thresholds per group, windows on/off)."""
    target = store if store is not None else build_store()
    return FeatureLayer(
        target,
        utcnow,
        freshness_minutes=settings.FDE_FRESHNESS_MINUTES,
        windows=WindowFeatures(target) if settings.FDE_FEATURE_WINDOWS else None,
    )


def write_group(
    group: str,
    entity_id: str,
    values: Mapping[str, object],
    computed_at: datetime | None = None,
    *,
    store: FeatureStore | None = None,
) -> StoredRecord:
    """Validate and write one group of one entity (live value and warm copy).

    Raises ``FeatureValidationError`` (unknown group or feature, wrong type; nothing written)
    or ``StoreUnavailable`` (the store is down; nothing written).
    """
    target = store if store is not None else build_store()
    return target.write_group(group, entity_id, values, computed_at)
