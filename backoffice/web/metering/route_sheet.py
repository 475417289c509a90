"""The route sheet: a day's readings of an account manager's meters as one sheet, one row a meter, typed as the
meters' indexes, each row checked by the server as a cell is left, and saved as one batch."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal, InvalidOperation

from babel.numbers import format_decimal
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import func, select
from wtforms import BooleanField, HiddenField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length

from backoffice.evidence.quarantine import Quarantined
from backoffice.models import MeterReading, TransactionCalculation
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.platform.i18n import named_date, ngettext, number_locale
from backoffice.platform.lines import DESCRIPTION_LENGTH
from backoffice.services import ChangedMeanwhile, metering
from backoffice.services.metering.batch import examine
from backoffice.services.metering.route import (
    FAR_FACTOR,
    NO_MANAGER,
    RouteRow,
    beyond_typical,
    far_from_usual,
    kept_route,
    route_sheet,
    routes,
)
from backoffice.services.vocabulary import PeriodClosed, WalletError
from backoffice.web.plumbing.fields import LocalDateField, OptionalDecimalNumberField
from backoffice.web.plumbing.filters import money
from backoffice.web.plumbing.forms import FlaskForm, errors_text
from backoffice.web.plumbing.once import posts_once
from backoffice.web.plumbing.pickers import PickerField

bp = Blueprint("route_sheet", __name__, url_prefix="/readings")


class SheetForm(FlaskForm):
    """Whose meters and which day: the meters of a route, or of an account manager's customers; shown as a filter,
    sent again (hidden) with the sheet, with the meters it showed."""

    route = SelectField(_l("Route"), validate_choice=False)
    manager = PickerField(_l("Account manager"), kind="manager", nobody=NO_MANAGER)
    on = LocalDateField(_l("Reading date"), validators=[InputRequired(_l("Enter the reading date."))])
    meters = HiddenField()
    """The meters the sheet showed, in its order: a route changed since is shown again, not saved."""

    def offer(self) -> None:
        """The routes to choose from, read for the page that shows them (a check reads none)."""
        self.route.choices = [SelectChoice("", _("—")), *(SelectChoice(name, name) for name in routes())]

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        if self.route.data and self.manager.data is not None:
            self.route.errors.append(_("Choose a route or an account manager, not both."))
            return False
        if valid and not self.route.data and self.manager.data is None:
            self.route.errors.append(_("Choose a route or an account manager."))
            return False
        if self.route.data and not kept_route(self.route.data):
            self.route.errors.append(_("No customer is on route %(route)s.", route=self.route.data))
            return False
        return valid

    def chosen(self) -> dict:
        """The sheet's meters as :func:`route_sheet` takes them."""
        return {"route": self.route.data} if self.route.data else {"manager_id": self.manager.data}

    def asked(self) -> dict:
        """The sheet's address's arguments."""
        return {"route": self.route.data} if self.route.data else {"manager": self.manager._value()}


class RowForm(FlaskForm):
    """One meter's row: its index as read, what it counts from, a note, and the tick that confirms a reading far
    from the meter's usual use."""

    class Meta:
        csrf = False

    index = OptionalDecimalNumberField(_l("Index"), check=metering.checked_meter_index)
    how = SelectField(
        _l("Counted from"),
        choices=[
            SelectChoice("previous", _l("previous index")),
            SelectChoice("rolled_over", _l("rolled over")),
            SelectChoice("replaced", _l("start index")),
        ],
        default="previous",
    )
    digits = OptionalDecimalNumberField(_l("Digits"), check=metering.checked_digits)
    start = OptionalDecimalNumberField(_l("Start index"), check=metering.checked_start_index)
    note = StringField(_l("Note"), validators=[Length(max=DESCRIPTION_LENGTH)])
    confirm = BooleanField(_l("Confirm"))

    @property
    def empty(self) -> bool:
        return self.index.data is None and not self.index.errors


def row_form(row: RouteRow, formdata=None) -> RowForm:
    """The row's form: as sent (``formdata``), or blank, counting from a start index when the meter has no index."""
    form = RowForm(formdata=formdata, prefix=f"meter-{row.meter_id}")
    if formdata is None and row.last_index is None:
        form.how.data = "replaced"
    return form


ASKS = ("rollover", "far", "beyond")
"""Why a row's reading waits for the clerk's confirmation: a rollover (an index below the last, counted past the
meter's last digit), a volume far from the meter's usual one, or beyond what meters like it use."""


@dataclass(frozen=True)
class RowCheck:
    """What the server says of a row: why it is refused (``message``), or its volume and why it waits for the clerk's
    confirmation, if it does (``asks``, one of :data:`ASKS`); ``entry``: what is saved of it."""

    message: str | None = None
    volume: Decimal | None = None
    asks: str | None = None
    entry: metering.Entry | None = None

    @property
    def far(self) -> bool:
        """Whether it waits for the clerk's confirmation."""
        return self.asks is not None


def checked_rows(on: date, rows: list[RouteRow], forms: dict[int, RowForm]) -> dict[int, RowCheck]:
    """Each row typed in, checked as the batch recorder checks it (one pass over all of them); empty rows are left
    out."""
    checks: dict[int, RowCheck] = {}
    typed: list[tuple[RouteRow, metering.Entry]] = []
    for row in rows:
        form = forms[row.meter_id]
        form.validate()
        if form.empty:
            continue
        if problem := errors_text(form.index, form.digits, form.start, form.note) or _missing(form):
            checks[row.meter_id] = RowCheck(problem)
            continue
        how = form.how.data
        given = metering.MeterIndex(
            form.index.data,
            form.digits.data if how == "rolled_over" else None,
            form.start.data if how == "replaced" else None,
        )
        typed.append((row, metering.Entry(row.meter_id, on, index=given, note=form.note.data or "")))
    examined = examine(db.session.connection(), [entry for _row, entry in typed])
    for (row, entry), found in zip(typed, examined, strict=True):
        if found.refusal is not None:
            checks[row.meter_id] = RowCheck(found.refusal)
        else:
            checks[row.meter_id] = RowCheck(None, found.volume, _asks(entry, found.volume, row), entry)
    return checks


def _asks(entry: metering.Entry, volume: Decimal, row: RouteRow) -> str | None:
    """Why the row's reading waits for the clerk's confirmation (one of :data:`ASKS`), or ``None``."""
    if entry.index is not None and entry.index.rollover_digits is not None:
        return "rollover"
    if far_from_usual(volume, row.usual):
        return "far"
    if beyond_typical(volume, row):
        return "beyond"
    return None


def _missing(form: RowForm) -> str | None:
    if form.how.data == "rolled_over" and form.digits.data is None:
        return _("Enter the meter's digits.")
    if form.how.data == "replaced" and form.start.data is None:
        return _("Enter the start index.")
    return None


@bp.get("/sheet")
def sheet():
    form = SheetForm(request.args, meta={"csrf": False})
    rows = []
    if request.args and form.validate():
        rows = route_sheet(form.on.data, **form.chosen())
        form.meters.data = ",".join(str(row.meter_id) for row in rows)
    elif not request.args:
        form.on.data = local_today()
    forms = {row.meter_id: row_form(row) for row in rows}
    return _page(form, rows, forms, {})


@bp.post("/sheet")
@posts_once
def save():
    form = SheetForm()
    if not form.validate():
        return _again(form, [], {}, {}, 422)
    on = form.on.data
    rows = route_sheet(on, **form.chosen())
    forms = {row.meter_id: row_form(row, request.form) for row in rows}
    shown = form.meters.data or ""
    if shown != ",".join(str(row.meter_id) for row in rows):
        form.meters.data = ",".join(str(row.meter_id) for row in rows)
        flash(
            _("The route changed since the sheet was opened (a meter came or went): check it and save again."), "error"
        )
        return _again(form, rows, forms, {}, 409)
    checks = checked_rows(on, rows, forms)
    to_confirm = [meter for meter, check in checks.items() if check.far and not forms[meter].confirm.data]
    if not checks:
        flash(_("Nothing to save: every row is empty."), "error")
        return _again(form, rows, forms, checks, 422)
    if any(check.message for check in checks.values()) or to_confirm:
        flash(_("Nothing was saved: the rows marked say why."), "error")
        return _again(form, rows, forms, checks, 422)
    entries = [check.entry for row in rows if (check := checks.get(row.meter_id))]
    try:
        ids = metering.record_readings(entries, user=current_user)
    except metering.ReadingsRefused as refused:
        meters = [entry.meter_id for entry in entries]
        for refusal in refused.refusals:
            checks[meters[refusal.position - 1]] = RowCheck(refusal.message)
        flash(_("Nothing was saved: the rows marked say why."), "error")
        return _again(form, rows, forms, checks, 409)
    except (metering.MeteringError, PeriodClosed, WalletError, Quarantined) as error:
        flash(str(error), "error")
        return _again(form, rows, forms, checks, 422)
    except ChangedMeanwhile:
        flash(_("A meter changed hands while the sheet was saved: nothing was saved. Save it again."), "error")
        return _again(form, rows, forms, checks, 409)
    flash(_summary(on, ids, len(rows) - len(ids)), "success")
    return redirect(url_for("route_sheet.sheet", **form.asked(), on=on.isoformat()))


@bp.post("/sheet/check")
def check():
    """One row checked as a cell of it is left: its volume, or why it is refused; a reading far from the meter's
    usual use asks to be confirmed. Writes nothing."""
    meter_id = request.form.get("meter", "")
    sheet_form = SheetForm(meta={"csrf": False})
    if not meter_id.isdigit() or len(meter_id) > 9 or not sheet_form.on.validate(sheet_form):
        abort(400)
    on = sheet_form.on.data
    found = route_sheet(on, meter_ids=[int(meter_id)])
    if not found:
        abort(404)
    (row,) = found
    if row.usual is None and (typical := _typical(request.form.get("typical", ""))) is not None:
        row = replace(row, typical=typical)
    rows = [row]
    form = row_form(row, request.form)
    found = checked_rows(on, rows, {row.meter_id: form}).get(row.meter_id)
    return render_template("route_sheet/_check.html", row=row, row_form=form, check=found, far_factor=FAR_FACTOR)


def _typical(sent: str) -> Decimal | None:
    """The bound of a meter whose readings tell no usual, as the sheet the cell is on said it (its ``typical``): the
    sheet's saving works it out again, so a check is a hint, never what is saved."""
    try:
        typical = Decimal(sent) if len(sent) <= 20 else None
    except InvalidOperation:
        return None
    return typical if typical is not None and typical.is_finite() and typical >= 0 else None


def _summary(on: date, ids: list[int], empty: int) -> str:
    """What was recorded: how many readings, their volume, what they were charged, and the rows left empty."""
    volume, cost = db.session.execute(
        select(
            func.coalesce(func.sum(MeterReading.volume_flow_meter), 0),
            select(func.coalesce(func.sum(TransactionCalculation.total_price), 0))
            .where(TransactionCalculation.reading_id.in_(ids))
            .scalar_subquery(),
        ).where(MeterReading.id.in_(ids))
    ).one()
    said = ngettext(
        "%(num)s reading of %(date)s recorded: %(volume)s m³, %(cost)s charged.",
        "%(num)s readings of %(date)s recorded: %(volume)s m³, %(cost)s charged.",
        len(ids),
        date=named_date(on),
        volume=format_decimal(Decimal(volume), locale=number_locale()),
        cost=money(Decimal(cost)),
    )
    if empty:
        said += " " + ngettext("%(num)s row left empty.", "%(num)s rows left empty.", empty)
    return said


def _again(form: SheetForm, rows, forms, checks, status: int):
    db.session.rollback()
    return _page(form, rows, forms, checks), status


def _page(form: SheetForm, rows: list[RouteRow], forms: dict[int, RowForm], checks: dict[int, RowCheck]):
    form.offer()
    return render_template(
        "route_sheet/sheet.html", form=form, rows=rows, forms=forms, checks=checks, far_factor=FAR_FACTOR
    )
