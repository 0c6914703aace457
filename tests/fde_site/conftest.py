"""Role users and real review cases, shared with the review tests."""

from tests.review.conftest import fallback_case, make_user  # noqa: F401
