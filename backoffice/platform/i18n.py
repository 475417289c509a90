"""The language a person reads: English, Bahasa Indonesia or Vietnamese, with Flask-Babel's catalogues.

A request is answered in the user's own choice (``User.language``, on the account page), else the best of the
browser's ``Accept-Language`` among :data:`LANGUAGES`, else the installation's ``LANGUAGE``. A command speaks the
installation's ``LANGUAGE`` from its start to its end (``backoffice.cli.common.speaking`` forces it), and asks the web
server in it. Anything else said outside a request — the worker, what a job records, the logs — is English.

Dates, month names and numbers follow the language; amounts keep the installation's currency. The notation is the
language's in the installation's country where Babel knows that pair (English in Indonesia: ``Rp1.234,50``,
``5 Oct 2026``), else the language's own (Vietnamese: ``1.234,50 IDR``).
"""

from __future__ import annotations

from functools import lru_cache

from babel import Locale, UnknownLocaleError
from flask import Flask, current_app, has_request_context, request
from flask_babel import Babel, get_locale, get_translations
from flask_login import current_user
from jinja2 import pass_context
from jinja2.runtime import Context
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
        ngettext=_page_ngettext,
        pgettext=_page_pgettext,
        npgettext=_page_npgettext,
        newstyle=True,
    )


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
def _page_ngettext(context: Context, singular: str, plural: str, count: int) -> str:
    return _translations(context).ungettext(singular, plural, count)


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
