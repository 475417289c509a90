"""What a clerk types for metering, checked the one way: volumes, prices and correction factors."""

from __future__ import annotations

from decimal import Decimal

from flask_babel import gettext as _

from backoffice.models.metering import MAX_VOLUME
from backoffice.platform.money import MoneyError, check_amount


class MeteringError(ValueError):
    """A metering write refused; nothing was written."""


def checked_volume(value: Decimal) -> Decimal:
    """A flow-meter volume, checked (a finite number, not negative, within 14 digits) and quantized."""
    if not isinstance(value, Decimal) or not value.is_finite():
        raise MeteringError(_("The flow-meter volume must be a number."))
    if value < 0:
        raise MeteringError(_("The flow-meter volume must not be negative."))
    # The range first: a number wider than Decimal's precision cannot be quantized at all.
    if value > MAX_VOLUME:
        raise MeteringError(_("The flow-meter volume is too large (at most 14 digits before the decimal separator)."))
    if value != value.quantize(Decimal("0.0001")):
        raise MeteringError(_("Use at most 4 decimal places for the flow-meter volume."))
    return value.quantize(Decimal("0.0001"))


def checked_correction(value: Decimal) -> Decimal:
    """A meter correction factor, checked (above zero, 6 digits and 6 places at most) and quantized."""
    if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
        raise MeteringError(_("The meter correction factor must be a number greater than zero."))
    if value >= 1_000_000 or value != value.quantize(Decimal("0.000001")):
        raise MeteringError(_("The meter correction factor has at most 6 decimal places and 6 digits before them."))
    return value.quantize(Decimal("0.000001"))


def checked_price(value: Decimal) -> Decimal:
    """A price per Sm³: a rate, with the cents its column keeps whatever the currency's unit (1.000,50 ₫ per Sm³)."""
    try:
        return check_amount(value, 2)
    except MoneyError as error:
        raise MeteringError(_("Price per Sm³: %(error)s", error=error)) from None
