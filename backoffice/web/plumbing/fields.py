"""Form fields shared by every screen: amounts and months, parsed the one strict way; a select of many options."""

from __future__ import annotations

import re
from datetime import date, datetime

from babel.numbers import format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape
from wtforms import DateField, StringField
from wtforms.widgets import Select, TextInput

from backoffice.models.types import Month
from backoffice.platform.clock import local_today
from backoffice.platform.i18n import language, number_locale
from backoffice.platform.money import (
    ZERO,
    example_amount,
    format_plain,
    parse_number,
    read_amount,
    symbols,
    unit_places,
)


class MoneyField(StringField):
    """An amount in the installation's locale; ``data`` is a ``Decimal``, errors say how to write one.

    It is read as the app shows amounts too (``Rp1.000``, pasted from a page). An empty field shows how to write
    one (``zero_example``: shows zero, what a field left empty means); a field holding zero is selected when it is
    entered, so what is typed replaces it; its digits are grouped as they are typed, with the locale's symbols
    (``data-group``, ``data-decimal``), so that what is sent is what it shows (``static/app.js``).
    """

    def __init__(self, *args, zero_example: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.zero_example = zero_example

    def process_formdata(self, valuelist):
        self.data = None
        self.data = read_amount(valuelist[0] if valuelist else "")

    def __call__(self, **kwargs):
        given = {**(self.render_kw or {}), **kwargs}
        places = _places()
        example = (
            format_plain(ZERO, number_locale(), places)
            if self.zero_example
            else example_amount(number_locale(), places)
        )
        group, decimal = symbols(number_locale())
        defaults = {"placeholder": example, "inputmode": "decimal", "data-group": group, "data-decimal": decimal}
        return super().__call__(**{"data-amount": "", **defaults, **given})

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        if self.data is None:
            return ""
        return format_plain(self.data, number_locale(), _places())


class OptionalMoneyField(MoneyField):
    """A :class:`MoneyField` that may be left blank (``data`` is then ``None``)."""

    def process_formdata(self, valuelist):
        if not (valuelist and valuelist[0].strip()):
            self.data = None
            return
        super().process_formdata(valuelist)


class DecimalNumberField(StringField):
    """A decimal number in the installation's locale (a volume, a factor); ``check`` validates it."""

    def __init__(self, *args, check, **kwargs):
        super().__init__(*args, **kwargs)
        self.check = check

    def process_formdata(self, valuelist):
        self.data = None
        self.data = self.check(parse_number(valuelist[0] if valuelist else "", number_locale(), "number"))

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return "" if self.data is None else format_decimal(self.data, locale=number_locale())


class OptionalDecimalNumberField(DecimalNumberField):
    """A :class:`DecimalNumberField` that may be left blank (``data`` is then ``None``)."""

    def process_formdata(self, valuelist):
        if not (valuelist and valuelist[0].strip()):
            self.data = None
            return
        super().process_formdata(valuelist)


DAY_FIRST = {"id": _l("dd/mm/yyyy"), "vi": _l("dd/mm/yyyy")}
"""The languages that write a day before its month and year, and how they name that form; any other writes the ISO
form, which every language also reads."""
ISO = re.compile(r"\d{4}-\d{1,2}-\d{1,2}")
DAY_MONTH_YEAR = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})")


def date_form() -> str:
    """How the reader writes a date, as a field's placeholder and its message say it."""
    return str(DAY_FIRST.get(language(), "YYYY-MM-DD"))


def written_date(day: date) -> str:
    """A date as the reader writes it in a field."""
    return day.strftime("%d/%m/%Y") if language() in DAY_FIRST else day.isoformat()


def read_date(text: str) -> date:
    """A date as the reader writes it (``dd/mm/yyyy`` in Indonesian and Vietnamese, with ``/``, ``.`` or ``-``), or
    in the ISO form, which is always read; ``ValueError`` with the message that says how to write one."""
    text = text.strip()
    try:
        if ISO.fullmatch(text):
            return datetime.strptime(text, "%Y-%m-%d").date()
        if language() in DAY_FIRST and (parts := DAY_MONTH_YEAR.fullmatch(text)):
            day, month, year = map(int, parts.groups())
            return date(year, month, day)
    except ValueError:
        pass
    raise ValueError(
        _(
            "Not a valid date. Write the date as %(form)s, e.g. %(example)s.",
            form=date_form(),
            example=written_date(local_today()),
        )
    )


class LocalDateField(DateField):
    """A date typed as its reader writes it (:func:`read_date`), in a text field that shows it so: a date that cannot
    be read is the field's error, never sent empty as a browser's date input sends it (and never taken for today)."""

    widget = TextInput()

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        self.data = None
        self.data = read_date(valuelist[0])

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return written_date(self.data) if isinstance(self.data, date) else ""

    def __call__(self, **kwargs):
        given = {**(self.render_kw or {}), **kwargs}
        return super().__call__(**{"placeholder": date_form(), "inputmode": "numeric", "autocomplete": "off", **given})


class MonthField(StringField):
    """A month as ``YYYY-MM`` (what ``<input type="month">`` sends); ``data`` is its first day."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("render_kw", {"type": "month", "placeholder": "YYYY-MM"})
        super().__init__(*args, **kwargs)

    def process_formdata(self, valuelist):
        text = (valuelist[0] if valuelist else "").strip()
        if not text:
            self.data = None
            return
        self.data = None
        self.data = Month.parse(text).first_day

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return str(Month.of(self.data)) if isinstance(self.data, date) else ""


def error_under_field(form, error, *, dated: str, default: str) -> None:
    """Show a refused write's message under the form field it is about.

    ``error.field`` names what the message concerns: ``"date"`` is the form's ``dated`` field, another name a
    field of that name; a message about anything else (or a field this form lacks) sits under ``default``.
    """
    about = getattr(error, "field", None)
    name = dated if about == "date" else about if about in form else default
    form[name].errors.append(str(error))


class QuickSelect(Select):
    """WTForms' select, each plain option written directly: the HTML is WTForms' own, without building and sorting
    its attributes for each of a list's fifty managers (a filter form's select cost what the page's frame costs)."""

    @classmethod
    def render_option(cls, choice, **kwargs):
        if kwargs or choice.render_kw:
            return super().render_option(choice, **kwargs)
        value = str(choice.value) if isinstance(choice.value, bool) else choice.value
        selected = "selected " if choice.selected else ""
        return Markup(f'<option {selected}value="{escape(value)}">{escape(choice.label or choice.value)}</option>')


def _places() -> int:
    """The decimal places of the installation's currency: none for the Vietnamese đồng."""
    return unit_places()
