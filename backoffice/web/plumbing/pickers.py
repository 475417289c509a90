"""Pickers: a form field that chooses a customer, a meter or an account manager by typing, never a ``<select>`` of
every row.

The field holds the record's key (a customer's code, a meter's serial, a manager's email). As the clerk types, the
search suggests records (``static/search.js``), and what is chosen is named beside the field. The server reads the key
back and refuses, in the reader's language, a key that names no record the field may choose.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape
from sqlalchemy import exists, select
from wtforms import StringField
from wtforms.validators import StopValidation
from wtforms.widgets import html_params

from backoffice.models import AccountManager, Customer, Meter, MeterAssignment
from backoffice.models.users import normal_email
from backoffice.platform.extensions import db
from backoffice.services import search
from backoffice.web.plumbing.choices import manager_label

SUGGESTED = 8
"""Suggestions under a picker, at most."""
NOBODY = "none"
"""The key of a picker's choice of nobody (the route sheet's customers without an account manager): no email."""


@dataclass(frozen=True)
class Suggestion:
    """One suggestion: the key it puts in the field, what the list shows, what is then named beside the field, and
    what else the page may fill from it (``data-…`` attributes)."""

    key: str
    shown: str
    chosen: str
    data: dict[str, Any] = field(default_factory=dict)


class PickerInput:
    """The picker's input, its list of suggestions and the name of what is chosen."""

    def __call__(self, field: PickerField, **kwargs) -> Markup:
        listbox, chosen = f"{field.id}-options", f"{field.id}-chosen"
        attributes = {
            "id": field.id,
            "name": field.name,
            "type": "text",
            "value": field._value(),
            "autocomplete": "off",
            "spellcheck": "false",
            "placeholder": field.kind.placeholder,
            "role": "combobox",
            "aria-autocomplete": "list",
            "aria-expanded": "false",
            "aria-controls": listbox,
            "aria-describedby": chosen,
            "data-picker": field.kind.name,
            "hx-get": field.suggestions_url(),
            "hx-trigger": "input changed delay:200ms, focus",
            "hx-target": f"#{listbox}",
            # Stated, not inherited: a picker may sit in an element that asks for something else as it changes.
            "hx-swap": "innerHTML",
            "hx-include": "this",
            "hx-sync": "this:replace",
            **(field.render_kw or {}),
            **kwargs,
        }
        return Markup(
            f'<div class="picker"><input {html_params(**attributes)}>'
            f'<ul class="suggestions" id="{escape(listbox)}" role="listbox" aria-label="{escape(field.label.text)}" '
            f'hidden></ul><small class="chosen" id="{escape(chosen)}">{escape(field.chosen())}</small></div>'
        )


class PickerField(StringField):
    """A record chosen by its key, typed with the search's help (see the module).

    ``data`` is the record's id (``None``: none chosen). ``nobody``: the ``data`` of a choice of no record besides
    them (its key is :data:`NOBODY`, its words the kind's ``nobody``). A field the form does not send keeps the record
    it was loaded with. Set per request: ``within`` (a meter picker: the customer whose meters it offers),
    ``active_only`` (a manager picker: the active ones) and ``keep`` (the inactive manager a record has already, which
    it may keep).
    """

    widget = PickerInput()

    def __init__(self, label=None, validators=None, *, kind: str, nobody: int | None = None, **kwargs):
        super().__init__(label, validators, **kwargs)
        self.kind = KINDS[kind]
        self.nobody = nobody
        self.within: Customer | None = None
        self.active_only = False
        self.keep: int | None = None
        self.typed: str | None = None

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        self.typed = valuelist[0].strip()
        self.raw_data = [self.typed]
        self.data = None

    def pre_validate(self, form) -> None:
        if not self.typed:
            return
        if self.nobody is not None and self.typed.casefold() in (NOBODY, str(self.kind.nobody).casefold()):
            self.data = self.nobody
            return
        self.data = self.kind.read(self, self.typed)

    def _value(self) -> str:
        """What the field shows: what was typed, or the record chosen; nobody in words, never its key."""
        if self._nobody_chosen:
            return str(self.kind.nobody)
        if self.raw_data:
            return self.raw_data[0]
        return self.kind.key_of(self.data) if self.data is not None else ""

    @property
    def key(self) -> str | None:
        """The key of the record chosen (``None``: none, or nobody)."""
        return None if self.data is None or self._nobody_chosen else self._value()

    def chosen(self) -> str:
        """What names the record chosen beside the field (nothing before one is)."""
        if self._nobody_chosen:
            return str(self.kind.nobody)
        return self.kind.named(self, self.data) if self.data is not None and not self.errors else ""

    @property
    def _nobody_chosen(self) -> bool:
        return self.nobody is not None and self.data == self.nobody

    def suggestions_url(self) -> str:
        scope = {
            "customer": self.within.code if self.within is not None else None,
            "active": 1 if self.active_only else None,
            "nobody": 1 if self.nobody is not None else None,
        }
        return url_for("search.pick", kind=self.kind.name, **{k: v for k, v in scope.items() if v is not None})


def meters_of(field: PickerField, customer: Customer) -> None:
    """Make ``field`` pick among the meters ``customer`` holds or held; one left blank takes the customer's only meter,
    when it has only one."""
    field.within = customer
    if field.data is None and field.typed is None:
        held = db.session.scalars(
            select(MeterAssignment.meter_id).where(MeterAssignment.customer_id == customer.id).distinct().limit(2)
        ).all()
        field.data = held[0] if len(held) == 1 else None


def suggestions(kind: str, text: str, args) -> list[Suggestion]:
    """What a picker of ``kind`` suggests for ``text`` (stripped), as its address asks (``args``: ``customer``,
    ``active``, ``nobody``); a picker of customers suggests nothing before something is typed."""
    return KINDS[kind].suggest(text, args)


class _Customers:
    name = "customer"
    placeholder = _l("Code or name")

    def read(self, field: PickerField, typed: str) -> int:
        found = db.session.scalar(select(Customer.id).where(Customer.code.in_(search.spellings(typed))))
        if found is None:
            raise StopValidation(_("No customer with code %(code)s.", code=typed))
        return found

    def key_of(self, customer_id: int) -> str:
        return db.session.scalar(select(Customer.code).where(Customer.id == customer_id)) or ""

    def named(self, field: PickerField, customer_id: int) -> str:
        return db.session.scalar(select(Customer.name).where(Customer.id == customer_id)) or ""

    def suggest(self, text: str, args) -> list[Suggestion]:
        if not text:
            return []
        return [
            Suggestion(
                row.key,
                f"{row.key} — {row.name}",
                row.name,
                {"account-manager": row.manager_email or "", "account-manager-name": row.manager_name or ""},
            )
            for row in search.suggested(search.customers(text), SUGGESTED)
        ]


class _Meters:
    name = "meter"
    placeholder = _l("Serial")

    def read(self, field: PickerField, typed: str) -> int:
        found = db.session.scalar(select(Meter.id).where(Meter.serial.in_(search.spellings(typed))))
        if found is None:
            raise StopValidation(_("No meter with serial %(serial)s.", serial=typed))
        if not db.session.scalar(select(_held(found, field.within.id))):
            raise StopValidation(
                _("Meter %(serial)s is not one %(code)s holds or held.", serial=typed, code=field.within.code)
            )
        return found

    def key_of(self, meter_id: int) -> str:
        return db.session.scalar(select(Meter.serial).where(Meter.id == meter_id)) or ""

    def named(self, field: PickerField, meter_id: int) -> str:
        holds = db.session.scalar(select(_held(meter_id, field.within.id, MeterAssignment.is_active)))
        return "" if holds else _held_before(self.key_of(meter_id))

    def suggest(self, text: str, args) -> list[Suggestion]:
        """The meters the customer (``customer``: its code) holds, then those it held, every one of them before
        something is typed."""
        held_by = db.session.scalar(select(Customer.id).where(Customer.code == args.get("customer", "")))
        if held_by is None:
            return []
        rows = search.suggested(search.meters(text, held_by=held_by), SUGGESTED)
        return [
            Suggestion(row.key, row.key, "")
            if row.holds
            else Suggestion(row.key, _held_before(row.key), _held_before(row.key))
            for row in rows
        ]


class _Managers:
    name = "manager"
    placeholder = _l("Name or email")
    nobody = _l("Customers with no account manager")

    def read(self, field: PickerField, typed: str) -> int:
        found = _first(
            select(AccountManager.id, AccountManager.name, AccountManager.active).where(
                AccountManager.email == normal_email(typed)
            )
        )
        if found is None:
            raise StopValidation(_("No account manager with email %(email)s.", email=typed))
        if field.active_only and not found.active and found.id != field.keep:
            raise StopValidation(_("%(name)s is inactive: choose an active account manager.", name=found.name))
        return found.id

    def key_of(self, manager_id: int) -> str:
        return db.session.scalar(select(AccountManager.email).where(AccountManager.id == manager_id)) or ""

    def named(self, field: PickerField, manager_id: int) -> str:
        found = _first(select(AccountManager.name, AccountManager.active).where(AccountManager.id == manager_id))
        return manager_label(found) if found else ""

    def suggest(self, text: str, args) -> list[Suggestion]:
        rows = search.suggested(search.managers(text, active_only=bool(args.get("active"))), SUGGESTED)
        found = [Suggestion(row.key, f"{manager_label(row)} · {row.key}", manager_label(row)) for row in rows]
        nobody = str(self.nobody)
        if args.get("nobody") and (not text or text.casefold() in nobody.casefold() or text.casefold() == NOBODY):
            found.insert(0, Suggestion(NOBODY, nobody, nobody))
        return found


KINDS = {kind.name: kind for kind in (_Customers(), _Meters(), _Managers())}


def _held(meter_id: int, customer_id: int, *more):
    return exists().where(MeterAssignment.meter_id == meter_id, MeterAssignment.customer_id == customer_id, *more)


def _held_before(serial: str) -> str:
    return _("%(serial)s (held before)", serial=serial)


def _first(query):
    return db.session.execute(query).first()
