"""Choices for the select fields that several screens share."""

from __future__ import annotations

from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from backoffice.extensions import db
from backoffice.models import AccountManager, Customer


def manager_choices() -> list[SelectChoice]:
    return [
        SelectChoice(m.id, m.name) for m in db.session.scalars(select(AccountManager).order_by(AccountManager.name))
    ]


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
