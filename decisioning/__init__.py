"""The three FDE layers (features, decision, execution), the orchestrator and the systems API."""
