"""Settings of the feedback loop (feature pipeline, labels, retraining, replay). Imported by base.

Read straight from the environment so this module stands on its own.
"""

import os

#: Compute velocity, spending and merchant windows at decision time from the pipeline's events.
FDE_FEATURE_WINDOWS = os.environ.get("FDE_FEATURE_WINDOWS", "1") != "0"
#: Record every executed transaction in its customer's and merchant's windows (after commit).
FDE_FEATURE_PIPELINE = os.environ.get("FDE_FEATURE_PIPELINE", "1") != "0"
#: The Redis stream labels are appended to for retraining consumers (when REDIS_URL is set).
FDE_LABEL_STREAM = os.environ.get("FDE_LABEL_STREAM", "fde:labels")
#: Approximate cap on the stream length (XADD MAXLEN ~); the FeedbackEvent table is the full log.
FDE_LABEL_STREAM_MAXLEN = int(os.environ.get("FDE_LABEL_STREAM_MAXLEN", "1000000"))
#: Days after which an unreported transaction counts as legitimate when training on stored history.
FDE_LABEL_DELAY_DAYS = int(os.environ.get("FDE_LABEL_DELAY_DAYS", "7"))
#: Fewest fraud labels per split before train_model trusts stored history over the simulator.
FDE_MIN_FRAUD_LABELS = int(os.environ.get("FDE_MIN_FRAUD_LABELS", "30"))
