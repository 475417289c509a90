"""The import of account managers."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from backoffice.imports import values as read
from backoffice.imports.kinds.base import Field, ImportKind, Row, _email, _stored, _text
from backoffice.models import (
    AccountManager,
    User,
)
from backoffice.services import managers


def _stored_managers(rows: list[Row]) -> dict[tuple, Row]:
    query = select(AccountManager.email, AccountManager.name, AccountManager.active)
    return _stored(query, [AccountManager.email], rows, [(row["email"],) for row in rows])


def _write_managers(rows: list[Row], user: User | None) -> None:
    for row in rows:
        managers.create_manager(row["name"], row["email"], active=row["active"])


MANAGERS = ImportKind(
    "managers",
    _l("Account managers"),
    (
        Field(
            "name",
            _l("Name"),
            _text(120),
            required=True,
            aliases=(
                "full name",
                "manager",
                "account manager",
                "nama lengkap",
                "ho ten",
            ),
        ),
        Field(
            "email",
            _l("Email"),
            _email,
            required=True,
            aliases=(
                "email id",
                "e-mail",
                "email address",
                "work email",
                "login",
                "alamat email",
                "surel",
            ),
        ),
        Field(
            "active",
            _l("Active"),
            read.yes_no,
            default=True,
            aliases=(
                "enabled",
                "status",
                "aktif",
                "hoat dong",
            ),
        ),
    ),
    ("email",),
    _stored_managers,
    _write_managers,
    customers=lambda rows: set(),
    compared=("name", "active"),
)


# Customers.
