"""Feature layer: online store backends, real-time features, freshness and fallback tiers.

* :mod:`.groups` — group definitions, validation, request-computed features (pure Python);
* :mod:`.store` — the store interface, its failure contract and ``build_store()``;
* :mod:`.redis_store`, :mod:`.db_store` — the two backends;
* :mod:`.layer` — :class:`~decisioning.features.layer.FeatureLayer` (pure Python);
* :mod:`.services` — ``build_feature_layer()``, ``write_group()`` (Django).

Nothing is imported here, so pure modules stay importable without Django.
"""
