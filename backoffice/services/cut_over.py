"""The day the installation took over from the system before (``cut_over``): set once, by an admin or by the first
opening balances imported (their date); a reading dated on or before it is history, recorded but never charged
(``formulas.charged_sql``)."""

from __future__ import annotations

from datetime import date

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from backoffice.models import CutOver, User
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.platform.i18n import named_date
from backoffice.services import transaction


class CutOverRefused(ValueError):
    """A cut-over that cannot be set as asked; ``str()`` says why, in the reader's language."""


def day() -> date | None:
    """The day the installation took over; none until it is set."""
    return db.session.scalar(select(CutOver.day))


def by_default(on: date, user: User | None = None) -> None:
    """The opening balances' date, the cut-over where none is set yet (within the caller's unit of work)."""
    db.session.execute(insert(CutOver).values(day=on, set_by_id=user.id if user else None).on_conflict_do_nothing())


def set_day(on: date, user: User | None = None) -> bool:
    """Set the cut-over to ``on``, once; the same day again changes nothing. Returns whether it was set now;
    :class:`CutOverRefused` for a day after today, or when it was set to another day (the database keeps it)."""
    if on > local_today():
        raise CutOverRefused(_("The date %(date)s is after today.", date=named_date(on)))
    with transaction() as session:
        added = session.execute(
            insert(CutOver)
            .values(day=on, set_by_id=user.id if user else None)
            .on_conflict_do_nothing(index_elements=[CutOver.id])
            .returning(CutOver.day)
        ).scalar()
        kept = added or session.scalar(select(CutOver.day))
    if kept != on:
        raise CutOverRefused(
            _(
                "The installation took over on %(date)s: that day is set once, and history is what is dated on or "
                "before it.",
                date=named_date(kept),
            )
        )
    return added is not None
