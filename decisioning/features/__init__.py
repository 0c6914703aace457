"""Feature layer: online store backends, real-time features, freshness and fallback tiers.

* :mod:`.groups` — group definitions, validation, request-computed features (pure Python);
* :mod:`.store` — the store interface, its failure contract and ``build_store()``;
* :mod:`.redis_store`, :mod:`.db_store` — the two backends;
* :mod:`.layer` — :class:`~decisioning.features.layer.FeatureLayer` (pure Python);
* :mod:`.windows` — sliding windows in event time: velocity, spending, merchant risk, labels (pure);
* :mod:`.memory_store` — the isolated in-memory store of replays;
* :mod:`.aggregates`, :mod:`.rebuild` — the periodic recompute and the rebuild after a store loss;
* :mod:`.services` — ``build_feature_layer()``, ``write_group()`` (Django).

Nothing is imported here, so pure modules stay importable without Django.
"""
