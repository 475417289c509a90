"""``backoffice pricing``: a tariff for every customer, or some, and the re-pricing of their readings."""

from __future__ import annotations

import click
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from rich.table import Table

from backoffice.cli.common import CommandError, CommandUsageError, Group, _console, option
from backoffice.platform.i18n import count_text, named_date, named_month
from backoffice.platform.money import BeyondLimit, MoneyError, format_money, parse_number, read_amount


@click.group(cls=Group, help=_l("Set the price of gas."))
def pricing() -> None:
    pass


@pricing.command(
    "tariff",
    help=_l(
        "Set a price per Sm³ and/or a meter correction factor from a date for every customer (or those chosen "
        "by --manager and --customer), and re-price their readings from that date. What is not given is kept from "
        "each customer's pricing in force on the date."
    ),
)
@option(
    "--from",
    "effective_from",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    required=True,
    help=_l("The date the tariff applies from, YYYY-MM-DD."),
)
@option("--price", metavar="AMOUNT", help=_l("The price per Sm³, in the installation's locale (e.g. 7.500,00)."))
@option("--correction", metavar="FACTOR", help=_l("The meter correction factor (e.g. 1,012345)."))
@option("--manager", metavar="EMAIL", help=_l("Only the customers of this account manager."))
@option("--customer", "customers", multiple=True, metavar="CODE", help=_l("Only this customer (repeatable)."))
@option("--dry-run", is_flag=True, help=_l("Show what would change; write nothing."))
def pricing_tariff(effective_from, price, correction, manager, customers, dry_run) -> None:
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from backoffice.services import metering

    locale = current_app.config["LOCALE"]
    try:
        price_per_sm3 = read_amount(price) if price is not None else None
        meter_correction = parse_number(correction, locale, "number") if correction is not None else None
        tariff = metering.checked_tariff(effective_from.date(), price_per_sm3, meter_correction, manager, customers)
    except (MoneyError, metering.MeteringError) as error:
        raise CommandUsageError(str(error)) from None
    console = _console()
    try:
        impact = metering.tariff_impact(tariff)
    except metering.MeteringError as error:
        raise CommandError(str(error)) from None
    _print_tariff(console, tariff, impact)
    if dry_run:
        console.print(_("Dry run: nothing was written."))
        return
    try:
        metering.change_tariff(tariff)
    except metering.MeteringError as error:
        raise CommandError(str(error)) from None
    console.print(
        _(
            "Saved the pricing of %(customers)s customer(s) from %(day)s.",
            customers=count_text(impact.customers),
            day=named_date(tariff.effective_from),
        )
    )
    try:
        with _customers_progress(console, _("Re-pricing")) as progress:
            done = metering.reprice_tariff(tariff.effective_from, progress=progress)
    except (metering.MeteringError, BeyondLimit) as error:
        raise CommandError(
            _(
                "Re-pricing stopped: %(error)s What is left waits as recalculation requests (the nightly run does "
                "them).",
                error=error,
            )
        ) from None
    console.print(
        _(
            "Re-priced the readings of %(customers)s customer(s); %(done)s recalculation request(s) done.",
            customers=count_text(impact.repriced_customers),
            done=count_text(done),
        )
    )
    if held := metering.left_quarantined(from_date=tariff.effective_from):
        console.print(
            _(
                "Not re-priced: %(customers)s, quarantined (rows of their evidence carry no valid seal). Their "
                "readings are re-priced once an admin has reviewed the rows (the nightly run does it then).",
                customers=", ".join(held),
            )
        )


def _print_tariff(console, tariff, impact) -> None:
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from backoffice.models.types import Month

    config = current_app.config

    def money(value) -> str:
        return format_money(value, config["LOCALE"], config["CURRENCY"])

    table = Table("", "", title=tariff.describe(), box=None, show_header=False)
    table.add_row(_("customers who get the pricing row"), count_text(impact.customers))
    if impact.left_out:
        table.add_row(_("left out: no pricing in force on the date"), count_text(impact.left_out))
    table.add_row(_("customers whose readings are re-priced"), count_text(impact.repriced_customers))
    readings = count_text(impact.readings)
    if impact.from_month:
        readings = _(
            "%(readings)s from %(month)s", readings=readings, month=named_month(Month.parse(impact.from_month))
        )
    table.add_row(_("readings re-priced"), readings)
    table.add_row(_("purchases before"), money(impact.purchases_before))
    table.add_row(_("purchases after"), money(impact.purchases_after))
    table.add_row(_("change in purchases"), money(impact.purchases_change))
    console.print(table)


class _customers_progress:
    """A progress bar over customers on a terminal; nothing otherwise."""

    def __init__(self, console, label: str) -> None:
        self.console, self.label = console, label

    def __enter__(self):
        if not self.console.is_terminal:
            return None
        # Only on a terminal: Rich's progress bars would weigh on every command's start-up.
        from rich.progress import Progress

        self.bar = Progress(console=self.console, transient=True)
        self.bar.start()
        self.task = self.bar.add_task(self.label, total=None)
        return self.update

    def update(self, done: int, total: int) -> None:
        self.bar.update(self.task, completed=done, total=total)

    def __exit__(self, *exc) -> None:
        if self.console.is_terminal:
            self.bar.stop()
