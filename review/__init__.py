"""Review cases: the analyst queue for decisions sent to review."""
