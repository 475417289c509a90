"""What a tax office gives an invoice back, recorded on it: Coretax's tax invoice number (Indonesia), the authority's
code of an e-invoice (Vietnam), an eTIMS receipt's number and signature (Kenya).

Every country's number comes back the same way (the ``tax_office_numbers`` import, or a caller of :func:`record`):
our invoice's number, the tax office's number, and a signature where it signs. Each is written with when it was
recorded, a version of the invoice in its history. A number is one invoice's; an unknown or withdrawn invoice takes
none; an invoice keeps the number it was given unless it was corrected since (its replacement takes a new one).

What the tax office still needs of an invoice it numbered (:func:`action_needed`): a cancellation once it is
withdrawn, a replacement once its net, VAT or number changed after the number was recorded.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import and_, case, func, literal, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement
from sqlalchemy_continuum import version_class

from backoffice.models import Invoice, User
from backoffice.models.history import HistoryOperation
from backoffice.models.history import record as record_version
from backoffice.models.types import local_date_of, one_of, utcnow
from backoffice.platform.i18n import named_date
from backoffice.platform.lines import NotOneLine, one_line
from backoffice.services import transaction

invoices = Invoice.__table__

NUMBER_LENGTH = invoices.c.authority_number.type.length
SIGNATURE_LENGTH = invoices.c.authority_signature.type.length


class AuthorityError(ValueError):
    """A number that cannot be recorded as given; nothing was written. ``field`` names the column at fault:
    ``invoice``, ``authority_number`` or ``authority_signature``."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Given:
    """A number the tax office gave one of our invoices: ``invoice`` is our number (Coretax's *Referensi*)."""

    invoice: str
    number: str
    signature: str | None = None


class Action(enum.StrEnum):
    """What the tax office needs of an invoice it numbered."""

    REPLACE = "replace"
    """It was corrected after its number was recorded: the tax office replaces it (Coretax: *Pengganti*)."""
    CANCEL = "cancel"
    """It was withdrawn: the tax office cancels it (Coretax: *Pembatalan*)."""


def checked_number(text: object) -> str:
    """A tax office's number as it is kept: one line of at most 64 characters, spaces around it dropped."""
    number = _one_line(text, _("The tax office's number"), "authority_number")
    if not number:
        raise AuthorityError(_("Give the number the tax office gave the invoice."), "authority_number")
    if len(number) > NUMBER_LENGTH:
        raise AuthorityError(
            _("The tax office's number has at most %(count)s characters.", count=NUMBER_LENGTH), "authority_number"
        )
    return number


def checked_signature(text: object) -> str | None:
    """A tax office's signature as it is kept (none where it is blank): one line of at most 200 characters."""
    signature = _one_line(text, _("The tax office's signature"), "authority_signature")
    if len(signature) > SIGNATURE_LENGTH:
        raise AuthorityError(
            _("The tax office's signature has at most %(count)s characters.", count=SIGNATURE_LENGTH),
            "authority_signature",
        )
    return signature or None


def _one_line(text: object, what: str, field: str) -> str:
    try:
        return one_line("" if text is None else str(text), what).strip()
    except NotOneLine as error:
        raise AuthorityError(str(error), field) from None


def refusals(connection: Connection, given: Sequence[Given]) -> dict[int, AuthorityError]:
    """Why each of ``given`` that cannot be recorded is refused, by its position; read, never written. One already
    recorded as given is no refusal (recording it again writes nothing)."""
    ours = sorted({entry.invoice for entry in given})
    theirs = sorted({entry.number for entry in given})
    found = {
        row.number: row
        for row in connection.execute(
            select(
                invoices.c.id,
                invoices.c.number,
                invoices.c.authority_number,
                invoices.c.authority_signature,
                invoices.c.withdrawn_at,
                changed_since_numbered(invoices.c).label("changed"),
            ).where(one_of(invoices.c.number, ours))
        )
    }
    holders = dict(
        connection.execute(
            select(invoices.c.authority_number, invoices.c.number).where(one_of(invoices.c.authority_number, theirs))
        ).all()
    )
    refused: dict[int, AuthorityError] = {}
    numbered: dict[str, str] = {}  # our number → the number an earlier entry gave it
    for position, entry in enumerate(given):
        invoice = found.get(entry.invoice)
        holder = holders.get(entry.number)
        if invoice is None:
            refused[position] = AuthorityError(_("No invoice numbered %(number)s.", number=entry.invoice), "invoice")
        elif invoice.withdrawn_at is not None:
            refused[position] = AuthorityError(
                _(
                    "Invoice %(number)s was withdrawn on %(date)s: it takes no number from the tax office.",
                    number=entry.invoice,
                    date=named_date(local_date_of(invoice.withdrawn_at, current_app.config["TIMEZONE"])),
                ),
                "invoice",
            )
        elif holder is not None and holder != entry.invoice:
            refused[position] = AuthorityError(
                _(
                    "The tax office's number %(authority)s is invoice %(other)s's already.",
                    authority=entry.number,
                    other=holder,
                ),
                "authority_number",
            )
        elif numbered.get(entry.invoice, entry.number) != entry.number:
            refused[position] = AuthorityError(
                _(
                    "Invoice %(number)s is given two numbers: %(first)s and %(second)s.",
                    number=entry.invoice,
                    first=numbered[entry.invoice],
                    second=entry.number,
                ),
                "authority_number",
            )
        elif invoice.authority_number not in (None, entry.number) and not invoice.changed:
            refused[position] = AuthorityError(
                _(
                    "Invoice %(number)s has the tax office's number %(authority)s and was not corrected since: it "
                    "takes another only as its replacement.",
                    number=entry.invoice,
                    authority=invoice.authority_number,
                ),
                "authority_number",
            )
        if position not in refused:
            numbered[entry.invoice] = entry.number
            holders[entry.number] = entry.invoice
    return refused


def record(connection: Connection, given: Sequence[Given], user: User | None = None) -> int:
    """Record the numbers ``given``, within the caller's unit of work: each on its invoice, with when, a version in
    its history; how many invoices changed (one recorded already as given is left as it is). Refused
    (:class:`AuthorityError`, the first refusal) if any is, and nothing is written."""
    given = [
        Given(entry.invoice.strip(), checked_number(entry.number), checked_signature(entry.signature))
        for entry in given
    ]
    ours = sorted({entry.invoice for entry in given})
    # The invoices' rows locked, in one order, before they are read to be written.
    connection.execute(
        select(invoices.c.id).where(one_of(invoices.c.number, ours)).order_by(invoices.c.id).with_for_update()
    )
    if refused := refusals(connection, given):
        raise refused[min(refused)]
    now = utcnow()
    changed = 0
    for entry in given:
        row = connection.execute(
            update(invoices)
            .where(
                invoices.c.number == entry.invoice,
                or_(
                    invoices.c.authority_number.is_distinct_from(entry.number),
                    invoices.c.authority_signature.is_distinct_from(entry.signature),
                ),
            )
            .values(
                authority_number=entry.number,
                authority_signature=entry.signature,
                authority_recorded_at=now,
                version=invoices.c.version + 1,
            )
            .returning(invoices.c.id)
        ).first()
        if row is not None:
            record_version(connection, Invoice, invoices.c.id == row.id, HistoryOperation.EDIT)
            changed += 1
    return changed


def record_numbers(given: Sequence[Given], user: User | None = None) -> int:
    """:func:`record` in a unit of work of its own (or the caller's, within ``one_unit``)."""
    with transaction() as session:
        return record(session.connection(), given, user)


def changed_since_numbered(table) -> ColumnElement[bool]:
    """Whether an invoice (``table``: the invoices' columns) was corrected after its tax office number was recorded:
    its number, net or VAT differ from those of the first version in its history that holds that number."""
    history = version_class(Invoice).__table__
    first = (
        select(func.row(history.c.number, history.c.amount, func.coalesce(history.c.vat, 0)))
        .where(history.c.id == table.id, history.c.authority_number == table.authority_number)
        .order_by(history.c.transaction_id)
        .limit(1)
        .scalar_subquery()
    )
    now = func.row(table.number, table.amount, func.coalesce(table.vat, 0))
    return and_(table.authority_number.is_not(None), first.is_distinct_from(now))


def action_sql(table) -> ColumnElement:
    """What the tax office needs of an invoice (an :class:`Action`'s value), none where it needs nothing."""
    return case(
        (table.authority_number.is_(None), literal(None)),
        (table.withdrawn_at.is_not(None), literal(Action.CANCEL.value)),
        (changed_since_numbered(table), literal(Action.REPLACE.value)),
        else_=literal(None),
    )


def action_needed(connection: Connection, invoice_id: int) -> Action | None:
    """What the tax office needs of the invoice: :class:`Action`, or none."""
    found = connection.scalar(select(action_sql(invoices.c)).where(invoices.c.id == invoice_id))
    return None if found is None else Action(found)
