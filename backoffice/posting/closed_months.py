"""Closed months as the posting core meets them: a write dated in a closed month is refused, by the core and by the
database (migration 0016), with a message saying where to date it. Closing and reopening months is
:mod:`backoffice.services.periods`.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from backoffice.models import PeriodAction
from backoffice.platform.i18n import named_date, named_month
from backoffice.platform.switchover import said

actions = PeriodAction.__table__

OPEN_PERIOD = "date it in the open period"
"""Part of every refusal of a date in a closed month, the database's included (in English: what the database's
refusal is recognised by; a refusal is said to the reader in their language)."""
_DATABASE_REFUSAL = re.compile(
    r"(?P<month>\d{4}-\d{2}) is closed: date it in the open period \(from (?P<day>[\d-]+)\)\."
)


class PeriodClosed(ValueError):
    """A write dated in a closed month, refused; nothing was written."""


def month_of(day: date) -> str:
    """The month of ``day``, as the periods store it (``YYYY-MM``)."""
    return day.strftime("%Y-%m")


def refuse_if_closed(connection: Connection | Session, on: date) -> None:
    """Raise :class:`PeriodClosed` if ``on`` is in a closed month."""
    closed = last_closed_day(connection)
    if closed is not None and on <= closed:
        raise PeriodClosed(_closed_refusal(on, closed + timedelta(days=1)))


def _closed_refusal(on: date, open_from: date) -> str:
    return _(
        "%(month)s is closed: date it in the open period (from %(day)s).",
        month=named_month(on),
        day=named_date(open_from),
    )


def refused_by_the_database(context) -> None:
    """Raise a closed month's refusal in the reader's words for the database's own (engine hook)."""
    error = context.original_exception
    message = said(error)
    if OPEN_PERIOD in message:
        found = _DATABASE_REFUSAL.search(message)
        refusal = (
            _closed_refusal(date.fromisoformat(f"{found['month']}-01"), date.fromisoformat(found["day"]))
            if found
            else message
        )
        raise PeriodClosed(refusal) from error


_CLOSED_THROUGH = select(actions.c.closed_through).order_by(actions.c.id.desc()).limit(1)


def last_closed_day(connection: Connection | Session) -> date | None:
    """The last day of the latest closed month, or None when no month is closed."""
    return connection.execute(_CLOSED_THROUGH).scalar()
