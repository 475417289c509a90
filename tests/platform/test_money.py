from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

import pytest
from babel.dates import format_datetime
from babel.numbers import format_currency, format_decimal
from hypothesis import given, settings
from hypothesis import strategies as st

from backoffice.platform.money import (
    MAX_BALANCE,
    MoneyError,
    check_amount,
    format_money,
    format_number,
    format_plain,
    parse_amount,
    round_money,
)
from backoffice.web.plumbing.filters import moment_text

ID = "id_ID"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10000000", Decimal("10000000.00")),
        ("10.000.000", Decimal("10000000.00")),
        ("1.234,5", Decimal("1234.50")),
        ("1,5", Decimal("1.50")),
        ("0", Decimal("0.00")),
        ("  9.300.000,00  ", Decimal("9300000.00")),
        ("9.999.999.999.999,99", Decimal("9999999999999.99")),
        ("1,0", Decimal("1.00")),
    ],
)
def test_parse_reads_the_locale_rules(text, expected):
    value = parse_amount(text, ID)
    assert value == expected
    assert value.as_tuple().exponent == -2


def test_parse_in_an_english_locale_reads_the_other_separators():
    assert parse_amount("1,234.5", "en_US") == Decimal("1234.50")
    with pytest.raises(MoneyError, match="separators"):
        parse_amount("1.234,5", "en_US")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Enter an amount"),
        ("   ", "Enter an amount"),
        (None, "Enter an amount"),
        ("abc", "Not an amount"),
        ("12abc", "Not an amount"),
        ("NaN", "Not an amount"),
        ("Infinity", "Not an amount"),
        ("1e9999", "Not an amount"),
        ("1E5", "Not an amount"),
        ("1_000", "Not an amount"),
        ("-5", "must not be negative"),
        ("-1.000,00", "must not be negative"),
        ("1,005", "at most 2 decimal places"),
        ("12345678901234", "too large"),
        ("10.000.000.000.000", "too large"),
        ("1,234.5", "separators"),
        ("1.5", "separators"),
        ("1.23.4", "separators"),
        ("Rp 5", "Not an amount"),
    ],
)
def test_parse_refuses_what_it_cannot_read_unambiguously(text, message):
    with pytest.raises(MoneyError, match=message):
        parse_amount(text, ID)


@pytest.mark.parametrize(
    ("text", "locale", "currency", "message"),
    [
        ("1,000", ID, "IDR", "Ambiguous: write 1.000 for one thousand or 1 for one (amounts have at most 2 decimal"),
        ("Rp1,000", ID, "IDR", "Ambiguous: write 1.000 for one thousand or 1 for one"),
        ("1,000", ID, None, "Ambiguous: write 1.000 for one thousand or 1 for one"),
        (
            "1,005",
            ID,
            "IDR",
            "Ambiguous: write 1.005 for one thousand and five (amounts have at most 2 decimal places)",
        ),
        ("1,500", ID, "IDR", "Ambiguous: write 1.500 for one thousand five hundred or 1,50 for Rp1,50"),
        ("2.001,250", ID, "IDR", "write 2.001.250 for two million one thousand two hundred and fifty or 2.001,25"),
        ("1,0000", ID, "IDR", "Ambiguous: write 1 for one"),
        ("0,000", ID, "IDR", "Ambiguous: write 0 for zero ("),
        ("1.000", "en_US", "USD", "Ambiguous: write 1,000 for one thousand or 1 for one"),
        ("1.5", "en_US", "JPY", "Amounts have no decimal places here: write a whole amount, like 1,234,567."),
    ],
)
def test_more_decimal_places_than_the_currency_has_is_ambiguous_whatever_the_value(text, locale, currency, message):
    with pytest.raises(MoneyError) as refused:
        parse_amount(text, locale, currency)
    assert message in str(refused.value)


@pytest.mark.parametrize("text", ["1234,5", "1.234,50", "0,5", "1.234,5 ₫"])
def test_a_dong_amount_typed_with_decimals_is_refused_saying_the_dong_has_none(text):
    with pytest.raises(MoneyError) as refused:
        parse_amount(text, "vi_VN", "VND")
    assert "no decimal places" in str(refused.value)


def test_a_refusal_shows_an_amount_written_with_the_currencys_decimal_places():
    with pytest.raises(MoneyError) as refused:
        parse_amount("1234.5", "vi_VN", "VND")
    assert str(refused.value).endswith("like 1.234.567.")
    with pytest.raises(MoneyError) as refused:
        parse_amount("1.234,50", "en_KE", "KES")
    assert str(refused.value).endswith("like 1,234,567.89.")


@pytest.mark.parametrize(
    ("locale", "currency", "amount"),
    [
        ("vi_VN", "VND", Decimal("1234567")),
        ("vi", "IDR", Decimal("1234567.5")),
        ("en_KE", "KES", Decimal("1234567.5")),
        ("id_ID", "IDR", Decimal("-1234567.5")),
    ],
)
def test_an_amount_is_read_as_the_app_writes_it_its_currency_before_or_after(locale, currency, amount):
    written = format_money(amount, locale, currency)
    if amount < 0:
        with pytest.raises(MoneyError, match="must not be negative"):
            parse_amount(written, locale, currency)
    else:
        assert parse_amount(written, locale, currency) == amount
        assert parse_amount(f"{written.replace(chr(160), ' ')} ", locale, currency) == amount


def test_a_field_writes_an_amount_with_its_currencys_decimal_places():
    assert format_plain(Decimal("1234567"), "vi_VN", 0) == "1.234.567"
    assert format_plain(Decimal("1234567.5"), "en_KE") == "1,234,567.50"
    assert parse_amount(format_plain(Decimal("1234567"), "vi_VN", 0), "vi_VN", "VND") == Decimal("1234567")


def test_places_within_the_currency_are_read_as_typed():
    assert parse_amount("1,25", ID, "IDR") == Decimal("1.25")
    assert parse_amount("1,000", "en_US", "USD") == Decimal("1000.00")
    assert parse_amount("1,000", "en_US", "JPY") == Decimal("1000.00")


def test_check_amount_refuses_floats():
    with pytest.raises(MoneyError, match="Decimal"):
        check_amount(0.1)  # type: ignore[arg-type]


def test_round_money_is_half_up():
    assert round_money(Decimal("0.005")) == Decimal("0.01")
    assert round_money(Decimal("2.345")) == Decimal("2.35")
    assert round_money(Decimal("-2.345")) == Decimal("-2.35")


def test_format_uses_the_currency_and_locale():
    assert format_money(Decimal("9300000"), ID, "IDR") == "Rp9.300.000,00"
    assert format_money(Decimal("46000000.5"), "en_US", "USD") == "$46,000,000.50"
    assert format_plain(Decimal("1234567.8"), ID) == "1.234.567,80"


LOCALES = ("id_ID", "en_US", "de_DE", "fr_FR", "de_CH", "nl_NL", "sv_SE", "ar_EG", "fa_IR", "hi_IN", "en_IN")
CURRENCIES = ("IDR", "USD", "EUR", "JPY", "CHF")


@settings(max_examples=400, deadline=None)
@given(
    st.decimals(allow_nan=False, allow_infinity=True)
    | st.decimals(min_value=-MAX_BALANCE, max_value=MAX_BALANCE, places=2),
    st.sampled_from(LOCALES),
    st.sampled_from(CURRENCIES),
)
def test_format_writes_what_babel_writes(value, locale, currency):
    """Amounts are formatted without Babel where its pattern allows, and the text is Babel's to the character:
    groups of three or of two, symbols before or after, signs inside or outside, rounding, a negative zero, an
    amount beyond Decimal's precision, infinity; with the cents an amount holds beyond its currency's unit (a
    reading of đồng priced to cents), never finer."""
    assert _outcome(format_money, value, locale, currency) == _outcome(_babel_to_cents, value, currency, locale)


def _babel_to_cents(value: Decimal, currency: str, locale: str) -> str:
    """Babel's text of the amount with all its places, rounded as Babel rounds to cents when it has more (no column
    holds more)."""
    if value.is_finite() and value.as_tuple().exponent < -2:
        value = value.quantize(Decimal("0.01"))
    return format_currency(value, currency, locale=locale, decimal_quantization=False)


@settings(max_examples=400, deadline=None)
@given(
    st.decimals(allow_nan=False, allow_infinity=True) | st.integers(min_value=-(10**20), max_value=10**20),
    st.sampled_from(LOCALES),
    st.sampled_from(("#,##0", "#,##0.", "#,##0.0", "#,##0.00", "#,##0.0000")),
)
def test_numbers_are_written_as_babel_writes_them(value, locale, pattern):
    """Volumes, factors and percentages alike: the locale's symbols, the pattern's places, Babel's rounding."""
    assert _outcome(format_number, value, locale, pattern) == _outcome(
        format_decimal, value, format=pattern, locale=locale
    )


def _outcome(write, /, *args, **kwargs) -> str | type[Exception]:
    """The text, or the error: an amount of more digits than Decimal's precision is refused by both alike."""
    try:
        return write(*args, **kwargs)
    except InvalidOperation as error:
        return type(error)


def test_formatted_plain_amounts_parse_back():
    for value in (Decimal("0.00"), Decimal("1.05"), Decimal("9999999999999.99")):
        assert parse_amount(format_plain(value, ID), ID) == value


@settings(max_examples=400, deadline=None)
@given(
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2037, 1, 1), timezones=st.just(UTC)),
    st.sampled_from(("id_ID", "en_ID", "vi", "en_US", "de_DE", "ar_EG", "fa_IR", "ja_JP")),
    st.sampled_from(("Asia/Jakarta", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "UTC")),
)
def test_moments_are_written_as_babel_writes_them(moment, locale, zone):
    """A moment in the installation's time zone, from the locale's patterns read once, is Babel's
    ``format_datetime(…, "medium")`` to the character, daylight saving's changes included (until 2037: past it,
    Babel reads a zone named by text through pytz, whose rules end there, where the zone's own rules go on)."""
    assert moment_text(moment, locale, zone) == format_datetime(moment, "medium", tzinfo=zone, locale=locale)
