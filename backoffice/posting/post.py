"""``post(installation, connection, movement)``: the one write path for money, inside the caller's unit of work.

A wallet movement is posted through ``posting.wallet_batches`` (a retry under the same idempotency key gets the first
result); an invoice or a payment gets its journal entry; a manual entry is its lines. Locks are taken in one order
everywhere: customers, meters, accounts (see backoffice/posting/locking.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from backoffice.models import WALLET_KINDS, BalanceTransaction, Customer
from backoffice.models.types import one_of, utcnow
from backoffice.platform.lines import described
from backoffice.posting import closed_months, journal
from backoffice.posting.installation import Installation
from backoffice.posting.keys import OWN, claim, refuse_unless_theirs
from backoffice.posting.movement import Movement
from backoffice.posting.refusals import (
    KEY_LENGTH,
    CustomerClosed,
    IdempotencyConflict,
    IdempotencyKeyTooLong,
    KeySentByAnother,
)
from backoffice.posting.rules import Kind, rule_of
from backoffice.posting.wallet_batches import WalletMovement, post_one

customers = Customer.__table__
ledger = BalanceTransaction.__table__


@dataclass(frozen=True)
class Posted:
    entry_id: int
    source_id: int | None
    """The id of what the entry records: the new wallet row, or the invoice or payment to be written with it."""
    transaction: BalanceTransaction | None = None
    """A wallet movement's ledger row: as the database returned it when it was written (or, for a retry, read)."""
    repeated: bool = False
    """A retry: the wallet movement its idempotency key posted before, returned as it was, nothing written."""


_SOURCE_TABLES = {"invoice": "invoices", "payment": "payments", "settlement": "payments"}


def _taken(connection: Connection, table: str, count: int) -> list[int]:
    """``count`` ids of the table's sequence, taken before its rows are written: the entries refer to them."""
    sequence = func.pg_get_serial_sequence(table, "id")
    return connection.scalars(select(func.nextval(sequence)).select_from(func.generate_series(1, count))).all()


def _sourced(installation: Installation, movement: Movement, source_id: int) -> journal.Entry:
    """The entry of an invoice or a payment: its rule's lines, in the bucket of the customer who holds the meter."""
    return journal.Entry(
        entry_date=installation.value_date(movement.value_date),
        description=movement.description,
        source=journal.Source(movement.reference.type, source_id),
        bucket_key=movement.customer_id,
        kind=Kind(movement.kind).value,
        amount=movement.amount,
        tax=movement.tax,
    )


def post(
    installation: Installation,
    connection: Connection,
    movement: Movement,
    *,
    first_time: Callable[[], None] | None = None,
) -> Posted:
    """Post the movement within the caller's unit of work (which commits or rolls back all of it).

    Refused: a value date after today, or in a closed month (``closed_months.PeriodClosed``; the database refuses it
    too); a movement of a closed customer (:class:`CustomerClosed`). A wallet movement's retry (its idempotency key
    posted it before) is answered as it was first, before anything is refused: its month may have closed since.
    ``first_time``: what the caller refuses a wallet movement for, asked once its key is known new.
    """
    if movement.kind in WALLET_KINDS and (earlier := _posted_before(connection, movement)) is not None:
        return earlier
    on = installation.value_date(movement.value_date)
    if on != installation.today():  # a month closes once it has ended: today is always open
        closed_months.refuse_if_closed(connection, on)
    if movement.kind is Kind.MANUAL:
        return Posted(_post_manual(installation, connection, movement, on), None)
    rule = rule_of(movement.kind, movement.amount)
    if rule.wallet:
        return _post_wallet(installation, connection, movement, on, first_time)
    refuse_if_closed(connection, [movement.customer_id])
    reference = movement.reference
    source_id = reference.id if reference.id is not None else _taken(connection, _SOURCE_TABLES[reference.type], 1)[0]
    entry_id = journal.write(installation, connection, [_sourced(installation, movement, source_id)], movement.user)[0]
    return Posted(entry_id, source_id)


def post_sources(installation: Installation, connection: Connection, movements: Sequence[Movement]) -> list[Posted]:
    """Invoices or payments, each a new row of its reference's type (``Reference(type, None)``), posted as one batch:
    refused as :func:`post` refuses one (a value date after today or in a closed month, a closed customer), before
    anything is written; then every entry at once (:func:`journal.write`). Returns, in the order given, each
    one's entry and the id its row is to be written with. The caller holds the customers' locks and writes the rows;
    the movements are of one user."""
    if not movements:
        return []
    today = installation.today()
    for on in sorted({installation.value_date(movement.value_date) for movement in movements} - {today}):
        closed_months.refuse_if_closed(connection, on)
    refuse_if_closed(connection, sorted({movement.customer_id for movement in movements}))

    counts = Counter(movement.reference.type for movement in movements)
    source_ids = {kind: iter(_taken(connection, _SOURCE_TABLES[kind], count)) for kind, count in counts.items()}
    batch = [_sourced(installation, movement, next(source_ids[movement.reference.type])) for movement in movements]
    entry_ids = journal.write(installation, connection, batch, movements[0].user)
    return [Posted(entry_id, entry.source.id) for entry_id, entry in zip(entry_ids, batch, strict=True)]


def _post_manual(installation: Installation, connection: Connection, movement: Movement, on: date) -> int:
    """A manual entry: its lines; or the draft it was saved as; or, reversing an entry without lines of its own,
    that entry's lines swapped. Returns the posted entry's id."""
    if movement.draft_id is not None:
        journal.post_draft(installation, connection, movement.draft_id, user=movement.user)
        return movement.draft_id
    if movement.reverses_id is not None and not movement.lines:
        return journal.reverse(installation, connection, movement.reverses_id, on, user=movement.user)
    lines = list(movement.lines)
    return journal.post(
        installation,
        connection,
        on,
        movement.description,
        lines,
        user=movement.user,
        reverses_id=movement.reverses_id,
        idempotency_key=movement.idempotency_key,
    )


def refuse_if_closed(connection: Connection, customer_ids) -> None:
    """Raise :class:`CustomerClosed` if one of the customers (ids, or a select of them) is closed; the caller holds
    their locks."""
    closed = connection.execute(
        select(customers.c.code)
        .where(one_of(customers.c.id, customer_ids), customers.c.closed_at.is_not(None))
        .order_by(customers.c.id)
        .limit(1)
    ).scalar_one_or_none()
    if closed is not None:
        raise CustomerClosed(closed)


def _posted_before(connection: Connection, movement: Movement) -> Posted | None:
    """What the wallet movement's idempotency key posted before, if it did (the same movement, or a conflict)."""
    key = movement.idempotency_key or None
    if key and len(key) > KEY_LENGTH:
        raise IdempotencyKeyTooLong()
    refuse_unless_theirs(connection, key, maker_id=_maker(movement), writes="balance_transactions")
    if key and (earlier := by_key(connection, key)) is not None:
        return Posted(earlier.entry_id, earlier.id, same_or_conflict(earlier, movement), repeated=True)
    return None


def _post_wallet(installation: Installation, connection: Connection, movement: Movement, on: date, first_time):
    if first_time is not None:
        first_time()
    user_id = movement.user.id if movement.user else None
    row = post_one(connection, installation, WalletMovement.of(movement, on), utcnow(), user_id)
    claim(connection, movement.idempotency_key, maker_id=user_id, writes="balance_transactions", written_id=row.id)
    return Posted(row.entry_id, row.id, row)


def _maker(movement: Movement) -> int | None:
    """Who sends the movement: its user's id; none for a command run without a user, or a client's call."""
    return movement.user.id if movement.user else None


def by_key(connection: Connection, idempotency_key: str) -> BalanceTransaction | None:
    """The ledger movement posted under ``idempotency_key``, if one was."""
    row = connection.execute(select(ledger).where(ledger.c.idempotency_key == idempotency_key)).one_or_none()
    return BalanceTransaction(**row._mapping) if row is not None else None


def same_or_conflict(earlier: BalanceTransaction, movement: Movement) -> BalanceTransaction:
    """The movement ``earlier`` posted, when ``movement`` asks for it again: the same customer, kind and amount, and,
    under the same key a clerk or a client sent, the same reference and description (a client's charge sent again is
    the same call); anything else under that key is :class:`IdempotencyConflict`, and anything under a key another
    maker sent :class:`KeySentByAnother`."""
    asked = (movement.customer_id, Kind(movement.kind).value, abs(movement.amount))
    same = (earlier.customer_id, earlier.kind.value, earlier.amount) == asked
    key = movement.idempotency_key
    if key and not key.startswith(OWN) and earlier.idempotency_key == key and earlier.created_by_id != _maker(movement):
        raise KeySentByAnother(key, "balance_transactions")
    if same and key and not key.startswith(OWN) and earlier.idempotency_key == key:
        reference = movement.reference
        same = (earlier.reference_type, earlier.reference_id, earlier.description) == (
            reference.type if reference else None,
            reference.id if reference else None,
            described(movement.description),
        )
    if not same:
        raise IdempotencyConflict(movement.idempotency_key)
    return earlier
