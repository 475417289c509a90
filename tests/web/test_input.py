"""Bad input never gives a server error: a message a clerk can act on, and nothing written."""

from __future__ import annotations

import os
import re
import threading
import time
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask_login.utils import _create_identifier

from backoffice import create_app
from backoffice.models import (
    BUCKETS,
    Account,
    Invoice,
    JournalEntry,
    Meter,
    MeterAssignment,
    MeterReading,
    Order,
    ReconciliationRun,
)
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.platform.money import BeyondLimit, MoneyError, parse_amount
from backoffice.posting.journal import Line
from backoffice.posting.rules import CASH
from backoffice.services import books, installation, meter_invoices, metering, wallet
from tests.factories import (
    CustomerFactory,
    MeterFactory,
    OrderFactory,
    corrupt,
    corrupt_bucket,
    hotel_with_meter,
    stored,
    unit_of_work,
)
from tests.rows import account_id, money, written

D = Decimal
HUGE = "1" * 30 + ",123"
"""An amount of 30 digits with 3 decimals: more than any column, and more than Decimal's default precision."""


@pytest.fixture
def hotel_from_november(admin):
    """The hotel (HOTEL) holding meter M-1 from November 2026, once an admin is logged in."""
    return hotel_with_meter(date(2026, 11, 1))


def _order(customer, **amounts) -> dict:
    return {
        "customer_id": customer.code,
        "account_manager_id": customer.account_manager.email,
        "closing_date": "2026-11-10",
        "total_price": "1.000",
        "additions": "0",
        "promo": "0",
        "reductions": "0",
    } | amounts


def _reading(meter, volume) -> dict:
    return {"reading-meter_id": meter.serial, "reading-reading_date": "2026-11-05", "reading-volume_flow_meter": volume}


def _pricing(price="1.000", correction="1") -> dict:
    return {
        "pricing-effective_from": "2026-11-01",
        "pricing-price_per_sm3": price,
        "pricing-meter_correction": correction,
    }


FORMS = {
    "recharge": ("/customers/HOTEL/recharge", lambda c, m, v: {"recharge-amount": v}),
    "charge": ("/customers/HOTEL/charge", lambda c, m, v: {"charge-amount": v}),
    "order": ("/orders/new", lambda c, m, v: _order(c, total_price=v)),
    "invoice": (
        "/customers/HOTEL/invoices",
        lambda c, m, v: {
            "invoice-meter_id": m.serial,
            "invoice-number": "INV-1",
            "invoice-amount": v,
            "invoice-issued_on": "2026-11-01",
            "invoice-due_on": "2026-11-30",
        },
    ),
    "payment": (
        "/customers/HOTEL/payments",
        lambda c, m, v: {"payment-meter_id": m.serial, "payment-amount": v, "payment-paid_on": "2026-11-02"},
    ),
    "price": ("/customers/HOTEL/pricing", lambda c, m, v: _pricing(price=v)),
    "journal": (
        "/books/journal/new",
        lambda c, m, v: {
            "entry_date": "2026-11-20",
            "description": "Capital",
            "lines-0-account": "1000",
            "lines-0-debit": v,
            "lines-1-account": "3000",
            "lines-1-credit": v,
        },
    ),
    "volume": ("/customers/HOTEL/readings", lambda c, m, v: _reading(m, v)),
    "correction": ("/customers/HOTEL/pricing", lambda c, m, v: _pricing(correction=v)),
}


@pytest.mark.parametrize(
    ("form", "value", "message"),
    [
        *((name, HUGE, "too large") for name in ("recharge", "charge", "order", "invoice", "payment", "price")),
        ("journal", HUGE, "too large"),
        ("order", "10.000.000.000.000", "too large"),
        ("volume", "1" * 29, "too large"),
        ("volume", "1" * 40 + ",12345", "too large"),
        ("volume", "100.000.000.000.000", "too large"),
        ("correction", "1" * 29, "at most 6 decimal places and 6 digits"),
        ("correction", "1" * 40, "at most 6 decimal places and 6 digits"),
        ("correction", "1,0000001", "at most 6 decimal places"),
    ],
)
def test_numbers_no_column_holds_are_field_errors_and_write_nothing(client, hotel_from_november, form, value, message):
    url, data = FORMS[form]
    before = written(*money())
    response = client.post(url, data=data(*hotel_from_november, value))
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert written(*money()) == before


@pytest.mark.parametrize("text", [HUGE, "1" * 40, "9.999.999.999.999,999", "99.999.999.999.999"])
def test_the_money_parser_refuses_what_no_amount_column_holds(app, text):
    with pytest.raises(MoneyError, match="too large|decimal places"):
        parse_amount(text, "id_ID")


def test_an_order_whose_grand_total_exceeds_the_column_is_a_field_error(client, hotel_from_november):
    customer, _meter = hotel_from_november
    form = _order(customer, total_price="9.999.999.999.999,99", additions="9.999.999.999.999,99")
    before = written(*money())
    response = client.post("/orders/new", data=form)
    assert response.status_code == 422
    assert "The grand total would exceed Rp9.999.999.999.999,99" in response.get_data(as_text=True)
    assert written(*money()) == before
    live = client.post("/orders/grand-total", data=form).get_data(as_text=True)
    assert "The grand total would exceed Rp9.999.999.999.999,99" in live


def test_an_order_saved_by_code_refuses_a_grand_total_beyond_the_column(app):
    with pytest.raises(ValueError, match="would exceed"):
        OrderFactory(total_price=D("9999999999999.99"), additions=D("1.00"), promo=D("0"), reductions=D("0"))
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(Order.id))) == 0


@pytest.mark.parametrize(
    ("price", "correction", "volume", "message"),
    [
        ("9.999.999.999,00", "1", "10.000", "total would exceed Rp9.999.999.999.999,99"),
        ("1.000", "999.999", "99.999.999.999.999", "The volume in Sm³ would exceed"),
    ],
)
def test_a_reading_whose_computed_values_exceed_their_columns_is_a_field_error(
    client, hotel_from_november, price, correction, volume, message
):
    customer, meter = hotel_from_november
    assert client.post("/customers/HOTEL/pricing", data=_pricing(price, correction)).status_code == 302
    before = written(*money())
    for url in ("/customers/HOTEL/readings", "/customers/HOTEL/readings/preview"):
        response = client.post(url, data=_reading(meter, volume))
        assert message in response.get_data(as_text=True), url
    assert response.status_code == 200  # the live preview answers with the message
    assert written(*money()) == before


def test_a_pricing_change_that_would_price_a_reading_beyond_the_column_is_refused(client, hotel_from_november):
    customer, meter = hotel_from_november
    assert client.post("/customers/HOTEL/readings", data=_reading(meter, "10.000")).status_code == 302
    before = written(*money())
    for url, status in (("/customers/HOTEL/pricing/preview", 200), ("/customers/HOTEL/pricing", 422)):
        response = client.post(url, data=_pricing("9.999.999.999,00"))
        assert response.status_code == status, url
        assert "total would exceed Rp9.999.999.999.999,99" in response.get_data(as_text=True), url
    assert written(*money()) == before


@pytest.mark.parametrize(
    ("url", "status", "message"),
    [
        ("/orders?month=9999-12", 200, "Write the month as YYYY-MM"),
        ("/targets?month=9999-12", 200, "Write the month as YYYY-MM"),
        ("/orders?month=0000-01", 200, "Write the month as YYYY-MM"),
        ("/orders?page=99999999999999999999", 404, "There is nothing at this address"),
        ("/customers?page=99999999999999999999", 404, "There is nothing at this address"),
        ("/books/journal?page=99999999999999999999", 404, "There is nothing at this address"),
        ("/reconciliation?page=99999999999999999999", 404, "There is nothing at this address"),
        ("/customers/HOTEL?tab=ledger&page=99999999999999999999", 404, "There is nothing at this address"),
        ("/orders?page=-3", 200, "Orders"),
        ("/orders/9223372036854775808/edit", 404, "There is nothing at this address"),
        ("/orders/99999999999999999999/edit", 404, "There is nothing at this address"),
        ("/books/journal/99999999999999999999", 404, "There is nothing at this address"),
        ("/reconciliation/runs/99999999999999999999", 404, "There is nothing at this address"),
        ("/orders?manager=99999999999999999999", 200, "No account manager with email 99999999999999999999."),
        ("/orders?q=a%00b", 400, "NUL"),
        ("/customers?q=a%00b", 400, "NUL"),
        ("/customers/A%00B", 400, "NUL"),
    ],
)
def test_query_parameters_out_of_range_are_messages_not_errors(client, hotel_from_november, url, status, message):
    response = client.get(url)
    assert response.status_code == status
    assert message in response.get_data(as_text=True)


def test_a_nul_byte_in_an_api_address_is_a_json_400(app, client):
    app.config["API_TOKEN"] = "t0ken"
    response = client.get("/admin/jobs/a%00b", headers={"Authorization": "Bearer t0ken"})
    assert response.status_code == 400 and "NUL" in response.get_json()["message"]


def test_a_nul_byte_in_a_form_field_writes_nothing(client, hotel_from_november):
    before = written(*money())
    response = client.post("/customers/HOTEL/recharge", data={"recharge-amount": "10", "recharge-description": "a\0b"})
    assert response.status_code == 400 and "NUL" in response.get_data(as_text=True)
    assert written(*money()) == before


@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/customers/HOTEL/charge", {"charge-amount": -5}),
        ("/customers/HOTEL/charge", True),
        ("/customers/HOTEL/recharge", {"recharge-amount": {"a": 1}}),
        ("/customers/HOTEL/charge/preview", {"charge-amount": 5}),
        ("/orders/new", {"total_price": [1]}),
        ("/orders/grand-total", [1, 2]),
        ("/books/journal/new", {"description": 5}),
        ("/customers/HOTEL/readings", "12,5"),
    ],
)
def test_json_bodies_on_form_endpoints_are_refused_and_write_nothing(client, hotel_from_november, url, body):
    before = written(*money())
    response = client.post(url, json=body)
    assert response.status_code == 415
    assert "form" in response.get_data(as_text=True)
    assert written(*money()) == before


def test_an_idempotency_key_longer_than_its_column_is_refused_on_the_page(client, hotel_from_november):
    before = written(*money())
    form = {"recharge-amount": "10", "recharge-idempotency_key": "k" * 101}
    response = client.post("/customers/HOTEL/recharge", data=form)
    assert response.status_code == 422
    assert "at most 100 characters" in response.get_data(as_text=True)
    assert written(*money()) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ledger", "recharge", "C100", "1", "--idempotency-key", "k" * 101], "at most 100 characters"),
        (["ledger", "recharge", "C100", "1.5"], "separators"),
        (["ledger", "recharge", "C100", "-1"], "must not be negative"),
        (["ledger", "charge", "C100", HUGE], "too large"),
    ],
)
def test_wallet_commands_refuse_mistyped_input_with_exit_2(runner, args, message):
    wallet.recharge(CustomerFactory(code="C100"), D("60000"))
    before = written(*money())
    result = runner.invoke(args=args)
    assert result.exit_code == 2, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert written(*money()) == before


def test_a_csv_into_a_missing_folder_is_refused_before_the_run(runner, tmp_path):
    OrderFactory()
    result = runner.invoke(args=["reconcile", "verify", "--csv", str(tmp_path / "missing" / "report.csv")])
    assert result.exit_code == 2, result.output
    assert "Cannot write" in result.output and len(result.output.strip().splitlines()) == 1
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(ReconciliationRun.id))) == 0


# --- Accumulated balances: NUMERIC(20,2) -------------------------------------------------------------------------

OLD_LIMIT_PASSED = D("99999999999999.00")
NEAR_NEW_LIMIT = D("999999999999999000.00")


def test_an_account_beyond_the_old_limit_still_accepts_movements(app):
    customer = CustomerFactory()
    corrupt_bucket(account_id(CASH), customer.id % BUCKETS, OLD_LIMIT_PASSED)
    corrupt("customers", "total_recharged", customer.id, OLD_LIMIT_PASSED)
    wallet.recharge(customer.id, D("1000.00"))
    assert _balances()[CASH] == D("100000000000999.00")
    assert stored("customers", "total_recharged", customer.id) == D("100000000000999.00")


def test_a_wallet_beyond_the_old_limit_still_accepts_movements(app):
    customer = CustomerFactory()
    corrupt("customers", "balance", customer.id, OLD_LIMIT_PASSED)
    moved = wallet.recharge(customer.id, D("1000.00"))
    assert moved.balance_after == D("100000000000999.00")
    assert stored("customers", "balance", customer.id) == D("100000000000999.00")
    assert stored("balance_transactions", "balance_after", moved.id) == D("100000000000999.00")


@pytest.mark.parametrize(
    ("table", "column", "message"),
    [
        ("accounts", "balance", "Cash would exceed"),
        ("customers", "balance", "The balance of HOTEL would exceed"),
        ("customers", "total_recharged", "The total recharged of HOTEL would exceed"),
    ],
)
def test_the_new_limit_is_refused_with_a_message_on_the_page(client, hotel_from_november, table, column, message):
    customer, _meter = hotel_from_november
    if table == "accounts":
        corrupt_bucket(account_id(CASH), customer.id % BUCKETS, NEAR_NEW_LIMIT)
    else:
        corrupt(table, column, customer.id, NEAR_NEW_LIMIT)
    before = written(*money())
    response = client.post("/customers/HOTEL/recharge", data={"recharge-amount": "10.000"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page and "Rp999.999.999.999.999.999,99" in page
    assert written(*money()) == before


def test_a_manual_entry_beyond_the_new_limit_is_refused(app):
    corrupt_bucket(account_id(CASH), 0, NEAR_NEW_LIMIT)  # a manual entry moves bucket 0
    with pytest.raises(BeyondLimit, match="Cash would exceed"):
        with unit_of_work() as connection:
            books.post(
                installation(),
                connection,
                date(2026, 11, 20),
                "Capital",
                [Line(CASH, debit=D("10000")), Line("3000", credit=D("10000"))],
            )
    assert written(JournalEntry) == (0,)


# --- The database refuses connections ----------------------------------------------------------------------------


@pytest.fixture
def unreachable(tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test",
            "SQLALCHEMY_DATABASE_URI": "postgresql://postgres@127.0.0.1:1/none",
            "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"connect_timeout": 2}},
            "API_TOKEN": "t0ken",
            "WTF_CSRF_ENABLED": False,
        }
    )
    return app.test_client()


@pytest.mark.parametrize("url", ["/admin/balance-health/check", "/admin/balance-health/detailed-report", "/metrics"])
def test_the_api_answers_json_503_when_the_database_is_down(unreachable, capsys, url):
    response = unreachable.get(url, headers={"Authorization": "Bearer t0ken"})
    assert (response.status_code, response.headers["Retry-After"]) == (503, "3")
    request_id = response.headers["X-Request-ID"]
    assert response.get_json() == {
        "status": "error",
        "message": "The database is switching over, try again.",
        "request_id": request_id,
    }
    log = capsys.readouterr().err
    assert f"WARNING [{os.getpid()}] backoffice [request {request_id}]: The database is switching over: " in log
    assert "Traceback" not in log
    assert f"[request {request_id}]: GET {url} 503" in log


@pytest.mark.parametrize(("method", "url"), [("GET", "/"), ("GET", "/orders"), ("POST", "/login")])
def test_pages_answer_a_plain_503_when_the_database_is_down(unreachable, method, url):
    with unreachable.application.test_request_context(environ_base=unreachable.environ_base):
        identifier = _create_identifier()
    with unreachable.session_transaction() as session:  # a clerk logged in before the database went away
        session.update({"_user_id": "1:a-session-token", "_fresh": True, "_id": identifier})
    response = unreachable.open(url, method=method, data={"email": "a@example.com", "password": "x"})
    assert (response.status_code, response.headers["Retry-After"]) == (503, "3")
    page = response.get_data(as_text=True)
    assert "The database is switching over, try again." in page
    assert f"Reference: <code>{response.headers['X-Request-ID']}</code>" in page


# --- Two admins at once (PostgreSQL: real connections, one waits for the other) ----------------------------------


def _balances() -> dict:
    db.session.rollback()
    return dict(db.session.execute(sa.select(Account.code, Account.balance)).all())


def _race(app, request_in_thread):
    """Start the second request in a thread; return once it waits for the first writer, which then commits."""
    answers = []

    def second():
        with app.app_context():
            answers.append(request_in_thread())

    watcher = sa.create_engine(db.engine.url)
    thread = threading.Thread(target=second)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        with watcher.connect() as watch:
            while time.monotonic() < deadline:
                # Within a transaction the activity statistics are a snapshot taken at their first read: take a new one.
                watch.execute(sa.text("SELECT pg_stat_clear_snapshot()"))
                waiting = watch.execute(
                    sa.text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                    )
                ).scalar()
                if waiting:
                    break
                time.sleep(0.05)
    finally:
        watcher.dispose()
    return thread, answers


def test_two_admins_posting_the_same_draft_post_it_once(app, client, auth):
    auth.login("admin")
    with unit_of_work() as connection:
        draft = books.save_draft(
            installation(),
            connection,
            date(2026, 11, 20),
            "Capital",
            [Line(CASH, debit=D("500")), Line("3000", credit=D("500"))],
        )
    before = _balances()
    with unit_of_work() as connection:
        books.post_draft(installation(), connection, draft)
        thread, answers = _race(app, lambda: client.post(f"/books/journal/{draft}/post", follow_redirects=True))
    thread.join(20)
    (answer,) = answers
    assert answer.status_code == 200 and "already been posted" in answer.get_data(as_text=True)
    assert _balances()[CASH] == before[CASH] + D("500")


def test_two_admins_reversing_the_same_entry_reverse_it_once(app, client, auth):
    auth.login("admin")
    with unit_of_work() as connection:
        entry = books.post(
            installation(),
            connection,
            date(2026, 11, 20),
            "Capital",
            [Line(CASH, debit=D("500")), Line("3000", credit=D("500"))],
        )
    with unit_of_work() as connection:
        books.reverse(installation(), connection, entry, date(2026, 11, 21))
        thread, answers = _race(app, lambda: client.post(f"/books/journal/{entry}/reverse", follow_redirects=True))
    thread.join(20)
    (answer,) = answers
    assert answer.status_code == 200 and "has already been reversed" in answer.get_data(as_text=True)
    assert _balances()[CASH] == D("0.00")
    assert db.session.scalar(sa.select(sa.func.count()).where(JournalEntry.reverses_id == entry)) == 1


def _dated_forms(customer, meter) -> dict:
    """Every form that posts money, a reading or an assignment on a date a clerk types: its address, what it sends
    (``{day}`` where the date goes) and the field the date is typed in."""
    reading = db.session.get(MeterReading, metering.record_reading(meter.id, date(2026, 11, 5), D("1")))
    charged = wallet.charge(customer.id, D("10"))
    invoice = meter_invoices.add_invoice(meter, "INV-9", D("5"), date(2026, 11, 2), date(2026, 11, 30))
    spare = MeterFactory(serial="M-2")
    return {
        "recharge": ("/customers/HOTEL/recharge", {"recharge-amount": "1", "recharge-value_date": "{day}"}),
        "charge": ("/customers/HOTEL/charge", {"charge-amount": "1", "charge-value_date": "{day}"}),
        "invoice": (
            "/customers/HOTEL/invoices",
            {
                "invoice-meter_id": meter.serial,
                "invoice-number": "INV-1",
                "invoice-amount": "1",
                "invoice-issued_on": "{day}",
                "invoice-due_on": "{day}",
            },
        ),
        "payment": (
            "/customers/HOTEL/payments",
            {"payment-meter_id": meter.serial, "payment-amount": "1", "payment-paid_on": "{day}"},
        ),
        "reading": ("/customers/HOTEL/readings", _reading(meter, "1") | {"reading-reading_date": "{day}"}),
        "reading correction": (
            f"/customers/HOTEL/readings/{reading.id}",
            {"reading_date": "{day}", "volume_flow_meter": "2", "version": reading.version},
        ),
        "assignment": ("/customers/HOTEL/meters", {"assign-serial": "M-2", "assign-started_on": "{day}"}),
        "adjustment": (
            "/customers/HOTEL/adjust",
            {
                "adjust-direction": "up",
                "adjust-amount": "1",
                "adjust-reason": "write_off",
                "adjust-value_date": "{day}",
            },
        ),
        "reversal": (
            f"/customers/HOTEL/movements/{charged.id}/reverse",
            {"value_date": "{day}", "description": "Charged twice"},
        ),
        "withdrawal": (
            f"/customers/HOTEL/invoices/{invoice.id}/withdraw",
            {"withdraw-reason": "Sent twice", "withdraw-value_date": "{day}"},
        ),
        "journal entry": (
            "/books/journal/new",
            {
                "entry_date": "{day}",
                "description": "Capital",
                "lines-0-account": "1000",
                "lines-0-debit": "1",
                "lines-1-account": "3000",
                "lines-1-credit": "1",
            },
        ),
        "retirement": (f"/meters/{spare.id}/retire", {"retired_on": "{day}", "confirm_from": ""}),
    }


@pytest.mark.parametrize(
    "form",
    [
        "recharge",
        "charge",
        "invoice",
        "payment",
        "reading",
        "reading correction",
        "assignment",
        "adjustment",
        "reversal",
        "withdrawal",
        "journal entry",
        "retirement",
    ],
)
def test_a_date_after_today_is_a_field_error_and_writes_nothing(client, hotel_from_november, form):
    url, data = _dated_forms(*hotel_from_november)[form]
    tomorrow = (local_today() + timedelta(days=1)).isoformat()
    # A reading's form shows what the metering service refuses under the volume, its date included.
    field = {"reading": "reading-volume_flow_meter", "reading correction": "volume_flow_meter"}.get(form) or next(
        name for name, value in data.items() if value == "{day}" and not name.endswith("due_on")
    )

    def state() -> tuple:
        return (
            written(*money()),
            db.session.scalar(sa.select(sa.func.count(MeterAssignment.id))),
            db.session.scalar(sa.select(sa.func.count(Meter.id)).where(Meter.retired_on.is_not(None))),
            db.session.scalar(sa.select(sa.func.count(Invoice.id)).where(Invoice.withdrawn_at.is_not(None))),
        )

    before = state()
    response = client.post(url, data={name: str(value).format(day=tomorrow) for name, value in data.items()})
    assert response.status_code == 422
    error = re.search(rf'id="error-{field}">([^<]*)<', response.get_data(as_text=True)).group(1)
    assert f"cannot be dated after today ({local_today():%-d %b %Y} in Asia/Jakarta)" in error
    assert state() == before
