"""The forms of a customer's page: moving money on the ledger tab (a recharge, a charge, an admin's adjustment),
assigning meters and entering invoices and payments on the billing tab, and recording readings and pricing on the
readings tab. The page shows them blank; the screens that take them read them back from a submission."""

from __future__ import annotations

from decimal import Decimal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, SelectField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from backoffice.models import LineKind
from backoffice.platform.clock import local_today
from backoffice.platform.lines import DESCRIPTION_LENGTH
from backoffice.platform.money import shown
from backoffice.platform.reasons import AdjustmentReason
from backoffice.services import metering
from backoffice.services.meter_invoices import NewLine
from backoffice.web.plumbing.choices import placeholder
from backoffice.web.plumbing.fields import (
    DecimalNumberField,
    LocalDateField,
    MoneyField,
    OptionalDecimalNumberField,
    OptionalMoneyField,
)
from backoffice.web.plumbing.forms import FlaskForm
from backoffice.web.plumbing.pickers import PickerField
from backoffice.web.plumbing.versions import Versioned

VALUE_DATE_HELP = _l("The business date: the month it counts in and its journal entry's date. Today if left blank.")
REASONS = {reason.value: reason.label for reason in AdjustmentReason}


class MovementForm(FlaskForm):
    """A recharge or a charge; the hidden key makes a double submit move money once."""

    amount = MoneyField(_l("Amount"))
    description = StringField(_l("Description"), validators=[Length(max=DESCRIPTION_LENGTH)])
    value_date = LocalDateField(_l("Value date"), validators=[Optional()], description=VALUE_DATE_HELP)
    idempotency_key = HiddenField()


class AdjustForm(FlaskForm):
    """A balance corrected up or down, for a reason; the hidden key makes a double submit post once."""

    direction = SelectField(
        _l("Direction"),
        choices=[
            SelectChoice("up", _l("Up: add to the balance")),
            SelectChoice("down", _l("Down: take from the balance")),
        ],
        validators=[InputRequired(_l("Choose up or down."))],
    )
    amount = MoneyField(_l("Amount"))
    reason = SelectField(
        _l("Reason"),
        choices=[placeholder(_l("Choose a reason…")), *(SelectChoice(r.value, r.label) for r in AdjustmentReason)],
        validators=[InputRequired(_l("Choose a reason."))],
    )
    description = StringField(
        _l("Description"),
        validators=[Length(max=DESCRIPTION_LENGTH)],
        description=_l("Required for Other."),
    )
    value_date = LocalDateField(_l("Value date"), validators=[Optional()], description=VALUE_DATE_HELP)
    idempotency_key = HiddenField()

    def validate_description(self, field) -> None:
        if self.reason.data == AdjustmentReason.OTHER and not (field.data or "").strip():
            raise ValidationError(_("Say why: an adjustment for another reason needs a description."))


def adjust_form(**values) -> AdjustForm:
    """A blank adjustment form, dated today, for the ledger tab."""
    return AdjustForm(prefix="adjust", formdata=None, value_date=local_today(), **values)


class AssignMeterForm(FlaskForm):
    serial = StringField(
        _l("Meter serial"), validators=[InputRequired(_l("Enter the meter's serial.")), Length(max=40)]
    )
    started_on = LocalDateField(_l("From"), validators=[InputRequired(_l("Enter the date the meter starts here."))])
    confirm_move_from = HiddenField()
    """The assignment a move was confirmed from: the one the clerk was shown."""


NET_HELP = _l("Before VAT: the VAT in force on its issue date is added, unless the customer is exempt or zero-rated.")


def invoice_said(invoice, customer, said: str, **values) -> str:
    """What a clerk reads of an invoice written: ``said`` with its number, its total, its customer (and ``values``),
    then the VAT the total includes."""
    done = said % {"number": invoice.number, "amount": shown(invoice.amount), "customer": customer, **values}
    if invoice.vat:
        done += " " + _("It includes VAT of %(vat)s.", vat=shown(invoice.vat))
    return done


class InvoiceForm(FlaskForm):
    meter_id = PickerField(_l("Meter"), [InputRequired(_l("Choose a meter."))], kind="meter")
    number = StringField(
        _l("Invoice number"), validators=[InputRequired(_l("Enter the invoice number.")), Length(max=40)]
    )
    amount = MoneyField(_l("Amount"), description=NET_HELP)
    meter_rental = OptionalMoneyField(
        _l("Meter rental"), description=_l("Before VAT, taxed at the meter rental's rate. Empty: none.")
    )
    connection_fee = OptionalMoneyField(
        _l("Connection fee"), description=_l("Before VAT, taxed at the connection fee's rate. Empty: none.")
    )
    issued_on = LocalDateField(_l("Issued"), validators=[InputRequired(_l("Enter the issue date."))])

    def lines(self) -> list[NewLine]:
        """The invoice's lines as typed: its gas (the amount) and, where given, its meter rental and connection fee,
        each charged its kind's rate."""
        typed = [(self.amount.data, LineKind.GAS), (self.meter_rental.data, LineKind.METER_RENTAL)]
        typed.append((self.connection_fee.data, LineKind.CONNECTION_FEE))
        if all(amount is None for amount, _kind in typed[1:]):
            return []
        return [NewLine(amount, kind=kind.value) for amount, kind in typed if amount is not None]

    due_on = LocalDateField(_l("Due"), validators=[InputRequired(_l("Enter the due date."))])


class InvoiceChoice(SelectMultipleField):
    """Open invoices to tick, each with what it still asks."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def __init__(self, label, validators=None, **kwargs):
        super().__init__(label, coerce=int, validators=validators or [Optional()], **kwargs)

    def pre_validate(self, form) -> None:
        if self.data and any(value not in {choice[0] for choice in self.choices} for value in self.data):
            raise ValidationError(_("Choose open invoices of the payment's meter and customer."))


class PaymentForm(FlaskForm):
    meter_id = PickerField(_l("Meter"), [InputRequired(_l("Choose a meter."))], kind="meter")
    amount = MoneyField(_l("Amount"))
    paid_on = LocalDateField(_l("Paid on"), validators=[InputRequired(_l("Enter the payment date."))])
    reference = StringField(
        _l("Reference"),
        validators=[Length(max=100)],
        description=_l("An invoice number named here is ticked below."),
    )
    invoice_ids = InvoiceChoice(
        _l("Pays invoices"),
        description=_l(
            "Ticked invoices are paid first, in the order shown; what is left pays the oldest open invoices, and what "
            "is beyond them all stays as credit for the next invoice."
        ),
    )


class ReallocateForm(Versioned, FlaskForm):
    invoice_ids = InvoiceChoice(_l("Pays invoices"), validators=[InputRequired(_l("Choose the invoices it pays."))])
    reason = StringField(
        _l("Reason"),
        filters=[lambda text: text.strip() if text else text],
        validators=[
            InputRequired(_l("Say why the payment is applied to other invoices.")),
            Length(max=DESCRIPTION_LENGTH),
        ],
        description=_l("Kept with the reversal of what it paid."),
    )


def _needed_for(given_as: str, how: str | None = None):
    """A field the reading needs when it is given so (``given_as``, and for an index ``how`` it counts)."""

    def needed(form, field) -> None:
        if form.given_as.data == given_as and how in (None, form.index_how.data):
            if field.data is None and not field.errors:
                raise ValidationError(_("Enter a number."))

    return needed


class ReadingForm(FlaskForm):
    """A reading, given as its volume or as the meter's index (with a rollover or a replacement said)."""

    meter_id = PickerField(_l("Meter"), [InputRequired(_l("Choose a meter."))], kind="meter")
    reading_date = LocalDateField(_l("Reading date"), validators=[InputRequired(_l("Enter the reading date."))])
    given_as = SelectField(
        _l("Given as"),
        choices=[SelectChoice("volume", _l("the volume")), SelectChoice("index", _l("the meter's index"))],
        default="volume",
    )
    volume_flow_meter = OptionalDecimalNumberField(
        _l("Flow-meter volume (m³)"), check=metering.checked_volume, validators=[_needed_for("volume")]
    )
    meter_index = OptionalDecimalNumberField(
        _l("Meter index"),
        check=metering.checked_meter_index,
        validators=[_needed_for("index")],
        description=_l("As read on the meter: the volume is the index less the meter's previous index."),
    )
    index_how = SelectField(
        _l("Counted from"),
        choices=[
            SelectChoice("previous", _l("the meter's previous index")),
            SelectChoice("rolled_over", _l("the previous index: the meter rolled over past its last digit since")),
            SelectChoice(
                "replaced", _l("a start index: the meter was replaced, or is read by index for the first time")
            ),
        ],
        default="previous",
    )
    meter_digits = OptionalDecimalNumberField(
        _l("Meter digits"),
        check=metering.checked_digits,
        validators=[_needed_for("index", "rolled_over")],
        description=_l("Its digits before the decimal separator: a 5-digit meter rolls over from 99999 to 00000."),
    )
    start_index = OptionalDecimalNumberField(
        _l("Start index"),
        check=metering.checked_start_index,
        validators=[_needed_for("index", "replaced")],
        description=_l("The new meter's index when it was put in place; for a first reading, the index to count from."),
    )
    note = StringField(_l("Note"), validators=[Length(max=DESCRIPTION_LENGTH)])
    # The id of the reading of the same meter and date the clerk was shown and confirmed recording another beside.
    confirm_duplicate_of = HiddenField()

    def given(self) -> tuple[Decimal | None, metering.MeterIndex | None]:
        """The reading's volume, or the meter's index with how it counts (the other ``None``)."""
        if self.given_as.data != "index":
            return self.volume_flow_meter.data, None
        how = self.index_how.data
        return None, metering.MeterIndex(
            self.meter_index.data,
            self.meter_digits.data if how == "rolled_over" else None,
            self.start_index.data if how == "replaced" else None,
        )


class PricingForm(Versioned, FlaskForm):
    """A new pricing row, or (with the row's version) a change of the row from its date."""

    effective_from = LocalDateField(
        _l("Effective from"), validators=[InputRequired(_l("Enter the date the price applies from."))]
    )
    price_per_sm3 = MoneyField(_l("Price per Sm³"))
    meter_correction = DecimalNumberField(_l("Meter correction factor"), check=metering.checked_correction)
