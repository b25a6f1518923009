"""When things run: the triggers of the daemon's scheduled tasks, and the nightly repair window.

The repair window is computed, not remembered: it is open when the repair cron fired less than
`repair_window_hours` ago. Every worker, on this host or another, works it out from the same
settings and the clock, so no message has to reach them when a window opens or closes, and a
worker that starts in the middle of a window joins it. A job not claimed before the window ends
waits for the next window (one already running is left to finish).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from gapfill.config import Settings
from gapfill.errors import UserError

# Retention has no schedule of its own in the settings: hourly is frequent enough for a limit
# counted in days, and rare enough to cost nothing.
RETENTION_INTERVAL = dt.timedelta(hours=1)


def cron_trigger(expression: str, what: str, timezone: Any = None) -> Any:
    """An APScheduler CronTrigger from a five-field crontab line; a bad line, or one that never
    fires, is a user error."""
    from apscheduler.triggers.cron import CronTrigger

    try:
        trigger = CronTrigger.from_crontab(expression, timezone=timezone)
    except (ValueError, TypeError) as exc:
        raise UserError(f"{what}: {expression!r} is not a valid cron expression: {exc}") from None
    # Each field can be valid while the date they spell does not exist (February 31st): APScheduler
    # accepts such a line and finds no fire time, so the task would silently never run.
    if trigger.get_next_fire_time(None, dt.datetime.now(dt.UTC)) is None:
        raise UserError(
            f"{what}: {expression!r} never fires (no such date in any year); fix the day or month"
        )
    return trigger


def local_timezone() -> Any:
    """Cron lines are read in the host's local time, like crontab does."""
    from tzlocal import get_localzone

    return get_localzone()


@dataclass(frozen=True)
class RepairWindow:
    """The nightly repair window: opens at each fire time of `schedule`, lasts `hours`.
    `always_open` (the daemon's --repair-now) is for tests and for catching up by hand."""

    schedule: str
    hours: float
    always_open: bool = False
    timezone: Any = None

    @classmethod
    def from_settings(cls, settings: Settings, always_open: bool = False) -> RepairWindow:
        window = cls(settings.repair_schedule, settings.repair_window_hours, always_open)
        window.trigger()  # refuse a bad cron line at start, not at the first claim
        return window

    @property
    def length(self) -> dt.timedelta:
        return dt.timedelta(hours=self.hours)

    def trigger(self) -> Any:
        return cron_trigger(self.schedule, "repair_schedule", self.timezone or local_timezone())

    def current(self, now: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime] | None:
        """(start, end) of the window open at `now`, or None when closed. The latest start wins
        when windows overlap (a window longer than the cron period)."""
        now = now or dt.datetime.now(dt.UTC)
        if self.always_open:
            return now, now + self.length
        trigger = self.trigger()
        start = trigger.get_next_fire_time(None, now - self.length)
        if start is None or start > now:
            return None
        latest = start
        while True:  # overlapping windows: walk to the newest start not after now
            following = trigger.get_next_fire_time(None, latest + dt.timedelta(seconds=1))
            if following is None or following > now:
                break
            latest = following
        if now >= latest + self.length:  # [start, end): at the end the budget is spent
            return None
        return latest, latest + self.length

    def is_open(self, now: dt.datetime | None = None) -> bool:
        return self.current(now) is not None

    def next_start(self, now: dt.datetime | None = None) -> dt.datetime | None:
        now = now or dt.datetime.now(dt.UTC)
        if self.always_open:
            return now
        return self.trigger().get_next_fire_time(None, now)


def schedule_plan(
    settings: Settings, now: dt.datetime | None = None, repair_now: bool = False
) -> list[dict[str, Any]]:
    """What the daemon runs and when: one row per task, with its next run time. `gapfill schedule`
    prints this; the daemon builds its scheduler from the same triggers."""
    now = now or dt.datetime.now(dt.UTC)
    tz = local_timezone()
    window = RepairWindow(settings.repair_schedule, settings.repair_window_hours, repair_now, tz)
    current = window.current(now)
    verify = cron_trigger(settings.verify_schedule, "verify_schedule", tz)
    scan_every = dt.timedelta(seconds=settings.scan_interval_seconds)
    rows: list[dict[str, Any]] = [
        {
            "task": "watch",
            "what": "ingest settled segments, scan them, queue open defects",
            "when": f"every {settings.scan_interval_seconds} s",
            "next_run": now + scan_every,
        },
        {
            "task": "repair-window",
            "what": f"workers repair queued defects for {settings.repair_window_hours:g} h",
            "when": "now (--repair-now)" if repair_now else f"cron {settings.repair_schedule}",
            "next_run": window.next_start(now) if current is None else current[0],
            "open_until": current[1] if current else None,
        },
        {
            "task": "verify",
            "what": "verify clips, originals, models and the provenance chain",
            "when": f"cron {settings.verify_schedule}",
            "next_run": verify.get_next_fire_time(None, now),
        },
    ]
    if settings.retention_days > 0:
        rows.append(
            {
                "task": "retention",
                "what": f"expire synthetic clips older than {settings.retention_days} days",
                "when": "every hour",
                "next_run": now + RETENTION_INTERVAL,
            }
        )
    else:
        rows.append(
            {
                "task": "retention",
                "what": "off (retention_days = 0 keeps every output)",
                "when": "never",
                "next_run": None,
            }
        )
    return rows
