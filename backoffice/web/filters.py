"""Template filters and globals: money and dates in the installation's locale."""

from __future__ import annotations

from decimal import Decimal

from babel.dates import format_date
from flask import Flask, current_app

from backoffice.money import format_money


def init_app(app: Flask) -> None:
    app.add_template_filter(money)
    app.add_template_filter(local_date)


def money(value: Decimal | None) -> str:
    return format_money(value, current_app.config["LOCALE"], current_app.config["CURRENCY"])


def local_date(value, format: str = "medium") -> str:
    if value is None:
        return ""
    return format_date(value, format=format, locale=current_app.config["LOCALE"])
