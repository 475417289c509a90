"""Money: strict parsing in the configured locale, rounding, and formatting.

Every amount is a ``Decimal``, rounded half-up once, where it is stored. Parsing refuses anything it cannot read
unambiguously under the locale's rules (``1,234.5`` in ``id_ID`` is an error, not a guess), and never rounds what was
typed. :func:`read_amount` is the one way a typed amount enters the system.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache, partial

from babel import Locale
from babel.numbers import (
    NumberFormatError,
    format_currency,
    format_decimal,
    get_currency_precision,
    get_currency_symbol,
    get_decimal_symbol,
    get_group_symbol,
    parse_decimal,
)
from flask import current_app, has_app_context
from flask_babel import gettext as _

from backoffice.platform.i18n import language, number_locale

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
MAX_AMOUNT = Decimal("9999999999999.99")
"""The largest amount a ``NUMERIC(15,2)`` column holds: every amount typed, and each order's or reading's total."""
MAX_BALANCE = Decimal("999999999999999999.99")
"""The largest balance or total a ``NUMERIC(20,2)`` column holds: what accumulates since inception (the books,
the wallets, the customers' and meters' totals, the months, the targets)."""


class MoneyError(ValueError):
    """An amount a user typed or a caller passed that cannot be money."""


class BeyondLimit(MoneyError):
    """A balance or total would grow beyond what its column holds; nothing was written."""

    def __init__(self, what: str) -> None:
        super().__init__(
            _(
                "%(what)s would exceed %(limit)s, the most a balance holds. Nothing was saved.",
                what=what,
                limit=shown(MAX_BALANCE),
            )
        )


def read_amount(text: str | None) -> Decimal:
    """Read an amount a user typed (a form field, a command's argument, a JSON value) as the user's screens write
    numbers (a command: the installation's locale) in the installation's currency: the one place every typed
    amount is read. Raises :class:`MoneyError`."""
    return parse_amount(text, number_locale(), current_app.config["CURRENCY"], unit_places())


def parse_amount(text: str | None, locale: str, currency: str | None = None, places: int | None = None) -> Decimal:
    """Read an amount typed by a user; raise :class:`MoneyError` with a message a clerk can act on.

    With ``currency``, an amount written as the app shows it (``Rp1.000``, ``IDR 1.000``) is read too, and the
    decimal places allowed are ``places``, else the currency's unit's (:func:`decimal_places`); without it, 2. More
    places than that is ambiguous whatever the value: it is refused, never rounded.
    """
    if currency and text:
        text = _without_currency(text, locale, currency)
    places = decimal_places(currency) if places is None else places
    value = parse_number(text, locale, places=places)
    if 0 <= value <= MAX_AMOUNT:  # else check_amount says what is wrong first: the sign, or the size
        _refuse_ambiguous(text or "", value, locale, currency, places)
    return check_amount(value, places)


CURRENCY_UNITS = {"IDR": 2, "KES": 2, "VND": 0}
"""The decimal places of the unit of each currency the back-office is made for: the project's own decision, never the
CLDR data of a Babel release (Babel 2.18 gives the rupiah two, 2.19 none)."""


def decimal_places(currency: str | None) -> int:
    """The decimal places of ``currency``'s unit, at most the columns' 2: the project's for its own currencies
    (:data:`CURRENCY_UNITS`), ISO 4217's minor units as Babel knows them for another; the default of
    ``BACKOFFICE_CURRENCY_PLACES``."""
    if not currency:
        return 2
    return CURRENCY_UNITS[currency] if currency in CURRENCY_UNITS else min(2, get_currency_precision(currency))


def parse_number(text: str | None, locale: str, what: str = "amount", *, places: int = 2) -> Decimal:
    """Read a decimal number typed by a user under the locale's rules, strictly; the caller checks its range. A
    refusal's example has ``places`` decimal places (an amount's: its currency's)."""
    raw = (text or "").strip()
    amount = what == "amount"
    if not raw:
        raise MoneyError(_("Enter an amount.") if amount else _("Enter a number."))
    negative = raw.startswith("-")
    body = raw.lstrip("+-").strip()
    if not _looks_like_number(body, locale):
        refusal = (
            _("Not an amount. Write amounts like %(example)s.")
            if amount
            else _("Not a number. Write numbers like %(example)s.")
        )
        raise MoneyError(refusal % {"example": example_amount(locale, places)})
    try:
        value = parse_decimal(_normalise_spaces(body, locale), locale=_parsed(locale), strict=True)
    except (NumberFormatError, InvalidOperation):
        if amount:
            refusal = _("The separators are not read that way here. Write amounts like %(example)s.")
        else:
            refusal = _("The separators are not read that way here. Write numbers like %(example)s.")
        raise MoneyError(refusal % {"example": example_amount(locale, places)}) from None
    return -value if negative else value


def check_amount(value: Decimal, places: int | None = None) -> Decimal:
    """Validate an amount for storage: finite, non-negative, within ``NUMERIC(15,2)``, and a whole number of the
    currency's unit (``places``: else the installation's, :func:`unit_places`), whatever door it came through: a
    fraction of a đồng is refused, never rounded."""
    if not isinstance(value, Decimal):
        raise MoneyError(f"Amounts must be Decimal, not {type(value).__name__}.")
    if not value.is_finite():
        raise MoneyError(_("Not an amount."))
    if value < 0:
        raise MoneyError(_("The amount must not be negative."))
    # Before any rounding: a number wider than Decimal's precision cannot be quantized at all.
    if value > MAX_AMOUNT:
        raise MoneyError(_("The amount is too large (at most 13 digits before the decimal separator)."))
    places = (unit_places() if has_app_context() else 2) if places is None else places
    if value != value.quantize(Decimal(1).scaleb(-places)):
        raise MoneyError(finer_than_unit(places))
    return value.quantize(CENT)


def finer_than_unit(places: int) -> str:
    """What an amount with more decimal places than the currency's unit (``places``) is told."""
    if places == 0:
        return _("Amounts have no decimal places here: write a whole amount.")
    if places == 1:
        return _("Use at most 1 decimal place.")
    return _("Use at most 2 decimal places.")


def _without_currency(text: str, locale: str, currency: str) -> str:
    """The amount without its currency, written before it (``Rp1.000``, ``IDR 1.000``) or after it (``1.000 ₫``,
    ``1.234,50 IDR``) as the locale writes amounts."""
    for mark in (_currency_symbol(currency, locale), currency):
        written = text.strip()
        if written.lstrip("+-").startswith(mark):
            text = text.replace(mark, "", 1)
        elif written.endswith(mark):
            text = written.removesuffix(mark)
    return text


def _refuse_ambiguous(text: str, value: Decimal, locale: str, currency: str | None, places: int) -> None:
    """Refuse an amount typed with more decimal places than ``places``, naming what each reading would have to be
    written as: ``1,000`` in ``id_ID`` is "write 1.000 for one thousand or 1 for one"."""
    body = text.strip().lstrip("+-").strip()
    group, decimal = symbols(locale)
    if decimal not in body:
        return
    whole, fraction = body.rsplit(decimal, 1)
    if len(fraction) <= places:
        return
    readings = []
    whole_digits = whole.replace(group, "").replace(" ", "")
    if len(fraction) == 3 and whole and _grouped_in_threes(whole, group):
        # The decimal separator may be the other convention's thousands separator.
        thousands = Decimal(whole_digits + fraction)
        readings.append(_reading(format_decimal(thousands, format="#,##0", locale=locale), thousands, locale, currency))
    if value == value.quantize(Decimal(1).scaleb(-places)):
        short = value.normalize() if value == value.to_integral_value() else value.quantize(CENT)
        pattern = "#,##0" if value == value.to_integral_value() else "#,##0." + "0" * places
        reading = _reading(format_decimal(short, format=pattern, locale=locale), short, locale, currency)
        if reading not in readings:
            readings.append(reading)
    if places == 0:
        limit = _("amounts have no decimal places here")
    elif places == 1:
        limit = _("amounts have at most 1 decimal place")
    else:
        limit = _("amounts have at most %(places)s decimal places", places=places)
    if len(readings) == 2:
        raise MoneyError(
            _(
                "Ambiguous: write %(first)s or %(second)s (%(limit)s).",
                first=readings[0],
                second=readings[1],
                limit=limit,
            )
        )
    if readings:
        raise MoneyError(_("Ambiguous: write %(reading)s (%(limit)s).", reading=readings[0], limit=limit))
    if places == 0:
        raise MoneyError(
            _(
                "Amounts have no decimal places here: write a whole amount, like %(example)s.",
                example=example_amount(locale, 0),
            )
        )
    raise MoneyError(_("Ambiguous: %(limit)s; write the amount without the extra digits.", limit=limit))


def _reading(written: str, value: Decimal, locale: str, currency: str | None) -> str:
    """One way to write an ambiguous amount, and what it then is: "1.000 for one thousand"."""
    return _("%(written)s for %(said)s", written=written, said=_said(value, locale, currency))


def _grouped_in_threes(whole: str, group: str) -> bool:
    """Whether the digits before the decimal separator could begin a number grouped by threes."""
    parts = whole.split(group) if group in whole else [whole]
    return 1 <= len(parts[0]) <= 3 and all(len(part) == 3 for part in parts[1:]) and all(p.isdigit() for p in parts)


_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))


def _said(value: Decimal, locale: str, currency: str | None) -> str:
    """A reading as a clerk says it: in English, a whole number in words ("one thousand"); another, or in another
    language, as the amount shown in the currency (``Rp1,50``)."""
    if value == value.to_integral_value() and value < 10**15 and language() == "en":
        return _words(int(value))
    return format_money(value, locale, currency) if currency else format_decimal(value, locale=locale)


def _words(n: int) -> str:
    for scale, name in _SCALES:
        if n >= scale:
            rest = n % scale
            joint = " and " if 0 < rest < 100 else " "
            return f"{_words(n // scale)} {name}" + (joint + _words(rest) if rest else "")
    if n >= 100:
        rest = n % 100
        return f"{_ONES[n // 100]} hundred" + (f" and {_words(rest)}" if rest else "")
    if n >= 20:
        return _TENS[n // 10] + (f"-{_ONES[n % 10]}" if n % 10 else "")
    return _ONES[n]


def round_money(value: Decimal, places: int = 2) -> Decimal:
    """Round to ``places`` (cents by default; an amount the system computes, to its currency's unit:
    :func:`unit_places`), half up: the one rounding rule for stored money."""
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def keep_unit(connection, places: int) -> None:
    """Have the database hold amounts in a unit of ``places`` decimal places (``currency_places_v1()``, which the money
    sources' ``ck_<table>_amount_in_unit`` read, migration ``0075``): as the database's owner."""
    connection.exec_driver_sql(
        "CREATE OR REPLACE FUNCTION currency_places_v1() RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE "
        f"AS 'SELECT {int(places)}'"
    )


def unit_places() -> int:
    """The decimal places of the installation's currency unit (``BACKOFFICE_CURRENCY_PLACES``), to which every amount
    the system computes is rounded where it is stored, and which no amount given to it may go beyond: none for the
    Vietnamese đồng, cents for the rupiah and the shilling."""
    return current_app.config["CURRENCY_PLACES"]


def format_money(value: Decimal | None, locale: str, currency: str) -> str:
    """Format an amount in the installation's currency, e.g. ``Rp9.300.000,00``: Babel's ``format_currency``, with
    the cents an amount holds beyond its currency's unit (never finer: no column holds more)."""
    if value is None:
        return ""
    if isinstance(value, Decimal) and value.is_finite() and value.as_tuple().exponent < -2:
        value = value.quantize(CENT, rounding=ROUND_HALF_EVEN)  # as Babel rounds
    return _formatter(locale, currency, None)(value)


def rate_text(rate: Decimal, locale: str | None = None) -> str:
    """A tax rate in per cent in the reader's notation (``locale``'s, given), with the places it has: ``11 %``,
    ``7,5 %``."""
    return format_number(rate, locale or number_locale(), "#,##0.##") + " %"


def format_number(value: Decimal | int, locale: str, pattern: str) -> str:
    """Format a number by a pattern such as ``#,##0.0000`` in the locale: Babel's ``format_decimal``."""
    return _formatter(locale, None, pattern)(value)


_SAMPLE = Decimal("1234567.25")
_SHAPE = re.compile(
    r"(?P<prefix>.*?)1(?P<group>\D+)234(?P=group)567(?:(?P<decimal>\D)(?P<fraction>\d+))?(?P<suffix>.*)", re.DOTALL
)
_PROBES = tuple(
    Decimal(text)
    for text in ("0", "-0.00", "0.005", "0.015", "-0.004", "7", "-12.5", "999.995", "1234.5", "-100000", "2.675")
) + (MAX_AMOUNT, -MAX_BALANCE)


@lru_cache(maxsize=64)
def _formatter(locale: str, currency: str | None, pattern: str | None) -> Callable[[Decimal | int], str]:
    """Babel's ``format_currency`` (or ``format_decimal`` by ``pattern``) for the locale, or the same text made by
    Python's own formatting where the number is written in groups of three (a list page shows hundreds of amounts,
    and Babel reads its pattern and the locale's symbols again for each). The shortcut's symbols, places and
    affixes are read off what Babel writes, and it is taken only where it writes what Babel writes for every
    probe."""
    if currency:
        # An amount stored with more places than its currency's unit (the cents of the đồng a reading was priced to
        # before migration 0051) is written with them, so that what a page shows adds up.
        babel = partial(format_currency, currency=currency, locale=locale, decimal_quantization=False)
    else:
        babel = partial(format_decimal, format=pattern, locale=locale)
    positive, negative = _SHAPE.fullmatch(babel(_SAMPLE)), _SHAPE.fullmatch(babel(-_SAMPLE))
    if positive is None or negative is None or positive.group("group", "decimal") != negative.group("group", "decimal"):
        return babel
    quantum = Decimal(1).scaleb(-len(positive["fraction"] or ""))
    separators = str.maketrans({",": positive["group"], ".": positive["decimal"] or "."})
    affixes = (positive.group("prefix", "suffix"), negative.group("prefix", "suffix"))

    def shortcut(value: Decimal | int) -> str:
        if not isinstance(value, Decimal) or not value.is_finite():
            return babel(value)
        prefix, suffix = affixes[value.is_signed()]
        # As Babel rounds: the absolute value, normalised, quantized in the default context (a currency's places at
        # least, and any more the value holds).
        shown = abs(value).normalize()
        places = quantum if not currency else min(quantum, Decimal(1).scaleb(min(0, shown.as_tuple().exponent)))
        return prefix + format(shown.quantize(places), ",f").translate(separators) + suffix

    return shortcut if all(shortcut(probe) == babel(probe) for probe in _PROBES) else babel


def shown(value: Decimal | None) -> str:
    """An amount as the installation shows it (its locale and currency): for messages and pages."""
    return format_money(value, number_locale(), current_app.config["CURRENCY"])


def format_plain(value: Decimal, locale: str, places: int = 2) -> str:
    """Format an amount for an input field: grouped, with ``places`` decimal places (its currency's), no currency
    symbol."""
    return format_decimal(value, format="#,##0" + ("." + "0" * places if places else ""), locale=locale)


@lru_cache(maxsize=64)
def example_amount(locale: str, places: int = 2) -> str:
    """How an amount with ``places`` decimal places is written in the locale (a field's placeholder, an error's
    hint): Babel's, kept."""
    return format_plain(Decimal("1234567.89").quantize(Decimal(1).scaleb(-places), rounding=ROUND_DOWN), locale, places)


@lru_cache(maxsize=64)
def symbols(locale: str) -> tuple[str, str]:
    """The locale's group and decimal symbols, looked up once (Babel parses the locale's name at every lookup)."""
    return get_group_symbol(locale), get_decimal_symbol(locale)


@lru_cache(maxsize=64)
def _currency_symbol(currency: str, locale: str) -> str:
    return get_currency_symbol(currency, locale)


@lru_cache(maxsize=64)
def _parsed(locale: str) -> Locale:
    return Locale.parse(locale)


def _looks_like_number(body: str, locale: str) -> bool:
    allowed = re.escape("".join(symbols(locale)))
    if _group_is_space(locale):
        allowed += " "
    return re.fullmatch(rf"[0-9][0-9{allowed}]*", body) is not None


def _normalise_spaces(body: str, locale: str) -> str:
    if _group_is_space(locale):
        return body.replace(" ", symbols(locale)[0])
    return body


def _group_is_space(locale: str) -> bool:
    return symbols(locale)[0].isspace()
