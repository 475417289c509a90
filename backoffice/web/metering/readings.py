"""A customer's readings and pricing: record, correct and delete readings with a live price, and set
pricing with a live preview of what it changes."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from wtforms import StringField
from wtforms.validators import InputRequired, Length

from backoffice.models import BalanceTransaction, Customer, CustomerPricing, Meter, MeterReading, User
from backoffice.models.metering import READING
from backoffice.platform.extensions import db
from backoffice.platform.i18n import named_date
from backoffice.platform.lines import DESCRIPTION_LENGTH
from backoffice.platform.words import word
from backoffice.services import ChangedMeanwhile, metering
from backoffice.services.vocabulary import PeriodClosed
from backoffice.web.customers.forms import PricingForm, ReadingForm
from backoffice.web.customers.page import customer_or_404, render_customer
from backoffice.web.plumbing.fields import DecimalNumberField, LocalDateField
from backoffice.web.plumbing.filters import money
from backoffice.web.plumbing.forms import FlaskForm, errors_text
from backoffice.web.plumbing.once import posts_once
from backoffice.web.plumbing.pending import waits
from backoffice.web.plumbing.pickers import meters_of
from backoffice.web.plumbing.repricing import start_recalculation
from backoffice.web.plumbing.versions import Versioned, changed_meanwhile, refused_edit

bp = Blueprint("metering", __name__, url_prefix="/customers/<code>")


class CorrectionForm(Versioned, FlaskForm):
    """A reading's date, volume or note corrected (its meter stays)."""

    reading_date = LocalDateField(_l("Reading date"), validators=[InputRequired(_l("Enter the reading date."))])
    volume_flow_meter = DecimalNumberField(_l("Flow-meter volume (m³)"), check=metering.checked_volume)
    note = StringField(_l("Note"), validators=[Length(max=DESCRIPTION_LENGTH)])


@bp.post("/readings")
@posts_once
def record(code: str):
    customer = customer_or_404(code)
    form = ReadingForm(prefix="reading")
    meters_of(form.meter_id, customer)
    duplicate = None
    if form.validate_on_submit():
        shown = form.confirm_duplicate_of.data or ""
        # Anything but a reading's id (as the page sent it) confirms nothing: the page asks again.
        confirmed = int(shown) if shown.isdigit() and len(shown) <= 18 else None
        volume, index = form.given()
        try:
            metering.record_reading(
                form.meter_id.data,
                form.reading_date.data,
                volume,
                customer_id=customer.id,
                note=form.note.data or "",
                user=current_user,
                confirm_duplicate_of=confirmed,
                index=index,
            )
        except metering.DuplicateReading as found:
            # Nothing is written: the form asks, saying which reading the meter has on that date.
            duplicate = found.existing
            form.confirm_duplicate_of.data = str(duplicate.id)
            duplicate = _duplicate_context(duplicate)
        except metering.MeteringError as error:
            (form.volume_flow_meter if index is None else form.meter_index).errors.append(str(error))
        except PeriodClosed as error:
            form.reading_date.errors.append(str(error))
        else:
            if customer.use_realtime_calculation:
                flash(_("Reading recorded and charged to the prepaid wallet."), "success")
            else:
                flash(
                    _(
                        "Reading recorded; it will be charged by the customer's recalculation, which is pending: the "
                        "balance does not include it yet."
                    ),
                    "info",
                )
            return redirect(url_for("customers.show", code=code, tab="metering"))
    return _again(code, {"reading": form, "duplicate": duplicate}, 409 if duplicate else 422)


@bp.post("/readings/preview")
def preview_reading(code: str):
    """The price a reading would have, as it is typed. Writes nothing."""
    customer = customer_or_404(code)
    form = ReadingForm(prefix="reading")
    meters_of(form.meter_id, customer)
    form.validate()
    volume, index = form.given()
    typed = (form.volume_flow_meter,) if index is None else (form.meter_index, form.meter_digits, form.start_index)
    priced, counted, duplicate, error = None, None, None, errors_text(*typed, form.reading_date)
    meter_id, on = form.meter_id.data, form.reading_date.data
    if not error and (index is None or meter_id is not None):
        try:
            if meter_id is not None:
                metering.refuse_retired(meter_id)
                metering.reading_customer(meter_id, on, customer.id)
                same_day = metering.same_day_reading(meter_id, on)
                duplicate = _duplicate_context(same_day) if same_day else None
            with db.engine.connect() as connection:
                if index is not None:
                    serial = db.session.get(Meter, meter_id).serial
                    counted = metering.counted_by_index(connection, meter_id, on, index, serial)
                    volume = counted.volume
                priced = metering.price(connection, customer.id, on, volume)
        except (metering.MeteringError, PeriodClosed) as problem:
            error = str(problem)
    return render_template(
        "metering/_reading_preview.html", priced=priced, counted=counted, error=error, duplicate=duplicate
    )


@bp.get("/readings/<int:reading_id>")
def reading(code: str, reading_id: int):
    found = _of(customer_or_404(code), MeterReading, reading_id)
    form = CorrectionForm(obj=found)
    return _reading_page(found, form)


@bp.post("/readings/<int:reading_id>")
@posts_once
def correct(code: str, reading_id: int):
    found = _of(customer_or_404(code), MeterReading, reading_id)
    form = CorrectionForm()
    if form.validate_on_submit():
        posted_before = _posted_for(reading_id)[-1:]
        try:
            asked = metering.correct_reading(
                reading_id,
                form.reading_date.data,
                form.volume_flow_meter.data,
                note=form.note.data or "",
                user=current_user,
                version=form.version.data,
            )
        except metering.MeteringError as error:
            form.volume_flow_meter.errors.append(str(error))
        except PeriodClosed as error:
            form.reading_date.errors.append(str(error))
        except ChangedMeanwhile:
            readings_tab = url_for("customers.show", code=code, tab="metering")
            if gone := refused_edit(form, MeterReading, reading_id, "reading", gone_to=readings_tab):
                return gone
            return _reading_page(db.session.get(MeterReading, reading_id), form), 409
        else:
            if asked is not None:
                flash(_("Reading #%(id)s is not corrected yet: %(why)s", id=reading_id, why=waits(asked)), "info")
                return redirect(url_for("metering.reading", code=code, reading_id=reading_id))
            after = [m for m in _posted_for(reading_id) if not posted_before or m.id > posted_before[0].id]
            posted = _posted_text(after, db.session.get(Customer, found.customer_id))
            flash(_("Reading #%(id)s corrected; %(posted)s", id=reading_id, posted=posted), "success")
            return redirect(url_for("metering.reading", code=code, reading_id=reading_id))
    db.session.rollback()
    return _reading_page(db.session.get(MeterReading, reading_id), form), 422


@bp.post("/readings/<int:reading_id>/delete")
@posts_once
def delete(code: str, reading_id: int):
    _of(customer_or_404(code), MeterReading, reading_id)
    try:
        asked = metering.delete_reading(reading_id, user=current_user)
    except (metering.MeteringError, PeriodClosed) as error:  # deleted meanwhile, or in a closed month
        flash(str(error), "error")
    else:
        if asked is not None:
            flash(_("Reading #%(id)s is not deleted yet: %(why)s", id=reading_id, why=waits(asked)), "info")
        else:
            flash(_("Reading #%(id)s deleted; what it cost was given back.", id=reading_id), "success")
    return redirect(url_for("customers.show", code=code, tab="metering"))


@bp.get("/pricing/<int:pricing_id>")
def edit_pricing(code: str, pricing_id: int):
    """The pricing form filled with a row, to change its price or correction factor."""
    row = _of(customer_or_404(code), CustomerPricing, pricing_id)
    return _again(code, {"pricing": PricingForm(prefix="pricing", obj=row)}, 200)


@bp.post("/pricing")
@posts_once
def set_pricing(code: str):
    customer = customer_or_404(code)
    form = PricingForm(prefix="pricing")
    if form.validate_on_submit():
        try:
            impact = metering.set_pricing(
                customer.id,
                form.effective_from.data,
                form.price_per_sm3.data,
                form.meter_correction.data,
                user=current_user,
                version=form.version.data,
            )
        except (metering.MeteringError, PeriodClosed) as error:
            form.price_per_sm3.errors.append(str(error))
        except ChangedMeanwhile:
            db.session.rollback()  # what the row is now, not what this request's first read saw
            current = db.session.scalar(
                select(CustomerPricing).where(
                    CustomerPricing.customer_id == customer.id,
                    CustomerPricing.effective_from == form.effective_from.data,
                )
            )
            changed_meanwhile(form, current, "pricing row")
        else:
            pricing = {
                "price": money(form.price_per_sm3.data),
                "from": named_date(form.effective_from.data),
                "customer": customer,
                "readings": impact.readings,
            }
            if impact.held is not None:
                held = _("Pricing not saved yet (of %(price)s per Sm³ from %(from)s for %(customer)s): %(why)s")
                flash(held % {**pricing, "why": waits(impact.held)}, "info")
            elif impact.deferred:
                saved = _(
                    "Pricing of %(price)s per Sm³ from %(from)s for %(customer)s saved; re-pricing %(readings)s "
                    "reading(s) is pending"
                )
                start_recalculation(customer, saved % pricing)
            else:
                saved = _(
                    "Pricing of %(price)s per Sm³ from %(from)s for %(customer)s saved; %(readings)s reading(s) "
                    "re-priced."
                )
                flash(saved % pricing, "success")
            return redirect(url_for("customers.show", code=code, tab="metering"))
    return _again(code, {"pricing": form}, 409 if form.changed else 422)


@bp.post("/pricing/preview")
def preview_pricing(code: str):
    """What a pricing row would change, before it is saved. Writes nothing."""
    customer = customer_or_404(code)
    form = PricingForm(prefix="pricing")
    impact, error = None, ""
    if form.validate():
        try:
            impact = metering.pricing_impact(
                customer.id, form.effective_from.data, form.price_per_sm3.data, form.meter_correction.data
            )
        except metering.MeteringError as problem:
            error = str(problem)
    else:
        error = errors_text(form)
    return render_template("metering/_pricing_preview.html", impact=impact, error=error)


def _duplicate_context(reading: MeterReading) -> dict:
    """What the form says of the reading already there on the date: its volume, and who recorded it, when."""
    return {
        "reading": reading,
        "by": db.session.get(User, reading.created_by_id) if reading.created_by_id else None,
    }


def _reading_page(found: MeterReading, form: CorrectionForm):
    """The reading, its calculation, what its charges and corrections posted, and the form that corrects it."""
    return render_template(
        "metering/reading.html",
        customer=db.session.get(Customer, found.customer_id),
        reading=found,
        form=form,
        posted=_posted_for(found.id),
    )


def _posted_for(reading_id: int) -> list[BalanceTransaction]:
    """The wallet movements that charged for the reading and corrected that charge, in the order posted (a reading
    once charged to a customer who did not hold its meter on its date has movements at theirs too)."""
    return list(
        db.session.scalars(
            select(BalanceTransaction)
            .options(selectinload(BalanceTransaction.customer), selectinload(BalanceTransaction.created_by))
            .where(BalanceTransaction.reference_type == READING, BalanceTransaction.reference_id == reading_id)
            .order_by(BalanceTransaction.id)
        )
    )


def _posted_text(movements: list[BalanceTransaction], customer: Customer) -> str:
    if movements:
        each = [
            _(
                "%(kind)s #%(id)s of %(amount)s dated %(date)s",
                kind=word(m.kind),
                id=m.id,
                amount=money(abs(m.signed_amount)),
                date=named_date(m.value_date),
            )
            for m in movements
        ]
        return _("posted %(movements)s.", movements=", ".join(each))
    if not customer.use_realtime_calculation:
        return _("this customer is calculated by jobs: the nightly run re-prices it.")
    return _("its cost did not change, so nothing was posted.")


def _again(code: str, forms: dict, status: int = 422):
    db.session.rollback()
    return render_customer(customer_or_404(code), "metering", forms), status


def _of(customer: Customer, model, row_id: int):
    """The customer's row of ``model`` (a reading, a pricing row), or 404."""
    row = db.session.get(model, row_id)
    if row is None or row.customer_id != customer.id:
        abort(404)
    return row
