"""Meters: every meter with where it is now, "Add meter", the one way a new meter comes to exist
on screen (assigning a serial never creates one), and for admins retiring a meter."""

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

from backoffice.models import Meter, MeterAssignment, MeterStatus, Role
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.services import billing, meter_lifecycle
from backoffice.web.auth import requires_role
from backoffice.web.fields import LocalDateField
from backoffice.web.forms import FlaskForm

bp = Blueprint("meters", __name__, url_prefix="/meters")


class MeterForm(FlaskForm):
    serial = StringField(
        _l("Serial"),
        validators=[
            InputRequired(_l("Enter the meter's serial.")),
            Length(max=40, message=_l("Use at most 40 characters.")),
        ],
    )


class MeterFilterForm(FlaskForm):
    class Meta:
        csrf = False

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
                _("Meter %(serial)s retired on %(date)s.", serial=meter.serial, date=form.retired_on.data.isoformat()),
                "success",
            )
            return redirect(url_for("meters.index", q=meter.serial))
    status = 409 if refusal else 422 if form.errors else 200
    page = render_template("meters/retire.html", meter=meter, current=current, form=form, refusal=refusal)
    return page, status


def _page(form: MeterForm):
    filters = MeterFilterForm(request.args)
    query = select(Meter).order_by(Meter.serial)
    if filters.validate():
        if text := (filters.q.data or "").strip():
            query = query.where(Meter.serial.ilike(f"%{text}%"))
        if filters.status.data:
            query = query.where(Meter.status == MeterStatus(filters.status.data))
    else:
        query = query.where(Meter.id.is_(None))
    page = db.paginate(query, per_page=50, error_out=False)
    at = {
        a.meter_id: a
        for a in db.session.scalars(
            select(MeterAssignment)
            .options(selectinload(MeterAssignment.customer))
            .where(MeterAssignment.meter_id.in_([m.id for m in page.items]), MeterAssignment.is_active)
        )
    }
    return render_template("meters/index.html", form=form, filters=filters, page=page, at=at)
