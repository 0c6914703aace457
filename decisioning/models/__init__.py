"""Models of the decisioning app, one module per area (all re-exported here for Django)."""

from .core import (
    ApiClient,
    CounterEvent,
    DecisionRecord,
    FeedbackEvent,
    GatewayCall,
    ListEntry,
    ModelVersion,
    OnlineFeature,
    PolicyProposal,
    PolicyVersion,
)

__all__ = [
    "ApiClient",
    "CounterEvent",
    "DecisionRecord",
    "FeedbackEvent",
    "GatewayCall",
    "ListEntry",
    "ModelVersion",
    "OnlineFeature",
    "PolicyProposal",
    "PolicyVersion",
]

from .learning import *  # noqa: F403
from .outbox import *  # noqa: F403
