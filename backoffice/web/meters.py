"""Meters: every meter with where it is now, and "Add meter", the one way a new meter comes to exist
on screen (assigning a serial never creates one)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from wtforms import StringField
from wtforms.validators import InputRequired, Length

from backoffice.extensions import db
from backoffice.models import Meter, MeterAssignment
from backoffice.services import billing

bp = Blueprint("meters", __name__, url_prefix="/meters")


class MeterForm(FlaskForm):
    serial = StringField(
        "Serial",
        validators=[InputRequired("Enter the meter's serial."), Length(max=40, message="Use at most 40 characters.")],
    )


class MeterFilterForm(FlaskForm):
    class Meta:
        csrf = False

    q = StringField("Search", description="Serial")


@bp.get("")
def index():
    return _page(MeterForm(formdata=None))


@bp.post("")
def add():
    form = MeterForm()
    if form.validate_on_submit():
        try:
            meter = billing.add_meter(form.serial.data)
        except billing.BillingError as error:
            form.serial.errors.append(str(error))
        else:
            flash(f'Meter {meter.serial} added; assign it on a customer\'s "Meters & billing" tab.', "success")
            return redirect(url_for("meters.index", q=meter.serial))
    db.session.rollback()
    return _page(form), 422


def _page(form: MeterForm):
    filters = MeterFilterForm(request.args)
    query = select(Meter).order_by(Meter.serial)
    if text := (filters.q.data or "").strip():
        query = query.where(Meter.serial.ilike(f"%{text}%"))
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
