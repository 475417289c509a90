"""``post(connection, movement)``: the one write path for money, inside the caller's unit of work.

A wallet movement: the idempotency rule (a retry returns the first result); the customer row,
locked and moved by one ``UPDATE … RETURNING`` whose conditions are the balance rule and the
columns' limits; the ledger row with its balance before and after (its id taken once the customer
is locked, so that a customer's rows are in the order their balances chain); its month (or, for a
customer not kept in real time, a recalculation request); its journal entry, posted, naming the
row; the accounts last. The entry, its lines and the ledger row are what ``posting.writes`` defines, for one
movement as for a batch (``posting.many``). On PostgreSQL all of it is one statement (``posting.statement``); on
SQLite it is statement by statement, the customer's row first. An
invoice or a payment has its entry and moves the accounts; the billing service writes its row and
the meter's and customers' totals in the same unit of work. A manual entry is its lines.

Locks are taken in one order everywhere: customers, meters, accounts (see backoffice/posting/locking.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.engine import Connection

from backoffice.evidence import sealing
from backoffice.evidence.quarantine import refuse_if_quarantined
from backoffice.models import BalanceTransaction, Customer, JournalEntry, RecalculationReason, TransactionKind
from backoffice.models.types import utcnow
from backoffice.platform.config import local_today
from backoffice.platform.money import MAX_BALANCE, BeyondLimit, shown
from backoffice.posting import journal, months, periods, writes
from backoffice.posting.movement import Movement
from backoffice.posting.rules import Kind, counts, rule_of
from backoffice.posting.statement import MOVE, ONE_STATEMENT

customers = Customer.__table__
ledger = BalanceTransaction.__table__
entries = JournalEntry.__table__
KEY_LENGTH = ledger.c.idempotency_key.type.length


class WalletError(ValueError):
    """A movement refused; nothing was written."""


class InsufficientBalance(WalletError):
    def __init__(self, customer, amount: Decimal) -> None:
        super().__init__(
            _(
                "Insufficient balance: %(code)s has %(available)s available, %(needed)s is needed.",
                code=customer.code,
                available=shown(customer.balance),
                needed=shown(amount),
            )
        )
        self.available = customer.balance
        self.amount = amount


class IdempotencyKeyTooLong(WalletError):
    def __init__(self) -> None:
        super().__init__(_("An idempotency key has at most %(length)s characters.", length=KEY_LENGTH))


class IdempotencyKeyReserved(WalletError):
    def __init__(self, prefix: str) -> None:
        super().__init__(
            _(
                "An idempotency key cannot start with %(prefix)s: such keys are the application's own. Use another "
                "key.",
                prefix=repr(prefix),
            )
        )


class IdempotencyConflict(WalletError):
    def __init__(self, key: str) -> None:
        super().__init__(
            _(
                "Idempotency key %(key)s was already used for a different operation; use a new key for a new "
                "operation.",
                key=repr(key),
            )
        )


class CustomerClosed(WalletError):
    def __init__(self, code: str) -> None:
        super().__init__(
            _(
                "Customer %(code)s is closed: it takes no new movement. Its history stays; an admin can reopen it.",
                code=code,
            )
        )


class DatedAfterToday(WalletError):
    def __init__(self, today: date) -> None:
        zone = current_app.config["TIMEZONE"]
        super().__init__(
            _("A movement cannot be dated after today (%(today)s in %(zone)s).", today=today.isoformat(), zone=zone)
        )


@dataclass(frozen=True)
class Posted:
    entry_id: int
    source_id: int | None
    """The id of what the entry records: the new wallet row, or the invoice or payment to be written with it."""
    transaction: BalanceTransaction | None = None


def _new(table: str):
    return select(journal.next_id(table).label("id")).subquery()


_SOURCE_TABLES = {"invoice": "invoices", "payment": "payments"}
_NEW_SOURCE_ENTRY = {
    kind: journal.entry_statement(new_row, source_id=new_row.c.id)
    for kind, new_row in ((kind, _new(table)) for kind, table in _SOURCE_TABLES.items())
}


def post(connection: Connection, movement: Movement) -> Posted:
    """Post the movement within the caller's unit of work (which commits or rolls back all of it).

    Refused: a value date after today, or in a closed month (``periods.PeriodClosed``; the database refuses it too);
    a movement of a closed customer (:class:`CustomerClosed`).
    """
    on = value_date(movement.value_date)
    if on != local_today():  # a month closes once it has ended: today is always open
        periods.refuse_if_closed(connection, on)
    if movement.kind is Kind.MANUAL:
        return _sealed(connection, Posted(_post_manual(connection, movement, on), None))
    rule = rule_of(movement.kind, movement.amount)
    if rule.wallet:
        return _post_wallet(connection, movement, rule, on)
    refuse_if_closed(connection, [movement.customer_id])
    reference = movement.reference
    statement = journal.ENTRY if reference.id is not None else _NEW_SOURCE_ENTRY[reference.type]
    recorded = journal.record(
        connection,
        statement,
        on,
        journal.rule_lines(rule, movement.amount),
        description=movement.description,
        source_type=reference.type,
        **({"source_id": reference.id} if reference.id is not None else {}),
    )
    journal.settle(connection, recorded, movement.user)
    journal.move(connection, recorded, movement.customer_id)
    return _sealed(connection, Posted(recorded.entry_id, recorded.source_id))


def _sealed(connection: Connection, posted: Posted, movement_id: int | None = None) -> Posted:
    """Posted: its entry (and its wallet row) are sealed when the unit of work commits."""
    sealing.written(connection, "journal_entries", [(posted.entry_id, 0)])
    if movement_id is not None:
        sealing.written(connection, "balance_transactions", [(movement_id, 0)])
    return posted


def _post_manual(connection: Connection, movement: Movement, on: date) -> int:
    """A manual entry: its lines; or the draft it was saved as; or, reversing an entry without lines of its own,
    that entry's lines swapped. Returns the posted entry's id."""
    if movement.draft_id is not None:
        journal.post_draft(connection, movement.draft_id, user=movement.user)
        return movement.draft_id
    if movement.reverses_id is not None and not movement.lines:
        return journal.reverse(connection, movement.reverses_id, on, user=movement.user)
    lines = list(movement.lines)
    return journal.post(
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
        .where(customers.c.id.in_(customer_ids), customers.c.closed_at.is_not(None))
        .order_by(customers.c.id)
        .limit(1)
    ).scalar_one_or_none()
    if closed is not None:
        raise CustomerClosed(closed)


def value_date(given: date | None) -> date:
    """A movement's business date: today in the installation's time zone unless given; never after today."""
    today = local_today()
    if given is None:
        return today
    if given > today:
        raise DatedAfterToday(today)
    return given


def _post_wallet(connection: Connection, movement: Movement, rule, on: date) -> Posted:
    key = movement.idempotency_key or None
    if key and len(key) > KEY_LENGTH:
        raise IdempotencyKeyTooLong()
    if key and (earlier := by_key(connection, key)) is not None:
        return Posted(earlier.entry_id, earlier.id, same_or_conflict(earlier, movement))
    signed = movement.amount
    lines = journal.check_lines(journal.rule_lines(rule, signed))
    found = journal.accounts_of(connection, lines)  # the chart of accounts has the rule's accounts
    moved = counts(rule, signed)
    now = utcnow()
    reference = movement.reference
    given = {
        "customer": movement.customer_id,
        "signed": signed,
        "overdraft": movement.allow_overdraft,
        "automatic": rule.kind is Kind.CHARGE,
        "recharged": moved["total_recharged"],
        "spent": moved["total_spent"],
        "moment": now,
        "user_id": movement.user.id if movement.user else None,
        "movement_kind": rule.kind.value,
        "movement_value_date": on,
        "movement_reference_type": reference.type if reference else None,
        "movement_reference_id": reference.id if reference else None,
        "movement_description": movement.description.strip()[:300],
        "movement_reason": movement.reason,
        "movement_occasion": movement.occasion,
        "movement_reverses_id": movement.reverses_id,
        "movement_idempotency_key": key,
    }
    write = _in_one_statement if connection.dialect.name == "postgresql" else _statement_by_statement
    row_id, entry_id, balance = write(connection, movement, rule, given, moved, lines, found)
    written = BalanceTransaction(
        id=row_id,
        customer_id=movement.customer_id,
        kind=TransactionKind(rule.kind.value),
        amount=abs(signed),
        signed_amount=signed,
        balance_before=balance - signed,
        balance_after=balance,
        value_date=on,
        reference_type=given["movement_reference_type"],
        reference_id=given["movement_reference_id"],
        description=given["movement_description"],
        reason=movement.reason,
        occasion=movement.occasion,
        reverses_id=movement.reverses_id,
        idempotency_key=key,
        entry_id=entry_id,
        created_at=now,
        created_by_id=given["user_id"],
    )
    return _sealed(connection, Posted(entry_id, row_id, written), row_id)


_NEXT_IDS = select(journal.next_id("balance_transactions"), journal.next_id("journal_entries"))
_WRITTEN = list(writes.written(writes.bound(), "sqlite").values())


def _statement_by_statement(connection, movement: Movement, rule, given: dict, moved: dict, lines, found):
    """The customer's row, then what ``writes`` defines (the entry as a draft, its lines, the entry posted, the
    ledger row), the month, the accounts."""
    row = connection.execute(MOVE, given).one_or_none()
    if row is None:
        _refused(connection, movement, rule)
    row_id, entry_id = connection.execute(_NEXT_IDS).one()
    one = given | {
        "movement_row_id": row_id,
        "movement_entry_id": entry_id,
        "movement_balance_after": row.balance,
    }
    for statement in _WRITTEN:
        connection.execute(statement, one)
    if moved["total_deposits"] or moved["total_purchases"]:
        _roll_up(connection, movement, row.use_realtime_calculation, given, row_id, moved)
    journal.move_lines(connection, lines, found, movement.customer_id)
    return row_id, entry_id, row.balance


def _in_one_statement(connection, movement: Movement, rule, given: dict, moved: dict, lines, found):
    """``ONE_STATEMENT``; a month left empty by what the movement took away loses its row after it."""
    (first, first_by), (second, second_by) = sorted(
        (account, by) for (account, _bucket), by in journal.moves(lines, found, movement.customer_id).items()
    )
    deposits, purchases = moved["total_deposits"], moved["total_purchases"]
    in_month = bool(deposits or purchases)
    row = connection.execute(
        ONE_STATEMENT,
        given
        | months.shifting(movement.customer_id, given["movement_value_date"], moved)
        | {
            "moment": given["moment"],
            "bucket": journal.bucket_of(movement.customer_id),
            "first_account": first,
            "first_by": first_by,
            "second_account": second,
            "second_by": second_by,
            "in_month": in_month,
        },
    ).one_or_none()
    if row is None:
        _refused(connection, movement, rule)
    if row.buckets < 2:
        raise BeyondLimit(journal.beyond_limit(connection, journal.moves(lines, found, movement.customer_id)))
    if in_month and row.realtime and deposits <= 0 and purchases <= 0:
        connection.execute(months.EMPTY, months.shifting(movement.customer_id, given["movement_value_date"]))
    return row.row_id, row.entry_id, row.balance


def _roll_up(connection, movement: Movement, realtime: bool, given: dict, row_id: int, moved: dict) -> None:
    """Carry the movement into its month's balance, or leave that to a job for a customer not kept in real time."""
    on = given["movement_value_date"]
    if not realtime:
        what = f"{given['movement_kind']} #{row_id}"
        months.request(connection, movement.customer_id, on, RecalculationReason.DEFERRED, what, movement.user)
        return
    months.shift(connection, movement.customer_id, months.month_of(on), moved, {"balance_transaction_id": row_id})


def _refused(connection, movement: Movement, rule) -> None:
    """Say why the customer's row refused the movement."""
    customer = connection.execute(
        select(customers.c.code, customers.c.balance, customers.c.closed_at).where(
            customers.c.id == movement.customer_id
        )
    ).one_or_none()
    if customer is None:
        raise WalletError(_("No customer with id %(id)s.", id=movement.customer_id))
    if customer.closed_at is not None:
        raise CustomerClosed(customer.code)
    if rule.kind is Kind.CHARGE:
        refuse_if_quarantined(connection, [movement.customer_id])
    after = customer.balance + movement.amount
    if movement.amount < 0 and after < 0 and not movement.allow_overdraft:
        raise InsufficientBalance(customer, -movement.amount)
    if abs(after) > MAX_BALANCE:
        raise BeyondLimit(_("The balance of %(code)s", code=customer.code))
    if rule.total == "total_recharged":
        raise BeyondLimit(_("The total recharged of %(code)s", code=customer.code))
    raise BeyondLimit(_("The total spent of %(code)s", code=customer.code))


def by_key(connection: Connection, idempotency_key: str) -> BalanceTransaction | None:
    row = connection.execute(select(ledger).where(ledger.c.idempotency_key == idempotency_key)).one_or_none()
    return BalanceTransaction(**row._mapping) if row is not None else None


def same_or_conflict(earlier: BalanceTransaction, movement: Movement) -> BalanceTransaction:
    asked = (movement.customer_id, Kind(movement.kind).value, abs(movement.amount))
    if (earlier.customer_id, earlier.kind.value, earlier.amount) != asked:
        raise IdempotencyConflict(movement.idempotency_key)
    return earlier
