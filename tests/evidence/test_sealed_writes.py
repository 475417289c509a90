"""A transaction seals exactly the rows it inserted: not a row inserted by SQL with the id a rolled-back dry run or
transaction used, not a history version planted under the transaction's id; and a version cannot name a history
transaction that was not written."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy_continuum.utils import version_class

from backoffice.models import Order, RunMode, Seal
from backoffice.platform.extensions import db
from backoffice.platform.reasons import AdjustmentReason
from backoffice.posting.post import post
from backoffice.reconcile import engine
from backoffice.services import approvals, installation, wallet
from tests.factories import CustomerFactory, OrderFactory, UserFactory, past_the_guards

D = Decimal


def orders_history() -> sa.Table:
    return version_class(Order).__table__


def sealed(kind: str, row_id: int, version: int = 0) -> bool:
    db.session.rollback()
    return (
        db.session.scalar(
            sa.select(sa.func.count()).where(Seal.kind == kind, Seal.row_id == row_id, Seal.version == version)
        )
        == 1
    )


def findings(check: str = "evidence_seals") -> set[tuple[str, int]]:
    run = engine.run(RunMode.VERIFY, checks=[check])
    return {(d.field, d.entity_id) for d in db.session.scalars(engine.discrepancies(run.id, check))}


def forge(connection: sa.Connection, customer_id: int, movement_id: int, entry_id: int, amount: str) -> None:
    """A wallet movement and its posted entry inserted by SQL with the ids given, as an insider would."""
    connection.execute(
        sa.text(
            "INSERT INTO journal_entries (id, number, entry_date, description, status, created_at, posted_at) "
            "VALUES (:e, 'JE-FORGED', CURRENT_DATE, 'Adjustment', 'posted', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        ),
        {"e": entry_id},
    )
    for code, debit, credit in (("1000", amount, "0"), ("2000", "0", amount)):
        connection.execute(
            sa.text(
                "INSERT INTO journal_lines (entry_id, account_id, debit, credit, description) "
                "SELECT :e, id, :d, :c, '' FROM accounts WHERE code = :code"
            ),
            {"e": entry_id, "d": debit, "c": credit, "code": code},
        )
    connection.execute(
        sa.text(
            "INSERT INTO balance_transactions (id, customer_id, kind, amount, signed_amount, balance_before, "
            "balance_after, value_date, description, entry_id, created_at) "
            "SELECT :m, id, 'adjustment', :a, :a, balance, balance + :a, CURRENT_DATE, 'Adjustment', :e, "
            "CURRENT_TIMESTAMP FROM customers WHERE id = :c"
        ),
        {"m": movement_id, "c": customer_id, "a": amount, "e": entry_id},
    )


def test_rows_inserted_with_the_ids_a_rolled_back_dry_run_used_are_not_sealed(app, monkeypatch):
    maker = UserFactory(email="maker@example.com", role="admin")
    customer = CustomerFactory(code="HOTEL")
    wallet.recharge(customer, D("1000"))
    customer_id = customer.id
    tried = []

    def posting(installation, connection, movement):
        tried.append(post(installation, connection, movement))
        return tried[-1]

    dry_run = approvals._would_post

    def dry_run_then_forged(session, movement):
        """While the request is still being asked (its idempotency key held), rows are inserted by SQL with the
        ids the dry run used, committed from another transaction."""
        dry_run(session, movement)
        ids = customer_id, tried[0].source_id, tried[0].entry_id
        with db.engine.begin() as connection:
            connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
            forge(connection, *ids, "7000000")

    monkeypatch.setattr(approvals, "post", posting)
    monkeypatch.setattr(approvals, "_would_post", dry_run_then_forged)
    asked = approvals.ask_adjustment(
        wallet.adjustment(customer_id, D("7000000"), reason=AdjustmentReason.GOODWILL, user=maker),
        user=maker,
        reason="goodwill after the outage",
    )

    movement_id, entry_id = tried[0].source_id, tried[0].entry_id
    assert sealed("approval_requests", asked.id)
    assert not sealed("balance_transactions", movement_id) and not sealed("journal_entries", entry_id)
    assert {("balance_transactions", movement_id), ("journal_entries", entry_id)} <= findings()


def test_rows_inserted_with_the_ids_a_rolled_back_transaction_used_are_not_sealed(app):
    customer = CustomerFactory(code="HOTEL")
    wallet.recharge(customer, D("1000"))
    customer_id = customer.id
    posted = post(
        installation(),
        db.session.connection(),
        wallet.adjustment(customer_id, D("5000"), reason=AdjustmentReason.GOODWILL),
    )
    db.session.rollback()
    with past_the_guards() as connection:
        forge(connection, customer_id, posted.source_id, posted.entry_id, "5000")
    CustomerFactory(code="BAKERY")  # the session's next transaction, which commits

    assert not sealed("balance_transactions", posted.source_id) and not sealed("journal_entries", posted.entry_id)
    assert {("balance_transactions", posted.source_id), ("journal_entries", posted.entry_id)} <= findings()


def test_what_a_savepoint_released_wrote_is_sealed_with_its_transaction(app):
    customer = CustomerFactory(code="HOTEL")
    customer_id = customer.id
    wallet.recharge(customer, D("1000"))
    with db.session.begin_nested():
        kept = post(
            installation(), db.session.connection(), wallet.adjustment(customer_id, D("5000"), reason="goodwill")
        )
    dropped = db.session.begin_nested()
    post(installation(), db.session.connection(), wallet.adjustment(customer_id, D("7000"), reason="goodwill"))
    dropped.rollback()
    db.session.commit()

    assert sealed("balance_transactions", kept.source_id) and sealed("journal_entries", kept.entry_id)
    assert findings() == set()


def _next_transaction_id(connection: sa.Connection) -> int:
    """The id the next history transaction takes, as a reader of the sequence can tell."""
    return connection.exec_driver_sql("SELECT nextval('history_transactions_id_seq')").scalar_one() + 1


def _plant(connection: sa.Connection, order_id: int, transaction_id: int) -> None:
    """A version of the order with its total raised by 250 million, under ``transaction_id``; the live order to
    match it."""
    history = orders_history()
    raised = {"transaction_id": sa.literal(transaction_id), "total_price": history.c.total_price + 250_000_000}
    latest = (
        sa.select(*(raised.get(column.name, column) for column in history.c))
        .where(history.c.id == order_id)
        .order_by(history.c.transaction_id.desc())
        .limit(1)
    )
    connection.execute(sa.insert(history).from_select([c.name for c in history.c], latest))
    connection.execute(
        sa.text(
            "UPDATE orders SET total_price = total_price + 250000000, grand_total = grand_total + 250000000 "
            "WHERE id = :id"
        ),
        {"id": order_id},
    )


def test_a_version_cannot_name_a_history_transaction_not_yet_written(app):
    order = OrderFactory(number="T-1")
    order_id = order.id
    db.session.rollback()
    with pytest.raises(IntegrityError), db.engine.begin() as connection:
        _plant(connection, order_id, _next_transaction_id(connection))
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).where(orders_history().c.id == order_id)) == 1


@contextmanager
def past_the_keys() -> Iterator[sa.Connection]:
    """Past the guards and the foreign keys too, as only the database's owner could (the superuser's
    ``session_replication_role = replica`` fires no key's trigger)."""
    with past_the_guards() as connection:
        yield connection


def test_a_version_planted_under_the_next_transaction_is_not_sealed_by_it(app):
    planted, edited = OrderFactory(number="T-1"), OrderFactory(number="T-2")
    planted_id, edited_id = planted.id, edited.id
    with past_the_keys() as connection:
        transaction_id = _next_transaction_id(connection)
        _plant(connection, planted_id, transaction_id)

    clerk = db.session.get(Order, edited_id)
    clerk.promo = D("900000.00")  # a clerk edits an unrelated order: its transaction takes the id planted under
    db.session.commit()

    assert db.session.scalar(sa.select(sa.func.max(orders_history().c.transaction_id))) == transaction_id
    assert sealed("orders_history", edited_id, transaction_id)
    assert not sealed("orders_history", planted_id, transaction_id)
    assert ("orders_history", planted_id) in findings()
