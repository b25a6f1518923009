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
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)
