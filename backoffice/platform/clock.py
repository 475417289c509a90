"""The clock: now, and today in the installation's time zone. Every dated default and file name reads it here, so a
test sets the time in one place."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from flask import current_app


def local_today() -> date:
    """Today in the installation's time zone (the server's clock may run in another), by :func:`now`."""
    return today_in(current_app.config["TIMEZONE"])


def local_now() -> datetime:
    """Now in the installation's time zone, by :func:`now`: what a person reads as the moment, in its offset."""
    return now().astimezone(ZoneInfo(current_app.config["TIMEZONE"]))


def today_in(zone: str) -> date:
    """Today in the time zone ``zone``, by :func:`now`."""
    return now().astimezone(ZoneInfo(zone)).date()


def now() -> datetime:
    """The clock every dated default and file name reads (a test sets it here)."""
    return datetime.now(UTC)
