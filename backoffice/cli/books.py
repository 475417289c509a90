"""``backoffice books``: closing and reopening months of the books."""

from __future__ import annotations

import click

from backoffice.cli.common import CommandUsageError, Group, _console


@click.group(cls=Group, help="Close and reopen months of the books.")
def books() -> None:
    pass


def _acting_admin(command):
    return click.option(
        "--user", "email", required=True, metavar="EMAIL", help="The admin closing or reopening (recorded)."
    )(command)


@books.command("close", help="Close the books through MONTH (YYYY-MM): anything dated on or before its last day.")
@click.argument("month")
@click.option("--note", default="", help="Why, or what was checked (recorded).")
@_acting_admin
def books_close(month: str, note: str, email: str) -> None:
    from backoffice.services import periods

    _period_action(month, email, lambda user: periods.close(month, user, note), "closed")


@books.command("reopen", help="Reopen MONTH (YYYY-MM), the latest closed month.")
@click.argument("month")
@click.option("--reason", required=True, help="Why it is reopened (recorded).")
@_acting_admin
def books_reopen(month: str, reason: str, email: str) -> None:
    from backoffice.services import periods

    _period_action(month, email, lambda user: periods.reopen(month, user, reason), "reopened")


@books.command("periods", help="List the last 24 months: closed or open, by whom and when.")
def books_periods() -> None:
    from rich.table import Table

    from backoffice.services import periods
    from backoffice.web.filters import local_datetime

    overview = periods.overview()
    console = _console()
    console.print(f"Closed through {overview.closed_through}." if overview.closed_through else "No month is closed.")
    table = Table("month", "state", "posted entries", "closed by", "at", "note", box=None)
    table.columns[2].justify = "right"
    for m in overview.months:
        by = m.closed_by
        state = "closed" if m.closed else "open" if m.closable else "open (not ended)"
        table.add_row(
            m.month,
            state,
            str(m.entries),
            by.user.email if by else "",
            local_datetime(by.acted_at) if by else "",
            by.note if by else "",
        )
    console.print(table)


def _period_action(month: str, email: str, act, done: str) -> None:
    """Close or reopen as the admin ``email``: a mistyped month or user exits 2, a refusal 1."""
    from sqlalchemy import select

    from backoffice.extensions import db
    from backoffice.models import User
    from backoffice.models.users import normal_email
    from backoffice.services.periods import PeriodError, closed_through, month_days

    try:
        month_days(month)
    except PeriodError as error:
        raise CommandUsageError(f"{month!r} is not a month. {error}") from None
    user = db.session.scalar(select(User).where(User.email == normal_email(email)))
    if user is None or not user.is_active:
        raise CommandUsageError(f"No active user {email}.")
    if not user.is_admin:
        raise click.ClickException(f"{user.email} is not an admin: only an admin closes or reopens a month.")
    try:
        action = act(user)
    except PeriodError as error:
        raise click.ClickException(str(error)) from None
    through = closed_through()
    state = f"the books are closed through {through}" if through else "no month is closed"
    click.echo(f"{action.year_month} {done}; {state}.")
