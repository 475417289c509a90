"""One function of SQL writes the journal: every money event's entry, a manual entry, a draft and its posting, a
reversal and a heal of an account's balance reach ``journal_entries``, ``journal_lines`` and
``account_balance_buckets`` through it (``post_journal_v1``, its buckets through ``move_account_buckets_v1``), and
it reads its rules from the database's rule table, the application's."""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from backoffice import create_app, register_migrations
from backoffice.models import Account, BalanceTransaction, Customer, JournalEntry, Role, RunMode
from backoffice.platform.extensions import db
from backoffice.posting import rules
from backoffice.posting.journal import Line
from backoffice.posting.rules import CASH, CUSTOMER_DEPOSITS, GAS_REVENUE, RULES, VAT_PAYABLE, counts
from backoffice.reconcile.engine import run
from backoffice.services import books, meter_invoices, meter_lifecycle, meter_payments, wallet
from tests.factories import CustomerFactory, MeterFactory, UserFactory, corrupt_bucket, past_the_guards
from tests.rows import balances, count

D = Decimal
DAY = date(2026, 11, 22)
WRITES = re.compile(r"\bINSERT\s+INTO\s+(journal_entries|journal_lines|account_balance_buckets)\b", re.IGNORECASE)


@pytest.fixture()
def statements(app):
    """Every statement the application sends the database while the test runs."""
    sent: list[str] = []

    def seen(_conn, _cursor, statement, *_args):
        sent.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", seen)
    yield sent
    sa.event.remove(db.engine, "before_cursor_execute", seen)


def test_no_statement_of_the_application_writes_the_journal_s_tables(statements):
    """A wallet's movements, an invoice, a payment and its allocation, a withdrawal, a manual entry, a draft saved
    and posted, a reversal, and a heal of an account's balance: each writes entries, lines and buckets, and none of
    the statements the application sends inserts into those tables: the function does."""
    admin = UserFactory(role=Role.ADMIN)
    customer = CustomerFactory()
    wallet.recharge(customer.id, D("500000"))
    wallet.charge(customer.id, D("120000"))
    mistaken = wallet.recharge(customer.id, D("50000"))
    wallet.reverse(mistaken.id, description="Entered by mistake")
    meter = MeterFactory()
    meter_lifecycle.assign_meter(meter, customer, DAY)
    invoice = meter_invoices.add_invoice(meter, "INV-1", D("300000"), DAY, DAY)
    meter_payments.add_payment(meter, D("100000"), DAY)
    meter_invoices.withdraw_invoice(invoice, "Issued in error")
    lines = [Line(CASH, debit=D("2500")), Line("3000", credit=D("2500"))]
    manual = books.write_entry(DAY, "Owner's money", lines, user=admin)
    draft = books.write_entry(DAY, "Accrual", [Line(CASH, debit=D("700"))], user=admin, draft=True)
    with pytest.raises(books.BooksError, match="at least two lines"):
        books.post_saved_draft(draft.entry_id, user=admin)
    books.reverse_entry(manual.entry_id, user=admin)
    cash = db.session.scalar(sa.select(Account.id).where(Account.code == CASH))
    before = len(statements)
    corrupt_bucket(cash, 0, "12345")  # the test's own forgery, by SQL
    statements[before:] = []
    run(RunMode.FIX, checks=["account_balance"])

    assert count(JournalEntry) == 10  # 4 movements, 3 of billing, an entry, its reversal, a draft
    assert [statement for statement in statements if WRITES.search(statement)] == []
    assert balances()[CASH] == D("600000.00")
    assert run(RunMode.VERIFY).mismatched == 0


def test_the_rule_table_in_the_database_is_the_application_s(app):
    """The posting functions read ``posting_rules``; it says what ``posting.rules`` says, row for row."""
    stored = {
        (row.kind, row.sign): row for row in db.session.execute(sa.text("SELECT * FROM posting_rules")).mappings()
    }
    assert set(stored) == {(rule.kind.value, rule.sign) for rule in RULES}
    for rule in RULES:
        row = stored[rule.kind.value, rule.sign]
        moved = {column: int(by) for column, by in counts(rule, D(rule.sign)).items()}
        assert (row["wallet"], row["debit_account"], row["credit_account"], row["meaning"]) == (
            rule.wallet,
            rule.debit,
            rule.credit,
            rule.meaning,
        )
        assert (row["taxed_account"], row["vat_account"]) == (rule.taxed, VAT_PAYABLE if rule.taxed else None)
        assert {column: row[column] * rule.sign for column in moved} == moved


def test_an_upgrade_writes_the_rule_table_as_the_application_says_it(app):
    """``posting_rules`` is written from ``posting.rules`` by every upgrade: a rule edited or added by the owner's SQL
    is put back as the application says it, by the next upgrade."""
    with db.engine.begin() as connection:
        connection.execute(sa.text("UPDATE posting_rules SET credit_account = '4000' WHERE kind = 'recharge'"))
        connection.execute(
            sa.text(
                "INSERT INTO posting_rules VALUES ('recharge', -1, true, '2000', '1000', NULL, NULL, -1, 0, -1, 0, 'x')"
            )
        )
    db.session.remove()
    migrating = create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"], "SECRET_KEY": "test"})
    register_migrations(migrating)
    with migrating.app_context():
        upgrade()
        db.engine.dispose()
    held = db.session.execute(sa.text("SELECT * FROM posting_rules ORDER BY kind, sign")).mappings().all()
    assert [dict(row) for row in held] == sorted(rules.rows(), key=lambda row: (row["kind"], row["sign"]))


def _call(sql: str, **given):
    with db.engine.begin() as connection:
        return connection.execute(sa.text(sql), given).all()


def test_the_wallet_s_function_is_called_by_sql_alone(app):
    """Nothing of the rules comes from the caller: a recharge posted by a statement of SQL has its ledger row, its
    customer's balance, and its entry's two lines from the rule table."""
    customer = CustomerFactory()
    row = _call(
        "SELECT id, entry_id, balance_after FROM post_wallet_movements_v3("
        "ARRAY[ROW(1, :customer, 'recharge', 2500, :day, NULL, NULL, 'By SQL', NULL, NULL, NULL, NULL, false, false,"
        " 0)::wallet_movement_v3], 64, :day, now(), NULL, true)",
        customer=customer.id,
        day=DAY,
    )[0]
    db.session.expire_all()
    assert row.balance_after == D("2500.00") == db.session.get(Customer, customer.id).balance
    assert db.session.get(BalanceTransaction, row.id).entry_id == row.entry_id
    lines = _call(
        "SELECT a.code, l.debit, l.credit FROM journal_lines l JOIN accounts a ON a.id = l.account_id "
        "WHERE l.entry_id = :entry ORDER BY l.id",
        entry=row.entry_id,
    )
    debit, credit = (CASH, D("2500.00"), D("0.00")), (CUSTOMER_DEPOSITS, D("0.00"), D("2500.00"))
    assert [tuple(line) for line in lines] == [debit, credit]


@pytest.mark.parametrize(
    ("lines", "refusal"),
    [
        ([{"account": CASH, "debit": "10"}, {"account": GAS_REVENUE, "credit": "9"}], "balanced"),
        ([{"account": CASH, "debit": "10"}], "lines"),
        ([{"account": CASH, "debit": "10", "credit": "10"}, {"account": GAS_REVENUE, "credit": "10"}], "side"),
        ([{"account": CASH, "debit": "-10"}, {"account": GAS_REVENUE, "debit": "10"}], "amount"),
        ([{"account": CASH, "debit": "10"}, {"account": "9999", "credit": "10"}], "account"),
        ([{"account": "1100", "debit": "10"}, {"account": GAS_REVENUE, "credit": "10"}], "control"),
    ],
)
def test_the_journal_s_function_refuses_by_itself_and_writes_nothing(app, lines, refusal):
    """Called by SQL, with no Python before it, the function refuses what the books refuse, with its figures."""
    entries = [{"place": 1, "entry_date": str(DAY), "status": "posted"}]
    given = [{"place": 1, **line} for line in lines]
    with pytest.raises(sa.exc.DBAPIError) as raised:
        _call(
            "SELECT * FROM post_journal_v1(CAST(:entries AS jsonb), CAST(:lines AS jsonb), 64, :day, now(), NULL)",
            entries=json.dumps(entries),
            lines=json.dumps(given),
            day=DAY,
        )
    assert raised.value.orig.sqlstate == "JL001"
    assert json.loads(raised.value.orig.diag.message_detail)["refusal"] == refusal
    assert count(JournalEntry) == 0 and set(balances().values()) == {D(0)}


def _posted_by_sql(entry: dict, lines: list[dict]) -> int:
    """The entry and its lines given to the journal's function by SQL alone; its id."""
    return _call(
        "SELECT entry_id FROM post_journal_v1(CAST(:entries AS jsonb), CAST(:lines AS jsonb), 64, :day, now(), NULL)",
        entries=json.dumps([{"place": 1, "entry_date": str(DAY), "status": "posted", **entry}]),
        lines=json.dumps([{"place": 1, **line} for line in lines]),
        day=DAY,
    )[0].entry_id


ON_DEPOSITS = [{"account": CASH, "debit": "10"}, {"account": CUSTOMER_DEPOSITS, "credit": "10"}]
"""Typed lines that move the customers' wallets' control account by hand."""


@pytest.mark.parametrize(
    "entry",
    [
        {"manual": False},
        {"source_type": "balance_transaction", "source_id": 1, "manual": False},
        {"reverses_id": "wallet"},
        {"reverses_id": "manual, by other amounts"},
    ],
    ids=["said not manual", "given a source", "reversing a wallet's entry", "reversing by other amounts"],
)
def test_typed_lines_on_a_control_account_are_refused_whatever_the_caller_says(app, entry):
    """Whether an entry is an accountant's is the function's to say, of its lines: typed lines on a control account
    are refused whatever the caller calls them, but the exact reversal of an accountant's entry."""
    customer = CustomerFactory()
    wallet.recharge(customer, D("10"))
    db.session.commit()
    recharged = db.session.scalar(sa.select(JournalEntry.id).where(JournalEntry.source_type == "balance_transaction"))
    with past_the_guards() as connection:  # an accountant's entry on the control account, from before the refusal
        connection.execute(
            sa.text("UPDATE journal_entries SET source_type = NULL, source_id = NULL WHERE id = :id"), {"id": recharged}
        )
    wallet.recharge(customer, D("10"))
    db.session.commit()
    sourced = db.session.scalar(
        sa.select(JournalEntry.id)
        .where(JournalEntry.source_type == "balance_transaction")
        .order_by(JournalEntry.id.desc())
    )
    reversing = {"wallet": sourced, "manual, by other amounts": recharged}
    if entry.get("reverses_id") in reversing:
        entry = {"reverses_id": reversing[entry["reverses_id"]]}
    lines = ON_DEPOSITS
    if entry.get("reverses_id") is not None:
        amount = "10" if entry["reverses_id"] == sourced else "9"
        lines = [{"account": CUSTOMER_DEPOSITS, "debit": amount}, {"account": CASH, "credit": amount}]
    before = count(JournalEntry)
    with pytest.raises(sa.exc.DBAPIError) as raised:
        _posted_by_sql(entry, lines)
    assert json.loads(raised.value.orig.diag.message_detail)["refusal"] == "control"
    assert count(JournalEntry) == before

    # The exact reversal of the accountant's entry puts the account back in step.
    undone = [{"account": CUSTOMER_DEPOSITS, "debit": "10"}, {"account": CASH, "credit": "10"}]
    assert _posted_by_sql({"reverses_id": recharged}, undone) > 0
