"""The tariff change (admin only): a price and/or correction factor from a date for every customer or some,
with a live preview of what it re-prices, saved in the request when small, else re-priced by a job."""

from __future__ import annotations

import re

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import StringField
from wtforms.validators import InputRequired, Length

from backoffice.models import Role
from backoffice.services import metering
from backoffice.web.plumbing.auth import requires_role
from backoffice.web.plumbing.fields import LocalDateField, OptionalDecimalNumberField, OptionalMoneyField
from backoffice.web.plumbing.forms import FlaskForm, errors_text
from backoffice.web.plumbing.once import posts_once
from backoffice.web.plumbing.pending import waits
from backoffice.web.plumbing.pickers import PickerField
from backoffice.web.plumbing.repricing import reprice

bp = Blueprint("tariff", __name__, url_prefix="/pricing/tariff")


class TariffForm(FlaskForm):
    effective_from = LocalDateField(
        _l("Effective from"), validators=[InputRequired(_l("Enter the date the tariff applies from."))]
    )
    price_per_sm3 = OptionalMoneyField(
        _l("Price per Sm³"), description=_l("Leave empty to keep each customer's price.")
    )
    meter_correction = OptionalDecimalNumberField(
        _l("Meter correction factor"),
        check=metering.checked_correction,
        description=_l("Leave empty to keep each customer's factor."),
    )
    manager_email = PickerField(
        _l("Account manager"), kind="manager", render_kw={"placeholder": _l("Every account manager")}
    )
    customer_codes = StringField(
        _l("Customer codes"),
        validators=[Length(max=10_000)],
        description=_l("Only these customers (separated by spaces or commas); empty: every customer."),
    )

    def tariff(self) -> metering.Tariff:
        """The tariff asked for; :class:`metering.MeteringError` (with the field it concerns) when it cannot be."""
        return metering.checked_tariff(
            self.effective_from.data,
            self.price_per_sm3.data,
            self.meter_correction.data,
            self.manager_email.key,
            re.split(r"[\s,;]+", self.customer_codes.data or ""),
        )


@bp.get("")
@requires_role(Role.ADMIN)
def form():
    return render_template("tariff/form.html", form=TariffForm(formdata=None))


@bp.post("/preview")
@requires_role(Role.ADMIN)
def preview():
    """What the tariff would change, as it is typed. Writes nothing."""
    form = TariffForm()
    impact, error = None, ""
    if form.validate():
        try:
            impact = metering.tariff_impact(form.tariff())
        except metering.MeteringError as problem:
            error = str(problem)
    else:
        error = errors_text(form)
    return render_template("tariff/_preview.html", impact=impact, error=error)


@bp.post("")
@requires_role(Role.ADMIN)
@posts_once
def save():
    form = TariffForm()
    if form.validate_on_submit():
        try:
            tariff = form.tariff()
            impact = metering.change_tariff(tariff, user=current_user)
        except metering.MeteringError as error:
            form[getattr(error, "field", "price_per_sm3")].errors.append(str(error))
        else:
            if impact.held is not None:
                flash(_("%(tariff)s not saved yet: %(why)s", tariff=tariff.describe(), why=waits(impact.held)), "info")
                return redirect(url_for("tariff.form"))
            return reprice(tariff, impact)
    return render_template("tariff/form.html", form=form), 422
