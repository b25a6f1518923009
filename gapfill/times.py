"""Times as people type them on the command line, turned into timezone-aware UTC."""

from __future__ import annotations

import datetime as dt
import re

from gapfill.errors import UserError

_RELATIVE = re.compile(r"^(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>s|m|h|d|w)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(value: str, option: str = "time") -> dt.datetime:
    """ISO 8601 (a time without a zone is UTC), or an age like `90m`, `6h`, `2d` before now."""
    text = value.strip()
    relative = _RELATIVE.match(text)
    try:
        if relative:
            delta = dt.timedelta(**{_UNITS[relative["unit"]]: float(relative["n"])})
            return dt.datetime.now(dt.UTC) - delta
        try:
            parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise UserError(
                f"{option}: {value!r} is not a time (use ISO 8601 like 2026-01-05T07:00:00Z, "
                "or an age like 6h or 2d)"
            ) from None
        return to_utc(parsed)
    except OverflowError:
        # An age of a million weeks, or 0001-01-01 in a zone east of UTC: no datetime holds it.
        raise UserError(f"{option}: {value!r} is out of range (years 1 to 9999 UTC)") from None


def to_utc(value: dt.datetime) -> dt.datetime:
    """`value` in UTC; a time without a zone is taken as UTC. OverflowError when UTC would fall
    outside years 1-9999."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
