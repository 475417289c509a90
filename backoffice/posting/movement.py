"""A money movement: what the posting core is asked to post."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from backoffice.posting.rules import Kind


@dataclass(frozen=True)
class Reference:
    """What a movement is about, e.g. ``Reference("meter_reading", 42)``."""

    type: str
    id: int


@dataclass(frozen=True, kw_only=True)
class Movement:
    """One movement of money, signed as :mod:`backoffice.posting.rules` says.

    A wallet movement names its ``customer_id``; an invoice or a payment names what it is
    (``reference``, its row, written by the billing service in the same unit of work) and the
    customer who owes or paid it (``customer_id``, whose share of the accounts it moves).
    """

    kind: Kind
    amount: Decimal = Decimal(0)
    """Signed: positive adds to the wallet (or issues the invoice, receives the payment)."""
    customer_id: int | None = None
    value_date: date | None = None
    """The business date: its month, its journal entry's date. ``None``: today in the installation's time zone."""
    reference: Reference | None = None
    tax: Decimal = Decimal(0)
    """Of an invoice's amount, signed as it, the VAT: posted to VAT payable rather than to revenue."""
    description: str = ""
    reason: str | None = None
    """Why a correction was made (an adjustment's reason code)."""
    occasion: str | None = None
    """Why the system wrote it (``models.Occasion``), which its words are rendered from; ``None`` for a clerk's."""
    idempotency_key: str | None = None
    user: object | None = None
    reverses_id: int | None = None
    """The wallet movement this one undoes."""
    allow_overdraft: bool = False
    """Gas already delivered is charged beyond the balance: the customer is then suspended."""
    delivered: Decimal = Decimal(0)
    """Sm³ of gas delivered that the wallet movement's month counts with it: a reading's calculation coming (or going,
    negative) with its charge, so that the month is written once."""
    lines: tuple = ()
    """A manual entry's lines (``journal.Line``); ``reverses_id`` is then the entry it reverses, whose lines, swapped,
    are the reversal's when it has none of its own."""
    draft_id: int | None = None
    """A manual entry saved as a draft, posted as it was saved (its date, description and lines)."""
