"""Template helpers of the review pages: short durations, score formatting."""

from __future__ import annotations

from datetime import timedelta

from django import template

register = template.Library()


@register.filter
def short_duration(value: timedelta | None) -> str:
    """``2d 3h``, ``3h 05m``, ``12m`` — signed durations lose their sign (the template says 'ago' / 'over')."""
    if value is None:
        return ""
    seconds = abs(int(value.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m"


@register.filter
def is_negative(value: timedelta | None) -> bool:
    return value is not None and value.total_seconds() < 0


@register.filter
def percent(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{float(value) * 100:.{digits}f}%"


@register.simple_tag
def readable(feature: str, value: float) -> str:
    """The model-vector value as the analyst reads it (see decisioning.explain.readable_value)."""
    from decisioning.explain import readable_value

    return readable_value(feature, float(value))


@register.filter
def iso_time(value: str | None) -> str:
    """An ISO-8601 string from a contract, shown as ``YYYY-MM-DD HH:MM:SS`` (UTC)."""
    if not value:
        return ""
    return str(value).replace("T", " ")[:19]
