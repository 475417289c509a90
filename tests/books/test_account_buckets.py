"""No hot rows: an account's balance is split over buckets chosen by customer (or meter), summed when read.

Postings for customers in different buckets write different rows and never wait for each other;
every balance, the balance sheet, the health check and the metrics stay equal to the posted lines.
"""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from backoffice import register_migrations
from backoffice.models import BUCKETS, Account, AccountBalanceBucket, Customer, Meter, RunMode, account_balance_sql
from backoffice.models.formulas import posted_balance_sql, posted_sums
from backoffice.platform.extensions import db
from backoffice.posting.journal import Line
from backoffice.posting.rules import CASH, CUSTOMER_DEPOSITS, GAS_REVENUE, RECEIVABLES
from backoffice.reconcile.engine import discrepancies, run
from backoffice.services import books, installation, meter_invoices, meter_lifecycle, meter_payments, wallet
from tests.concurrency import PATIENCE, race
from tests.factories import CustomerFactory, MeterFactory, corrupt_bucket
from tests.rows import account_id, balances
from tests.verifying import found

D = Decimal
DAY = date(2026, 11, 22)
REVISION = "0017"
"""The migration that split the balances."""

accounts = Account.__table__


def posted() -> dict[str, Decimal]:
    """Each account's balance as its posted lines make it."""
    db.session.rollback()
    posted = posted_sums()
    balances = sa.select(accounts.c.code, posted_balance_sql(accounts.c.type, posted)).select_from(
        accounts.outerjoin(posted, posted.c.account_id == accounts.c.id)
    )
    return dict(db.session.execute(balances).all())


def buckets_of(code: str) -> dict[int, Decimal]:
    db.session.rollback()
    return dict(
        db.session.execute(
            sa.select(AccountBalanceBucket.bucket, AccountBalanceBucket.balance)
            .join(Account)
            .where(Account.code == code, AccountBalanceBucket.balance != 0)
        ).all()
    )


def manual_entry(amount: str) -> None:
    with db.engine.begin() as connection:
        books.post(
            installation(),
            connection,
            DAY,
            "Owner's capital",
            [Line(CASH, debit=D(amount)), Line("3000", credit=D(amount))],
        )


def test_a_posting_moves_the_bucket_of_its_customer(app):
    customer = CustomerFactory()
    wallet.recharge(customer.id, D("100"))
    assert buckets_of(CASH) == {customer.id % BUCKETS: D("100.00")}
    manual_entry("50")  # an entry of the company's own: bucket 0
    expected = {customer.id % BUCKETS: D("100.00")}
    expected[0] = expected.get(0, D(0)) + D("50.00")
    assert buckets_of(CASH) == expected
    meter = MeterFactory()
    meter_lifecycle.assign_meter(meter, customer, DAY)
    meter_invoices.add_invoice(meter, "INV-1", D("30"), DAY, DAY)
    assert buckets_of(RECEIVABLES) == {customer.id % BUCKETS: D("30.00")}  # the holder's
    with db.engine.begin() as connection:
        lines = [Line(CASH, debit=D("7")), Line("3000", credit=D("7"))]
        books.post(installation(), connection, DAY, "Keyed", lines, bucket_key=2 * BUCKETS + 5)
    assert buckets_of("3000")[5] == D("7.00")
    assert balances() == posted()


def test_balances_stay_exact_over_many_customers_and_sheet_health_and_metrics_follow(app, client):
    app.config["API_TOKEN"] = "t0ken"
    headers = {"Authorization": "Bearer t0ken"}
    customers = [CustomerFactory() for _ in range(BUCKETS + 6)]  # every bucket, some of them twice
    for n, customer in enumerate(customers):
        wallet.recharge(customer.id, D("1000.00") + n)
        if n % 3 == 0:
            wallet.charge(customer.id, D("250.50"))
    meter = MeterFactory()
    meter_lifecycle.assign_meter(meter, customers[0], DAY)
    meter_invoices.add_invoice(meter, "INV-1", D("400"), DAY, DAY)
    meter_payments.add_payment(meter, D("150.25"), DAY)
    manual_entry("1000000")

    moved = posted()
    assert balances() == moved
    assert len(buckets_of(CASH)) == BUCKETS
    assert moved[CUSTOMER_DEPOSITS] == db.session.scalar(sa.select(sa.func.sum(Customer.balance)))
    earnings = moved[GAS_REVENUE] - moved["5000"]
    sheet = books.balance_sheet()
    assert (sheet.assets, sheet.liabilities, sheet.equity, sheet.earnings) == (
        moved[CASH] + moved[RECEIVABLES],
        moved[CUSTOMER_DEPOSITS],
        moved["3000"],
        earnings,
    )
    health = client.get("/admin/balance-health/check", headers=headers).get_json()["data"]
    assert (health["total_assets"], health["total_liabilities"], health["total_equity"]) == (
        str(moved[CASH] + moved[RECEIVABLES]),
        str(moved[CUSTOMER_DEPOSITS]),
        str(moved["3000"] + earnings),
    )
    assert "backoffice_balance_sheet_valid 1.0" in client.get("/metrics", headers=headers).get_data(as_text=True)
    assert run(RunMode.VERIFY).mismatched == 0


def test_a_forged_bucket_is_found_and_its_fix_heals_the_account_with_an_audit_row(app):
    first, second = CustomerFactory(), CustomerFactory()
    wallet.recharge(first.id, D("100"))
    wallet.recharge(second.id, D("200"))
    cash = account_id(CASH)
    spare = next(b for b in range(1, BUCKETS) if b not in {first.id % BUCKETS, second.id % BUCKETS})
    corrupt_bucket(cash, first.id % BUCKETS, "5")  # was 100
    corrupt_bucket(cash, spare, "7")  # no posting wrote it
    bucket_0 = buckets_of(CASH).get(0, D(0))

    fix = run(RunMode.FIX, checks=["account_balance"])
    ((check, entity, stored, expected, difference, fixed),) = [
        (d.check, d.entity_id, d.stored, d.expected, d.difference, d.fixed)
        for d in db.session.scalars(discrepancies(fix.id))
    ]
    assert (check, entity, stored, expected, difference, fixed) == (
        "account_balance",
        cash,
        D("212.00"),
        D("300.00"),
        D("88.00"),
        True,
    )
    assert buckets_of(CASH)[0] == bucket_0 + D("88.00")
    assert balances()[CASH] == posted()[CASH] == D("300.00")
    assert found("account_balance") == 0


def test_the_fix_of_an_account_without_buckets_creates_its_bucket_0(app):
    wallet.recharge(CustomerFactory().id, D("100"))
    with db.engine.begin() as connection:
        connection.execute(sa.delete(AccountBalanceBucket).where(AccountBalanceBucket.account_id == account_id(CASH)))
    assert balances()[CASH] == D("0.00")
    run(RunMode.FIX, checks=["account_balance"])
    assert buckets_of(CASH) == {0: D("100.00")}
    assert found("account_balance") == 0


def test_two_wallet_movements_in_different_buckets_do_not_wait_for_each_other(app):
    first, second = CustomerFactory(), CustomerFactory()
    assert first.id % BUCKETS != second.id % BUCKETS
    first_id, second_id = first.id, second.id
    wallet.recharge(second_id, D("1000"))
    # Both move Customer deposits; the first holds its transaction open after posting until the second committed.
    race(
        app,
        lambda: wallet.recharge(first_id, D("100")),
        lambda: wallet.charge(second_id, D("200")),
        hold_after="commit",
        independent=True,
    )
    assert balances() == posted()
    assert posted()[CUSTOMER_DEPOSITS] == D("900.00") == db.session.scalar(sa.select(sa.func.sum(Customer.balance)))
    assert found("account_balance") == 0


def test_an_invoice_and_another_customers_charge_do_not_wait_for_each_other(app):
    holder, other = CustomerFactory(), CustomerFactory()
    meter = MeterFactory()
    meter_lifecycle.assign_meter(meter, holder, DAY)
    assert holder.id % BUCKETS != other.id % BUCKETS
    meter_id, other_id = meter.id, other.id
    wallet.recharge(other_id, D("1000"))
    race(
        app,
        lambda: meter_invoices.add_invoice(db.session.get(Meter, meter_id), "INV-1", D("300"), DAY, DAY),
        lambda: wallet.charge(other_id, D("200")),
        hold_after="commit",
        independent=True,
    )
    assert balances() == posted()
    assert posted()[GAS_REVENUE] == D("500.00")
    assert found("account_balance") == 0


def test_a_posting_does_not_wait_for_a_lock_on_the_accounts(app):
    customer = CustomerFactory()
    customer_id = customer.id
    wallet.recharge(customer_id, D("100"))
    done = threading.Event()

    def charge() -> None:
        with app.app_context():
            wallet.charge(customer_id, D("10"))
            done.set()

    db.session.remove()
    with db.engine.connect() as holder:
        holder.execute(sa.text("SELECT id FROM accounts FOR NO KEY UPDATE"))  # what an UPDATE of an account takes
        thread = threading.Thread(target=charge)
        thread.start()
        finished = done.wait(timeout=PATIENCE)
        holder.rollback()
    thread.join()
    assert finished, "the charge waited for the accounts' rows"
    assert balances()[CUSTOMER_DEPOSITS] == D("90.00")


def test_two_customers_in_the_same_bucket_both_reach_the_accounts(app):
    first = CustomerFactory()
    second = CustomerFactory(id=first.id + BUCKETS)
    first_id, second_id = first.id, second.id
    race(
        app,
        lambda: wallet.recharge(first_id, D("100")),
        lambda: wallet.recharge(second_id, D("200")),
        hold_after="commit",
    )
    assert buckets_of(CASH) == {first_id % BUCKETS: D("300.00")}
    assert balances() == posted()
    assert balances()[CASH] == balances()[CUSTOMER_DEPOSITS] == D("300.00")
    assert found("account_balance") == 0


def test_the_migration_moves_each_balance_into_bucket_0_and_back(app):
    customers = [CustomerFactory(), CustomerFactory()]
    for customer in customers:
        wallet.recharge(customer.id, D("1000"))
    wallet.charge(customers[1].id, D("250.50"))
    manual_entry("500")
    before = balances()
    db.session.remove()
    register_migrations(app)
    try:
        downgrade(revision=f"{REVISION}-1")
        with db.engine.connect() as connection:
            summed = {
                code: D(str(balance)).quantize(D("0.01"))
                for code, balance in connection.execute(sa.text("SELECT code, balance FROM accounts"))
            }
        assert summed == before
    finally:
        upgrade()
    assert balances() == before
    assert buckets_of(CASH) == {0: before[CASH]}
    assert found("account_balance") == 0


def test_the_balance_reads_the_same_through_the_orm_and_core(app):
    wallet.recharge(CustomerFactory().id, D("100"))
    cash = account_id(CASH)
    core = db.session.scalar(sa.select(account_balance_sql(accounts.c.id)).where(accounts.c.id == cash))
    assert core == db.session.get(Account, cash).balance == D("100.00")
