"""Choices for the select fields that several screens share."""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, select
from wtforms.fields.choices import SelectChoice

from backoffice.models import AccountManager, Customer, Invoice, Meter, MeterAssignment, covers
from backoffice.models.billing import ASKING
from backoffice.platform.extensions import db
from backoffice.web.filters import local_date, money


def manager_choices() -> list[SelectChoice]:
    return [SelectChoice(m.id, _manager_label(m)) for m in _managers()]


def active_manager_choices(keep: int | None = None) -> list[SelectChoice]:
    """The active managers, and the inactive one a record has already (``keep``), which it may keep."""
    return [SelectChoice(m.id, _manager_label(m)) for m in _managers() if m.active or m.id == keep]


def _managers() -> list:
    """Each manager's id, name and whether active (rows, not records: a choice needs nothing more)."""
    return list(
        db.session.execute(
            select(AccountManager.id, AccountManager.name, AccountManager.active).order_by(AccountManager.name)
        )
    )


def _manager_label(manager) -> str:
    return manager.name if manager.active else _("%(name)s (inactive)", name=manager.name)


def customer_choices() -> list[SelectChoice]:
    """Each option names the customer's account manager, so the order form can preselect it."""
    return [
        SelectChoice(c.id, str(c), render_kw={"data-account-manager": c.account_manager_id or ""})
        for c in db.session.scalars(select(Customer).order_by(Customer.code))
    ]


def placeholder(label: str) -> SelectChoice:
    return SelectChoice("", label)


def optional_id(value) -> int | None:
    """Coerce a select's value to an id; the placeholder's empty value is no id."""
    return None if value in ("", None) else int(value)


def held_meter_choices(customer: Customer) -> list[SelectChoice]:
    """The meters the customer holds now, then those they held before (what is dated in their periods is
    still entered for them), after a placeholder."""
    rows = db.session.execute(
        select(Meter.id, Meter.serial, func.max(case((MeterAssignment.is_active, 1), else_=0)).label("holds"))
        .join(MeterAssignment, MeterAssignment.meter_id == Meter.id)
        .where(MeterAssignment.customer_id == customer.id)
        .group_by(Meter.id, Meter.serial)
        .order_by(func.max(case((MeterAssignment.is_active, 1), else_=0)).desc(), Meter.serial)
    )
    return [
        placeholder(_l("Choose a meter…")),
        *(SelectChoice(r.id, r.serial if r.holds else _("%(serial)s (held before)", serial=r.serial)) for r in rows),
    ]


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
