"""The language a person reads: English, Bahasa Indonesia or Vietnamese, with Flask-Babel's catalogues.

A request is answered in the user's own choice, else the browser's ``Accept-Language``, else the installation's
``LANGUAGE``; a command speaks the installation's ``LANGUAGE``; anything else (the worker, the logs) is English.
Dates, months and numbers are written as the reader's language writes them, never the ISO way; amounts keep the
installation's currency.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_skeleton
from babel.numbers import format_decimal
from flask import Flask, current_app, has_request_context, request
from flask_babel import Babel, get_locale, get_translations
from flask_login import current_user
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup
from sqlalchemy.exc import SQLAlchemyError

LANGUAGES = ("en", "id", "vi")
LANGUAGE_NAMES = {"en": "English", "id": "Bahasa Indonesia", "vi": "Tiếng Việt"}
"""Each language in its own words, as the account page offers them."""

babel = Babel()


def init_app(app: Flask) -> None:
    app.config["BABEL_DEFAULT_LOCALE"] = "en"
    babel.init_app(app, locale_selector=_select_language)
    app.context_processor(_page_translations)
    app.jinja_env.install_gettext_callables(
        gettext=_page_gettext,
        ngettext=_page_counted_ngettext,
        pgettext=_page_pgettext,
        npgettext=_page_npgettext,
        newstyle=True,
    )
    # Jinja's new-style ngettext would write the count as Python does (1616): it is the page's own, unwrapped.
    app.jinja_env.globals["ngettext"] = _page_counted_ngettext


TRANSLATIONS = "page_translations"
"""The name under which a page's context holds the catalogue of its language, read once when it is rendered: a
text of a template is looked up through Flask's and Flask-Babel's context for each otherwise, and a page has
dozens. A template rendered without it (a macro imported without the page's context) asks Flask-Babel."""


def _page_translations() -> dict:
    return {TRANSLATIONS: get_translations()}


def _translations(context: Context):
    found = context.get(TRANSLATIONS)
    return found if found is not None else get_translations()


@pass_context
def _page_gettext(context: Context, string: str) -> str:
    return _translations(context).ugettext(string)


@pass_context
def _page_counted_ngettext(context: Context, singular: str, plural: str, num: int, **variables) -> str:
    """A template's ``ngettext`` and ``{% trans count=… %}…{% pluralize %}``, as Jinja's own, the count written as
    the reader writes a number (``1.616``): ``%(num)s`` and the block's counted variable."""
    text = _translations(context).ungettext(singular, plural, num)
    if context.eval_ctx.autoescape:
        text = Markup(text)
    shown = count_text(num)
    return text % {
        "num": shown,
        **{name: shown if type(value) is int and value == num else value for name, value in variables.items()},
    }


@pass_context
def _page_pgettext(context: Context, meaning: str, string: str) -> str:
    return _translations(context).upgettext(meaning, string)


@pass_context
def _page_npgettext(context: Context, meaning: str, singular: str, plural: str, count: int) -> str:
    return _translations(context).unpgettext(meaning, singular, plural, count)


def language() -> str:
    """The language of what is being said now: a request's, a command's (forced to the installation's), else
    ``en``."""
    return str(get_locale() or "en")


def number_locale() -> str:
    """The locale that writes and reads dates and numbers now: in a request, the language's in the installation's
    country; elsewhere (the commands, in whatever language they speak), the installation's own."""
    if not has_request_context():
        return current_app.config["LOCALE"]
    return formatting_locale(language(), current_app.config["LOCALE"])


@lru_cache(maxsize=32)
def formatting_locale(language: str, installation_locale: str) -> str:
    installation = Locale.parse(installation_locale)
    if installation.language == language:
        return installation_locale
    try:
        return str(Locale.parse(f"{language}_{installation.territory}"))
    except (ValueError, UnknownLocaleError):
        return str(Locale.parse(language))


def ngettext(singular: str, plural: str, num: int, **variables) -> str:
    """Flask-Babel's ``ngettext``, its count (``%(num)s``) written as the reader writes a number (``1.616``)."""
    return get_translations().ungettext(singular, plural, num) % {"num": count_text(num), **variables}


def count_text(count: int) -> str:
    """A count as the reader writes a number, grouped: ``1.616`` in Indonesian and Vietnamese."""
    return format_decimal(count, format="#,##0", locale=number_locale())


def spoken_locale() -> str:
    """The locale of the language spoken now in the installation's country (:func:`formatting_locale`): what writes
    a date or a month inside a sentence, in the sentence's language (the worker's English too)."""
    return formatting_locale(language(), current_app.config["LOCALE"])


def named_date(day: date) -> str:
    """A date inside a sentence, as the language spoken now writes it and the pages' lists show it: "26 Nov 2026",
    "26 thg 11, 2026"."""
    return day_text(day, "medium", spoken_locale())


def named_month(month) -> str:
    """A month (a ``Month``, or any day of it) inside a sentence, as the language spoken now names it: "November
    2026", "tháng 11 năm 2026"."""
    return month_text(month.year, month.month, spoken_locale())


@lru_cache(maxsize=4096)
def day_text(day: date, format: str, locale: str) -> str:
    """Babel's text of a day, kept: a list shows the same few days on every row, and Babel reads its locale data
    again for each."""
    return format_date(day, format=format, locale=locale)


@lru_cache(maxsize=1024)
def month_text(year: int, month: int, locale: str) -> str:
    """Babel's name of a month and its year (its ``yMMMM`` skeleton), kept as :func:`day_text` is."""
    return format_skeleton("yMMMM", date(year, month, 1), locale=locale)


def _select_language() -> str:
    if not has_request_context():
        return "en"
    try:
        chosen = getattr(current_user, "language", None) if current_user else None
    except SQLAlchemyError:  # the database is down: the error page still has a language
        chosen = None
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES) or current_app.config.get("LANGUAGE", "en")
