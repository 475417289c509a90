"""The posting core: the rule table in Python and in SQL, value dates, and what it refuses."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from backoffice.evidence.quarantine import Quarantined
from backoffice.models import (
    WALLET_KINDS,
    Account,
    BalanceTransaction,
    Customer,
    Invoice,
    JournalEntry,
    JournalLine,
    MonthlyCustomerBalance,
    RunMode,
)
from backoffice.models.types import Money, utcnow
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.platform.money import MAX_BALANCE, BeyondLimit
from backoffice.posting.locking import lock_customers
from backoffice.posting.movement import Movement, Reference
from backoffice.posting.post import post
from backoffice.posting.refusals import WalletError
from backoffice.posting.rules import (
    DELIVERED,
    MONTH_ADDED,
    MONTH_COLUMNS,
    RULES,
    TOTALS,
    Kind,
    NoRule,
    counts,
    rule_of,
)
from backoffice.posting.sql import counted, rule_accounts, sign_sql
from backoffice.posting.wallet_batches import post_many
from backoffice.reconcile.engine import run
from backoffice.services import billing, installation, meter_invoices, meter_lifecycle, meter_payments, wallet
from backoffice.services.orm_hooks import AppendOnly
from tests.factories import CustomerFactory, MeterFactory, UserFactory, corrupt, quarantine, unit_of_work

D = Decimal


@pytest.mark.parametrize("rule", RULES, ids=lambda r: f"{r.kind.value}{'+' if r.sign > 0 else '-'}")
def test_every_kind_and_sign_means_the_same_in_python_and_in_sql(app, rule):
    signed = D("1234.56") * rule.sign
    kind, amount = sa.literal(rule.kind.value), sa.literal(signed, sa.Numeric(15, 2))
    columns = [*TOTALS, *MONTH_COLUMNS]
    accounts = rule_accounts()
    row = db.session.execute(
        sa.select(
            *(counted(column, kind, amount).label(column) for column in columns),
            accounts.c.debit,
            accounts.c.credit,
        ).where(accounts.c.kind == kind, accounts.c.sign == sign_sql(amount))
    ).one()
    in_python = counts(rule, signed)
    assert {column: D(str(row._mapping[column])) for column in columns} == in_python
    assert (row.debit, row.credit) == (rule.debit, rule.credit)
    assert rule_of(rule.kind, signed) is rule


def test_a_movement_of_nothing_or_of_a_sign_its_kind_never_has_has_no_rule():
    with pytest.raises(NoRule, match="non-zero"):
        rule_of("charge", D("0"))
    with pytest.raises(NoRule, match="No rule for a recharge of -5"):
        rule_of("recharge", D("-5"))
    with pytest.raises(NoRule, match="No rule for a charge of \\+5"):
        rule_of("charge", D("5"))


def _entry_lines(entry_id: int) -> list[tuple[str, Decimal, Decimal]]:
    return db.session.execute(
        sa.select(Account.code, JournalLine.debit, JournalLine.credit)
        .join(Account, Account.id == JournalLine.account_id)
        .where(JournalLine.entry_id == entry_id)
        .order_by(JournalLine.id)
    ).all()


def test_each_wallet_movement_posts_the_accounts_its_rule_names(app):
    customer = CustomerFactory()
    moved = [
        wallet.recharge(customer.id, D("1000")),
        wallet.charge(customer.id, D("300")),
        wallet.adjust(customer.id, D("-20"), reason="data_entry_error"),
        wallet.adjust(customer.id, D("50"), reason="goodwill"),
    ]
    moved.append(wallet.reverse(moved[1], description="Entered by mistake"))
    moved.append(wallet.reverse(moved[0].id, description="Entered by mistake"))
    db.session.rollback()
    for movement in moved:
        row = db.session.get(BalanceTransaction, movement.id)
        rule = rule_of(row.kind.value, row.signed_amount)
        assert _entry_lines(row.entry_id) == [
            (rule.debit, abs(row.signed_amount), D("0.00")),
            (rule.credit, D("0.00"), abs(row.signed_amount)),
        ]
    assert run(RunMode.VERIFY).mismatched == 0


def _written(row_id: int) -> tuple:
    """A ledger row, its entry and the entry's lines, without what names the customer or the ids."""
    row = db.session.get(BalanceTransaction, row_id)
    entry = db.session.get(JournalEntry, row.entry_id)
    kept = ("kind", "amount", "signed_amount", "balance_before", "balance_after", "value_date", "reference_type")
    return (
        {name: getattr(row, name) for name in (*kept, "reference_id", "description", "reason")},
        (entry.entry_date, entry.status, entry.source_type, entry.description.split(" #")[0]),
        entry.number == f"JE-{entry.id}" and entry.source_id == row.id and entry.posted_at is not None,
        _entry_lines(row.entry_id),
    )


@pytest.mark.parametrize(
    "rule", [r for r in RULES if r.wallet], ids=lambda r: f"{r.kind.value}{'+' if r.sign > 0 else '-'}"
)
def test_one_movement_and_a_batch_of_it_write_the_same_rows(app, rule):
    """``post`` and ``post_many`` write from one definition (``posting.wallet_batches``): the same movement, posted
    alone for one customer and as a batch for another in the same state, writes the same ledger row, entry and
    lines."""
    alone, batched = CustomerFactory(), CustomerFactory()
    for customer in (alone, batched):
        wallet.recharge(customer.id, D("1000"))
    signed, on = D("123.45") * rule.sign, local_today() - timedelta(days=1)
    with unit_of_work() as connection:
        lock_customers(connection, [alone.id, batched.id])
        movement = Movement(
            kind=rule.kind,
            amount=signed,
            customer_id=alone.id,
            value_date=on,
            reference=Reference("meter_reading", 7),
            description="Gas delivered",
            reason="repricing",
            allow_overdraft=True,
        )
        posted = post(installation(), connection, movement)
        values = {
            "customer_id": sa.literal(batched.id),
            "position": sa.literal(1),
            "kind": sa.literal(rule.kind.value),
            "signed_amount": sa.literal(signed, Money),
            "value_date": sa.literal(on),
            "reference_type": sa.literal("meter_reading"),
            "reference_id": sa.literal(7),
            "description": sa.literal("Gas delivered"),
        }
        post_many(
            installation(),
            connection,
            sa.select(*(value.label(name) for name, value in values.items())),
            reason="repricing",
        )
        batched_id = connection.execute(
            sa.select(sa.func.max(BalanceTransaction.id)).where(BalanceTransaction.customer_id == batched.id)
        ).scalar_one()
    db.session.rollback()
    assert _written(posted.source_id) == _written(batched_id)
    assert _written(batched_id)[2] is True


def test_the_ledger_row_post_gives_back_is_the_row_the_database_holds(app):
    """``Posted.transaction`` is the ledger row as the database returned it when it wrote it (``RETURNING``): each
    column what reading the row again gives."""
    customer = CustomerFactory()
    clerk = UserFactory()
    deposit = wallet.recharge(customer.id, D("1000.50"), description="At the counter", user=clerk)
    charge = wallet.charge(customer.id, D("300.25"), idempotency_key="charge-1")
    adjusted = wallet.adjust(customer.id, D("-0.75"), reason="data_entry_error", value_date=local_today())
    reversal = wallet.reverse(charge, description="Entered by mistake", user=clerk)
    with unit_of_work() as connection:
        reading = Movement(
            kind=Kind.CHARGE,
            amount=D("-12.34"),
            customer_id=customer.id,
            reference=Reference("meter_reading", 5),
            occasion="first_charge",
            allow_overdraft=True,
        )
        posted = post(installation(), connection, reading)
    db.session.rollback()
    ledger = BalanceTransaction.__table__
    for returned in (deposit, charge, adjusted, reversal, posted.transaction):
        read = db.session.execute(sa.select(ledger).where(ledger.c.id == returned.id)).one()._mapping
        assert {name: getattr(returned, name) for name in read} == dict(read)
    assert (posted.entry_id, posted.source_id) == (posted.transaction.entry_id, posted.transaction.id)


def _refusal_of(refused: str, customer) -> tuple[Kind, Decimal]:
    """Bring the customer to where a movement is refused for ``refused``; the movement's kind and amount."""
    if refused == "closed":
        db.session.execute(sa.update(Customer).where(Customer.id == customer.id).values(closed_at=utcnow()))
        db.session.commit()
    elif refused == "quarantined":
        quarantine(customer.id)
    else:
        corrupt("customers", refused, customer.id, MAX_BALANCE - 1000)
    return (Kind.RECHARGE, D("10000")) if refused in ("balance", "total_recharged") else (Kind.CHARGE, D("-10000"))


@pytest.mark.parametrize(
    ("refused", "said"),
    [
        ("closed", "Customer {code} is closed"),
        ("quarantined", "Customer {code} is quarantined"),
        ("balance", "The balance of {code} would exceed"),
        ("total_recharged", "The total recharged of {code} would exceed"),
        ("total_spent", "The total spent of {code} would exceed"),
    ],
)
def test_post_and_post_many_refuse_a_movement_in_the_same_words(app, refused, said):
    """One movement and a batch of it are refused by the same conditions of the customer's row, each said from one
    place (``wallet_batches.refusal``), and write nothing."""
    alone, batched = CustomerFactory(code="ALONE"), CustomerFactory(code="BATCHED")
    for customer in (alone, batched):
        wallet.recharge(customer.id, D("100"))
        kind, signed = _refusal_of(refused, customer)
    before = db.session.scalar(sa.select(sa.func.count()).select_from(BalanceTransaction))
    values = {
        "customer_id": sa.literal(batched.id),
        "position": sa.literal(1),
        "kind": sa.literal(kind.value),
        "signed_amount": sa.literal(signed, Money),
        "value_date": sa.literal(local_today()),
        "reference_type": sa.literal("meter_reading"),
        "reference_id": sa.literal(7),
        "description": sa.literal(""),
    }
    messages = []
    for post_it in (
        lambda connection: post(
            installation(),
            connection,
            Movement(
                kind=kind,
                amount=signed,
                customer_id=alone.id,
                reference=Reference("meter_reading", 7),
                allow_overdraft=True,  # as a batch's movements are
            ),
        ),
        lambda connection: post_many(
            installation(), connection, sa.select(*(value.label(name) for name, value in values.items()))
        ),
    ):
        with pytest.raises((WalletError, Quarantined, BeyondLimit)) as refusal:
            with unit_of_work() as connection:
                lock_customers(connection, [alone.id, batched.id])
                post_it(connection)
        messages.append(str(refusal.value))
    assert said.format(code="ALONE") in messages[0]
    assert messages[1] == messages[0].replace("ALONE", "BATCHED")
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(BalanceTransaction)) == before


def test_a_movement_beyond_the_balance_is_refused_unless_it_may_overdraw(app):
    customer = CustomerFactory(code="HOTEL")
    wallet.recharge(customer.id, D("100"))
    movement = Movement(kind=Kind.CHARGE, amount=D("-100.01"), customer_id=customer.id)
    with pytest.raises(wallet.InsufficientBalance, match="Insufficient balance: HOTEL has") as refused:
        with unit_of_work() as connection:
            post(installation(), connection, movement)
    assert (refused.value.available, refused.value.amount) == (D("100.00"), D("100.01"))
    with unit_of_work() as connection:
        posted = post(installation(), connection, replace(movement, allow_overdraft=True))
    assert posted.transaction.balance_after == D("-0.01")


def test_each_limits_refusal_is_written_once_in_the_code():
    """The balance's and each total's refusal are said from the specification and the rule table, nowhere else."""
    code = "".join(path.read_text() for path in Path("backoffice").rglob("*.py"))
    for words in ("The balance of %(code)s", "The total recharged of %(code)s", "The total spent of %(code)s"):
        assert code.count(f'"{words}"') == 1, words


def test_a_deposit_dated_last_month_counts_in_last_month_and_its_entry_is_dated_so(app):
    customer = CustomerFactory()
    last_month = local_today().replace(day=1) - timedelta(days=1)
    deposit = wallet.recharge(customer.id, D("500000"), value_date=last_month)
    wallet.charge(customer.id, D("100000"))
    db.session.rollback()
    months = dict(
        db.session.execute(
            sa.select(MonthlyCustomerBalance.year_month, MonthlyCustomerBalance.closing_balance).where(
                MonthlyCustomerBalance.customer_id == customer.id
            )
        ).all()
    )
    assert months == {f"{last_month:%Y-%m}": D("500000.00"), f"{local_today():%Y-%m}": D("400000.00")}
    row = db.session.get(BalanceTransaction, deposit.id)
    assert row.value_date == last_month and row.created_at.date() >= last_month
    assert db.session.get(JournalEntry, row.entry_id).entry_date == last_month
    assert run(RunMode.VERIFY).mismatched == 0


def test_no_movement_is_dated_after_today_and_nothing_is_written(app):
    customer = CustomerFactory()
    with pytest.raises(wallet.DatedAfterToday, match="cannot be dated after today"):
        wallet.recharge(customer.id, D("1000"), value_date=local_today() + timedelta(days=1))
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(JournalEntry)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(BalanceTransaction)) == 0


def test_a_ledger_row_invoice_or_payment_written_past_the_posting_core_is_refused(app):
    customer = CustomerFactory()
    meter = MeterFactory()
    meter_lifecycle.assign_meter(meter, customer, date(2026, 1, 1))
    invoice = meter_invoices.add_invoice(meter, "INV-1", D("1000"), date(2026, 2, 1), date(2026, 2, 15))
    for forged in (
        BalanceTransaction(
            customer_id=customer.id,
            kind="recharge",
            amount=D("5"),
            signed_amount=D("5"),
            balance_before=D("0"),
            balance_after=D("5"),
            value_date=date(2026, 2, 1),
        ),
        Invoice(meter_id=meter.id, number="INV-2", amount=D("1"), issued_on=date(2026, 2, 1), due_on=date(2026, 2, 1)),
        billing.Payment(meter_id=meter.id, amount=D("1"), paid_on=date(2026, 2, 1)),
    ):
        db.session.add(forged)
        with pytest.raises(AppendOnly, match="posting core|billing service"):
            db.session.commit()
        db.session.rollback()
    found = db.session.get(Invoice, invoice.id)
    found.amount = D("1")
    with pytest.raises(AppendOnly, match="billing service"):
        db.session.commit()
    db.session.rollback()
    db.session.delete(db.session.get(Invoice, invoice.id))
    with pytest.raises(AppendOnly, match="billing service"):
        db.session.commit()
    db.session.rollback()
    # The database refuses a row that has no journal entry of its own, whoever writes it.
    with pytest.raises(sa.exc.IntegrityError):
        db.session.execute(
            sa.text(
                "INSERT INTO payments (meter_id, amount, paid_on, reference) VALUES (:m, 1, '2026-02-01', 'forged')"
            ),
            {"m": meter.id},
        )
    db.session.rollback()
    assert run(RunMode.VERIFY).mismatched == 0


def test_a_withdrawn_invoice_stops_counting_posts_its_reversal_and_is_withdrawn_once(app):
    customer = CustomerFactory()
    meter = MeterFactory()
    meter_lifecycle.assign_meter(meter, customer, date(2026, 1, 1))
    invoice = meter_invoices.add_invoice(meter, "INV-1", D("1000"), date(2026, 2, 1), date(2026, 2, 15))
    payment = meter_payments.add_payment(meter, D("400"), date(2026, 2, 10))
    with pytest.raises(billing.BillingError, match="Say why"):
        meter_invoices.withdraw_invoice(invoice, "  ")
    meter_invoices.withdraw_invoice(invoice, "Issued to the wrong customer")
    meter_payments.withdraw_payment(payment, "Bounced")
    db.session.rollback()
    withdrawn = db.session.get(Invoice, invoice.id)
    assert withdrawn.withdrawn and withdrawn.withdrawal_reason == "Issued to the wrong customer"
    assert _entry_lines(withdrawn.withdrawal_entry_id) == [
        ("4000", D("1000.00"), D("0.00")),
        ("1100", D("0.00"), D("1000.00")),
    ]
    assert db.session.get(billing.Meter, meter.id).balance == D("0.00")
    with pytest.raises(billing.BillingError, match="was withdrawn on"):
        meter_invoices.withdraw_invoice(withdrawn, "Again")
    with pytest.raises(billing.BillingError, match="was withdrawn on"):
        meter_invoices.change_invoice(withdrawn, "INV-1", D("5"), date(2026, 2, 15))
    assert run(RunMode.VERIFY).mismatched == 0


def test_a_movement_overtaking_another_before_the_customer_lock_chains_in_id_order(app):
    customer = CustomerFactory()
    customer_id = customer.id
    wallet.recharge(customer_id, D("1000"))
    first_thread = {}
    overtaken = threading.Event()

    def pause_before_the_lock(_conn, _cursor, statement, *_args) -> None:
        # The first writer is about to lock the customer's row (its movement's function locks it first); it gets
        # there only after the second committed.
        if threading.current_thread() is first_thread.get("thread") and "post_wallet_movements_v3" in statement:
            overtaken.wait(timeout=10)

    def first() -> None:
        with app.app_context():
            wallet.charge(customer_id, D("100"))

    def second() -> None:
        with app.app_context():
            wallet.charge(customer_id, D("200"))
        overtaken.set()

    db.session.remove()
    sa.event.listen(db.engine, "before_cursor_execute", pause_before_the_lock)
    try:
        threads = [threading.Thread(target=first), threading.Thread(target=second)]
        first_thread["thread"] = threads[0]
        threads[0].start()
        time.sleep(0.3)
        threads[1].start()
        for thread in threads:
            thread.join(timeout=20)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", pause_before_the_lock)
    chain = db.session.execute(
        sa.select(BalanceTransaction.signed_amount, BalanceTransaction.balance_before, BalanceTransaction.balance_after)
        .where(BalanceTransaction.customer_id == customer_id)
        .order_by(BalanceTransaction.id)
    ).all()
    assert [tuple(row) for row in chain] == [
        (D("1000.00"), D("0.00"), D("1000.00")),
        (D("-200.00"), D("1000.00"), D("800.00")),
        (D("-100.00"), D("800.00"), D("700.00")),
    ]
    assert run(RunMode.VERIFY, checks=["ledger_chain", "customer_wallet"]).mismatched == 0


def test_a_wallet_movement_is_one_statement_and_a_refused_one_writes_nothing(app):
    customer_id = CustomerFactory().id
    wallet.recharge(customer_id, D("100"))
    wallet.charge(customer_id, D("10"))  # the accounts it posts to are known from now on
    before = [db.session.scalar(sa.select(sa.func.count()).select_from(t)) for t in (JournalEntry, JournalLine)]
    db.session.rollback()
    statements, at_commit = [], []

    def seen(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    def committing(_session) -> None:  # before the movement's seals are made
        at_commit.append(len(statements))

    sa.event.listen(db.engine, "before_cursor_execute", seen)
    sa.event.listen(Session, "before_commit", committing, insert=True)
    try:
        wallet.charge(customer_id, D("30"))
        charged, sealing = at_commit[0], len(statements) - at_commit[0]
        with pytest.raises(wallet.InsufficientBalance):
            wallet.charge(customer_id, D("61"))
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", seen)
        sa.event.remove(Session, "before_commit", committing)
    assert charged == 1
    assert sealing <= 4  # the movement and its entry read with the rows their seals follow, the lines, one insert
    after = [db.session.scalar(sa.select(sa.func.count()).select_from(t)) for t in (JournalEntry, JournalLine)]
    assert after == [before[0] + 1, before[1] + 2]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(BalanceTransaction)) == 3


def test_the_function_that_posts_a_movement_takes_what_the_rule_table_moves(app):
    """The rule table says what a movement adds to each of the customer's totals and its month's columns (the gas
    delivered too, which a reading's calculation counts with its charge); the SQL function that posts it takes each of
    them: a rule's row holds each total and month column (a column added to the table is added to it, a new version),
    a movement the gas delivered."""

    def attributes(type_name: str) -> list[str]:
        return db.session.scalars(
            sa.text(
                "SELECT attname FROM pg_attribute WHERE attrelid = CAST(:name AS regclass) AND attnum > 0 "
                "ORDER BY attnum"
            ),
            {"name": type_name},
        ).all()

    moved = [name for name in attributes("posting_rules") if name.startswith("total_")]
    assert moved == [*TOTALS, *MONTH_COLUMNS]
    assert list(MONTH_ADDED) == [*MONTH_COLUMNS, DELIVERED.month]
    assert "delivered" in attributes("wallet_movement_v3")


def test_charging_exactly_the_balance_is_never_refused_for_float_noise(app):
    customer = CustomerFactory()
    wallet.recharge(customer.id, D("0.70"))
    wallet.charge(customer.id, D("0.10"))
    last = wallet.charge(customer.id, D("0.60"))  # 0.7 - 0.1 - 0.6 is -1.1e-16 in binary floats
    assert (last.balance_before, last.balance_after) == (D("0.60"), D("0.00"))
    assert run(RunMode.VERIFY).mismatched == 0


def test_the_kinds_a_wallet_ledger_holds_are_the_kinds_whose_rules_move_the_wallet():
    """One list of kinds: the ledger's column and the rule table read it."""
    assert BalanceTransaction.__table__.c.kind.type.enum_class is Kind
    assert {rule.kind for rule in RULES if rule.wallet} == set(WALLET_KINDS)


def test_one_function_posts_a_wallet_movement_the_first_one_is_gone(app):
    """The journal's wallet movements have one writer in the database: ``post_wallet_movement_v1`` (migration 0054),
    which nothing calls since 0074, is dropped (0098), and ``post_wallet_movements_v2`` with the third (0100)."""
    names = db.session.scalars(
        sa.text("SELECT proname FROM pg_proc WHERE proname LIKE 'post_wallet_movement%' ORDER BY proname")
    ).all()
    assert names == ["post_wallet_movements_v3"]
