"""Settings of the feedback loop (feature pipeline, labels, retraining, replay). Imported by base."""
