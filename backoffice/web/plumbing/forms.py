"""The forms' base: what WTForms and Flask-WTF say themselves ("This field is required.", "Not a valid choice.",
"Field cannot be longer than 40 characters.") in the page's language, as every text of ours.

WTForms asks each form's translations for the messages it makes. It ships none in Indonesian or Vietnamese, so
the forms here ask the application's catalogue, into which ``make translations`` extracts them from
:data:`WTFORMS_MESSAGES` and :data:`CSRF_MESSAGES` (their English wording, as WTForms and Flask-WTF write them).
"""

from __future__ import annotations

import flask_wtf
import wtforms
from flask_babel import get_translations, lazy_ngettext
from flask_babel import lazy_gettext as _l


class _Catalogue:
    """WTForms' translations interface, answered from the catalogue of the page's language."""

    def gettext(self, string: str) -> str:
        return get_translations().ugettext(string)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return get_translations().ungettext(singular, plural, n)


CATALOGUE = _Catalogue()


class _TranslatedMeta:
    def get_translations(self, form) -> _Catalogue:
        return CATALOGUE


class FlaskForm(flask_wtf.FlaskForm):
    """Flask-WTF's form (CSRF, request data), its built-in messages in the page's language."""

    class Meta(_TranslatedMeta):
        pass


class SubForm(wtforms.Form):
    """A form nested in another (``FormField``), its built-in messages in the page's language too."""

    class Meta(_TranslatedMeta):
        pass


WTFORMS_MESSAGES = (
    _l("Invalid field name '%s'."),
    _l("Field must be equal to %(other_name)s."),
    lazy_ngettext(
        "Field must be at least %(min)d character long.", "Field must be at least %(min)d characters long.", 1
    ),
    lazy_ngettext(
        "Field cannot be longer than %(max)d character.", "Field cannot be longer than %(max)d characters.", 1
    ),
    lazy_ngettext("Field must be exactly %(max)d character long.", "Field must be exactly %(max)d characters long.", 1),
    _l("Field must be between %(min)d and %(max)d characters long."),
    _l("Number must be at least %(min)s."),
    _l("Number must be at most %(max)s."),
    _l("Number must be between %(min)s and %(max)s."),
    _l("Date must be at least %(min)s."),
    _l("Date must be at most %(max)s."),
    _l("Date must be between %(min)s and %(max)s."),
    _l("This field is required."),
    _l("Invalid input."),
    _l("Invalid email address."),
    _l("Invalid IP address."),
    _l("Invalid Mac address."),
    _l("Invalid URL."),
    _l("Invalid UUID."),
    _l("Invalid value, must be one of: %(values)s."),
    _l("Invalid value, can't be any of: %(values)s."),
    _l("This field cannot be edited."),
    _l("This field is disabled and cannot have a value."),
    _l("Invalid CSRF Token."),
    _l("CSRF token missing."),
    _l("CSRF failed."),
    _l("CSRF token expired."),
    _l("Invalid Choice: could not coerce."),
    _l("Choices cannot be None."),
    _l("Not a valid choice."),
    _l("Invalid choice(s): one or more data inputs could not be coerced."),
    lazy_ngettext(
        "'%(value)s' is not a valid choice for this field.", "'%(value)s' are not valid choices for this field.", 1
    ),
    _l("Not a valid datetime value."),
    _l("Not a valid date value."),
    _l("Not a valid time value."),
    _l("Not a valid week value."),
    _l("Not a valid integer value."),
    _l("Not a valid decimal value."),
    _l("Not a valid float value."),
)
"""Every message WTForms makes (its ``wtforms.pot``), as it words them: the catalogue's entries for them."""

CSRF_MESSAGES = (
    _l("The CSRF token is missing."),
    _l("The CSRF session token is missing."),
    _l("The CSRF token has expired."),
    _l("The CSRF token is invalid."),
    _l("The CSRF tokens do not match."),
)
"""Why Flask-WTF refuses a request's CSRF token, as it words it (the API answers it in the request's language)."""


def errors_text(*fields) -> str:
    """What these fields (or every field of a form given whole) say is wrong, as one text: a message given lazily
    (``_l``) is said in the page's language."""
    if len(fields) == 1 and isinstance(fields[0], wtforms.Form):
        fields = tuple(fields[0])
    return " ".join(str(error) for field in fields for error in field.errors)
