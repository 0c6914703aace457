"""Local development and the embedded-default demo."""

from .base import *  # noqa: F403
