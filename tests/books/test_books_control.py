"""Control accounts: 2000 and 1100 move only with their sub-ledgers, and each is proved against it every night."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice.models import (
    Account,
    ApprovalRequest,
    ApprovalStatus,
    EntryStatus,
    JournalEntry,
    JournalLine,
    RunMode,
)
from backoffice.platform.extensions import db
from backoffice.posting.journal import Line
from backoffice.posting.movement import Movement
from backoffice.posting.post import post
from backoffice.posting.rules import CASH, CUSTOMER_DEPOSITS, GAS_REVENUE, RECEIVABLES, Kind
from backoffice.reconcile import evidence_review
from backoffice.reconcile.engine import discrepancies, run
from backoffice.services import approvals, books, installation, meter_invoices, meter_lifecycle, meter_payments, wallet
from tests.factories import CustomerFactory, MeterFactory, UserFactory, past_the_guards, unit_of_work

D = Decimal
DAY = date(2026, 11, 20)
CONTROLLED = {
    CUSTOMER_DEPOSITS: "2000 Customer deposits is a control account: only the customers' wallets move it",
    RECEIVABLES: "1100 Receivables is a control account: only the meters' invoices and payments move it",
}


def books_now() -> tuple[int, int, dict[str, Decimal]]:
    """Entries, lines and the accounts' balances, as a new transaction sees them."""
    db.session.rollback()
    return (
        db.session.scalar(sa.select(sa.func.count(JournalEntry.id))),
        db.session.scalar(sa.select(sa.func.count(JournalLine.id))),
        dict(db.session.execute(sa.select(Account.code, Account.balance)).all()),
    )


NOTHING = (0, 0, dict.fromkeys(("1000", "1100", "2000", "3000", "3100", "4000", "5000"), D(0)))


def test_the_chart_marks_the_control_accounts(app):
    marked = db.session.execute(
        sa.select(Account.code, Account.controlled_by).where(Account.controlled_by.is_not(None))
    )
    assert dict(marked.all()) == {
        CUSTOMER_DEPOSITS: "the customers' wallets",
        RECEIVABLES: "the meters' invoices and payments",
    }


def manual(lines) -> Movement:
    return Movement(kind=Kind.MANUAL, value_date=DAY, description="By hand", lines=tuple(lines))


@pytest.mark.parametrize("control", list(CONTROLLED))
@pytest.mark.parametrize(
    "operation",
    [
        lambda connection, lines: post(installation(), connection, manual(lines)),
        lambda connection, lines: books.post(installation(), connection, DAY, "By hand", lines),
        lambda connection, lines: books.save_draft(installation(), connection, DAY, "By hand", lines),
    ],
    ids=["posting a manual entry", "the books' post", "saving a draft"],
)
def test_a_manual_entry_is_refused_a_line_on_a_control_account_and_writes_nothing(app, control, operation):
    lines = [Line(CASH, debit=D("10")), Line(control, credit=D("10"))]
    with pytest.raises(books.ControlAccount, match=f"Line 2: {CONTROLLED[control]}, never a manual entry"):
        with unit_of_work() as connection:
            operation(connection, lines)
    assert books_now() == NOTHING


def test_an_entry_recording_a_money_event_still_moves_a_control_account(app):
    customer = CustomerFactory()
    wallet.recharge(customer.id, D("100"), value_date=DAY)
    meter = MeterFactory()
    meter_lifecycle.assign_meter(meter, customer, DAY)
    meter_invoices.add_invoice(meter, "INV-1", D("30"), DAY, DAY)
    balances = books_now()[2]
    assert (balances[CUSTOMER_DEPOSITS], balances[RECEIVABLES]) == (D("100.00"), D("30.00"))


def draft_with_a_control_line(control: str, amount: str = "10") -> int:
    """A draft saved before control accounts refused manual lines: raw SQL, which a draft takes."""
    with db.engine.begin() as connection:
        entry_id = connection.execute(
            sa.text(
                "INSERT INTO journal_entries (number, entry_date, description, status, created_at) "
                "VALUES ('OLD-1', :day, 'Saved long ago', 'draft', CURRENT_TIMESTAMP) RETURNING id"
            ),
            {"day": DAY},
        ).scalar_one()
        add_lines(connection, entry_id, [(CASH, amount, 0), (control, 0, amount)])
    return entry_id


def add_lines(connection, entry_id: int, lines) -> None:
    for code, debit, credit in lines:
        connection.execute(
            sa.text(
                "INSERT INTO journal_lines (entry_id, account_id, debit, credit, description) "
                "SELECT :e, id, :debit, :credit, '' FROM accounts WHERE code = :code"
            ),
            {"e": entry_id, "code": code, "debit": debit, "credit": credit},
        )


def status(entry_id: int) -> EntryStatus:
    db.session.rollback()
    return db.session.get(JournalEntry, entry_id).status


@pytest.mark.parametrize("control", list(CONTROLLED))
def test_a_draft_with_a_line_on_a_control_account_is_not_posted(app, client, auth, control):
    draft = draft_with_a_control_line(control)
    with pytest.raises(books.ControlAccount, match=CONTROLLED[control]):
        with unit_of_work() as connection:
            post(installation(), connection, Movement(kind=Kind.MANUAL, draft_id=draft))
    auth.login("admin")
    page = client.post(f"/books/journal/{draft}/post", follow_redirects=True).get_data(as_text=True)
    assert "is a control account" in page
    assert status(draft) is EntryStatus.DRAFT and books_now()[2] == NOTHING[2]


def test_an_approval_does_not_post_a_draft_that_took_a_control_line_meanwhile(app):
    app.config["APPROVAL_ABOVE"] = D("50")
    maker = UserFactory(email="maker@example.com", role="admin")
    checker = UserFactory(email="checker@example.com", role="admin")
    with pytest.raises(books.ControlAccount):
        approvals.ask_entry(
            DAY, "Deposits by hand", [Line(CASH, debit=D("75")), Line(CUSTOMER_DEPOSITS, credit=D("75"))], user=maker
        )
    assert books_now() == NOTHING
    asked = approvals.ask_entry(
        DAY, "Owner's capital", [Line(CASH, debit=D("75")), Line("3000", credit=D("75"))], user=maker
    )
    with db.engine.begin() as connection:
        add_lines(connection, asked.entry_id, [(GAS_REVENUE, 5, 0), (RECEIVABLES, 0, 5)])
    with pytest.raises(books.ControlAccount, match=f"Line 4: {CONTROLLED[RECEIVABLES]}"):
        approvals.approve(asked.id, checker)
    db.session.rollback()
    assert db.session.get(ApprovalRequest, asked.id).status is ApprovalStatus.PENDING
    assert status(asked.entry_id) is EntryStatus.DRAFT and books_now()[2] == NOTHING[2]


def test_a_manual_entry_posted_on_a_control_account_before_is_still_reversed(app):
    legacy = draft_with_a_control_line(CUSTOMER_DEPOSITS)
    with db.engine.begin() as connection:
        connection.execute(sa.text("UPDATE journal_entries SET status = 'posted' WHERE id = :e"), {"e": legacy})
    with unit_of_work() as connection:
        reversal = post(
            installation(), connection, Movement(kind=Kind.MANUAL, reverses_id=legacy, value_date=DAY)
        ).entry_id
    db.session.rollback()
    lines = [(ln.account.code, ln.debit, ln.credit) for ln in db.session.get(JournalEntry, reversal).lines]
    assert lines == [(CASH, D("0.00"), D("10.00")), (CUSTOMER_DEPOSITS, D("10.00"), D("0.00"))]


def entry_form(*lines, action="post") -> dict:
    form = {"entry_date": DAY.isoformat(), "description": "By hand", "action": action}
    for n, (account, debit, credit) in enumerate(lines):
        form |= {f"lines-{n}-account": account, f"lines-{n}-debit": debit, f"lines-{n}-credit": credit}
    return form


@pytest.mark.parametrize("control", list(CONTROLLED))
@pytest.mark.parametrize("action", ["post", "draft"])
def test_the_entry_form_shows_the_refusal_on_the_line_and_writes_nothing(client, auth, control, action):
    auth.login("admin")
    form = entry_form(("1000", "10.000", ""), ("", "", ""), (control, "", "10.000"), action=action)
    totals = client.post("/books/journal/new/totals", data=form).get_data(as_text=True)
    assert "is a control account" in totals and ">balanced<" not in totals
    response = client.post("/books/journal/new", data=form)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'</select><div class="field-error">Line 2: {CONTROLLED[control]}' in page.replace("&#39;", "'")
    assert books_now() == NOTHING


# --- Receivables against the meters' invoices and payments ------------------------------------------------------


def billed() -> None:
    """Invoices and payments through the services, one of each withdrawn, over two meters."""
    customer = CustomerFactory()
    first, second = MeterFactory(), MeterFactory()
    meter_lifecycle.assign_meter(first, customer, DAY)
    meter_lifecycle.assign_meter(second, customer, DAY)
    meter_invoices.add_invoice(first, "INV-1", D("300000"), DAY, DAY)
    withdrawn = meter_invoices.add_invoice(first, "INV-2", D("50000"), DAY, DAY)
    meter_invoices.add_invoice(second, "INV-3", D("120000.50"), DAY, DAY)
    meter_payments.add_payment(first, D("100000"), DAY)
    meter_payments.add_payment(second, D("150000"), DAY)  # overpaid
    mistaken = meter_payments.add_payment(first, D("7000"), DAY)
    meter_invoices.withdraw_invoice(withdrawn, "Issued in error")
    meter_payments.withdraw_payment(mistaken, "Bounced")


def test_receivables_agree_with_the_invoices_less_the_payments_of_a_clean_business(app):
    billed()
    assert books_now()[2][RECEIVABLES] == D("170000.50")
    assert run(RunMode.VERIFY).mismatched == 0


def forge_posted_entry(amount: str, *, move_bucket: bool) -> int:
    """A posted entry Dr Receivables / Cr Gas revenue written with raw SQL past the guards, its bucket moved as a
    posting would (or not); no invoice records it."""
    with past_the_guards() as connection:
        entry_id = connection.execute(
            sa.text(
                "INSERT INTO journal_entries (number, entry_date, description, status, created_at) "
                "VALUES ('FORGED-1', :day, 'forged', 'posted', CURRENT_TIMESTAMP) RETURNING id"
            ),
            {"day": DAY},
        ).scalar_one()
        add_lines(connection, entry_id, [(RECEIVABLES, amount, 0), (GAS_REVENUE, 0, amount)])
        if move_bucket:
            for code in (RECEIVABLES, GAS_REVENUE):
                connection.execute(
                    sa.text(
                        "INSERT INTO account_balance_buckets (account_id, bucket, balance) "
                        "SELECT id, 0, :by FROM accounts WHERE code = :code "
                        "ON CONFLICT (account_id, bucket) DO UPDATE SET balance = account_balance_buckets.balance + "
                        "excluded.balance"
                    ),
                    {"by": amount, "code": code},
                )
    return entry_id


def found(record) -> dict:
    """What the run found on the accounts, by check and account code."""
    codes = dict(db.session.execute(sa.select(Account.id, Account.code)).all())
    return {
        (d.check, codes[d.entity_id]): (d.stored, d.expected, d.fixed)
        for d in db.session.scalars(discrepancies(record.id))
        if d.entity_type == "account"
    }


def tampered(record) -> set:
    """The rows of evidence the run found without a valid seal."""
    return {(d.field, d.entity_id) for d in db.session.scalars(discrepancies(record.id, "evidence_seals"))}


def test_a_forged_posted_line_on_receivables_is_found(app):
    billed()
    entry_id = forge_posted_entry("25000", move_bucket=True)
    record = run(RunMode.VERIFY)
    assert found(record) == {("receivables_agreement", RECEIVABLES): (D("195000.50"), D("170000.50"), False)}
    assert record.mismatched == 2  # and the entry itself, which carries no seal
    assert tampered(record) == {("journal_entries", entry_id)}


def test_a_forged_line_that_left_the_bucket_is_found_once_the_balance_is_healed(app):
    billed()
    entry_id = forge_posted_entry("25000", move_bucket=False)
    held = run(RunMode.FIX)  # the entry carries no seal: the accounts it posts to are not healed from it
    assert tampered(held) == {("journal_entries", entry_id)}
    assert {key: fixed for key, (_stored, _expected, fixed) in found(held).items()} == {
        ("account_balance", RECEIVABLES): False,
        ("account_balance", GAS_REVENUE): False,
    }
    admin = UserFactory(role="admin")
    evidence_review.accept(
        [finding.id for finding in evidence_review.open_findings()], "posted by the auditors' adjustment", admin
    )
    record = run(RunMode.FIX)
    assert found(record) == {
        ("account_balance", RECEIVABLES): (D("170000.50"), D("195000.50"), True),
        ("account_balance", GAS_REVENUE): (D("420000.50"), D("445000.50"), True),
        ("receivables_agreement", RECEIVABLES): (D("195000.50"), D("170000.50"), False),
    }
