"""``backoffice books``: closing and reopening months of the books."""

from __future__ import annotations

import click
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from rich.table import Table
from sqlalchemy import select

from backoffice.cli.common import CommandError, CommandUsageError, Group, _console, option
from backoffice.platform.extensions import db
from backoffice.platform.i18n import named_month


@click.group(cls=Group, help=_l("Close and reopen months of the books."))
def books() -> None:
    pass


def _acting_admin(command):
    return option(
        "--user", "email", required=True, metavar="EMAIL", help=_l("The admin closing or reopening (recorded).")
    )(command)


@books.command("close", help=_l("Close the books through MONTH (YYYY-MM): anything dated on or before its last day."))
@click.argument("month")
@option("--note", default="", help=_l("Why, or what was checked (recorded)."))
@_acting_admin
def books_close(month: str, note: str, email: str) -> None:
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from backoffice.services import periods

    _period_action(month, email, lambda user: periods.close(month, user, note), _("%(month)s closed; %(state)s."))


@books.command("reopen", help=_l("Reopen MONTH (YYYY-MM), the latest closed month."))
@click.argument("month")
@option("--reason", required=True, help=_l("Why it is reopened (recorded)."))
@_acting_admin
def books_reopen(month: str, reason: str, email: str) -> None:
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from backoffice.services import periods

    _period_action(month, email, lambda user: periods.reopen(month, user, reason), _("%(month)s reopened; %(state)s."))


@books.command("periods", help=_l("List the last 24 months: closed or open, by whom and when."))
def books_periods() -> None:
    # Imported when the command runs: the web layer is for pages, and a help declares no model.
    from backoffice.models.types import Month
    from backoffice.services import periods
    from backoffice.web.plumbing.filters import local_datetime

    overview = periods.overview()
    console = _console()
    if overview.closed_through:
        console.print(_("Closed through %(month)s.", month=named_month(Month.parse(overview.closed_through))))
    else:
        console.print(_("No month is closed."))
    table = Table(_("month"), _("state"), _("posted entries"), _("closed by"), _("at"), _("note"), box=None)
    table.columns[2].justify = "right"
    for m in overview.months:
        by = m.closed_by
        state = _("closed") if m.closed else _("open") if m.closable else _("open (not ended)")
        table.add_row(
            m.month,
            state,
            str(m.entries),
            by.user.email if by else "",
            local_datetime(by.acted_at) if by else "",
            by.note if by else "",
        )
    console.print(table)


@books.command(
    "coretax-xml",
    help=_l("Write MONTH's (YYYY-MM) output tax invoices as the e-Faktur XML Coretax imports (Indonesia)."),
)
@click.argument("month")
@option(
    "--output",
    "output",
    default="-",
    metavar="FILE",
    help=_l("The file to write (by default the standard output)."),
)
def books_coretax_xml(month: str, output: str) -> None:
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from backoffice.models.types import Month
    from backoffice.services import coretax

    try:
        first = Month.parse(month).first_day
    except ValueError:
        raise CommandUsageError(_("%(month)s is not a month (YYYY-MM).", month=repr(month))) from None
    try:
        written = coretax.month_xml(first, db.session)
    except coretax.CoretaxError as error:
        raise CommandError(str(error)) from None
    with click.open_file(output, "wb") as out:
        out.write(written.body)
    if output != "-":
        click.echo(
            _(
                "%(file)s: %(normal)s tax invoices, %(replacements)s replacements.",
                file=output,
                normal=written.normal,
                replacements=written.replacements,
            )
        )


def _period_action(month: str, email: str, act, done: str) -> None:
    """Close or reopen as the admin ``email``: a mistyped month or user exits 2, a refusal 1. ``done`` says what
    was done, with ``%(month)s`` and ``%(state)s``."""
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from backoffice.models import User
    from backoffice.models.types import Month
    from backoffice.models.users import normal_email
    from backoffice.services.periods import PeriodError, closed_through, month_days

    try:
        month_days(month)
    except PeriodError as error:
        raise CommandUsageError(_("%(month)s is not a month. %(error)s", month=repr(month), error=error)) from None
    user = db.session.scalar(select(User).where(User.email == normal_email(email)))
    if user is None or not user.is_active:
        raise CommandUsageError(_("No active user %(email)s.", email=email))
    if not user.is_admin:
        raise CommandError(_("%(email)s is not an admin: only an admin closes or reopens a month.", email=user.email))
    try:
        action = act(user)
    except PeriodError as error:
        raise CommandError(str(error)) from None
    through = closed_through()
    state = (
        _("the books are closed through %(month)s", month=named_month(Month.parse(through)))
        if through
        else _("no month is closed")
    )
    click.echo(done % {"month": named_month(Month.parse(action.year_month)), "state": state})
