"""Meters: every meter with where it is now (downloaded as CSV or a workbook), "Add meter", the one way a new meter
comes to exist on screen (assigning a serial never creates one), and for admins retiring a meter."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from wtforms import HiddenField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length

from backoffice.models import Customer, Meter, MeterAssignment, MeterStatus, Role
from backoffice.models.types import folded, folded_text
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.platform.i18n import named_date
from backoffice.platform.replica import reads
from backoffice.services import billing, meter_lifecycle
from backoffice.web.plumbing.auth import requires_role
from backoffice.web.plumbing.fields import LocalDateField
from backoffice.web.plumbing.forms import FlaskForm
from backoffice.web.plumbing.lists import Column, Filters, Listing

bp = Blueprint("meters", __name__, url_prefix="/meters")

COLUMNS = [Column("serial", _l("Serial"), Meter.serial)]
CSV_COLUMNS = [
    "serial",
    "status",
    "retired_on",
    "customer_code",
    "customer_name",
    "assigned_on",
    "balance",
    "overpayment",
]


class MeterForm(FlaskForm):
    serial = StringField(
        _l("Serial"),
        validators=[
            InputRequired(_l("Enter the meter's serial.")),
            Length(max=40, message=_l("Use at most 40 characters.")),
        ],
    )


class MeterFilterForm(Filters):
    q = StringField(_l("Search"), description=_l("Serial"))
    status = SelectField(
        _l("Status"),
        choices=[
            SelectChoice("", _l("All")),
            SelectChoice(MeterStatus.ACTIVE.value, _l("in service")),
            SelectChoice(MeterStatus.RETIRED.value, _l("retired")),
        ],
        default="",
    )


class RetireForm(FlaskForm):
    retired_on = LocalDateField(
        _l("Retired on"),
        validators=[InputRequired(_l("Enter the day the meter is taken out of service."))],
        description=_l("Its assignment, if it has one, ends that day: what is dated from then on is nobody's."),
    )
    confirm_from = HiddenField()
    """The assignment the clerk was shown (empty: the meter was at nobody's)."""


@bp.get("")
def index():
    return _page(MeterForm(formdata=None))


@bp.post("")
def add():
    form = MeterForm()
    if form.validate_on_submit():
        try:
            meter = meter_lifecycle.add_meter(form.serial.data)
        except billing.BillingError as error:
            form.serial.errors.append(str(error))
        else:
            flash(
                _('Meter %(serial)s added; assign it on a customer\'s "Meters & billing" tab.', serial=meter.serial),
                "success",
            )
            return redirect(url_for("meters.index", q=meter.serial))
    db.session.rollback()
    return _page(form), 422


@bp.route("/<int:meter_id>/retire", methods=["GET", "POST"])
@requires_role(Role.ADMIN)
def retire(meter_id: int):
    """The page says where the meter is and what retiring it does; its button retires it."""
    meter = db.session.get(Meter, meter_id) or abort(404)
    if meter.retired:
        flash(_("Meter %(serial)s is retired already.", serial=meter.serial), "info")
        return redirect(url_for("meters.index", q=meter.serial))
    current = billing.active_assignment(meter.id)
    if request.method == "POST":
        form = RetireForm()
    else:
        form = RetireForm(formdata=None, retired_on=local_today(), confirm_from=str(current.id) if current else "")
    refusal = None
    if form.validate_on_submit():
        shown = form.confirm_from.data or ""
        try:
            # Anything but an assignment's id (as the page sent it) confirms the meter at nobody's.
            confirmed = int(shown) if shown.isdigit() and len(shown) <= 18 else None
            meter_lifecycle.retire_meter(meter, form.retired_on.data, user=current_user, confirm_from=confirmed)
        except meter_lifecycle.RetireNotConfirmed as moved:
            refusal = str(moved)
            current = moved.current
            form.confirm_from.data = str(current.id) if current else ""
        except billing.BillingError as error:
            form.retired_on.errors.append(str(error))
        else:
            flash(
                _("Meter %(serial)s retired on %(date)s.", serial=meter.serial, date=named_date(form.retired_on.data)),
                "success",
            )
            return redirect(url_for("meters.index", q=meter.serial))
    status = 409 if refusal else 422 if form.errors else 200
    page = render_template("meters/retire.html", meter=meter, current=current, form=form, refusal=refusal)
    return page, status


@bp.get("/export.<any(csv, xlsx):format>")
@reads
def export(format: str):
    """Every meter the filters select, in the list's order, with where it is now, streamed."""
    listing = _listing()
    if not listing.valid:
        return _page(MeterForm(formdata=None)), 422
    return listing.export("meters", CSV_COLUMNS, _rows(), format=format)


def _listing() -> Listing:
    filters = MeterFilterForm(request.args)
    return Listing(filters, COLUMNS, _conditions, default="serial", tiebreak=Meter.id, csv_endpoint="meters.export")


def _conditions(filters: MeterFilterForm) -> list:
    conditions = []
    if text := (filters.q.data or "").strip():
        conditions.append(folded(Meter.serial).ilike(folded_text(f"%{text}%")))
    if filters.status.data:
        conditions.append(Meter.status == MeterStatus(filters.status.data))
    return conditions


def _rows():
    """The download's columns, of every meter (the list narrows and sorts it): the customer it is at now and since
    when, if it is at one."""
    return (
        select(
            Meter.serial,
            Meter.status,
            Meter.retired_on,
            Customer.code,
            Customer.name,
            MeterAssignment.started_on,
            Meter.balance,
            Meter.overpayment,
        )
        .select_from(Meter)
        .outerjoin(MeterAssignment, (MeterAssignment.meter_id == Meter.id) & MeterAssignment.is_active)
        .outerjoin(Customer, Customer.id == MeterAssignment.customer_id)
    )


def _page(form: MeterForm):
    listing = _listing()
    page = listing.page(select(Meter), 50)
    at = {
        a.meter_id: a
        for a in db.session.scalars(
            select(MeterAssignment)
            .options(selectinload(MeterAssignment.customer))
            .where(MeterAssignment.meter_id.in_([m.id for m in page.items]), MeterAssignment.is_active)
        )
    }
    return render_template("meters/index.html", form=form, listing=listing, filters=listing.filters, page=page, at=at)
