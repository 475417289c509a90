"""``backoffice cut-over [DATE]``: the day the installation took over from the system before, shown or set once."""

from __future__ import annotations

import click
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from backoffice.cli.common import Command, CommandUsageError, _admin, option, speaking, with_database


@click.command(
    "cut-over",
    cls=Command,
    help=_l(
        "Show the day the installation took over from the system before, or set it to DATE (YYYY-MM-DD), once: "
        "readings dated on or before it are history, recorded but never charged. The first opening balances "
        "imported set it to their date."
    ),
)
@click.argument("on", metavar="DATE", required=False)
@option("--user", "email", metavar="EMAIL", help=_l("The admin setting it (recorded)."))
@speaking
@with_database
def cut_over(on: str | None, email: str | None) -> None:
    from datetime import date

    from backoffice.platform.i18n import named_date
    from backoffice.services import cut_over as service

    if on is None:
        kept = service.day()
        click.echo(_("Not set: nothing is history yet.") if kept is None else named_date(kept))
        return
    try:
        day = date.fromisoformat(on)
    except ValueError:
        raise CommandUsageError(
            _("%(text)s is not a date: write it as %(form)s.", text=repr(on), form="YYYY-MM-DD")
        ) from None
    user = _admin(email, _("%(email)s is not an active admin.")) if email else None
    try:
        set_now = service.set_day(day, user)
    except service.CutOverRefused as refusal:
        raise CommandUsageError(str(refusal)) from None
    said = _("The installation took over on %(date)s.", date=named_date(day))
    click.echo(said if set_now else _("Already so: %(said)s", said=said))
