"""Wallet movements, posted by one function of SQL: a batch of them, or one as a batch of one.

``post_wallet_movements_v3`` (migration ``0100``) checks each movement against its rule (``posting_rules``) and its
customer's balance and totals, and writes its ledger row, customer row and month, and its journal entry through the
journal's one writer (``post_journal_v1``), which moves the account buckets. So one movement (:func:`post_one`) and a
batch (:func:`post_many`) are written, and refused, by the same statements; Python only words the refusal.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime
from decimal import Decimal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    Date,
    Integer,
    Numeric,
    Select,
    String,
    any_,
    bindparam,
    cast,
    column,
    false,
    func,
    literal,
    null,
    select,
    true,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by, array
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import UserDefinedType

from backoffice.evidence import sealing
from backoffice.evidence.quarantine import Quarantined
from backoffice.models import BUCKETS, BalanceTransaction, JournalEntry
from backoffice.models.types import utcnow
from backoffice.platform.lines import described
from backoffice.platform.money import BeyondLimit
from backoffice.posting import journal
from backoffice.posting.installation import Installation
from backoffice.posting.movement import Movement
from backoffice.posting.refusals import CustomerClosed, DatedAfterToday, InsufficientBalance, WalletError
from backoffice.posting.rules import CUSTOMER_TOTALS, Kind, NoRule, rule_of

ledger = BalanceTransaction.__table__
entries = JournalEntry.__table__


@dataclass(frozen=True, kw_only=True)
class WalletMovement:
    """One wallet movement as the posting function takes it (``wallet_movement_v3``, its fields in this order)."""

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
    delivered: Decimal = Decimal(0)
    """Sm³ of gas delivered that its month counts with it (``Movement.delivered``)."""

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
            description=described(movement.description),
            reason=movement.reason,
            occasion=movement.occasion,
            reverses_id=movement.reverses_id,
            idempotency_key=movement.idempotency_key or None,
            allow_overdraft=movement.allow_overdraft,
            automatic=movement.kind is Kind.CHARGE,
            delivered=movement.delivered,
        )


class _Composite(UserDefinedType):
    """A composite type of the posting function's (migration ``0100``), by name."""

    cache_ok = True

    def __init__(self, name: str) -> None:
        self.name = name

    def get_col_spec(self, **_kw) -> str:
        return self.name


_FIELDS = tuple(field.name for field in fields(WalletMovement))
_ONE = array([cast(tuple_(literal(1), *map(bindparam, _FIELDS)), _Composite("wallet_movement_v3"))])
"""One movement, bound, as a batch of one: each field cast by the composite type."""


def _posted(batch, months: bool):
    """The ledger rows ``post_wallet_movements_v3`` writes for ``batch`` (an array of movements), as a table."""
    return func.post_wallet_movements_v3(
        batch,
        literal(BUCKETS),
        bindparam("today", type_=Date),
        bindparam("moment"),
        bindparam("user_id", type_=Integer),
        true() if months else false(),
    ).table_valued(*(column(c.name, c.type) for c in ledger.c))


_POST_ONE = select(_posted(_ONE, months=True))


def _given(installation: Installation, moment: datetime, user_id: int | None) -> dict:
    return {"today": installation.today(), "moment": moment, "user_id": user_id}


def post_one(
    connection: Connection, installation: Installation, movement: WalletMovement, moment: datetime, user_id
) -> BalanceTransaction:
    """Write one movement (its idempotency key checked by the caller) and its month; returns its ledger row as the
    database returned it, sealed when the unit of work commits."""
    given = asdict(movement) | _given(installation, moment, user_id)
    with _refusals(installation):
        row = connection.execute(_POST_ONE, given).one()
    transaction = BalanceTransaction(**row._mapping)
    sealing.rows_written(
        connection, [("journal_entries", transaction.entry_id, 0), ("balance_transactions", transaction.id, 0)]
    )
    return transaction


MOVEMENT_COLUMNS = ("customer_id", "position", "kind", "signed_amount", "value_date", "reference_type", "reference_id")
MOVEMENT_COLUMNS += ("description",)
"""The columns of the select of movements :func:`post_many` is given. ``position`` orders each customer's movements
(their ledger rows take ids in that order); the others are a ``Movement``'s, ``kind`` by the sign of its amount."""


def _many(movements: Select):
    """The movements of a batch (gas delivered: charged beyond the balance, refused while tampered evidence of their
    customer waits for a review) as the function's array, each customer's in their ``position``'s order."""
    given = movements.subquery("movements").c
    placed = select(
        func.row_number().over(order_by=(given.customer_id, given.position)).label("place"),
        *(given[name] for name in MOVEMENT_COLUMNS if name != "position"),
        bindparam("reason", type_=String).label("reason"),
        bindparam("occasion", type_=String).label("occasion"),
    ).subquery("placed")
    row = cast(
        tuple_(
            *(placed.c[name] for name in ("place", *MOVEMENT_COLUMNS[:1], *MOVEMENT_COLUMNS[2:], "reason", "occasion")),
            null(),
            null(),
            true(),
            true(),
            cast(literal(0), Numeric),
        ),
        _Composite("wallet_movement_v3"),
    )
    return select(func.array_agg(aggregate_order_by(row, placed.c.place))).scalar_subquery()


def post_many(
    installation: Installation,
    connection: Connection,
    movements: Select,
    bound: dict | None = None,
    *,
    user=None,
    reason: str | None = None,
    occasion: str | None = None,
) -> dict[int, date]:
    """Post the movements within the caller's unit of work: a select of :data:`MOVEMENT_COLUMNS` (with the values of
    its parameters ``bound``), each with ``reason`` and ``occasion`` (``Movement.reason``, ``Movement.occasion``).
    Their months are the caller's to recalculate (what else counts in them changes too, the readings' volumes):
    returns each customer's earliest value date among them."""
    posted = _posted(_many(movements), months=False)
    given = (bound or {}) | _given(installation, utcnow(), user.id if user else None)
    with _refusals(installation):
        rows = connection.execute(
            select(posted.c.id, posted.c.entry_id, posted.c.customer_id, posted.c.value_date),
            given | {"reason": reason, "occasion": occasion},
        ).all()
    first_dates: dict[int, date] = {}
    for row in rows:
        first_dates[row.customer_id] = min(row.value_date, first_dates.get(row.customer_id, row.value_date))
    if rows:
        ids = bindparam("ids", [row.id for row in rows], type_=ARRAY(Integer))
        entry_ids = bindparam("entry_ids", [row.entry_id for row in rows], type_=ARRAY(Integer))
        sealing.seal(
            connection,
            [("journal_entries", entries.c.id == any_(entry_ids)), ("balance_transactions", ledger.c.id == any_(ids))],
        )
    return first_dates


# --- What the function refuses, in the reader's language -----------------------------------------------------------

REFUSED = "WL001"
"""The SQLSTATE the posting function raises a refusal with, its figures in the error's detail as JSON."""
LIMITS = {"balance": _l("The balance of %(code)s"), **{total.column: total.beyond for total in CUSTOMER_TOTALS}}
"""What a refusal calls each column a movement would take beyond what it holds."""


@contextmanager
def _refusals(installation: Installation):
    """Raise the refusal the posting function raised, in the reader's language; any other error as it is."""
    try:
        yield
    except DBAPIError as error:
        state = getattr(error.orig, "sqlstate", None)
        if state not in (REFUSED, journal.REFUSED):
            raise
        found = json.loads(error.orig.diag.message_detail, parse_float=Decimal)
        said = refusal if state == REFUSED else journal.refused
        raise said(found, installation) from None


def refusal(found: dict, installation: Installation) -> Exception:
    """The refusal the posting function's figures ``found`` say: the first condition a movement failed."""
    failed, code = found["refusal"], found.get("code")
    if failed == "rule":
        try:
            rule_of(found["kind"], Decimal(found["amount"]))
        except NoRule as error:
            return error
        return NoRule(f"A {found['kind']} is no wallet movement.")
    if failed == "today":
        return DatedAfterToday(date.fromisoformat(found["today"]), installation.timezone)
    if failed == "customer":
        return WalletError(_("No customer with id %(id)s.", id=found["customer_id"]))
    if failed == "open":
        return CustomerClosed(code)
    if failed == "trusted":
        return Quarantined(code)
    if failed == "covered":
        return InsufficientBalance(code, Decimal(found["available"]), Decimal(found["needed"]))
    return BeyondLimit(str(LIMITS[failed]) % {"code": code})
