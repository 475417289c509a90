"""Choices for the select fields that several screens share."""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from backoffice.models import AccountManager, Customer, Invoice, Meter, MeterAssignment, covers
from backoffice.models.billing import ASKING
from backoffice.platform.extensions import db
from backoffice.web.plumbing.filters import local_date, money


def manager_choices() -> list[SelectChoice]:
    return [SelectChoice(m.id, manager_label(m)) for m in _managers()]


def _managers() -> list:
    """Each manager's id, name and whether active (rows, not records: a choice needs nothing more)."""
    return list(
        db.session.execute(
            select(AccountManager.id, AccountManager.name, AccountManager.active).order_by(AccountManager.name)
        )
    )


def manager_label(manager) -> str:
    """A manager's name, saying so when inactive (``manager``: a row with ``name`` and ``active``)."""
    return manager.name if manager.active else _("%(name)s (inactive)", name=manager.name)


def placeholder(label: str) -> SelectChoice:
    return SelectChoice("", label)


def optional_id(value) -> int | None:
    """Coerce a select's value to an id; the placeholder's empty value is no id."""
    return None if value in ("", None) else int(value)


@dataclass(frozen=True)
class OpenInvoice:
    id: int
    number: str
    label: str


def open_invoices(customer: Customer, meter_id: int | None = None) -> list[OpenInvoice]:
    """The customer's open invoices (dated in their periods of a meter; of ``meter_id`` only, if given), oldest
    first, each labelled with its number and what it still asks: "INV-7 · MTR-1 · due … · 100,00 IDR to pay"."""
    held = MeterAssignment.__table__.alias("held")
    query = (
        select(Invoice.id, Invoice.number, Invoice.due_on, Invoice.outstanding, Meter.serial)
        .join(Meter, Meter.id == Invoice.meter_id)
        .where(
            Invoice.status.in_(ASKING),
            select(held.c.id)
            .where(
                held.c.customer_id == customer.id,
                held.c.meter_id == Invoice.meter_id,
                covers(held.c, Invoice.issued_on),
            )
            .exists(),
        )
        .order_by(Invoice.issued_on, Invoice.id)
    )
    if meter_id is not None:
        query = query.where(Invoice.meter_id == meter_id)
    return [
        OpenInvoice(
            row.id,
            row.number,
            _(
                "%(number)s · %(serial)s · due %(due)s · %(outstanding)s to pay",
                number=row.number,
                serial=row.serial,
                due=local_date(row.due_on),
                outstanding=money(row.outstanding),
            ),
        )
        for row in db.session.execute(query)
    ]


def named_in(reference: str, invoices: list[OpenInvoice]) -> list[int]:
    """The invoices whose number the reference names, as a word of its own, in any case."""
    text = reference.casefold()
    return [
        invoice.id
        for invoice in invoices
        if re.search(rf"(?<![\w-]){re.escape(invoice.number.casefold())}(?![\w-])", text)
    ]
