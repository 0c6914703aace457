"""Roles are Django groups. Pages and API views check them; see ``has_role``."""

from __future__ import annotations

from typing import Any

ANALYST = "analyst"
SENIOR_ANALYST = "senior_analyst"
COMPLIANCE = "compliance"
ADMIN = "admin"
ALL_ROLES = (ANALYST, SENIOR_ANALYST, COMPLIANCE, ADMIN)

#: Roles that may act on review cases.
CASE_WORKERS = (ANALYST, SENIOR_ANALYST, ADMIN)
#: Roles that may read decisions, explanations and the audit trail.
READERS = ALL_ROLES


def user_roles(user: Any) -> set[str]:
    """The role names a user holds (superusers hold every role)."""
    if not getattr(user, "is_authenticated", False):
        return set()
    if user.is_superuser:
        return set(ALL_ROLES)
    cached = getattr(user, "_fde_roles", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True)) & set(ALL_ROLES)
        user._fde_roles = cached
    return set(cached)


def has_role(user: Any, *roles: str) -> bool:
    return bool(user_roles(user) & set(roles))


def ensure_role_groups(group_model: Any) -> None:
    """Create the role groups if missing (used by a data migration and the demo)."""
    for name in ALL_ROLES:
        group_model.objects.get_or_create(name=name)
