"""``backoffice targets``: account managers' monthly targets."""

from __future__ import annotations

import click
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from backoffice.cli.common import CommandError, CommandUsageError, Group, option
from backoffice.platform.i18n import named_month
from backoffice.platform.money import MoneyError, read_amount


@click.group(cls=Group, help=_l("Set account managers' monthly targets."))
def targets() -> None:
    pass


@targets.command(
    "generate",
    help=_l(
        "Give every active account manager without a target for MONTH (YYYY-MM) one: --amount, or with "
        "--from-previous their previous month's (--amount for those without one). A target already set is kept."
    ),
)
@click.argument("month")
@option("--from-previous", is_flag=True, help=_l("Each manager's target of the previous month."))
@option("--amount", metavar="AMOUNT", help=_l("The target amount (e.g. 100.000.000)."))
@option(
    "--update",
    is_flag=True,
    help=_l("Then recompute the achieved amounts of the targets from MONTH on, through the reconciliation engine."),
)
def targets_generate(month: str, from_previous: bool, amount: str | None, update: bool) -> None:
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from backoffice.models.types import Month
    from backoffice.services.targets import TargetError, generate_targets

    try:
        period = Month.parse(month)
        value = read_amount(amount) if amount is not None else None
    except (ValueError, MoneyError) as error:
        raise CommandUsageError(str(error)) from None
    if value is not None or from_previous or not update:
        try:
            done = generate_targets(period, amount=value, from_previous=from_previous)
        except TargetError as error:
            raise CommandUsageError(str(error)) from None
        click.echo(done.describe())
    if update:
        _recompute_achieved(period)


def _recompute_achieved(period) -> None:
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from backoffice.models import RunMode, RunTrigger
    from backoffice.reconcile import Scope
    from backoffice.reconcile.engine import run
    from backoffice.reconcile.locks import RunRefused

    try:
        record = run(
            RunMode.REBUILD,
            checks=["target_achieved"],
            scope=Scope(from_month=period.first_day),
            trigger=RunTrigger.CLI,
        )
    except RunRefused as refused:
        raise CommandError(str(refused)) from None
    (result,) = record.results
    click.echo(
        _(
            "Achieved amounts from %(month)s recomputed (run %(id)s): %(checked)s target(s), %(changed)s changed.",
            month=named_month(period),
            id=record.id,
            checked=result.checked,
            changed=result.mismatched,
        )
    )
