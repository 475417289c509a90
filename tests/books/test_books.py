"""The general ledger's posting service and the database's own guards."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backoffice import jobs
from backoffice.models import BUCKETS, Account, Customer, Invoice, JournalEntry, JournalLine, RunMode
from backoffice.platform.extensions import db
from backoffice.posting import journal
from backoffice.posting.journal import Line
from backoffice.posting.rules import CASH, CUSTOMER_DEPOSITS, GAS_REVENUE, RECEIVABLES
from backoffice.reconcile.engine import discrepancies, run
from backoffice.services import books, installation, meter_invoices, meter_lifecycle, meter_payments, metering, wallet
from tests.factories import CustomerFactory, MeterFactory, corrupt, corrupt_bucket, past_the_guards
from tests.rows import balances, count

D = Decimal
DAY = date(2026, 11, 22)


def post(lines, **kwargs) -> int:
    with db.engine.begin() as connection:
        return books.post(installation(), connection, DAY, "Test entry", lines, **kwargs)


def recorded(kind: str, amount: str, movement_id: int) -> int:
    """The entry of a wallet movement of ``kind`` by ``amount`` (its lines the rule table's), as the core writes it."""
    entry = journal.Entry(
        entry_date=DAY,
        description="Test entry",
        source=books.Source("balance_transaction", movement_id),
        kind=kind,
        amount=D(amount),
    )
    with db.engine.begin() as connection:
        return journal.write(installation(), connection, [entry])[0]


def test_the_chart_comes_with_the_migrations(app):
    assert {code: D(0) for code in ("1000", "1100", "2000", "3000", "3100", "4000", "5000")} == balances()


def test_a_balanced_entry_moves_each_account_in_its_normal_direction(app):
    entry_id = recorded("recharge", "150000.00", 7)  # cash to customer deposits
    recorded("charge", "-40000.00", 8)  # customer deposits to gas revenue
    moved = balances()
    assert (moved[CASH], moved[CUSTOMER_DEPOSITS], moved[GAS_REVENUE]) == (
        D("150000.00"),
        D("110000.00"),
        D("40000.00"),
    )
    entry = db.session.get(JournalEntry, entry_id)
    assert (entry.number, entry.status.value, entry.source_type, entry.source_id) == (
        f"JE-{entry_id}",
        "posted",
        "balance_transaction",
        7,
    )
    assert [(ln.account.code, ln.debit, ln.credit) for ln in entry.lines] == [
        (CASH, D("150000.00"), D("0.00")),
        (CUSTOMER_DEPOSITS, D("0.00"), D("150000.00")),
    ]


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([Line(CASH, debit=D("10"))], "at least two lines"),
        ([Line(CASH, debit=D("10")), Line(GAS_REVENUE, credit=D("9.99"))], "differ by Rp0,01"),
        ([Line(CASH, debit=D("10"), credit=D("10")), Line(GAS_REVENUE, credit=D("0"))], "Line 1: enter either"),
        ([Line(CASH, debit=D("-10")), Line(GAS_REVENUE, credit=D("-10"))], "Line 1"),
        ([Line(CASH, debit=D("10.001")), Line(GAS_REVENUE, credit=D("10.001"))], "Line 1"),
        ([Line("9999", debit=D("10")), Line(GAS_REVENUE, credit=D("10"))], "No account 9999"),
    ],
)
def test_the_service_refuses_an_entry_that_does_not_balance_and_writes_nothing(app, lines, message):
    with pytest.raises(books.BooksError, match=message):
        post(lines)
    assert count(JournalEntry) == count(JournalLine) == 0
    assert set(balances().values()) == {D(0)}


def test_the_database_refuses_an_unbalanced_posted_entry_written_with_raw_sql(app):
    with pytest.raises(sa.exc.DatabaseError, match="posted unbalanced"):
        with db.engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO journal_entries (number, entry_date, description, status, created_at) "
                    "VALUES ('RAW-1', '2026-11-22', 'by hand', 'posted', CURRENT_TIMESTAMP)"
                )
            )
    assert count(JournalEntry) == 0


def test_a_posted_entry_is_immutable_in_the_database(app):
    entry_id = post([Line(CASH, debit=D("5")), Line(GAS_REVENUE, credit=D("5"))])
    for statement in (
        "UPDATE journal_lines SET debit = 6 WHERE entry_id = :e AND debit > 0",
        "DELETE FROM journal_lines WHERE entry_id = :e",
        "UPDATE journal_entries SET description = 'changed' WHERE id = :e",
        "DELETE FROM journal_entries WHERE id = :e",
    ):
        with pytest.raises(sa.exc.DatabaseError, match="immutable"):
            with db.engine.begin() as connection:
                connection.execute(sa.text(statement), {"e": entry_id})
    assert count(JournalLine) == 2


@pytest.mark.parametrize(
    "forged",
    [[("1000", 100, 0), ("4000", 0, 100)], [("1000", 100, 0)]],
    ids=["a balanced pair", "one unbalanced line"],
)
def test_a_posted_entry_refuses_new_lines_in_the_database(app, forged):
    entry_id = post([Line(CASH, debit=D("5")), Line(GAS_REVENUE, credit=D("5"))])
    with pytest.raises(sa.exc.DatabaseError, match="immutable: INSERT of its lines is refused"):
        with db.engine.begin() as connection:
            for code, debit, credit in forged:
                connection.execute(
                    sa.text(
                        "INSERT INTO journal_lines (entry_id, account_id, debit, credit, description) "
                        "SELECT :e, id, :debit, :credit, 'forged' FROM accounts WHERE code = :code"
                    ),
                    {"e": entry_id, "code": code, "debit": debit, "credit": credit},
                )
    assert count(JournalLine) == 2


@pytest.mark.parametrize("table", ["journal_entries", "journal_lines"])
def test_the_books_refuse_truncate(app, table):
    post([Line(CASH, debit=D("5")), Line(GAS_REVENUE, credit=D("5"))])
    with pytest.raises(sa.exc.DatabaseError, match="TRUNCATE is refused"):
        with db.engine.begin() as connection:
            connection.execute(sa.text(f"TRUNCATE {table} CASCADE"))
    assert (count(JournalEntry), count(JournalLine)) == (1, 2)


def test_an_unbalanced_posted_entry_is_found_and_its_accounts_not_rewritten_to_match(app):
    entry_id = post([Line(CASH, debit=D("5")), Line(GAS_REVENUE, credit=D("5"))])
    recorded("charge", "-7", 9)  # customer deposits to gas revenue
    ids = dict(db.session.execute(sa.select(Account.code, Account.id)).all())
    cash, deposits = ids[CASH], ids[CUSTOMER_DEPOSITS]
    with past_the_guards() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO journal_lines (entry_id, account_id, debit, credit, description) "
                "VALUES (:e, :a, 100, 0, 'forged')"
            ),
            {"e": entry_id, "a": cash},
        )
    corrupt_bucket(deposits, 0, "0")  # an entry without a bucket key moves bucket 0
    record = run(RunMode.FIX, checks=["journal_balanced", "account_balance"])
    found = {
        (d.check, d.entity_id, d.field): (d.stored, d.expected, d.fixed, d.reason)
        for d in db.session.scalars(discrepancies(record.id))
    }
    assert found == {
        ("journal_balanced", entry_id, "credits"): (D("5"), D("105"), False, None),
        ("account_balance", cash, "balance"): (
            D("5"),
            D("105"),
            False,
            f"left unfixed: journal entry JE-{entry_id}, posted on account {CASH}, does not balance; "
            "deal with the books first",
        ),
        ("account_balance", deposits, "balance"): (D("0"), D("-7"), True, None),
    }
    assert (balances()[CASH], balances()[CUSTOMER_DEPOSITS]) == (D("5.00"), D("-7.00"))
    assert record.left == 2


def entries_of(source_type: str) -> list[list[tuple[str, Decimal, Decimal]]]:
    db.session.rollback()
    found = db.session.scalars(
        sa.select(JournalEntry).where(JournalEntry.source_type == source_type).order_by(JournalEntry.id)
    )
    return [[(ln.account.code, ln.debit, ln.credit) for ln in entry.lines] for entry in found]


def test_every_money_event_posts_in_its_own_transaction(app):
    customer = CustomerFactory()
    wallet.recharge(customer.id, D("500000"))
    wallet.charge(customer.id, D("120000"))
    wallet.adjust(customer.id, D("5000"), description="Goodwill")
    mistaken = wallet.recharge(customer.id, D("50000"))
    wallet.reverse(mistaken.id, description="Entered by mistake")
    assert entries_of("balance_transaction") == [
        [(CASH, D("500000.00"), D("0.00")), (CUSTOMER_DEPOSITS, D("0.00"), D("500000.00"))],
        [(CUSTOMER_DEPOSITS, D("120000.00"), D("0.00")), (GAS_REVENUE, D("0.00"), D("120000.00"))],
        [(GAS_REVENUE, D("5000.00"), D("0.00")), (CUSTOMER_DEPOSITS, D("0.00"), D("5000.00"))],
        [(CASH, D("50000.00"), D("0.00")), (CUSTOMER_DEPOSITS, D("0.00"), D("50000.00"))],
        [(CUSTOMER_DEPOSITS, D("50000.00"), D("0.00")), (CASH, D("0.00"), D("50000.00"))],
    ]
    meter = MeterFactory()
    meter_lifecycle.assign_meter(meter, customer, DAY)
    invoice = meter_invoices.add_invoice(meter, "INV-1", D("300000"), DAY, DAY)
    meter_payments.add_payment(meter, D("100000"), DAY)
    meter_invoices.withdraw_invoice(invoice, "Issued in error")
    assert entries_of("invoice") == [
        [(RECEIVABLES, D("300000.00"), D("0.00")), (GAS_REVENUE, D("0.00"), D("300000.00"))],
        [(GAS_REVENUE, D("300000.00"), D("0.00")), (RECEIVABLES, D("0.00"), D("300000.00"))],
    ]
    assert entries_of("payment") == [[(CASH, D("100000.00"), D("0.00")), (RECEIVABLES, D("0.00"), D("100000.00"))]]
    moved = balances()
    assert moved[CASH] == D("600000.00") and moved[RECEIVABLES] == D("-100000.00")
    assert moved[CUSTOMER_DEPOSITS] == D("385000.00") == db.session.get(Customer, customer.id).balance
    assert moved[GAS_REVENUE] == D("115000.00")
    assert books.balance_sheet().balanced
    assert run(RunMode.VERIFY).mismatched == 0


def test_a_corrupted_account_balance_is_found_and_healed_and_health_follows(app, client):
    app.config["API_TOKEN"] = "t0ken"
    headers = {"Authorization": "Bearer t0ken"}
    jobs.enqueue_nightly()
    customer = CustomerFactory()
    wallet.recharge(customer.id, D("1000"))
    cash = db.session.scalar(sa.select(Account.id).where(Account.code == CASH))
    corrupt_bucket(cash, customer.id % BUCKETS, "999")
    health = client.get("/admin/balance-health/check", headers=headers).get_json()["data"]
    assert (health["is_valid"], health["total_assets"], health["total_liabilities"]) == (False, "999.00", "1000.00")
    assert "backoffice_balance_sheet_valid 0.0" in client.get("/metrics", headers=headers).get_data(as_text=True)

    verify = run(RunMode.VERIFY)
    found = {(d.check, d.field): (d.stored, d.expected) for d in db.session.scalars(discrepancies(verify.id))}
    assert found == {
        ("account_balance", "balance"): (D("999.00"), D("1000.00")),
        ("balance_sheet", "assets"): (D("999.00"), D("1000.00")),
    }
    run(RunMode.FIX)  # fixes the account; the balance sheet check, which only reports, still saw it unbalanced
    assert run(RunMode.VERIFY).mismatched == 0
    health = client.get("/admin/balance-health/check", headers=headers).get_json()["data"]
    assert (health["is_valid"], health["total_assets"], health["total_equity"]) == (True, "1000.00", "0.00")
    assert "backoffice_balance_sheet_valid 1.0" in client.get("/metrics", headers=headers).get_data(as_text=True)


def test_the_deposits_account_must_agree_with_the_wallets(app):
    customer = CustomerFactory()
    wallet.recharge(customer.id, D("1000"))
    corrupt("customers", "balance", customer.id, "900")
    verify = run(RunMode.VERIFY, checks=["wallet_ledger_agreement", "journal_balanced"])
    ((check, stored, expected),) = [
        (d.check, d.stored, d.expected) for d in db.session.scalars(discrepancies(verify.id))
    ]
    assert (check, stored, expected) == ("wallet_ledger_agreement", D("1000.00"), D("900.00"))


book_steps = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "recharge",
                "charge",
                "adjust",
                "reverse",
                "read",
                "correct",
                "delete",
                "price",
                "invoice",
                "payment",
                "withdraw",
            ]
        ),
        st.integers(min_value=0, max_value=60),
        st.decimals(min_value=D("0.01"), max_value=D("900000"), places=2),
    ),
    min_size=1,
    max_size=20,
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=book_steps)
def test_random_money_events_keep_the_books_balanced_and_every_check_clean(app, steps):
    app.config["APPROVAL_ABOVE"] = D("1E+12")  # the corrections apply at once: their approval is tested on its own
    customer = CustomerFactory()
    meter = MeterFactory()
    first = date(2026, 9, 1)
    meter_lifecycle.assign_meter(meter, customer, first)
    metering.set_pricing(customer.id, first, D("1000.00"), D("1"))
    movements, readings = [], []
    for n, (operation, day, amount) in enumerate(steps):
        on = first + timedelta(days=day)
        try:
            if operation == "recharge":
                movements.append(wallet.recharge(customer.id, amount).id)
            elif operation == "charge":
                movements.append(wallet.charge(customer.id, amount).id)
            elif operation == "adjust":
                wallet.adjust(customer.id, amount if n % 2 else -amount, description="Correction")
            elif operation == "reverse" and movements:
                wallet.reverse(movements.pop(day % len(movements)), description="Entered by mistake")
            elif operation == "read":  # a meter read twice a day is meant here
                same_day = metering.same_day_reading(meter.id, on)
                readings.append(
                    metering.record_reading(meter.id, on, amount, confirm_duplicate_of=same_day and same_day.id)
                )
            elif operation == "correct" and readings:
                metering.correct_reading(readings[day % len(readings)], on, amount)
            elif operation == "delete" and readings:
                metering.delete_reading(readings.pop(day % len(readings)))
            elif operation == "price":
                metering.set_pricing(customer.id, on, amount, D("1.000000"))
            elif operation == "invoice":
                meter_invoices.add_invoice(meter, f"H-{customer.id}-{n}", amount, on, on)
            elif operation == "payment":
                meter_payments.add_payment(meter, amount, on)
            elif (
                operation == "withdraw"
                and (doomed := db.session.scalar(sa.select(Invoice).where(Invoice.withdrawn_at.is_(None)))) is not None
            ):
                meter_invoices.withdraw_invoice(doomed, "Issued in error")
        except wallet.WalletError:
            pass
    assert books.balance_sheet().balanced
    assert run(RunMode.VERIFY).mismatched == 0


def test_the_database_refuses_to_post_an_unbalanced_draft_by_hand(app):
    with db.engine.begin() as connection:
        draft = books.save_draft(installation(), connection, DAY, "Half done", [Line(CASH, debit=D("10"))])
    with pytest.raises(sa.exc.DatabaseError, match="posted unbalanced"):
        with db.engine.begin() as connection:
            connection.execute(sa.text("UPDATE journal_entries SET status = 'posted' WHERE id = :e"), {"e": draft})
    db.session.rollback()
    assert db.session.get(JournalEntry, draft).status.value == "draft"


def test_changing_an_invoice_or_payment_amount_posts_the_difference(app):
    customer = CustomerFactory()
    meter = MeterFactory()
    meter_lifecycle.assign_meter(meter, customer, DAY)
    invoice = meter_invoices.add_invoice(meter, "INV-9", D("300000"), DAY, DAY)
    payment = meter_payments.add_payment(meter, D("100000"), DAY)
    meter_invoices.change_invoice(invoice, invoice.number, D("250000"), invoice.due_on)
    meter_payments.change_payment(payment, D("120000"), payment.reference)
    assert entries_of("invoice")[-1] == [
        (GAS_REVENUE, D("50000.00"), D("0.00")),
        (RECEIVABLES, D("0.00"), D("50000.00")),
    ]
    assert entries_of("payment")[-1] == [(CASH, D("20000.00"), D("0.00")), (RECEIVABLES, D("0.00"), D("20000.00"))]
    moved = balances()
    assert (moved[RECEIVABLES], moved[CASH], moved[GAS_REVENUE]) == (D("130000.00"), D("120000.00"), D("250000.00"))
    assert run(RunMode.VERIFY).mismatched == 0
