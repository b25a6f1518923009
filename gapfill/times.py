"""Times as people type them on the command line, turned into timezone-aware UTC."""

from __future__ import annotations

import datetime as dt
import re

from gapfill.errors import UserError

# The longest length of time a setting or option may give: an interval, the repair window, a
# lease, a timeout, a defect span. A year is far past any real value and keeps
# every use safe: it fits a timedelta, now plus it stays inside datetime (years 1-9999), and a
# thread can wait that long (threading.TIMEOUT_MAX is about 292 years). Past such caps a typo
# like 1e15 became an OverflowError only when the daemon first used it.
MAX_LENGTH_SECONDS = 366 * 24 * 3600
# Retention counts back from now: a century outlasts any plant's records policy, and now minus
# it stays far inside datetime.
MAX_RETENTION_DAYS = 100 * 366

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
