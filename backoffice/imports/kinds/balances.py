"""The import of opening wallet balances."""

from __future__ import annotations

from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import Date, Integer, Numeric, String, cast, column, select, values

from backoffice.evidence import verifying
from backoffice.imports import values as read
from backoffice.imports.kinds.base import (
    CUSTOMER,
    Field,
    ImportKind,
    Row,
    Stated,
    _both,
    _open_month,
    _refer_customers,
    _signed,
    _stored,
)
from backoffice.models import (
    BalanceTransaction,
    Customer,
    User,
)
from backoffice.platform.extensions import db
from backoffice.posting import months
from backoffice.posting.locking import lock_customers
from backoffice.posting.rules import Kind
from backoffice.posting.wallet_batches import post_many
from backoffice.services import cut_over, installation

# Opening wallet balances.


def _customers_balance(codes: list[str]) -> dict[str, Decimal]:
    return dict(db.session.execute(select(Customer.code, Customer.balance).where(Customer.code.in_(codes))).all())


def _stored_balances(rows: list[Row]) -> dict[tuple, Row]:
    """The customers' opening balances the application posted: an opening movement nothing vouches for (an INSERT by
    SQL, any id; a row whose seal fails) is left to the evidence's review, never taken for the file's."""
    ledger = BalanceTransaction
    openings = ledger.kind == Kind.OPENING.value
    chosen = ledger.customer_id.in_(select(Customer.id).where(Customer.code.in_({row["customer"] for row in rows})))
    unvouched = verifying.untrusted(db.session.connection(), "balance_transactions", openings & chosen)
    query = (
        select(
            Customer.code.label("customer"),
            ledger.signed_amount.label("amount"),
            ledger.value_date.label("on"),
        )
        .join(Customer, Customer.id == ledger.customer_id)
        .where(openings, ledger.id.not_in(unvouched))
    )
    found = _stored(query, [Customer.code], rows, [(row["customer"],) for row in rows])
    for row in rows:
        if row["amount"] == 0:
            # Nothing to post: a customer the system before left at zero is as it should be, however often imported.
            found.setdefault((row["customer"],), {"customer": row["customer"], "amount": Decimal(0), "on": row["on"]})
    return found


_OPENINGS = values(
    column("customer_id", Integer),
    column("position", Integer),
    column("kind", String),
    column("signed_amount", Numeric(15, 2)),
    column("value_date", Date),
    column("reference_type", String),
    column("reference_id", Integer),
    column("description", String),
    name="openings",
)


def _write_balances(rows: list[Row], user: User | None) -> None:
    """Each customer's opening balance, one movement of kind ``opening`` each, posted as one batch."""
    if rows:
        cut_over.by_default(max(row["on"] for row in rows), user)
    moved = [row for row in rows if row["amount"] != 0]
    if not moved:
        return
    connection = db.session.connection()
    ids = sorted({row["customer_id"] for row in moved})
    lock_customers(connection, ids)
    given = _OPENINGS.data(
        [
            (row["customer_id"], 1, Kind.OPENING.value, row["amount"], row["on"], None, None, "")
            for row in sorted(moved, key=lambda row: row["customer_id"])
        ]
    )
    # Each column cast to its type: a VALUES column of NULLs alone would be text.
    first_dates = post_many(installation(), connection, select(*(cast(c, c.type) for c in given.c)), user=user)
    months.recalculate(connection, ids, months.Month.of(min(first_dates.values())))


BALANCES = ImportKind(
    "balances",
    _l("Opening balances"),
    (
        CUSTOMER,
        Field(
            "amount",
            _l("Opening balance"),
            _signed,
            holds="number",
            required=True,
            total=True,
            aliases=(
                "opening",
                "balance",
                "saldo",
                "saldo pembukaan",
                "so du",
                "so du dau",
            ),
        ),
        Field(
            "on",
            _l("Cut-over date"),
            read.day,
            holds="date",
            required=True,
            aliases=(
                "date",
                "as of",
                "balance date",
                "tgl",
                "tgl saldo",
                "per tgl",
                "ngay",
                "ngay so du",
            ),
        ),
    ),
    ("customer",),
    _stored_balances,
    _write_balances,
    refers=_both(_refer_customers, _open_month("on")),
    stated=(
        Stated(
            Field(
                "closing_balance",
                _l("Closing balance"),
                _signed,
                holds="number",
                aliases=(
                    "closing",
                    "saldo penutupan",
                    "so du cuoi",
                ),
            ),
            "customer",
            _customers_balance,
        ),
    ),
    compared=("amount", "on"),
    by_hand=Kind.OPENING.value,
)


# Invoices and payments, by the operations of their forms, a chunk posted as one batch.
