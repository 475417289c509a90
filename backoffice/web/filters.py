"""Template filters and globals: money in the installation's currency, dates and numbers in the page's language."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from flask import Flask, current_app
from flask_babel import gettext as _

from backoffice.i18n import language, number_locale
from backoffice.models.types import as_utc
from backoffice.money import format_number, shown
from backoffice.web.words import word


def init_app(app: Flask) -> None:
    from backoffice.reconcile.report import scope_text
    from backoffice.reconcile.wording import field_label

    app.add_template_filter(money)
    app.add_template_filter(local_date)
    app.add_template_filter(local_datetime)
    app.add_template_filter(scope_text)
    app.add_template_filter(number)
    app.add_template_filter(check_label)
    app.add_template_filter(field_label)
    app.add_template_filter(figure)
    app.add_template_filter(percent)
    app.add_template_filter(word)
    app.add_template_global(language, "page_language")
    app.add_template_global(role_name)


def money(value: Decimal | str | None) -> str:
    """Format an amount; a decimal string (as kept in JSON columns) is read exactly."""
    if value is None or value == "":
        return ""
    return shown(Decimal(value) if isinstance(value, str) else value)


def number(value: Decimal | None, places: int = 4) -> str:
    """A volume or a factor in the locale's notation, with all its places (``124,1784``)."""
    if value is None:
        return ""
    return format_number(value, number_locale(), "#,##0." + "0" * places)


def count(value: int) -> str:
    """A count in the locale's notation, grouped (``12.345``)."""
    return format_number(value, number_locale(), "#,##0")


def local_date(value, format: str = "medium") -> str:
    """A date, or the day of a moment in the installation's time zone (not the UTC day)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = as_utc(value).astimezone(ZoneInfo(current_app.config["TIMEZONE"])).date()
    return _day_text(value, format, number_locale())


@lru_cache(maxsize=4096)
def _day_text(day: date, format: str, locale: str) -> str:
    """Babel's text of a day, kept: a list shows the same few days on every row, and Babel reads its locale data
    again for each."""
    return format_date(day, format=format, locale=locale)


def local_datetime(value: datetime | None) -> str:
    if value is None:
        return ""
    return format_datetime(
        as_utc(value), format="medium", tzinfo=current_app.config["TIMEZONE"], locale=number_locale()
    )


def figure(value: Decimal | str | None, check: str, field: str) -> str:
    """A checked field's value as what it is: an amount, or a volume or factor as a number (never in Rupiah)."""
    from backoffice.reconcile import scale_of

    if value is None or value == "":
        return ""
    scale = scale_of(check, field)
    return money(value) if scale == 2 else number(Decimal(value), scale)


def percent(value: Decimal | int | None, places: int = 1) -> str:
    """A percentage in the locale's notation: ``75,2 %``."""
    if value is None:
        return ""
    pattern = "#,##0" + ("." + "0" * places if places else "")
    return format_number(value, number_locale(), pattern) + " %"


def check_label(name: str) -> str:
    """A check's name as a clerk reads it ("Order grand totals")."""
    from backoffice.reconcile import label

    return label(name)


def role_name(role) -> str:
    """A user's role as the page's language names it."""
    names = {"admin": _("admin"), "finance": _("finance")}
    value = getattr(role, "value", role)
    return names.get(value, value)
