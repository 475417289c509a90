"""Edit forms that change a row in place carry the row's version and the values they showed.

A save over a version someone else saved since is refused (the service raises
``ChangedMeanwhile``); the form is shown again with what they changed, read from the row
as it is now and compared with what the form showed when it was loaded.
"""

from __future__ import annotations

import json

from flask import flash, redirect
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response
from wtforms import HiddenField, IntegerField, SelectField
from wtforms.validators import Optional
from wtforms.widgets import HiddenInput

from backoffice.platform.extensions import db
from backoffice.web.plumbing.fields import LocalDateField, MoneyField
from backoffice.web.plumbing.filters import local_date, money


class VersionField(IntegerField):
    """The row's version when the form was loaded; the database moves it, the form never writes it."""

    widget = HiddenInput()

    def process_formdata(self, valuelist) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(
                _("This form came back damaged; nothing was saved. Reload it and make the change again.")
            ) from None

    def populate_obj(self, obj, name) -> None:
        pass


DELETED = {
    "account manager": _l("This account manager was deleted by someone else since you opened it; nothing was saved."),
    "customer": _l("This customer was deleted by someone else since you opened it; nothing was saved."),
    "invoice": _l("This invoice was deleted by someone else since you opened it; nothing was saved."),
    "issuer": _l("The issuer was deleted by someone else since you opened it; nothing was saved."),
    "order": _l("This order was deleted by someone else since you opened it; nothing was saved."),
    "payment": _l("This payment was deleted by someone else since you opened it; nothing was saved."),
    "pricing row": _l("This pricing row was deleted by someone else since you opened it; nothing was saved."),
    "reading": _l("This reading was deleted by someone else since you opened it; nothing was saved."),
    "target": _l("This target was deleted by someone else since you opened it; nothing was saved."),
    "user": _l("This user was deleted by someone else since you opened it; nothing was saved."),
}
"""Per kind of row an edit form changes, what its form says when the row was deleted meanwhile."""

CHANGED = {
    "account manager": _l("This account manager was changed by someone else since you opened it%(changes)s."),
    "customer": _l("This customer was changed by someone else since you opened it%(changes)s."),
    "invoice": _l("This invoice was changed by someone else since you opened it%(changes)s."),
    "issuer": _l("The issuer was changed by someone else since you opened it%(changes)s."),
    "order": _l("This order was changed by someone else since you opened it%(changes)s."),
    "payment": _l("This payment was changed by someone else since you opened it%(changes)s."),
    "pricing row": _l("This pricing row was changed by someone else since you opened it%(changes)s."),
    "reading": _l("This reading was changed by someone else since you opened it%(changes)s."),
    "target": _l("This target was changed by someone else since you opened it%(changes)s."),
    "user": _l("This user was changed by someone else since you opened it%(changes)s."),
}
"""Per kind of row, what its form says when the row was changed meanwhile; ``changes``: ": price is now …", or
nothing when no field it shows changed."""


class ShownField(HiddenField):
    """The values the form showed when it was loaded (JSON), to name what changed since."""

    def populate_obj(self, obj, name) -> None:
        pass


class Versioned:
    """Mixed into an edit form, before its form class: ``version`` and ``shown`` travel with it, hidden."""

    version = VersionField(validators=[Optional()])
    shown = ShownField()
    changed: str | None = None
    """Why the last save was refused, when someone else had saved the row since the form was loaded."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_submitted():
            self.shown.data = json.dumps({field.short_name: _text(field) for field in _edited(self)})


def refused_edit(form: Versioned, model, row_id: int, what: str, *, gone_to: str) -> Response | None:
    """Say on ``form`` why saving the ``model`` row ``row_id`` was refused (see :func:`changed_meanwhile`).

    A row deleted meanwhile has no form to show again: the answer is then a redirect to ``gone_to``,
    with the message flashed.
    """
    current = db.session.get(model, row_id, populate_existing=True)
    changed_meanwhile(form, current, what)
    if current is None:
        flash(form.changed, "error")
        return redirect(gone_to)
    return None


def changed_meanwhile(form: Versioned, current, what: str) -> str:
    """Say on ``form`` why saving it was refused: what someone else changed in ``current`` (the row now,
    ``None`` when deleted) since the form was loaded. ``what`` names the row: "order", "pricing row" (a key of
    :data:`CHANGED`)."""
    form.changed = _why(form, current, what)
    return form.changed


def _why(form: Versioned, current, what: str) -> str:
    if current is None:
        return str(DELETED[what])
    now = type(form)(formdata=None, obj=current, prefix=form._prefix)
    if hasattr(now, "load_choices"):
        now.load_choices()
    try:
        shown = json.loads(form.shown.data or "{}")
    except ValueError:
        shown = {}
    changes = ", ".join(
        _("%(field)s is now %(value)s", field=_label(field), value=_display(field))
        for field in _edited(now)
        if field.short_name in shown and shown[field.short_name] != _text(field)
    )
    changed = str(CHANGED[what]) % {"changes": ": " + changes if changes else ""}
    return changed + " " + _("Reload to see the current values; nothing was saved.")


def _edited(form):
    return [field for field in form if field.type not in ("CSRFTokenField", "VersionField", "ShownField")]


def _text(field) -> str:
    if hasattr(field, "_value"):
        return field._value()
    return "" if field.data is None else str(field.data)


def _label(field) -> str:
    text = field.label.text
    return text[:1].lower() + text[1:]


def _display(field) -> str:
    if isinstance(field, MoneyField):
        return money(field.data)
    if isinstance(field, LocalDateField):
        return local_date(field.data)
    if isinstance(field, SelectField):
        return next((choice.label for choice in field.iter_choices() if choice.selected), _text(field))
    return _text(field)
