"""One table of keys, whatever the door: a key names its maker and what it wrote (``sent_keys``). Sent again by its
maker it is answered with what it wrote; sent by anyone else — another clerk, an admin, a command run without a user
— it is refused with a true sentence, and nothing is written."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice.models import ApprovalRequest, BalanceTransaction, JournalEntry, Role, SentKey
from backoffice.platform.extensions import db
from backoffice.posting.journal import Line
from backoffice.posting.rules import CASH
from backoffice.services import approvals, books, wallet
from tests.factories import CustomerFactory, UserFactory
from tests.rows import count

D = Decimal
DAY = date(2026, 11, 22)
ANOTHER = "was sent by another user: your {what} was not saved. Send it again with a new key."


@pytest.fixture
def makers(app):
    """A clerk who sent the key first, another clerk, and an admin."""
    return UserFactory(role=Role.FINANCE), UserFactory(role=Role.FINANCE), UserFactory(role=Role.ADMIN)


def kept(key: str) -> tuple:
    row = db.session.scalars(sa.select(SentKey).where(SentKey.key == key)).one()
    return row.maker_id, row.wrote, row.wrote_id


def test_a_movement_s_key_is_its_maker_s_alone(makers, runner):
    clerk, other, admin = makers
    customer = CustomerFactory()
    first = wallet.recharge(customer.id, D("1000"), description="Cash", idempotency_key="k-1", user=clerk)
    assert kept("k-1") == (clerk.id, "balance_transactions", first.id)
    assert wallet.recharge(customer.id, D("1000"), description="Cash", idempotency_key="k-1", user=clerk).id == first.id
    for maker in (other, admin):
        with pytest.raises(wallet.IdempotencyConflict, match=ANOTHER.format(what="wallet movement")):
            wallet.recharge(customer.id, D("1000"), description="Cash", idempotency_key="k-1", user=maker)
    command = ["ledger", "recharge", customer.code, "1000", "--description", "Cash", "--idempotency-key", "k-1"]
    ran = runner.invoke(args=command)
    assert ran.exit_code != 0 and "sent by another user: your wallet movement was not saved" in ran.output
    assert count(BalanceTransaction) == 1


def test_an_entry_s_key_is_its_maker_s_alone_and_one_key_writes_one_thing(makers):
    _clerk, other, admin = makers
    lines = [Line(CASH, debit=D("2500")), Line("3000", credit=D("2500"))]
    done = books.write_entry(DAY, "Owner's money", lines, user=admin, idempotency_key="e-1")
    assert kept("e-1") == (admin.id, "journal_entries", done.entry_id)
    assert books.write_entry(DAY, "Owner's money", lines, user=admin, idempotency_key="e-1") == done
    with pytest.raises(books.BooksError, match=ANOTHER.format(what="journal entry")):
        books.write_entry(DAY, "Owner's money", lines, user=other, idempotency_key="e-1")
    customer = CustomerFactory()
    with pytest.raises(wallet.IdempotencyConflict, match="already used for a different operation"):
        wallet.recharge(customer.id, D("1000"), description="Cash", idempotency_key="e-1", user=admin)
    assert (count(JournalEntry), count(BalanceTransaction)) == (1, 0)


def test_a_request_s_key_is_its_maker_s_alone(makers, limit):
    clerk, other, _admin = makers
    customer = CustomerFactory()
    given = {"description": "Cash at the counter", "idempotency_key": "r-1"}
    asked = wallet.recharge_of(customer, D("60000"), user=clerk, **given)
    first = approvals.ask_recharge(asked, user=clerk, reason="Cash at the counter")
    assert approvals.ask_recharge(asked, user=clerk, reason="Cash at the counter").id == first.id
    theirs = wallet.recharge_of(customer, D("60000"), user=other, **given)
    with pytest.raises(wallet.IdempotencyConflict, match=ANOTHER.format(what="request")):
        approvals.ask_recharge(theirs, user=other, reason="Cash at the counter")
    assert count(ApprovalRequest) == 1


def test_a_key_row_forged_by_sql_is_no_entry_written(makers):
    """A row of ``sent_keys`` proves no write: answered only by the entry that holds the key, a forged row naming an
    entry (any id, negative too) is never said to be what the key wrote."""
    _clerk, _other, admin = makers
    with db.engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO sent_keys (key, maker_id, sent_at, wrote, wrote_id) "
                "VALUES ('forged', :admin, now(), 'journal_entries', -5)"
            ),
            {"admin": admin.id},
        )
    lines = [Line(CASH, debit=D("2500")), Line("3000", credit=D("2500"))]
    with pytest.raises(books.BooksError, match="already used for a different operation"):
        books.write_entry(DAY, "Owner's money", lines, user=admin, idempotency_key="forged")
    assert count(JournalEntry) == 0
