"""Models of the feedback loop: labels, feature history, replays."""

__all__: list[str] = []
