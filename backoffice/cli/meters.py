"""``backoffice meters``: adding, listing and retiring meters."""

from __future__ import annotations

import click
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from rich.table import Table
from sqlalchemy import select

from backoffice.cli.common import BY_ADMIN, CommandError, CommandUsageError, Group, _admin, _console, _day, option
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.platform.i18n import named_date


@click.group(cls=Group, help=_l("Manage meters."))
def meters() -> None:
    pass


@meters.command(
    "add", help=_l("Add a meter with SERIAL (assigned to nobody until it is assigned on a customer's page).")
)
@click.argument("serial")
def meters_add(serial: str) -> None:
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from backoffice.services.billing import BillingError
    from backoffice.services.meter_lifecycle import add_meter

    try:
        meter = add_meter(serial)
    except BillingError as error:
        raise CommandUsageError(str(error)) from None
    click.echo(_("Added meter %(serial)s (id %(id)s), assigned to nobody.", serial=meter.serial, id=meter.id))


@meters.command("list", help=_l("List the meters with where each is now."))
@option("--status", type=click.Choice(["active", "retired"]), help=_l("Only the meters in service, or retired."))
def meters_list(status: str | None) -> None:
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from backoffice.models import Meter, MeterAssignment, MeterStatus

    query = (
        select(Meter, MeterAssignment)
        .outerjoin(MeterAssignment, (MeterAssignment.meter_id == Meter.id) & MeterAssignment.is_active)
        .order_by(Meter.serial)
    )
    if status:
        query = query.where(Meter.status == MeterStatus(status))
    table = Table(_("serial"), _("status"), _("at"), _("since"), box=None)
    for meter, assignment in db.session.execute(query):
        table.add_row(
            meter.serial,
            _("retired %(day)s", day=named_date(meter.retired_on)) if meter.retired else _("in service"),
            str(assignment.customer) if assignment else _("nobody"),
            f"{assignment.started_on:%Y-%m-%d}" if assignment else "",
        )
    _console().print(table)


@meters.command("retire", help=_l("Retire meter SERIAL: it takes no new reading or assignment (asks first)."))
@click.argument("serial")
@option(
    "--on",
    "retired_on",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help=_l("The day it is taken out of service, YYYY-MM-DD (default: today); its assignment ends that day."),
)
@BY_ADMIN
@option("--yes", is_flag=True, help=_l("Do not ask."))
def meters_retire(serial: str, retired_on, email: str, yes: bool) -> None:
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from backoffice.services.billing import BillingError, active_assignment
    from backoffice.services.meter_lifecycle import meter_by_serial, retire_meter

    try:
        meter = meter_by_serial(serial)
    except BillingError as error:
        raise CommandUsageError(str(error)) from None
    user = _admin(email, _l("%(email)s is not an admin: only an admin retires a meter."))
    on = _day(retired_on) or local_today()
    current = active_assignment(meter.id)
    day = named_date(on)
    if current:
        where = _(
            "Meter %(serial)s is at %(customer)s since %(since)s; that assignment ends on %(day)s.",
            serial=meter.serial,
            customer=current.customer,
            since=named_date(current.started_on),
            day=day,
        )
    else:
        where = _("Meter %(serial)s is at nobody's.", serial=meter.serial)
    click.echo(where + " " + _("Retired, it takes no new reading or assignment."))
    if not yes:
        click.confirm(_("Retire %(serial)s on %(day)s?", serial=meter.serial, day=day), abort=True)
    try:
        retire_meter(meter, on, user=user, confirm_from=current.id if current else None)
    except BillingError as error:
        raise CommandError(str(error)) from None
    click.echo(_("Retired meter %(serial)s on %(day)s.", serial=meter.serial, day=day))
