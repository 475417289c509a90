"""A wallet movement: one posted by its SQL function, a batch by set-based statements, both by the rule table.

**One movement** (:func:`post_one`) is one call of ``post_wallet_movement_v1``, a function of SQL (migration
``0054``, where it reads top to bottom): the customer's row locked and moved on the conditions it meets after the
movement; its journal entry posted with its two lines and its ledger row, in one statement; its month shifted
(``shift_customer_month_v1``) or, for a customer not kept in real time, a recalculation request; the accounts'
buckets, last. What the rule table says of the movement is given to it: what it adds to each of the customer's
totals and each of its month's columns (``rules.counts``), the accounts its rule debits and credits
(``journal.rule_lines``), and what its lines move in their buckets (:func:`buckets_moved`). A refused movement
writes nothing and returns no row; :func:`refusal` then says why.

**A batch** (``posting.many``) is written from the parts below, over its movements staged in a table:

- :class:`WalletMovement`: a movement as its statements read it. Its fields are the columns of every *source of
  movements* (one movement's parameters, a staged batch's columns); :class:`Posting` binds what all the movements
  of one posting share (when, by whom).
- **The customer's row** (:func:`customers_moved`): its balance and each of its totals move by what the rule table
  says (``sql.customer_sql``: a new total is one entry of ``rules.CUSTOMER_TOTALS``), with
  ``balance_last_updated_at`` and the status (``formulas.status_sql``).
- **The conditions** the row meets after a movement (:func:`conditions`): the customer open; gas delivered not
  charged while tampered evidence of the customer waits for a review; the balance rule (no overdraft unless
  ``allow_overdraft``); the balance and each total within what its column holds. The function checks the same
  conditions; :func:`refusal` says the first that fails, for one movement and for a batch alike: the one place a
  refused movement is said.
- **The accounts' buckets** (:func:`buckets_moved`): each of its two lines in its account's normal direction, in its
  customer's bucket, summed by (account, bucket) and written in that order, last.
- **Its journal entry**, numbered ``JE-`` and its id and recording its ledger row, with its two lines by the rule,
  and **its ledger row**, with its balance before and after (:func:`written`).

That one movement and a batch of it write the same rows, and are refused in the same words, the tests hold for
every rule and every refusal.
"""

from __future__ import annotations

import typing
from collections import defaultdict
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime
from decimal import Decimal
from functools import cache

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Integer,
    String,
    bindparam,
    cast,
    func,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.engine import Connection

from backoffice.evidence import sealing
from backoffice.evidence.quarantine import Quarantined
from backoffice.models import (
    Account,
    BalanceTransaction,
    Customer,
    EntryStatus,
    JournalEntry,
    JournalLine,
    TamperedEvidence,
)
from backoffice.models.types import Balance, Money, constant
from backoffice.platform.money import MAX_BALANCE, BeyondLimit
from backoffice.posting import journal
from backoffice.posting.formulas import status_sql
from backoffice.posting.installation import Installation
from backoffice.posting.movement import Movement
from backoffice.posting.refusals import CustomerClosed, InsufficientBalance, WalletError
from backoffice.posting.rules import (
    CUSTOMER_TOTALS,
    DELIVERED,
    TOTALS,
    Kind,
    counts,
    rule_of,
)
from backoffice.posting.sql import account_sql, customer_sql

customers = Customer.__table__
ledger = BalanceTransaction.__table__
entries = JournalEntry.__table__
lines = JournalLine.__table__
accounts = Account.__table__
findings = TamperedEvidence.__table__

ZERO, TWO = constant(0), constant(2)
"""Written into the statements, not bound: a movement's statement binds only what differs from one to the next."""


@dataclass(frozen=True, kw_only=True)
class WalletMovement:
    """One wallet movement as its statements read it: each field a column of every source of movements."""

    customer_id: int
    kind: str
    """A rule's kind (``rules.Kind``)."""
    signed_amount: Decimal
    """Signed as the wallet sees it."""
    value_date: date
    reference_type: str | None = None
    reference_id: int | None = None
    description: str = ""
    reason: str | None = None
    occasion: str | None = None
    reverses_id: int | None = None
    idempotency_key: str | None = None
    allow_overdraft: bool = False
    """Gas already delivered is charged beyond the balance."""
    automatic: bool = False
    """Charged for gas delivered, with no clerk: refused while tampered evidence of the customer waits for a review."""

    @classmethod
    def of(cls, movement: Movement, on: date) -> WalletMovement:
        """The wallet movement ``movement`` asks for, dated ``on``; a charge is gas delivered."""
        reference = movement.reference
        return cls(
            customer_id=movement.customer_id,
            kind=Kind(movement.kind).value,
            signed_amount=movement.amount,
            value_date=on,
            reference_type=reference.type if reference else None,
            reference_id=reference.id if reference else None,
            description=movement.description.strip()[:300],
            reason=movement.reason,
            occasion=movement.occasion,
            reverses_id=movement.reverses_id,
            idempotency_key=movement.idempotency_key or None,
            allow_overdraft=movement.allow_overdraft,
            automatic=movement.kind is Kind.CHARGE,
        )


@dataclass(frozen=True)
class Posting:
    """What the movements of one posting share: when they are written and by whom; a batch's reason and occasion (one
    movement carries its own)."""

    moment: datetime
    user_id: int | None = None
    reason: str | None = None
    occasion: str | None = None


_PREFIXES = {
    WalletMovement: "movement_",
    Posting: "posting_",
}
"""Each record's parameters are named apart from every column, so that no update run with them sets a column of their
name (``customer_id``, ``reason``)."""
_SQL_TYPES = {int: Integer, str: String, Decimal: Money, date: Date, bool: Boolean, datetime: DateTime(timezone=True)}


_NAMED = {
    record_type: tuple((f.name, prefix + f.name) for f in fields(record_type))
    for record_type, prefix in _PREFIXES.items()
}
"""Each record's fields with their parameters' names, named once rather than for every movement."""


def parameters(*records) -> dict:
    """The records' bind parameters: each field by its record's prefix and its name (``movement_kind``)."""
    return {name: getattr(record, field) for record in records for field, name in _NAMED[type(record)]}


def _bound(record_type) -> dict:
    """The record's fields as bind parameters, typed as annotated, by name."""
    hints = typing.get_type_hints(record_type)
    prefix = _PREFIXES[record_type]
    return {f.name: bindparam(prefix + f.name, type_=_sql_type(hints[f.name])) for f in fields(record_type)}


def _sql_type(hint):
    (python_type,) = [type_ for type_ in typing.get_args(hint) or (hint,) if type_ is not type(None)]
    return _SQL_TYPES[python_type]


MOVEMENT = _bound(WalletMovement)
POSTING = _bound(Posting)
MOMENT, USER = POSTING["moment"], POSTING["user_id"]
MOVED = ("balance", *TOTALS)
"""The customer's columns a movement moves (``sql.customer_sql``): the balance, and each of the rule table's totals."""


def movement_columns() -> list[Column]:
    """A movement's fields as the columns of a table (a staged batch's)."""
    return [Column(name, parameter.type, nullable=name not in _REQUIRED) for name, parameter in MOVEMENT.items()]


_REQUIRED = {
    name for name, hint in typing.get_type_hints(WalletMovement).items() if type(None) not in typing.get_args(hint)
}


# --- The customer's row, and the conditions it meets ------------------------------------------------------------


def customers_moved(by, *conditions):
    """The customers' rows moved by ``by`` (a customer id and what it adds to each of :data:`MOVED`: one movement's,
    or a batch's sums by customer), on ``conditions``."""
    after = moved(by)
    return (
        update(customers)
        .where(customers.c.id == by["customer_id"], *conditions)
        .values(
            **after,
            balance_last_updated_at=MOMENT,
            status=status_sql(after["balance"], customers.c.suspend_below),
        )
    )


def moved(by) -> dict:
    """Each of the customer's columns :data:`MOVED` after ``by``, rounded to cents."""
    return {column: func.round(customers.c[column] + by[column], TWO) for column in MOVED}


def conditions(movement, after) -> dict:
    """What the customer's row meets after ``movement`` (its columns by name), ``after`` being the row's
    :data:`MOVED` columns after it: by name, in the order :func:`refusal` names the first that fails."""
    quarantined = (
        select(findings.c.id).where(findings.c.customer_id == customers.c.id, findings.c.resolution.is_(None)).exists()
    )
    return {
        "open": customers.c.closed_at.is_(None),
        "trusted": or_(~movement["automatic"], ~quarantined),
        "covered": or_(movement["allow_overdraft"], movement["signed_amount"] >= ZERO, after["balance"] >= ZERO),
        **{f"within_{column}": func.abs(after[column]) <= constant(MAX_BALANCE) for column in MOVED},
    }


LIMITS = {"balance": _l("The balance of %(code)s"), **{total.column: total.beyond for total in CUSTOMER_TOTALS}}
"""What a refusal calls each of :data:`MOVED` when a movement would take it beyond its column."""


def refusal(found) -> WalletError | Quarantined | BeyondLimit:
    """The refusal of the first condition ``found`` fails: a row of :func:`why`, the customer's code, its balance
    before the movement and the movement's size, and each condition's verdict."""
    verdicts = found._mapping
    failed = next(name for name in CONDITIONS if not verdicts[name])
    if failed == "open":
        return CustomerClosed(found.code)
    if failed == "trusted":
        return Quarantined(found.code)
    if failed == "covered":
        return InsufficientBalance(found.code, found.available, found.needed)
    return BeyondLimit(str(LIMITS[failed.removeprefix("within_")]) % {"code": found.code})


def why(movement, after):
    """The customer, its balance before ``movement`` and the movement's size, and the verdict of each of
    :func:`conditions` (a select to narrow to the movement it asks about)."""
    verdicts = conditions(movement, after)
    signed = movement["signed_amount"]
    return select(
        customers.c.code,
        func.round(after["balance"] - signed, 2, type_=Balance).label("available"),
        func.abs(signed, type_=Money).label("needed"),
        *(verdict.label(name) for name, verdict in verdicts.items()),
    )


CONDITIONS = tuple(conditions(MOVEMENT, dict.fromkeys(MOVED, ZERO)))


# --- The accounts' buckets, the entries with their lines, the ledger rows -----------------------------------------


def buckets_moved(installation: Installation, connection: Connection, lines_by_customer: dict) -> dict:
    """What movements' lines (by customer: a movement's by its rule, ``journal.rule_lines``, or a batch's summed by
    accounts) add to each account's bucket, in the account's normal direction and its customer's bucket
    (``journal.moves``): by (account, bucket), summed, to be written in that order (two postings never lock them in
    opposite orders)."""
    found = journal.accounts_of(
        installation, connection, {ln.account for lines in lines_by_customer.values() for ln in lines}
    )
    summed: dict[tuple[int, int], Decimal] = defaultdict(Decimal)
    for customer_id, lines in lines_by_customer.items():
        for key, amount in journal.moves(lines, found, customer_id).items():
            summed[key] += amount
    return dict(sorted(summed.items()))


def written(source) -> dict:
    """The statements writing a batch's journal entries, posted with their lines, and its ledger rows, by name, in
    order (the books' guards run when the statement ends, over all its rows)."""
    return {"entries": _entries(source), "lines": _lines(source), "rows": _ledger_rows(source)}


def _entries(source):
    """Each movement's journal entry, posted, dated on its value date, recording its ledger row (which its words are
    rendered from), in the order of their ids."""
    status = {"status": constant(EntryStatus.POSTED.value), "posted_at": MOMENT, "posted_by_id": USER}
    values = {
        "id": source.c.entry_id,
        "number": constant("JE-") + cast(source.c.entry_id, String),
        "entry_date": source.c.value_date,
        "description": constant(""),
        **status,
        "source_type": constant("balance_transaction"),
        "source_id": source.c.row_id,
        "created_at": MOMENT,
    }
    return entries.insert().from_select(list(values), select(*values.values()).order_by(source.c.entry_id))


def _lines(source):
    """Each entry's two lines by its rule, the debit first, to the accounts its rule's codes select."""
    amount = func.abs(source.c.signed_amount)
    sides = []
    for number, side in enumerate(("debit", "credit")):
        code = account_sql(side, source.c.kind, source.c.signed_amount)
        sides.append(
            select(
                source.c.entry_id,
                accounts.c.id.label("account_id"),
                (amount if side == "debit" else ZERO).label("debit"),
                (amount if side == "credit" else ZERO).label("credit"),
                constant(number).label("side"),
            ).join_from(source, accounts, accounts.c.code == code)
        )
    both = union_all(*sides).subquery("sides")
    return lines.insert().from_select(
        ["entry_id", "account_id", "debit", "credit", "description"],
        select(both.c.entry_id, both.c.account_id, both.c.debit, both.c.credit, constant("")).order_by(
            both.c.entry_id, both.c.side
        ),
    )


def _ledger_rows(source):
    """Each movement's ledger row, its balance before and after, in the order of their ids."""
    signed = source.c.signed_amount
    values = {
        "id": source.c.row_id,
        "customer_id": source.c.customer_id,
        "kind": source.c.kind,
        "amount": func.abs(signed),
        "signed_amount": signed,
        "balance_before": func.round(source.c.balance_after - signed, TWO),
        "balance_after": source.c.balance_after,
        "value_date": source.c.value_date,
        "reference_type": source.c.reference_type,
        "reference_id": source.c.reference_id,
        "description": source.c.description,
        "reason": source.c.reason,
        "occasion": source.c.occasion,
        "reverses_id": source.c.reverses_id,
        "idempotency_key": source.c.idempotency_key,
        "entry_id": source.c.entry_id,
        "created_at": MOMENT,
        "created_by_id": USER,
    }
    return ledger.insert().from_select(list(values), select(*values.values()).order_by(source.c.row_id))


# --- One movement -------------------------------------------------------------------------------------------------

_POST = text(
    """
    SELECT (posted).*, buckets_moved FROM post_wallet_movement_v1(
        :customer_id, :kind, :signed_amount, :value_date, :reference_type, :reference_id, :description, :reason,
        :occasion, :reverses_id, :idempotency_key, :allow_overdraft, :automatic,
        :moment, :user_id,
        :total_recharged, :total_spent, :total_deposits, :total_purchases, :total_volume_sm3,
        :debit_account, :credit_account, :bucket, :first_account, :first_by, :second_account, :second_by
    )
    """
).bindparams(
    *(
        bindparam(name, type_=Integer)
        for name in ("customer_id", "reference_id", "reverses_id", "user_id", "debit_account", "credit_account")
    ),
    *(bindparam(name, type_=Integer) for name in ("bucket", "first_account", "second_account")),
)
"""One movement posted by ``post_wallet_movement_v1`` (migration ``0054``), the SQL function that writes it: the
movement, the posting, what its rule adds to each of the customer's totals and its month's columns
(``rules.counts``), the gas delivered its month counts with it, the accounts its rule debits and credits, and what
it moves in their buckets."""

_LEDGER = tuple(ledger.c.keys())


def post_one(
    connection: Connection,
    installation: Installation,
    movement: WalletMovement,
    posting: Posting,
    delivered: Decimal = Decimal(0),
):
    """Write one movement (its value date and idempotency key checked by the caller), its month counting
    ``delivered`` Sm³ of gas with it (``Movement.delivered``); returns its ledger row as the database returned it,
    sealed when the unit of work commits."""
    rule = rule_of(movement.kind, movement.signed_amount)
    lines = journal.check_lines(journal.rule_lines(rule, movement.signed_amount))
    found = journal.accounts_of(installation, connection, [ln.account for ln in lines])
    moves = buckets_moved(installation, connection, {movement.customer_id: lines})
    ((first, bucket), first_by), ((second, _bucket), second_by) = moves.items()
    debited, credited = lines
    row = connection.execute(
        _POST,
        asdict(movement)
        | {"moment": posting.moment, "user_id": posting.user_id}
        | counts(rule, movement.signed_amount)
        | {DELIVERED.month: delivered}
        | {"debit_account": found[debited.account].id, "credit_account": found[credited.account].id}
        | {"bucket": bucket, "first_account": first, "first_by": first_by}
        | {"second_account": second, "second_by": second_by},
    ).one_or_none()
    if row is None:
        _refuse_one(connection, parameters(movement))
    if row.buckets_moved < len(moves):
        raise BeyondLimit(journal.beyond_limit(connection, moves))
    transaction = BalanceTransaction(**{name: getattr(row, name) for name in _LEDGER})
    sealing.rows_written(
        connection, [("journal_entries", transaction.entry_id, 0), ("balance_transactions", transaction.id, 0)]
    )
    return transaction


_ONE_AFTER = moved(customer_sql(MOVEMENT["kind"], MOVEMENT["signed_amount"]))


@cache
def _why_one():
    return why(MOVEMENT, _ONE_AFTER).where(customers.c.id == MOVEMENT["customer_id"])


def _refuse_one(connection: Connection, bound: dict):
    """Raise the refusal of the movement the customer's row refused."""
    found = connection.execute(_why_one(), bound).one_or_none()
    if found is None:
        raise WalletError(_("No customer with id %(id)s.", id=bound["movement_customer_id"]))
    raise refusal(found)
