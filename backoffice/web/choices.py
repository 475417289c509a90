"""Choices for the select fields that several screens share."""

from __future__ import annotations

from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from backoffice.extensions import db
from backoffice.models import AccountManager, Customer


def manager_choices() -> list[SelectChoice]:
    return [SelectChoice(m.id, m.name) for m in db.session.scalars(select(AccountManager).order_by(AccountManager.name))]


def customer_choices() -> list[SelectChoice]:
    return [SelectChoice(c.id, str(c)) for c in db.session.scalars(select(Customer).order_by(Customer.code))]
