"""Set-based re-pricing writes, row for row, what pricing each reading one by one writes.

Two customers get the same history: a deposit, pricing rows, readings charged as they were recorded, then
(while not kept in real time) readings corrected in date and volume, so that some were charged on another
date than their own, and a new price from a date. One is re-priced by the code under test; the other by the
reference below, the re-pricing as it was before it was set-based: each reading priced and its difference
posted by one ``post`` of its own. Their ledger rows, journal entries and lines, calculations, months,
totals and the accounts' movements must be the same.

And the database's guards on the books hold for statements that write many entries and lines at once, and for
one that writes entries already posted with all their lines (as a set-based posting does on PostgreSQL).
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import literal

from backoffice import register_migrations
from backoffice.models import (
    Account,
    BalanceTransaction,
    Customer,
    CustomerPricing,
    JournalEntry,
    JournalLine,
    MeterReading,
    MonthlyCustomerBalance,
    Occasion,
    RecalculationRequest,
    RunMode,
    TransactionCalculation,
)
from backoffice.models.types import Money, Month, utcnow
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.platform.money import MAX_BALANCE, BeyondLimit
from backoffice.posting import months
from backoffice.posting.locking import lock_customers
from backoffice.posting.refusals import DatedAfterToday
from backoffice.posting.wallet_batches import post_many
from backoffice.reconcile.engine import run
from backoffice.services import books, installation, meter_lifecycle, metering, wallet
from backoffice.services.metering.repricing import charge_reading
from tests.concurrency import race
from tests.factories import CustomerFactory, MeterFactory, corrupt, unit_of_work

D = Decimal
FIRST = date(2025, 1, 1)
readings = MeterReading.__table__
calculations = TransactionCalculation.__table__


def price_each_reading(connection, customer_id: int, since: date) -> None:
    """The reference: the customer's readings from ``since``, priced and charged one by one, in id order."""
    rows = connection.execute(
        sa.select(readings)
        .where(readings.c.customer_id == customer_id, readings.c.reading_date >= since)
        .order_by(readings.c.id)
    ).all()
    for reading in rows:
        priced = metering.price(connection, customer_id, reading.reading_date, reading.volume_flow_meter)
        connection.execute(sa.delete(calculations).where(calculations.c.reading_id == reading.id))
        connection.execute(
            sa.insert(calculations),
            {
                "customer_id": customer_id,
                "reading_id": reading.id,
                "year_month": str(Month.of(reading.reading_date)),
                "transaction_date": reading.reading_date,
                "volume_flow_meter": priced.volume_flow_meter,
                "meter_correction": priced.meter_correction,
                "volume_sm3": priced.volume_sm3,
                "price_per_sm3": priced.price_per_sm3,
                "total_price": priced.total_price,
                "pricing": priced.pricing,
                "calculated_at": utcnow(),
            },
        )
        charge_reading(
            connection, customer_id, reading.id, reading.reading_date, priced.total_price, None, Occasion.REPRICING
        )
    months.recalculate(connection, [customer_id], Month.of(since))


pricing_rows = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=100),
        st.decimals(min_value=D("0"), max_value=D("20000"), places=2),
        st.decimals(min_value=D("0.5"), max_value=D("2"), places=6),
    ),
    max_size=2,
)
history = st.fixed_dictionaries(
    {
        "deposit": st.decimals(min_value=D("0"), max_value=D("1000000"), places=2),
        "first_price": st.tuples(
            st.decimals(min_value=D("0"), max_value=D("20000"), places=2),
            st.decimals(min_value=D("0.5"), max_value=D("2"), places=6),
        ),
        "pricing": pricing_rows,
        "readings": st.lists(
            st.tuples(
                st.integers(min_value=0, max_value=120), st.decimals(min_value=D("0"), max_value=D("500"), places=4)
            ),
            min_size=1,
            max_size=12,
        ),
        "corrections": st.lists(
            st.tuples(
                st.integers(min_value=0, max_value=11),
                st.integers(min_value=0, max_value=120),
                st.decimals(min_value=D("0"), max_value=D("500"), places=4),
            ),
            max_size=4,
        ),
        "new_price": st.tuples(
            st.integers(min_value=0, max_value=120),
            st.decimals(min_value=D("0"), max_value=D("20000"), places=2),
            st.decimals(min_value=D("0.5"), max_value=D("2"), places=6),
        ),
    }
)


def lived(plan: dict) -> tuple[int, list[int]]:
    """A customer with the history ``plan`` describes, left kept in real time; returns it and its readings."""
    customer = CustomerFactory()
    meter = MeterFactory()
    meter_lifecycle.assign_meter(meter, customer, FIRST)
    if plan["deposit"]:
        wallet.recharge(customer.id, plan["deposit"])
    metering.set_pricing(customer.id, FIRST, *plan["first_price"])
    for offset, price, correction in plan["pricing"]:
        metering.set_pricing(customer.id, FIRST + timedelta(days=offset), price, correction)
    recorded = []
    for day, volume in plan["readings"]:  # a meter read twice a day is meant here
        on = FIRST + timedelta(days=day)
        same_day = metering.same_day_reading(meter.id, on)
        recorded.append(metering.record_reading(meter.id, on, volume, confirm_duplicate_of=same_day and same_day.id))
    realtime(customer.id, False)
    for index, day, volume in plan["corrections"]:
        metering.correct_reading(recorded[index % len(recorded)], FIRST + timedelta(days=day), volume)
    day, price, correction = plan["new_price"]
    metering.set_pricing(customer.id, FIRST + timedelta(days=day), price, correction)
    realtime(customer.id, True)
    return customer.id, recorded


def realtime(customer_id: int, on: bool) -> None:
    db.session.execute(sa.update(Customer).where(Customer.id == customer_id).values(use_realtime_calculation=on))
    db.session.commit()


def accounts() -> dict[str, Decimal]:
    db.session.rollback()
    return dict(db.session.execute(sa.select(Account.code, Account.balance)).all())


def moved(before: dict[str, Decimal]) -> dict[str, Decimal]:
    return {code: balance - before[code] for code, balance in accounts().items() if balance != before[code]}


def charged_rows(customer_id: int, recorded: list[int], after_row: int) -> dict:
    """What the customer's re-pricing left, with ids replaced by positions (the two customers' ids differ)."""
    db.session.rollback()
    reading = {reading_id: f"reading {n}" for n, reading_id in enumerate(recorded)}
    code = db.session.get(Customer, customer_id).code
    rows = db.session.scalars(
        sa.select(BalanceTransaction)
        .where(BalanceTransaction.customer_id == customer_id, BalanceTransaction.id > after_row)
        .order_by(BalanceTransaction.id)
    ).all()
    row = {r.id: f"row {n}" for n, r in enumerate(rows)}

    def plain(text: str) -> str:
        text = re.sub(r"reading #(\d+)", lambda m: reading[int(m[1])], text)
        return re.sub(r"#(\d+) of " + code, lambda m: f"{row[int(m[1])]} of the customer", text)

    ledger = [
        (r.kind, r.amount, r.signed_amount, r.balance_before, r.balance_after, r.value_date, r.reference_type)
        + (reading[r.reference_id], plain(r.description), r.reason, r.occasion, r.reverses_id, r.idempotency_key)
        for r in rows
    ]
    entries = []
    for r in rows:
        entry = db.session.get(JournalEntry, r.entry_id)
        lines = db.session.scalars(
            sa.select(JournalLine).where(JournalLine.entry_id == entry.id).order_by(JournalLine.id)
        )
        entries.append(
            (entry.entry_date, plain(entry.description), entry.status, entry.source_type, row[entry.source_id])
            + (entry.reverses_id, tuple((ln.account.code, ln.debit, ln.credit, ln.description) for ln in lines))
        )
        assert entry.number == f"JE-{entry.id}"
    calculated = {
        reading[c.reading_id]: (c.year_month, c.transaction_date, c.volume_flow_meter)
        + (c.meter_correction, c.volume_sm3, c.price_per_sm3, c.total_price)
        + (c.pricing["effective_from"], c.pricing["price_per_sm3"], c.pricing["meter_correction"])
        + (db.session.get(CustomerPricing, c.pricing["pricing_id"]).customer_id == customer_id,)
        for c in db.session.scalars(
            sa.select(TransactionCalculation).where(TransactionCalculation.customer_id == customer_id)
        )
    }
    months = [
        (m.year_month, m.opening_balance, m.total_deposits, m.total_purchases, m.closing_balance, m.total_volume_sm3)
        for m in db.session.scalars(
            sa.select(MonthlyCustomerBalance)
            .where(MonthlyCustomerBalance.customer_id == customer_id)
            .order_by(MonthlyCustomerBalance.year_month)
        )
    ]
    customer = db.session.get(Customer, customer_id)
    totals = (customer.balance, customer.total_recharged, customer.total_spent, customer.status)
    return {"ledger": ledger, "entries": entries, "calculations": calculated, "months": months, "totals": totals}


def last_row() -> int:
    db.session.rollback()
    return db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(BalanceTransaction.id), 0)))


def start_of(customer_id: int) -> date:
    db.session.rollback()
    return db.session.scalar(
        sa.select(sa.func.min(RecalculationRequest.from_date)).where(
            RecalculationRequest.customer_id == customer_id, RecalculationRequest.done_at.is_(None)
        )
    )


MOVED_AT_NO_COST = {
    "deposit": D("0.00"),
    "first_price": (D("0.00"), D("0.500000")),
    "pricing": [],
    "readings": [(0, D("0.0001"))],
    "corrections": [(0, 31, D("0.0000"))],
    "new_price": (0, D("0.00"), D("0.500000")),
}
"""A reading of 0.0001 m³ on 1 January at a price of 0, corrected to 0 m³ on 1 February while its customer was not
kept in real time: nothing was charged, so no movement is dated in January, yet its 0.0001 Sm³ leaves January."""


@pytest.mark.parametrize("path", ["recalculation job", "reading ids"])
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=history)
@example(plan=MOVED_AT_NO_COST)
def test_set_based_repricing_writes_what_pricing_each_reading_in_turn_writes(app, path, plan):
    tested, tested_readings = lived(plan)
    reference, reference_readings = lived(plan)
    since = start_of(tested)
    assert since == start_of(reference)

    before, after_row = accounts(), last_row()
    if path == "recalculation job":
        metering.process_recalculations([tested])
    else:
        chosen = db.session.scalars(
            sa.select(MeterReading.id).where(MeterReading.customer_id == tested, MeterReading.reading_date >= since)
        ).all()
        with unit_of_work() as connection:
            metering.reprice(connection, list(chosen))
    tested_moved, tested_written = moved(before), charged_rows(tested, tested_readings, after_row)

    before, after_row = accounts(), last_row()
    with unit_of_work() as connection:
        price_each_reading(connection, reference, since)
    assert tested_written == charged_rows(reference, reference_readings, after_row)
    assert tested_moved == moved(before)
    checks = ["reading_calculation", "customer_wallet", "ledger_chain", "monthly_balance"]
    assert run(RunMode.VERIFY, checks=checks).mismatched == 0


def drafts(count: int) -> list[int]:
    """Draft entries with a balanced pair of lines each, as a set-based posting writes them before posting."""
    with unit_of_work() as connection:
        lines = [books.Line("1000", debit=D("5")), books.Line("4000", credit=D("5"))]
        return [books.save_draft(installation(), connection, FIRST, f"Draft {n}", lines) for n in range(count)]


def test_one_statement_adding_lines_to_many_entries_is_refused_when_one_is_posted(app):
    first, second, third = drafts(3)
    with unit_of_work() as connection:
        connection.execute(sa.text("UPDATE journal_entries SET status = 'posted' WHERE id = :e"), {"e": second})
    with pytest.raises(sa.exc.DatabaseError, match="immutable: INSERT of its lines is refused"):
        with unit_of_work() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO journal_lines (entry_id, account_id, debit, credit, description) "
                    "SELECT e.id, a.id, 1, 0, 'more' FROM journal_entries e, accounts a "
                    "WHERE e.id IN (:first, :second, :third) AND a.code = '1000'"
                ),
                {"first": first, "second": second, "third": third},
            )
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(JournalLine)) == 6


def test_one_statement_posting_many_drafts_is_refused_when_one_does_not_balance(app):
    entries = drafts(3)
    with unit_of_work() as connection:
        connection.execute(sa.text("DELETE FROM journal_lines WHERE entry_id = :e AND credit > 0"), {"e": entries[1]})
    with pytest.raises(sa.exc.DatabaseError, match="posted unbalanced"):
        with unit_of_work() as connection:
            connection.execute(sa.update(JournalEntry).where(JournalEntry.id.in_(entries)).values(status="posted"))
    db.session.rollback()
    assert {e.status.value for e in db.session.scalars(sa.select(JournalEntry))} == {"draft"}


POSTED_WITH_ITS_LINES = """
    WITH new AS (
        INSERT INTO journal_entries (id, number, entry_date, description, status, created_at, posted_at)
        SELECT n, 'JE-' || n, DATE '2025-01-01', 'posted with its lines', 'posted', now(), now()
        FROM (SELECT nextval(pg_get_serial_sequence('journal_entries', 'id')) AS n) taken
        RETURNING id
    )
    INSERT INTO journal_lines (entry_id, account_id, debit, credit, description)
    SELECT new.id, a.id, CASE WHEN a.code = '1000' THEN :debit ELSE 0 END,
           CASE WHEN a.code = '4000' THEN :credit ELSE 0 END, ''
    FROM new, accounts a WHERE a.code IN ('1000', '4000')
"""
"""One statement writing an entry posted, with a debit of Cash and a credit of Gas revenue: as a set-based posting
writes its entries on PostgreSQL."""


def posted_entries() -> list[tuple[str, int, Decimal, Decimal]]:
    db.session.rollback()
    return db.session.execute(
        sa.select(JournalEntry.status, sa.func.count(), sa.func.sum(JournalLine.debit), sa.func.sum(JournalLine.credit))
        .join(JournalLine, JournalLine.entry_id == JournalEntry.id)
        .group_by(JournalEntry.id, JournalEntry.status)
        .order_by(JournalEntry.id)
    ).all()


def test_one_statement_may_write_an_entry_posted_with_all_its_lines(app):
    with unit_of_work() as connection:
        connection.execute(sa.text(POSTED_WITH_ITS_LINES), {"debit": 5, "credit": 5})
    assert [(status.value, *rest) for status, *rest in posted_entries()] == [("posted", 2, D("5.00"), D("5.00"))]


def test_an_entry_written_posted_with_lines_that_do_not_balance_is_refused(app):
    with pytest.raises(sa.exc.DatabaseError, match="posted unbalanced: debits 5.00, credits 6.00, 2 line"):
        with unit_of_work() as connection:
            connection.execute(sa.text(POSTED_WITH_ITS_LINES), {"debit": 5, "credit": 6})
    assert posted_entries() == []


def test_a_statement_posting_an_entry_with_lines_cannot_add_one_to_an_earlier_entry(app):
    with unit_of_work() as connection:
        earlier = books.post(
            installation(),
            connection,
            FIRST,
            "Earlier",
            [books.Line("1000", debit=D("5")), books.Line("4000", credit=D("5"))],
        )
    forged = " UNION ALL SELECT :earlier, id, 5, 0, 'forged' FROM accounts WHERE code = '4000'"
    with pytest.raises(sa.exc.DatabaseError, match="immutable: INSERT of its lines is refused"):
        with unit_of_work() as connection:
            connection.execute(sa.text(POSTED_WITH_ITS_LINES + forged), {"debit": 5, "credit": 5, "earlier": earlier})
    assert [(status.value, *rest) for status, *rest in posted_entries()] == [("posted", 2, D("5.00"), D("5.00"))]


def test_a_line_for_a_void_entry_is_refused(app):
    (draft,) = drafts(1)
    with unit_of_work() as connection:
        books.void_draft(connection, draft)
    with pytest.raises(sa.exc.DatabaseError, match="immutable: INSERT of its lines is refused"):
        with unit_of_work() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO journal_lines (entry_id, account_id, debit, credit, description) "
                    "SELECT :e, id, 1, 0, 'more' FROM accounts WHERE code = '1000'"
                ),
                {"e": draft},
            )
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(JournalLine)) == 2


def test_a_line_added_while_its_draft_is_being_posted_waits_and_is_refused(app):
    (draft,) = drafts(1)
    refused = []

    def posting():
        with unit_of_work() as connection:
            books.post_draft(installation(), connection, draft)

    def adding():
        try:
            with unit_of_work() as connection:
                connection.execute(
                    sa.text(
                        "INSERT INTO journal_lines (entry_id, account_id, debit, credit, description) "
                        "SELECT :e, id, 1, 0, 'late' FROM accounts WHERE code = '1000'"
                    ),
                    {"e": draft},
                )
        except sa.exc.DatabaseError as error:
            refused.append(str(error))

    race(app, posting, adding, hold_after="commit")
    assert len(refused) == 1 and "immutable: INSERT of its lines is refused" in refused[0]
    assert [(status.value, *rest) for status, *rest in posted_entries()] == [("posted", 2, D("5.00"), D("5.00"))]


def test_lines_went_to_drafts_only_before_the_migration_and_to_posted_entries_after(app):
    db.session.remove()
    register_migrations(app)
    try:
        downgrade(revision="0018")
        with pytest.raises(sa.exc.DatabaseError, match="immutable: INSERT of its lines is refused"):
            with db.engine.begin() as connection:
                connection.execute(sa.text(POSTED_WITH_ITS_LINES), {"debit": 5, "credit": 5})
    finally:
        upgrade()
    with unit_of_work() as connection:
        connection.execute(sa.text(POSTED_WITH_ITS_LINES), {"debit": 5, "credit": 5})
    assert len(posted_entries()) == 1


def test_a_repricing_taking_a_total_beyond_its_column_is_refused_and_writes_nothing(app):
    customer = CustomerFactory()
    meter = MeterFactory()
    meter_lifecycle.assign_meter(meter, customer, FIRST)
    metering.set_pricing(customer.id, FIRST, D("1000.00"), D("1"))
    reading = metering.record_reading(meter.id, FIRST, D("10"))
    corrupt("customers", "total_spent", customer.id, MAX_BALANCE)
    rows = last_row()
    with pytest.raises(BeyondLimit, match=f"The total spent of {customer.code}"):
        metering.set_pricing(customer.id, FIRST, D("2000.00"), D("1"))
    db.session.rollback()
    assert last_row() == rows
    assert db.session.scalar(sa.select(CustomerPricing.price_per_sm3)) == D("1000.00")
    calculation = db.session.scalar(
        sa.select(TransactionCalculation).where(TransactionCalculation.reading_id == reading)
    )
    assert calculation.total_price == D("10000.00")


def test_movements_posted_together_are_refused_when_one_is_dated_after_today(app):
    customer = CustomerFactory()
    values = {
        "customer_id": literal(customer.id),
        "position": literal(1),
        "kind": literal("reversal"),
        "signed_amount": literal(D("1.00"), Money),
        "value_date": literal(local_today() + timedelta(days=1)),
        "reference_type": literal(None, sa.String),
        "reference_id": literal(None, sa.Integer),
        "description": literal("Tomorrow's"),
    }
    with pytest.raises(DatedAfterToday):
        with unit_of_work() as connection:
            lock_customers(connection, [customer.id])
            post_many(installation(), connection, sa.select(*(value.label(name) for name, value in values.items())))
    assert last_row() == 0
