"""Decision layer: hard rules, model scoring, thresholds, reason codes (no Django imports)."""
