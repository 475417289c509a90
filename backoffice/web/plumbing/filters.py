"""Template filters and globals: money in the installation's currency, dates and numbers in the page's language.

A page reads its notation (the locale that writes its numbers and dates, the currency, the time zone) once, when it
is rendered, and each amount, number, date and word on it is written in it: the page's language is a lookup through
Flask's and Flask-Babel's context for each cell otherwise, and a list writes hundreds of cells.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import (
    DateTimePattern,
    format_time,
    get_datetime_format,
    get_time_format,
    parse_pattern,
)
from flask import Flask, current_app
from flask_babel import gettext as _
from jinja2 import pass_context
from jinja2.runtime import Context

from backoffice.models.types import Month, as_utc
from backoffice.platform.i18n import day_text, language, month_text, number_locale
from backoffice.platform.money import format_money, format_number, rate_text, shown
from backoffice.platform.words import words
from backoffice.services.descriptions import account_label, account_name, kind_names, movement_words
from backoffice.web.plumbing.links import link, query_link


def init_app(app: Flask) -> None:
    from backoffice.reconcile.report import scope_text
    from backoffice.reconcile.wording import field_label, fields_said

    app.context_processor(_page_notation)
    # A value that is not there is written as nothing, never as "None": a column a record leaves empty (an exempt
    # customer's tax number) reads blank wherever a page or a document prints it.
    app.jinja_env.finalize = _nothing_for_none
    app.add_template_filter(_page_money, "money")
    app.add_template_filter(_page_date, "local_date")
    app.add_template_filter(_page_datetime, "local_datetime")
    app.add_template_filter(scope_text)
    app.add_template_filter(number)
    app.add_template_filter(check_label)
    app.add_template_filter(field_label)
    app.add_template_filter(fields_said)
    app.add_template_filter(figure)
    app.add_template_filter(percent)
    app.add_template_filter(rate_percent)
    app.add_template_filter(quantity)
    app.add_template_filter(seconds)
    app.add_template_filter(month_heading)
    app.add_template_filter(_page_month, "month")
    app.add_template_filter(_page_word, "word")
    app.add_template_filter(person)
    app.add_template_filter(_page_movement_words, "movement_words")
    app.add_template_filter(account_name_of, "account_name")
    app.add_template_filter(account_label_of, "account_label")
    app.add_template_global(language, "page_language")
    app.add_template_global(role_name)
    app.add_template_global(link)
    app.add_template_global(query_link)


@dataclass(frozen=True)
class Notation:
    """How a page writes amounts, numbers, dates and words: read once for the page."""

    language: str
    locale: str
    currency: str
    timezone: str


NOTATION = "page_notation"
"""The name under which a page's context holds its :class:`Notation`."""


def _page_notation() -> dict:
    config = current_app.config
    return {NOTATION: _notation(language(), number_locale(), config["CURRENCY"], config["TIMEZONE"])}


@lru_cache(maxsize=64)
def _notation(language: str, locale: str, currency: str, timezone: str) -> Notation:
    return Notation(language, locale, currency, timezone)


def _of(context: Context) -> Notation:
    """The page's notation; a macro imported without the page's context reads it as the page would."""
    found = context.get(NOTATION)
    return found if found is not None else _page_notation()[NOTATION]


def money(value: Decimal | str | None) -> str:
    """Format an amount; a decimal string (as kept in JSON columns) is read exactly."""
    if value is None or value == "":
        return ""
    return shown(Decimal(value) if isinstance(value, str) else value)


@pass_context
def _page_money(context: Context, value: Decimal | str | None) -> str:
    """:func:`money` in the page's notation."""
    if value is None or value == "":
        return ""
    notation = _of(context)
    return format_money(Decimal(value) if isinstance(value, str) else value, notation.locale, notation.currency)


@pass_context
def number(context: Context, value: Decimal | None, places: int = 4) -> str:
    """A volume or a factor in the page's notation, with all its places (``124,1784``)."""
    if value is None:
        return ""
    return format_number(value, _of(context).locale, "#,##0." + "0" * places)


@pass_context
def quantity(context: Context, value: Decimal | None) -> str:
    """A quantity or a unit price as written, in the page's notation, with the places it needs (``1.438,5``)."""
    if value is None:
        return ""
    return format_number(value, _of(context).locale, "#,##0.######")


def _nothing_for_none(value):
    return "" if value is None else value


@pass_context
def rate_percent(context: Context, value: Decimal | None) -> str:
    """A tax rate in per cent in the page's notation, with the places it has: ``11 %``, ``7,5 %``."""
    if value is None:
        return ""
    return rate_text(value, _of(context).locale)


@pass_context
def percent(context: Context, value: Decimal | int | None, places: int = 1) -> str:
    """A percentage in the page's notation: ``75,2 %``."""
    if value is None:
        return ""
    pattern = "#,##0" + ("." + "0" * places if places else "")
    return format_number(value, _of(context).locale, pattern) + " %"


@pass_context
def seconds(context: Context, value: float | None, places: int = 1) -> str:  # float-ok: a duration
    """A duration's seconds in the page's notation, to ``places`` decimals: ``0,3`` (the page writes the unit)."""
    if value is None:
        return ""
    return format_number(Decimal(f"{value:.{places}f}"), _of(context).locale, "#,##0." + "0" * places)


@pass_context
def figure(context: Context, value: Decimal | str | None, check: str, field: str, summed: bool = False) -> str:
    """A checked field's value as what it is: an amount, a volume or factor as a number, a count as a whole number
    (never in Rupiah), a state in words ("sealed"); ``summed``: a difference or a total, for a state a count."""
    from backoffice.reconcile import scale_of
    from backoffice.reconcile.wording import state_word

    if value is None or value == "":
        return ""
    said = None if summed else state_word(check, Decimal(value))
    if said is not None:
        return said
    scale = scale_of(check, field)
    return _page_money(context, value) if scale == 2 else number(context, Decimal(value), scale)


def local_date(value, format: str = "medium") -> str:
    """A date, or the day of a moment in the installation's time zone (not the UTC day); a date kept as ISO text (as
    JSON columns keep them) is read."""
    return _date_text(value, format, number_locale(), current_app.config["TIMEZONE"])


@pass_context
def _page_date(context: Context, value, format: str = "medium") -> str:
    """:func:`local_date` in the page's notation."""
    notation = _of(context)
    return _date_text(value, format, notation.locale, notation.timezone)


def _date_text(value, format: str, locale: str, timezone: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        value = date.fromisoformat(value)
    if isinstance(value, datetime):
        value = as_utc(value).astimezone(ZoneInfo(timezone)).date()
    return day_text(value, format, locale)


@pass_context
def month_heading(context: Context, month: Month | date | str | None) -> str:
    """A month as :func:`_page_month` names it, capitalised as a heading or a table's cell begins: "November 2026",
    "Tháng 11 năm 2026"."""
    text = _page_month(context, month)
    return text[:1].upper() + text[1:]


@pass_context
def _page_month(context: Context, month: Month | date | str | None) -> str:
    """A month (a ``Month``, any day of it, or ``YYYY-MM``) as a sentence of the page names it: "November 2026",
    "tháng 11 năm 2026" (:func:`backoffice.platform.i18n.named_month`); a text that is no month, as it is."""
    if not month:
        return ""
    if isinstance(month, str):
        try:
            month = Month.parse(month)
        except ValueError:
            return month
    return month_text(month.year, month.month, _of(context).locale)


def local_datetime(value: datetime | None) -> str:
    """A moment in the installation's time zone, as Babel's ``format_datetime(…, "medium")`` writes it."""
    if value is None:
        return ""
    return moment_text(value, number_locale(), current_app.config["TIMEZONE"])


@pass_context
def _page_datetime(context: Context, value: datetime | None) -> str:
    """:func:`local_datetime` in the page's notation."""
    if value is None:
        return ""
    notation = _of(context)
    return moment_text(value, notation.locale, notation.timezone)


def moment_text(value: datetime, locale: str, timezone: str) -> str:
    """A moment in the time zone, as Babel's ``format_datetime(…, "medium")`` writes it: Babel's medium date and
    time joined by the locale's medium pattern, its patterns read once per locale (Babel reads the locale's data
    again for each moment otherwise)."""
    local = as_utc(value).astimezone(ZoneInfo(timezone))
    babel_locale, joined, time_pattern = _moment_patterns(locale, "medium")
    time_text = format_time(local, time_pattern, locale=babel_locale)
    return joined.replace("{0}", time_text).replace("{1}", day_text(local.date(), "medium", locale))


@lru_cache(maxsize=32)
def _moment_patterns(locale: str, format: str) -> tuple[Locale, str, DateTimePattern]:
    """The locale, its pattern of that length joining a date (``{1}``) and a time (``{0}``), and its time pattern of
    that length, parsed."""
    babel_locale = Locale.parse(locale)
    joined = get_datetime_format(format, locale=babel_locale).replace("'", "")
    return babel_locale, joined, parse_pattern(get_time_format(format, locale=babel_locale))


@pass_context
def _page_word(context: Context, value) -> str:
    """:func:`backoffice.platform.words.word` in the page's language."""
    code = getattr(value, "value", value)
    return words(_of(context).language).get(code, str(code))


@pass_context
def _page_movement_words(context: Context, row) -> str:
    """:func:`~backoffice.services.descriptions.movement_words` in the page's language."""
    return movement_words(row, kind_names(_of(context).language))


def check_label(name: str) -> str:
    """A check's name as a clerk reads it ("Order grand totals")."""
    from backoffice.reconcile import label

    return label(name)


def person(user) -> str:
    """A user as every page names a person: by name, else by email (nobody: empty)."""
    return (user.name or user.email) if user is not None else ""


def role_name(role) -> str:
    """A user's role as the page's language names it."""
    names = {"admin": _("admin"), "finance": _("finance")}
    value = getattr(role, "value", role)
    return names.get(value, value)


def account_name_of(account) -> str:
    """An account's name in the page's language (:func:`backoffice.services.descriptions.account_name`)."""
    return account_name(account.code, account.name)


def account_label_of(account) -> str:
    """``1000 Cash``, the name in the page's language."""
    return account_label(account.code, account.name)
