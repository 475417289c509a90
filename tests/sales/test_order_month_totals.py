"""Each account manager's month of orders (``order_month_totals``): kept by the write path with every order saved,
moved or deleted, verified and healed by the ``order_month_totals`` check, filled by its migration, and read by the
orders list for its count and grand total."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from backoffice import register_migrations
from backoffice.models import AccountManager, Customer, Discrepancy, Order, OrderMonthTotal, RunMode, RunStatus
from backoffice.models.types import month_start
from backoffice.platform.extensions import db
from backoffice.reconcile.engine import run, scope_for
from backoffice.services.orders import delete_order, save_order
from backoffice.web.plumbing.filters import money
from tests.factories import CustomerFactory, OrderFactory, corrupt, two_managers_three_customers

D = Decimal
OCT, NOV, DEC = date(2026, 10, 1), date(2026, 11, 1), date(2026, 12, 1)
CHECK = "order_month_totals"
totals = OrderMonthTotal.__table__


@pytest.fixture
def book(app):
    """Two managers, three customers, orders over two months."""
    made = two_managers_three_customers()
    dewi, budi, hotel, bakery, mill = (made[name] for name in ("dewi", "budi", "hotel", "bakery", "mill"))
    OrderFactory(number="SO-1", customer=hotel, closing_date=date(2026, 10, 5))
    OrderFactory(number="SO-2", customer=hotel, closing_date=date(2026, 11, 5), total_price=D("20000000"))
    OrderFactory(number="SO-3", customer=bakery, closing_date=date(2026, 11, 30))
    OrderFactory(number="SO-4", customer=mill, closing_date=date(2026, 11, 1), promo=D("0"))
    return {"dewi": dewi.id, "budi": budi.id, "hotel": hotel.id, "mill": mill.id}


def rollup() -> dict[tuple[int, date], tuple[int, Decimal]]:
    """What ``order_month_totals`` holds, as a new transaction sees it."""
    db.session.rollback()
    rows = db.session.execute(
        sa.select(totals.c.account_manager_id, totals.c.month, totals.c.order_count, totals.c.grand_total)
    )
    return {(manager, month): (count, D(total).quantize(D("0.01"))) for manager, month, count, total in rows}


def from_the_orders() -> dict[tuple[int, date], tuple[int, Decimal]]:
    """The same, summed in Python from the orders themselves."""
    db.session.rollback()
    summed: dict[tuple[int, date], tuple[int, Decimal]] = {}
    for manager, closing, grand_total in db.session.execute(
        sa.select(Order.account_manager_id, Order.closing_date, Order.grand_total)
    ):
        count, total = summed.get((manager, month_start(closing)), (0, D("0.00")))
        summed[manager, month_start(closing)] = (count + 1, total + grand_total)
    return summed


def forge(manager: int, month: date, **values) -> None:
    """Set a row's values past the hooks, as a bad import or a manual edit would."""
    db.session.execute(
        sa.update(totals).where(totals.c.account_manager_id == manager, totals.c.month == month).values(**values)
    )
    db.session.commit()


def found(record) -> set[tuple]:
    rows = db.session.scalars(sa.select(Discrepancy).where(Discrepancy.run_id == record.id, Discrepancy.check == CHECK))
    return {(d.entity_type, d.entity_id, d.period, d.field, d.stored, d.expected, d.difference) for d in rows}


def counted(record) -> tuple[int, int, int]:
    result = next(r for r in record.results if r.check == CHECK)
    return result.checked, result.mismatched, result.fixed


# The write path


def test_saving_orders_keeps_each_managers_month(book):
    assert (
        rollup()
        == from_the_orders()
        == {
            (book["dewi"], OCT): (1, D("9300000.00")),
            (book["dewi"], NOV): (2, D("28600000.00")),
            (book["budi"], NOV): (1, D("10300000.00")),
        }
    )


def test_moving_an_order_to_another_manager_and_month_moves_it_in_both(book):
    order = db.session.scalar(sa.select(Order).where(Order.number == "SO-2"))
    order.account_manager_id = book["budi"]
    order.closing_date = date(2026, 12, 24)
    save_order(order)
    assert (
        rollup()
        == from_the_orders()
        == {
            (book["dewi"], OCT): (1, D("9300000.00")),
            (book["dewi"], NOV): (1, D("9300000.00")),
            (book["budi"], NOV): (1, D("10300000.00")),
            (book["budi"], DEC): (1, D("19300000.00")),
        }
    )


def test_a_month_whose_last_order_is_deleted_has_no_row(book):
    delete_order(db.session.scalar(sa.select(Order).where(Order.number == "SO-1")))
    assert (book["dewi"], OCT) not in rollup()
    assert rollup() == from_the_orders()


# The check


def test_a_clean_book_verifies_clean(book):
    record = run(RunMode.VERIFY, checks=[CHECK])
    assert record.status is RunStatus.SUCCEEDED
    assert counted(record) == (3, 0, 0)


def forge_all_four(book) -> None:
    """A wrong count, a wrong total, a missing month and a stray one."""
    forge(book["dewi"], OCT, order_count=4)
    forge(book["dewi"], NOV, grand_total=D("1.00"))
    db.session.execute(sa.delete(totals).where(totals.c.account_manager_id == book["budi"]))
    db.session.execute(
        sa.insert(totals).values(account_manager_id=book["budi"], month=DEC, order_count=2, grand_total=D("5.00"))
    )
    db.session.commit()


def test_verify_finds_wrong_counts_totals_missing_and_stray_months_writing_nothing(book):
    forge_all_four(book)
    forged = rollup()
    record = run(RunMode.VERIFY)
    dewi, budi = book["dewi"], book["budi"]
    assert found(record) == {
        ("account_manager", dewi, "2026-10", "order_count", D(4), D(1), D(-3)),
        ("account_manager", dewi, "2026-11", "grand_total", D("1.00"), D("28600000.00"), D("28599999.00")),
        ("account_manager", budi, "2026-11", "order_count", None, D(1), D(1)),
        ("account_manager", budi, "2026-11", "grand_total", None, D("10300000.00"), D("10300000.00")),
        ("account_manager", budi, "2026-12", "order_count", D(2), None, D(-2)),
        ("account_manager", budi, "2026-12", "grand_total", D("5.00"), None, D("-5.00")),
    }
    assert counted(record) == (4, 4, 0)
    assert rollup() == forged


@pytest.mark.parametrize("mode", [RunMode.FIX, RunMode.REBUILD])
def test_fix_heals_each_forged_month_with_an_audit_row_and_a_second_verify_is_clean(book, mode):
    forge_all_four(book)
    record = run(mode)
    assert counted(record) == (4, 4, 4)
    fixes = db.session.scalars(
        sa.select(Discrepancy).where(Discrepancy.run_id == record.id, Discrepancy.check == CHECK)
    )
    assert len(fixes.all()) == 6
    assert all(d.fixed and d.fixed_at is not None for d in db.session.scalars(sa.select(Discrepancy)))
    assert next(r for r in record.results if r.check == CHECK).totals == {
        "order_count": {"before": "8", "after": "4"},
        "grand_total": {"before": "9300006.00", "after": "48200000.00"},
    }
    assert rollup() == from_the_orders()
    again = run(RunMode.VERIFY)
    assert counted(again) == (3, 0, 0) and again.mismatched == 0


def test_a_dry_run_shows_the_fixes_and_changes_nothing(book):
    forge_all_four(book)
    forged = rollup()
    record = run(RunMode.DRY_RUN, checks=[CHECK])
    assert counted(record) == (4, 4, 0)
    assert rollup() == forged


def test_a_grand_total_fixed_in_the_same_run_is_summed_in_its_month(book):
    corrupt("orders", "grand_total", db.session.scalar(sa.select(Order.id).where(Order.number == "SO-4")), "1.00")
    verified = run(RunMode.VERIFY)
    assert (
        "account_manager",
        book["budi"],
        "2026-11",
        "grand_total",
        D("10300000.00"),
        D("1.00"),
        D("-10299999.00"),
    ) in found(verified)
    fixed = run(RunMode.FIX)
    assert counted(fixed) == (3, 0, 0)
    assert rollup() == from_the_orders() and run(RunMode.VERIFY).mismatched == 0


def test_a_customer_scope_covers_the_months_their_orders_count_towards(book):
    forge_all_four(book)
    record = run(RunMode.VERIFY, checks=[CHECK], scope=scope_for(["HOTEL"]))
    assert {(entity, period) for _type, entity, period, *_ in found(record)} == {
        (book["dewi"], "2026-10"),
        (book["dewi"], "2026-11"),
    }
    assert counted(record) == (2, 2, 0)
    fixed = run(RunMode.FIX, checks=[CHECK], scope=scope_for(["MILL"]))
    assert counted(fixed) == (1, 1, 1)
    assert rollup()[book["budi"], NOV] == (1, D("10300000.00"))


def test_a_month_scope_covers_from_that_month_on(book):
    forge_all_four(book)
    record = run(RunMode.VERIFY, checks=[CHECK], scope=scope_for(from_month=NOV))
    assert {(entity, period) for _type, entity, period, *_ in found(record)} == {
        (book["dewi"], "2026-11"),
        (book["budi"], "2026-11"),
        (book["budi"], "2026-12"),
    }
    assert counted(record) == (3, 3, 0)


def test_chunks_give_the_same_answer_as_one_pass(app, book):
    forge_all_four(book)
    app.config["RECONCILE_CHUNK_SIZE"] = 1
    chunked = run(RunMode.VERIFY, checks=[CHECK])
    app.config["RECONCILE_CHUNK_SIZE"] = 100_000
    whole = run(RunMode.VERIFY, checks=[CHECK])
    assert counted(chunked) == counted(whole) == (4, 4, 0)
    assert found(chunked) == found(whole)


def test_the_migration_fills_the_months_from_the_orders_there_are(app, book):
    expected = from_the_orders()
    db.session.remove()
    register_migrations(app)
    try:
        downgrade(revision="0026")
        assert "order_month_totals" not in sa.inspect(db.engine).get_table_names()
    finally:
        upgrade()
    assert rollup() == expected


# The orders list


def summary(client, **params) -> tuple[int, str]:
    """The list's "N orders, grand total X"."""
    page = client.get("/orders", query_string=params).get_data(as_text=True)
    found = re.search(r'<p class="summary">(\d+) orders?, grand total <strong id="orders-total">([^<]+)<', page)
    return int(found.group(1)), found.group(2)


def aggregate(*conditions) -> tuple[int, str]:
    """The same, counted and summed from the orders directly."""
    count, total = db.session.execute(
        sa.select(sa.func.count(Order.id), sa.func.coalesce(sa.func.sum(Order.grand_total), 0)).where(*conditions)
    ).one()
    return count, money(D(total))


FILTERS = {
    "none": ({}, lambda book: []),
    "manager": ({"manager": "dewi"}, lambda book: [Order.account_manager_id == book["dewi"]]),
    "month": ({"month": "2026-11"}, lambda book: [Order.closing_date >= NOV, Order.closing_date < DEC]),
    "manager and month": (
        {"manager": "budi", "month": "2026-11"},
        lambda book: [Order.account_manager_id == book["budi"], Order.closing_date >= NOV, Order.closing_date < DEC],
    ),
    "an empty month": ({"month": "2027-01"}, lambda book: [Order.closing_date >= date(2027, 1, 1)]),
    "search": ({"q": "cempaka"}, lambda book: [Order.customer_id == book["hotel"]]),
    "search, manager and month": (
        {"q": "SO-", "manager": "dewi", "month": "2026-11"},
        lambda book: [Order.account_manager_id == book["dewi"], Order.closing_date >= NOV, Order.closing_date < DEC],
    ),
}


@pytest.mark.parametrize("name", FILTERS)
def test_the_lists_count_and_total_are_the_orders_the_filters_select(client, auth, book, name):
    auth.login("finance")
    params, conditions = FILTERS[name]
    params = {key: email(book[value]) if key == "manager" else value for key, value in params.items()}
    assert summary(client, **params) == aggregate(*conditions(book))


def test_without_a_search_the_list_reads_the_months_and_with_one_the_orders(client, auth, book):
    auth.login("finance")
    forge(book["dewi"], NOV, order_count=7, grand_total=D("1.00"))
    assert summary(client, manager=email(book["dewi"]), month="2026-11") == (7, "Rp1,00")
    assert summary(client, manager=email(book["dewi"]), month="2026-11", q="SO-") == (2, "Rp28.600.000,00")


def test_the_list_still_pages_by_the_count(client, auth, book):
    auth.login("finance")
    customer = CustomerFactory()
    for n in range(5):
        OrderFactory(number=f"P-{n}", customer=customer, closing_date=date(2026, 9, n + 1))
    page = client.get("/orders").get_data(as_text=True)
    assert summary(client) == aggregate() == (9, "Rp94.700.000,00")
    assert "?page=2" in page and "?page=3" not in page


def email(manager_id: int) -> str:
    """The manager's email: what a picker of managers sends."""
    return db.session.get(AccountManager, manager_id).email


def order_form(customer_id: int, manager_id: int, closing: str, **overrides) -> dict:
    data = {
        "number": "",
        "customer_id": db.session.get(Customer, customer_id).code,
        "account_manager_id": email(manager_id),
        "closing_date": closing,
        "total_price": "10.000.000",
        "additions": "500.000",
        "promo": "1.000.000",
        "reductions": "200.000",
    }
    return data | overrides


def test_orders_created_moved_and_deleted_on_the_screens_keep_the_months_right(client, auth, book):
    auth.login("finance")
    created = client.post(
        "/orders/new", data=order_form(book["mill"], book["budi"], "2026-11-09", total_price="3.900.000")
    )
    assert created.status_code == 302
    assert rollup() == from_the_orders()
    assert rollup()[book["budi"], NOV] == (2, D("13500000.00"))

    moved = db.session.scalar(sa.select(Order).where(Order.number == "SO-3"))
    form = order_form(moved.customer_id, book["budi"], "2026-10-31", number=moved.number, version=str(moved.version))
    edited = client.post(f"/orders/{moved.id}/edit", data=form)
    assert edited.status_code == 302
    assert rollup() == from_the_orders()
    assert rollup()[book["dewi"], NOV] == (1, D("19300000.00"))
    assert rollup()[book["budi"], OCT] == (1, D("9300000.00"))

    for number in ("SO-1", "SO-3"):
        gone = db.session.scalar(sa.select(Order).where(Order.number == number))
        assert client.post(f"/orders/{gone.id}/delete").status_code == 302
    assert rollup() == from_the_orders()
    assert (book["dewi"], OCT) not in rollup() and (book["budi"], OCT) not in rollup()
    assert summary(client) == aggregate()
    assert run(RunMode.VERIFY, checks=[CHECK]).mismatched == 0
