"""A wallet movement, specified once, and the one path that writes it: one movement or a batch.

What a movement does, each said here once:

- :class:`WalletMovement`: a movement as its statements read it. Its fields are the columns of every *source of
  movements* (one movement bound as parameters, or a batch staged in a table, ``posting.many``) and the record binds
  them; :class:`Posting` binds what all the movements of one posting share (when, by whom).
- **The customer's row** (:func:`customers_moved`): its balance and each of its totals move by what the rule table
  says (``sql.customer_sql``: a new total is one entry of ``rules.CUSTOMER_TOTALS``), with
  ``balance_last_updated_at`` and the status (``formulas.status_sql``).
- **The conditions** the row meets after the movement (:func:`conditions`): the customer open; gas delivered not
  charged while tampered evidence of the customer waits for a review; the balance rule (no overdraft unless
  ``allow_overdraft``); the balance and each total within what its column holds. :func:`refusal` says the first that
  fails: the one place a refused movement is said.
- **Its month** (:func:`adding_to_month`, :func:`later_months`, :func:`emptied_month`): what it adds to each of the
  month's columns by the rule table, the later months' opening and closing carrying its net; or, for a customer not
  kept in real time, a recalculation request.
- **The accounts' buckets** (:func:`buckets_moved`): each of its two lines in its account's normal direction, in its
  customer's bucket, summed by (account, bucket) and written in that order, last.
- **Its journal entry**, numbered ``JE-`` and its id and recording its ledger row, with its two lines by the rule,
  and **its ledger row**, with its balance before and after (:func:`written`), returned as written.

:func:`post_one` writes one movement bound as parameters in one statement (the customer's row moved under the
conditions first, then, each part reading the moved row, the ids, the entry posted with its lines, the ledger row, the
month or the request, the buckets; a refused movement writes nothing). ``posting.many`` writes a batch from the same
parts: its conditions checked over its chain before anything is written, then one statement.
"""

from __future__ import annotations

import operator
import typing
from collections import defaultdict
from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import Decimal
from functools import cache, reduce

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Integer,
    String,
    and_,
    bindparam,
    cast,
    delete,
    func,
    insert,
    or_,
    select,
    true,
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
    MonthlyCustomerBalance,
    RecalculationReason,
    RecalculationRequest,
    TamperedEvidence,
)
from backoffice.models.types import Balance, Money, constant, month_of_date, upsert
from backoffice.platform.money import MAX_BALANCE, BeyondLimit
from backoffice.posting import journal
from backoffice.posting.formulas import status_sql
from backoffice.posting.installation import Installation
from backoffice.posting.movement import Movement
from backoffice.posting.refusals import CustomerClosed, InsufficientBalance, WalletError
from backoffice.posting.rules import CUSTOMER_TOTALS, INCOMING, MEASURES, MONTH_COLUMNS, TOTALS, Kind, rule_of
from backoffice.posting.sql import account_sql, contribution_sql, customer_sql

customers = Customer.__table__
ledger = BalanceTransaction.__table__
entries = JournalEntry.__table__
lines = JournalLine.__table__
accounts = Account.__table__
months = MonthlyCustomerBalance.__table__
requests = RecalculationRequest.__table__
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


@dataclass(frozen=True)
class _Buckets:
    """One movement's two buckets as its statement binds them, in (account, bucket) order."""

    bucket: int
    first_account: int
    first_by: Decimal
    second_account: int
    second_by: Decimal

    @classmethod
    def of(cls, moves: dict) -> _Buckets:
        ((first, bucket), first_by), ((second, _bucket), second_by) = moves.items()
        return cls(bucket, first, first_by, second, second_by)


@dataclass(frozen=True)
class _Accounts:
    """One movement's accounts by its rule, as its statement binds them: the account it debits, the one it credits."""

    debit: int
    credit: int

    @classmethod
    def of(cls, found: dict, lines: list[journal.Line]) -> _Accounts:
        debited, credited = lines
        return cls(found[debited.account].id, found[credited.account].id)


_PREFIXES = {
    WalletMovement: "movement_",
    Posting: "posting_",
    _Buckets: "buckets_",
    _Accounts: "accounts_",
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


# --- The month ----------------------------------------------------------------------------------------------------

MONTH_ADDED = (*MONTH_COLUMNS, *(measure.month for measure in MEASURES))
"""The columns of a month that its movements and its readings add to."""


def month_added(movement) -> dict:
    """What a movement adds to each of :data:`MONTH_ADDED`, by the rule table: money, and no measure (a reading's
    volume is its calculation's)."""
    kind, signed = movement["kind"], movement["signed_amount"]
    added = {column: contribution_sql(column, kind, signed) for column in MONTH_COLUMNS}
    return added | {measure.month: ZERO for measure in MEASURES}


def month_net(added):
    """What the month's closing moves by, and every later month's opening and closing: its money in less its money
    out (``added`` by column: what is added, or a month row's columns)."""
    return reduce(operator.add, (added[c] if c in INCOMING else -added[c] for c in MONTH_COLUMNS))


def adding_to_month(customer, month, added: dict, *, where=None, details=None):
    """Add to the customer's month ``added`` (by column of :data:`MONTH_ADDED`), or create the month opening at the
    previous month's closing, on ``where``; returns whether the month is left with nothing in it (``emptied``)."""
    previous_closing = func.coalesce(
        select(months.c.closing_balance)
        .where(months.c.customer_id == customer, months.c.year_month < month)
        .order_by(months.c.year_month.desc())
        .limit(1)
        .scalar_subquery(),
        ZERO,
    )
    values = {
        "customer_id": customer,
        "year_month": month,
        "opening_balance": previous_closing,
        **added,
        "closing_balance": func.round(previous_closing + month_net(added), TWO),
        "calculation_details": details,
        "last_calculated_at": MOMENT,
    }
    new = upsert(months).from_select(list(values), select(*values.values()).where(true() if where is None else where))
    sums = {column: func.round(months.c[column] + new.excluded[column], _places(column)) for column in MONTH_ADDED}
    return new.on_conflict_do_update(
        index_elements=[months.c.customer_id, months.c.year_month],
        set_={
            **sums,
            "closing_balance": func.round(months.c.closing_balance + month_net(new.excluded), TWO),
            "calculation_details": new.excluded.calculation_details,
            "last_calculated_at": new.excluded.last_calculated_at,
        },
    ).returning(and_(*(months.c[column] == ZERO for column in MONTH_ADDED)).label("emptied"))


def _places(column: str):
    return constant(months.c[column].type.scale)


def later_months(customer, month, net):
    """Every later month of the customer carries ``net`` in its opening and its closing."""
    return (
        update(months)
        .where(months.c.customer_id == customer, months.c.year_month > month)
        .values(
            opening_balance=func.round(months.c.opening_balance + net, TWO),
            closing_balance=func.round(months.c.closing_balance + net, TWO),
        )
    )


def emptied_month(customer, month):
    """A month left with nothing in it has no row."""
    return delete(months).where(
        months.c.customer_id == customer,
        months.c.year_month == month,
        *(months.c[column] == ZERO for column in MONTH_ADDED),
    )


def _movements_month(movement) -> dict:
    """One movement's month (``movement``: a source with ``realtime``, whether its customer is kept in real time):
    added to and carried to the later months, or, for a customer not kept in real time, a recalculation request."""
    added = month_added(movement.c)
    in_month = or_(*(value != ZERO for value in added.values()))
    customer, month, net = movement.c.customer_id, month_of_date(movement.c.value_date), month_net(added)
    details = func.json_build_object(constant("balance_transaction_id"), movement.c.row_id)
    request = {
        "customer_id": customer,
        "from_date": movement.c.value_date,
        "reason": constant(RecalculationReason.DEFERRED.value),
        "description": movement.c.kind + constant(" #") + cast(movement.c.row_id, String),
        "requested_at": MOMENT,
        "requested_by_id": USER,
    }
    return {
        "month": adding_to_month(customer, month, added, where=movement.c.realtime & in_month, details=details),
        "later": later_months(customer, month, net).where(movement.c.realtime, in_month, net != 0),
        "request": insert(requests).from_select(
            list(request), select(*request.values()).where(~movement.c.realtime, in_month)
        ),
    }


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


def written(source, *, by_side: dict | None = None) -> dict:
    """The statements writing the source's journal entries, posted with their lines, and its ledger rows, by name, in
    order (the books' guards run when the statement ends, over all its rows).

    ``by_side``: the source is one movement, whose accounts by its rule are bound (their ids by side, ``debit`` and
    ``credit``, which the caller found by :func:`journal.rule_lines`, as it finds its buckets): its lines are written
    to them rather than joined to the accounts its rule's codes select, and its one entry and ledger row are not
    sorted."""
    ordered = by_side is None
    return {
        "entries": _entries(source, ordered=ordered),
        "lines": _lines(source, by_side),
        "rows": _ledger_rows(source, ordered=ordered),
    }


def _entries(source, *, ordered: bool = True):
    """Each movement's journal entry, posted, dated on its value date, recording its ledger row (which its words are
    rendered from); in the order of their ids, unless not ``ordered`` (one movement's one entry)."""
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
    chosen = select(*values.values())
    return entries.insert().from_select(list(values), chosen.order_by(source.c.entry_id) if ordered else chosen)


def _lines(source, by_side: dict | None = None):
    """Each entry's two lines by its rule, the debit first: to the accounts its rule's codes select, or to those
    bound ``by_side`` (one movement's)."""
    amount = func.abs(source.c.signed_amount)
    sides = []
    for number, side in enumerate(("debit", "credit")):
        account = accounts.c.id if by_side is None else by_side[side]
        chosen = select(
            source.c.entry_id,
            account.label("account_id"),
            (amount if side == "debit" else ZERO).label("debit"),
            (amount if side == "credit" else ZERO).label("credit"),
            constant(number).label("side"),
        )
        if by_side is None:
            code = account_sql(side, source.c.kind, source.c.signed_amount)
            chosen = chosen.join_from(source, accounts, accounts.c.code == code)
        sides.append(chosen)
    both = union_all(*sides).subquery("sides")
    return lines.insert().from_select(
        ["entry_id", "account_id", "debit", "credit", "description"],
        select(both.c.entry_id, both.c.account_id, both.c.debit, both.c.credit, constant("")).order_by(
            both.c.entry_id, both.c.side
        ),
    )


def _ledger_rows(source, *, ordered: bool = True):
    """Each movement's ledger row, its balance before and after; in the order of their ids, unless not ``ordered``
    (one movement's one row)."""
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
    chosen = select(*values.values())
    return ledger.insert().from_select(list(values), chosen.order_by(source.c.row_id) if ordered else chosen)


# --- One movement -------------------------------------------------------------------------------------------------


def _bound_source(new, *, named: bool = False):
    """One movement as a source: its fields bound as parameters, beside what ``new`` (a one-row select) gives: the
    ids its ledger row and entry take, the balance after it, whether its customer is kept in real time. ``named``: a
    CTE, which PostgreSQL's one statement writes once for its parts that read it, rather than a subquery written out
    again in each (a fifth of the statement's text)."""
    taken = [new.c[name] for name in ("row_id", "entry_id", "balance_after", "realtime")]
    source = select(*(parameter.label(name) for name, parameter in MOVEMENT.items()), *taken)
    return source.cte("movement") if named else source.subquery("movement")


_ONE = {"customer_id": MOVEMENT["customer_id"], **customer_sql(MOVEMENT["kind"], MOVEMENT["signed_amount"])}
_ONE_AFTER = moved(_ONE)
_EMPTIED = emptied_month(MOVEMENT["customer_id"], month_of_date(MOVEMENT["value_date"]))

# The statements below are built when a process first posts, not when it imports the module: most commands import
# it (the checks, the models' months) and post nothing, and building them was most of its import's time.


@cache
def _guarded():
    """The customer's row locked, checked and moved by one movement: a movement it refuses moves no row."""
    return customers_moved(_ONE, *conditions(MOVEMENT, _ONE_AFTER).values()).returning(
        customers.c.balance.label("balance_after"), customers.c.use_realtime_calculation.label("realtime")
    )


@cache
def _why_one():
    return why(MOVEMENT, _ONE_AFTER).where(customers.c.id == MOVEMENT["customer_id"])


@cache
def _one_statement():
    """PostgreSQL's one statement for one movement: :func:`_guarded` first, then, each reading the row it moved (a
    refused movement writes nothing), the ids, the entry posted with its lines, the ledger row (returned), the month
    or the request, the buckets (fewer than two moved: one is beyond its column)."""
    row = _guarded().cte("moved")
    new = select(
        journal.next_id("balance_transactions").label("row_id"),
        journal.next_id("journal_entries").label("entry_id"),
        row.c.balance_after,
        row.c.realtime,
    ).cte("new")
    movement = _bound_source(new, named=True)
    parts = written(movement, by_side=_bound(_Accounts))
    rows = parts.pop("rows").returning(*ledger.c).cte("rows")
    month = _movements_month(movement)
    added = month.pop("month").cte("month")
    bound = _bound(_Buckets)
    two = union_all(
        *(
            select(bound[f"{side}_account"], bound["bucket"], bound[f"{side}_by"]).select_from(new)
            for side in ("first", "second")
        )
    )
    buckets = journal.adding_to_buckets(two).cte("buckets")
    return select(
        *rows.c,
        select(added.c.emptied).scalar_subquery().label("emptied"),
        select(func.count()).select_from(buckets).scalar_subquery().label("buckets"),
    ).add_cte(
        *(part.cte(name) for name, part in parts.items()),
        rows,
        added,
        *(part.cte(name) for name, part in month.items()),
        buckets,
    )


_LEDGER = tuple(ledger.c.keys())


def post_one(connection: Connection, installation: Installation, movement: WalletMovement, posting: Posting):
    """Write one movement (its value date and idempotency key checked by the caller); returns its ledger row as the
    database returned it, sealed when the unit of work commits."""
    lines = journal.check_lines(
        journal.rule_lines(rule_of(movement.kind, movement.signed_amount), movement.signed_amount)
    )
    moves = buckets_moved(installation, connection, {movement.customer_id: lines})
    bound = parameters(movement, posting)
    by_side = _Accounts.of(journal.accounts_of(installation, connection, [ln.account for ln in lines]), lines)
    row = connection.execute(_one_statement(), bound | parameters(_Buckets.of(moves), by_side)).one_or_none()
    if row is None:
        _refuse_one(connection, bound)
    if row.buckets < len(moves):
        raise BeyondLimit(journal.beyond_limit(connection, moves))
    if row.emptied:
        connection.execute(_EMPTIED, bound)
    returned = row._asdict()
    transaction = BalanceTransaction(**{name: returned[name] for name in _LEDGER})
    sealing.rows_written(
        connection, [("journal_entries", transaction.entry_id, 0), ("balance_transactions", transaction.id, 0)]
    )
    return transaction


def _refuse_one(connection: Connection, bound: dict):
    """Raise the refusal of the movement the customer's row refused."""
    found = connection.execute(_why_one(), bound).one_or_none()
    if found is None:
        raise WalletError(_("No customer with id %(id)s.", id=bound["movement_customer_id"]))
    raise refusal(found)
