"""Closed months: the books closed through a month, refusing what is dated in it, on record and reopened."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice.models import (
    BalanceTransaction,
    Customer,
    CustomerPricing,
    Discrepancy,
    EntryStatus,
    Invoice,
    JournalEntry,
    Meter,
    MeterReading,
    Payment,
    PeriodAction,
    PeriodActionKind,
    Role,
    RunMode,
    RunStatus,
    TransactionCalculation,
    User,
)
from backoffice.models.types import as_utc, utcnow
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.platform.i18n import named_date, named_month
from backoffice.posting.closed_months import PeriodClosed, refuse_if_closed
from backoffice.reconcile import evidence_review
from backoffice.reconcile.engine import run
from backoffice.services import books, installation, meter_invoices, meter_payments, metering, periods, wallet
from backoffice.services.periods import PeriodError
from tests.concurrency import PAUSE, race
from tests.factories import UserFactory, corrupt, metered_customer
from tests.factories import unit_of_work as own_transaction
from tests.rows import count

D = Decimal


@dataclass(frozen=True)
class Months:
    """Months counted back from today's, in the installation's time zone."""

    today: date

    def first(self, back: int) -> date:
        """The first day of the month ``back`` months before the current one (negative: after it)."""
        first = self.today.replace(day=1)
        for _ in range(back):
            first = (first - timedelta(days=1)).replace(day=1)
        for _ in range(-back):
            first = (first + timedelta(days=32)).replace(day=1)
        return first

    def back(self, back: int) -> str:
        return self.first(back).strftime("%Y-%m")

    def end(self, back: int) -> date:
        return self.first(back - 1) - timedelta(days=1)

    current = property(lambda self: self.back(0))
    current_first = property(lambda self: self.first(0))
    last = property(lambda self: self.back(1))
    last_first = property(lambda self: self.first(1))
    last_day = property(lambda self: self.end(1))
    in_last = property(lambda self: self.first(1) + timedelta(days=14))
    earlier = property(lambda self: self.back(2))
    earlier_first = property(lambda self: self.first(2))
    earlier_day = property(lambda self: self.end(2))

    def said(self, back: int) -> str:
        """The month ``back`` months before the current one as a message names it ("October 2026")."""
        return named_month(self.first(back))

    said_current = property(lambda self: self.said(0))
    said_last = property(lambda self: self.said(1))
    said_earlier = property(lambda self: self.said(2))

    @property
    def refused(self) -> str:
        """Why something dated last month is refused once it is closed."""
        return f"{self.said_last} is closed: date it in the open period (from {named_date(self.current_first)})."


@pytest.fixture
def m(app) -> Months:
    return Months(local_today())


@pytest.fixture
def controller(app):
    """The admin who closes and reopens the months (not logged in)."""
    return UserFactory(role=Role.ADMIN, email="controller@example.com")


@pytest.fixture
def site(app, m):
    """A customer holding a meter since two months ago, priced since then, with money prepaid."""
    customer, meter = metered_customer("HOTEL", m.earlier_first, D("1000.00"), prepaid=D("1000000"))
    return customer.id, meter.id


def actions() -> list[tuple]:
    db.session.rollback()
    return [
        (a.action, a.year_month, a.closed_through, a.user.email, a.note)
        for a in db.session.scalars(sa.select(PeriodAction).order_by(PeriodAction.id))
    ]


def manual_entry(connection, on: date, *, draft: bool = False) -> int:
    lines = [books.Line("1000", debit=D("500")), books.Line("3000", credit=D("500"))]
    if draft:
        return books.save_draft(installation(), connection, on, "Owner's capital", lines)
    return books.post(installation(), connection, on, "Owner's capital", lines)


# Closing and reopening, on record


def test_closing_a_month_closes_every_date_through_it_and_is_recorded(controller, m):
    periods.close(m.last, controller, "Bank statements reconciled")
    assert actions() == [
        (PeriodActionKind.CLOSE, m.last, m.last_day, "controller@example.com", "Bank statements reconciled")
    ]
    assert utcnow() - as_utc(db.session.scalar(sa.select(PeriodAction.acted_at))) < timedelta(minutes=1)
    assert periods.closed_through() == m.last
    for day in (m.last_day, m.last_first, m.earlier_first, date(2001, 1, 1)):
        with pytest.raises(PeriodClosed, match="is closed: date it in the open period"):
            refuse_if_closed(db.session, day)
    with pytest.raises(PeriodClosed) as refused:
        refuse_if_closed(db.session, m.last_day)
    assert str(refused.value) == m.refused
    refuse_if_closed(db.session, m.current_first)


def test_reopening_opens_the_latest_closed_month_only_and_is_recorded(controller, m):
    periods.close(m.earlier, controller)
    periods.close(m.last, controller)
    with pytest.raises(PeriodError, match=f"Only the latest closed month, {m.said_last}, can be reopened"):
        periods.reopen(m.earlier, controller, "Missing invoice")
    periods.reopen(m.last, controller, "A supplier invoice arrived late")
    assert periods.closed_through() == m.earlier
    refuse_if_closed(db.session, m.last_first)
    with pytest.raises(PeriodClosed):
        refuse_if_closed(db.session, m.earlier_day)
    periods.reopen(m.earlier, controller, "Audit adjustment")
    assert periods.closed_through() is None  # no month before it was ever closed
    assert [(a[0], a[1], a[2], a[4]) for a in actions()] == [
        (PeriodActionKind.CLOSE, m.earlier, m.earlier_day, ""),
        (PeriodActionKind.CLOSE, m.last, m.last_day, ""),
        (PeriodActionKind.REOPEN, m.last, m.earlier_day, "A supplier invoice arrived late"),
        (PeriodActionKind.REOPEN, m.earlier, None, "Audit adjustment"),
    ]


def test_closing_a_month_closes_the_open_months_before_it(controller, m):
    periods.close(m.back(4), controller)
    state = {s.month: s for s in periods.overview().months}
    assert state[m.last].closable and state[m.last].closes_earlier and not state[m.current].closable
    periods.close(m.last, controller)
    overview = periods.overview()
    assert [s.month for s in overview.months[:6] if s.closed] == [m.last, m.earlier, m.back(3), m.back(4), m.back(5)]
    by = {s.month: s.closed_by.year_month for s in overview.months if s.closed_by}
    assert (by[m.last], by[m.earlier], by[m.back(4)], by[m.back(5)]) == (m.last, m.last, m.back(4), m.back(4))
    periods.reopen(m.last, controller, "Late invoice")
    assert periods.closed_through() == m.earlier  # an earlier month was closed before: back by one month
    state = {s.month: s for s in periods.overview().months}
    assert state[m.last].closable and not state[m.last].closes_earlier and state[m.earlier].reopenable


@pytest.mark.parametrize(
    ("month", "message"),
    [
        (0, "has not ended yet"),
        (-1, "has not ended yet"),
        ("2026-13", "Write the month as YYYY-MM"),
        ("9999-12", "Write the month as YYYY-MM"),
        ("last month", "Write the month as YYYY-MM"),
    ],
)
def test_a_month_that_has_not_ended_or_is_not_a_month_is_not_closed(controller, m, month, message):
    month = m.back(month) if isinstance(month, int) else month
    with pytest.raises(PeriodError, match=message):
        periods.close(month, controller)
    assert count(PeriodAction) == 0


def test_refused_closes_and_reopens_write_nothing(controller, m):
    with pytest.raises(PeriodError, match=f"{m.said_last} is not closed"):
        periods.reopen(m.last, controller, "Why not")
    periods.close(m.last, controller)
    with pytest.raises(
        PeriodError, match=f"{m.said_last} is already closed: the books are closed through {m.said_last}"
    ):
        periods.close(m.last, controller)
    with pytest.raises(PeriodError, match=f"{m.said_earlier} is already closed"):
        periods.close(m.earlier, controller)
    with pytest.raises(PeriodError, match=f"Say why {m.said_last} is reopened"):
        periods.reopen(m.last, controller, "   ")
    with pytest.raises(PeriodError, match="at most 300 characters"):
        periods.reopen(m.last, controller, "x" * 301)
    with pytest.raises(PeriodError, match=f"{m.said_current} is not closed"):
        periods.reopen(m.current, controller, "Why not")
    assert len(actions()) == 1


def test_a_month_with_a_draft_entry_dated_in_it_is_not_closed(controller, m):
    with own_transaction() as connection:
        draft = manual_entry(connection, m.in_last, draft=True)
    with pytest.raises(PeriodError, match=f"1 draft journal entry is dated on or before {named_date(m.last_day)}"):
        periods.close(m.last, controller)
    assert count(PeriodAction) == 0
    with own_transaction() as connection:
        books.void_draft(connection, draft)
    periods.close(m.last, controller)


# What a closed month refuses, through the services


def test_an_invoice_and_a_payment_dated_in_a_closed_month_are_refused(site, controller, m):
    _customer_id, meter_id = site
    meter = db.session.get(Meter, meter_id)
    issued = meter_invoices.add_invoice(meter, "INV-1", D("150000"), m.in_last, m.in_last + timedelta(days=30))
    periods.close(m.last, controller)
    meter = db.session.get(Meter, meter_id)
    with pytest.raises(PeriodClosed, match=re.escape(m.refused)):
        meter_invoices.add_invoice(meter, "INV-2", D("150000"), m.in_last, m.current_first)
    with pytest.raises(PeriodClosed, match=re.escape(m.refused)):
        meter_payments.add_payment(meter, D("150000"), m.last_day)
    with pytest.raises(PeriodClosed, match=re.escape(m.refused)):
        meter_invoices.change_invoice(
            db.session.get(Invoice, issued.id), "INV-1", D("99000"), m.in_last + timedelta(days=30)
        )
    assert (count(Invoice), count(Payment)) == (1, 0)
    assert db.session.get(Invoice, issued.id).amount == D("150000.00")
    meter_payments.add_payment(db.session.get(Meter, meter_id), D("150000"), m.current_first)
    assert count(Payment) == 1


def test_a_reading_dated_in_a_closed_month_is_refused_and_one_there_is_not_changed(site, controller, m):
    customer_id, meter_id = site
    kept = metering.record_reading(meter_id, m.in_last, D("10"))
    periods.close(m.last, controller)
    balance = db.session.get(Customer, customer_id).balance
    with pytest.raises(PeriodClosed, match=re.escape(m.refused)):
        metering.record_reading(meter_id, m.last_day, D("10"))
    with pytest.raises(PeriodClosed, match=re.escape(m.refused)):
        metering.delete_reading(kept)
    with pytest.raises(PeriodClosed, match="closed.*: date it in the open period"):
        metering.correct_reading(kept, m.current_first, D("12"))  # out of the closed month: the database refuses
    db.session.rollback()
    assert count(MeterReading) == 1
    assert db.session.get(MeterReading, kept).reading_date == m.in_last
    assert db.session.get(Customer, customer_id).balance == balance


# What a closed month refuses, in the database, whoever writes


def forged(table: str, row_id: int, **changes) -> dict:
    """A copy of the row, changed so: what a bad import would insert (the database computes its generated columns)."""
    rows = db.metadata.tables[table]
    row = dict(db.session.execute(sa.select(rows).where(sa.column("id") == row_id)).one()._mapping)
    row.pop("id")
    return {name: value for name, value in row.items() if rows.c[name].computed is None} | changes


@pytest.mark.parametrize("table", ["meter_readings", "invoices", "payments"])
def test_the_database_refuses_rows_dated_in_a_closed_month_whoever_writes_them(site, controller, table, m):
    _customer_id, meter_id = site
    meter = db.session.get(Meter, meter_id)
    model, column = {
        "meter_readings": (MeterReading, "reading_date"),
        "invoices": (Invoice, "issued_on"),
        "payments": (Payment, "paid_on"),
    }[table]
    write = {
        "meter_readings": lambda on: metering.record_reading(meter_id, on, D("10")),
        "invoices": lambda on: (
            meter_invoices.add_invoice(meter, f"INV-{on}", D("1000"), on, on + timedelta(days=30)).id
        ),
        "payments": lambda on: meter_payments.add_payment(meter, D("1000"), on).id,
    }[table]
    closed_id, open_id = write(m.in_last), write(m.current_first)
    periods.close(m.last, controller)
    rows = db.metadata.tables[table]
    unique = {"number": "FORGED"} if table == "invoices" else {}
    refused = [
        sa.insert(rows).values(forged(table, closed_id, **unique)),
        sa.update(rows).where(rows.c.id == closed_id).values({column: m.current_first}),  # out of it
        sa.update(rows).where(rows.c.id == open_id).values({column: m.in_last}),  # into it
        sa.update(rows).where(rows.c.id == closed_id).values(created_at=sa.func.current_timestamp())
        if table == "meter_readings"
        else sa.update(rows).where(rows.c.id == closed_id).values(amount=D("1")),  # in place
        sa.delete(rows).where(rows.c.id == closed_id),
    ]
    for statement in refused:
        with pytest.raises(PeriodClosed, match="date it in the open period"):
            db.session.execute(statement)
        db.session.rollback()
    assert count(model) == 2
    assert getattr(db.session.get(model, closed_id), column) == m.in_last
    db.session.execute(sa.update(rows).where(rows.c.id == open_id).values({column: m.current_first + timedelta(1)}))
    db.session.commit()  # within the open period, it moves


def test_the_database_refuses_a_journal_entry_dated_in_a_closed_month(controller, m):
    periods.close(m.last, controller)
    entries = JournalEntry.__table__
    forged_entry = {
        "number": "JE-FORGED",
        "entry_date": m.in_last,
        "description": "Backdated",
        "status": EntryStatus.DRAFT,
        "created_at": sa.func.current_timestamp(),
    }
    with pytest.raises(PeriodClosed) as refused:
        db.session.execute(sa.insert(entries).values(forged_entry))
    db.session.rollback()
    assert str(refused.value) == m.refused
    with pytest.raises(PeriodClosed), own_transaction() as connection:
        manual_entry(connection, m.last_day)  # past the service's check: the database refuses it
    with own_transaction() as connection:
        manual_entry(connection, m.current_first)
    assert count(JournalEntry) == 1


def test_the_history_of_closes_and_reopens_is_append_only(controller, m):
    periods.close(m.last, controller, "Checked")
    for statement in ("UPDATE period_actions SET note = 'rewritten'", "DELETE FROM period_actions"):
        with pytest.raises(sa.exc.IntegrityError, match="period_actions keeps evidence"):
            db.session.execute(sa.text(statement))
        db.session.rollback()
    with pytest.raises(sa.exc.IntegrityError, match="TRUNCATE is refused"):
        db.session.execute(sa.text("TRUNCATE period_actions"))
    db.session.rollback()
    assert actions() == [(PeriodActionKind.CLOSE, m.last, m.last_day, "controller@example.com", "Checked")]


# A close and the writers in flight


def test_a_close_waits_for_an_entry_being_written_and_then_closes_with_it(app, controller, m):
    admin_id, waited = controller.id, {}

    def write_entry() -> None:
        with own_transaction() as connection:
            manual_entry(connection, m.in_last)

    def close() -> None:
        started = time.monotonic()
        periods.close(m.last, db.session.get(User, admin_id))
        waited["close"] = time.monotonic() - started

    race(app, write_entry, close, hold_after="commit", whole_pause=True)
    assert waited["close"] >= PAUSE * 0.8  # it waited for the entry to commit
    assert count(JournalEntry) == 1 and periods.closed_through() == m.last


def test_an_entry_written_while_a_close_commits_waits_for_it_and_is_refused(app, controller, m):
    admin_id, outcome = controller.id, {}

    def close() -> None:
        periods.close(m.last, db.session.get(User, admin_id))

    def write_entry() -> None:
        started = time.monotonic()
        try:
            with own_transaction() as connection:
                manual_entry(connection, m.in_last)
        except PeriodClosed as refused:
            outcome["refused"] = str(refused)
        outcome["waited"] = time.monotonic() - started

    race(app, close, write_entry, hold_after="commit", whole_pause=True)
    assert outcome["refused"] == m.refused and outcome["waited"] >= PAUSE * 0.8
    assert count(JournalEntry) == 0


def test_a_close_that_waits_too_long_for_writers_is_refused_and_writes_nothing(app, controller, monkeypatch, m):
    monkeypatch.setattr(periods, "CLOSE_WAIT", "100ms")
    admin_id, holding, release = controller.id, threading.Event(), threading.Event()

    def write_slowly() -> None:
        with app.app_context(), own_transaction() as connection:
            manual_entry(connection, m.in_last)
            holding.set()
            release.wait(timeout=10)

    writer = threading.Thread(target=write_slowly)
    writer.start()
    try:
        assert holding.wait(timeout=10)
        with pytest.raises(PeriodError, match="Money was still being written after 100ms; nothing was closed"):
            periods.close(m.last, db.session.get(User, admin_id))
    finally:
        release.set()
        writer.join(timeout=10)
    assert count(PeriodAction) == 0 and count(JournalEntry) == 1


# The screens


def error_under(body: str, field: str) -> str:
    return body.split(f'id="error-{field}"', 1)[1].split("</div>", 1)[0]


def test_a_manual_entry_dated_in_a_closed_month_is_refused_under_its_date(client, auth, m):
    admin = auth.login("admin")
    periods.close(m.last, admin)
    form = {
        "entry_date": m.in_last.isoformat(),
        "description": "Owner's capital",
        "lines-0-account": "1000",
        "lines-0-debit": "500.000",
        "lines-1-account": "3000",
        "lines-1-credit": "500.000",
    }
    for action in ("post", "draft"):
        response = client.post("/books/journal/new", data=form | {"action": action})
        assert response.status_code == 422
        assert m.refused in error_under(response.get_data(as_text=True), "entry_date")
    assert count(JournalEntry) == 0
    assert client.post("/books/journal/new", data=form | {"entry_date": m.current_first.isoformat()}).status_code == 302


def test_invoices_payments_and_readings_in_a_closed_month_are_refused_under_the_date(site, client, auth, m):
    _customer_id, meter_id = site
    auth.login("finance")
    periods.close(m.last, UserFactory(role=Role.ADMIN))
    day = m.in_last.isoformat()
    forms = {
        "invoices": ("invoice-issued_on", {"invoice-number": "INV-9", "invoice-due_on": m.current_first.isoformat()}),
        "payments": ("payment-paid_on", {}),
        "readings": ("reading-reading_date", {"reading-volume_flow_meter": "10"}),
    }
    for path, (field, rest) in forms.items():
        prefix = field.split("-")[0]
        serial = db.session.get(Meter, meter_id).serial
        form = {f"{prefix}-meter_id": serial, f"{prefix}-amount": "150.000", field: day} | rest
        response = client.post(f"/customers/HOTEL/{path}", data=form)
        assert response.status_code == 422, path
        assert m.refused in error_under(response.get_data(as_text=True), field), path
        if path == "readings":
            preview = client.post("/customers/HOTEL/readings/preview", data=form).get_data(as_text=True)
            assert m.refused in preview
    assert (count(Invoice), count(Payment), count(MeterReading)) == (0, 0, 0)


def test_a_reading_in_a_closed_month_is_not_deleted_from_the_page(site, client, auth, m):
    _customer_id, meter_id = site
    reading = metering.record_reading(meter_id, m.in_last, D("10"))
    periods.close(m.last, auth.login("admin"))
    response = client.post(f"/customers/HOTEL/readings/{reading}/delete", follow_redirects=True)
    assert response.status_code == 200 and m.refused in response.get_data(as_text=True)
    assert count(MeterReading) == 1


def test_finance_users_see_the_periods_but_cannot_close_or_reopen(client, auth, m):
    admin = UserFactory(role=Role.ADMIN, email="controller@example.com")
    periods.close(m.earlier, admin, "Year-end checks")
    auth.login("finance")
    page = client.get("/books/periods").get_data(as_text=True)
    assert f"closed through <strong>{m.said_earlier}</strong>" in page
    row = page.split(f'id="month-{m.earlier}"', 1)[1].split("</tr>", 1)[0]
    assert "closed" in row and admin.name in row and "Year-end checks" in row
    assert "<button" not in page.split('id="periods"', 1)[1].split("</table>", 1)[0]
    assert client.post(f"/books/periods/{m.last}/close").status_code == 403
    assert client.post(f"/books/periods/{m.earlier}/reopen", data={"reason": "Why"}).status_code == 403
    assert len(actions()) == 1


def test_an_admin_closes_and_reopens_a_month_from_the_page_after_confirming(client, auth, m):
    auth.login("admin")
    page = client.get("/books/periods").get_data(as_text=True)
    row = page.split(f'id="month-{m.last}"', 1)[1].split("</tr>", 1)[0]
    assert f"Entries dated on or before {named_date(m.last_day)} will be refused until reopened." in row
    current = page.split(f'id="month-{m.current}"', 1)[1].split("</tr>", 1)[0]
    assert "<button" not in current  # a month closes once it has ended
    response = client.post(f"/books/periods/{m.last}/close", data={"note": "Bank reconciled"})
    assert response.status_code == 302
    assert [(a[0], a[1], a[4]) for a in actions()] == [(PeriodActionKind.CLOSE, m.last, "Bank reconciled")]

    page = client.get("/books/periods").get_data(as_text=True)
    row = page.split(f'id="month-{m.last}"', 1)[1].split("</tr>", 1)[0]
    assert "Reopen" in row and "the books stay closed for no month" in row
    refused = client.post(f"/books/periods/{m.last}/reopen", data={"reason": ""})
    assert refused.status_code == 422 and "Say why the month is reopened." in refused.get_data(as_text=True)
    wrong = client.post(f"/books/periods/{m.earlier}/reopen", data={"reason": "Typo"})
    assert wrong.status_code == 422 and f"Only the latest closed month, {m.said_last}" in wrong.get_data(as_text=True)
    nonsense = client.post("/books/periods/2026-13/close", data={})
    assert nonsense.status_code == 422 and "Write the month as YYYY-MM" in nonsense.get_data(as_text=True)
    assert len(actions()) == 1
    assert client.post(f"/books/periods/{m.last}/reopen", data={"reason": "Late invoice"}).status_code == 302
    assert [(a[0], a[1], a[2], a[4]) for a in actions()][1] == (PeriodActionKind.REOPEN, m.last, None, "Late invoice")
    history = client.get("/books/periods").get_data(as_text=True).split('id="period-history"', 1)[1]
    assert history.count("<tr>") == 3 and "Late invoice" in history


def test_closing_from_the_page_needs_the_csrf_token(csrf_app, m):
    client = csrf_app.test_client()
    admin = UserFactory(role=Role.ADMIN)
    login_page = client.get("/login").get_data(as_text=True)
    login_token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login_page).group(1)
    login = {"email": admin.email, "password": "correct horse battery", "csrf_token": login_token}
    assert client.post("/login", data=login).status_code == 302
    assert client.post(f"/books/periods/{m.last}/close", data={"note": ""}).status_code == 400
    assert count(PeriodAction) == 0
    page = client.get("/books/periods").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post(f"/books/periods/{m.last}/close", data={"csrf_token": token}).status_code == 302
    assert count(PeriodAction) == 1


# The command line


def test_books_close_reopen_and_periods_from_the_command_line(runner, controller, m):
    closed = runner.invoke(args=["books", "close", m.last, "--note", "Checked", "--user", "Controller@Example.com"])
    assert closed.exit_code == 0, closed.output
    assert f"{m.said_last} closed; the books are closed through {m.said_last}." in closed.output
    listed = runner.invoke(args=["books", "periods"])
    assert listed.exit_code == 0 and f"Closed through {m.said_last}." in listed.output
    row = next(line for line in listed.output.splitlines() if line.strip().startswith(m.last))
    assert "closed" in row and "controller@example.com" in row and "Checked" in row
    again = runner.invoke(args=["books", "close", m.last, "--user", "controller@example.com"])
    assert again.exit_code == 1 and f"{m.said_last} is already closed" in again.output
    reopened = runner.invoke(args=["books", "reopen", m.last, "--reason", "Late invoice", "--user", controller.email])
    assert reopened.exit_code == 0 and "no month is closed" in reopened.output
    assert [a[0] for a in actions()] == [PeriodActionKind.CLOSE, PeriodActionKind.REOPEN]


@pytest.mark.parametrize(
    ("args", "exit_code", "message"),
    [
        (["close", "2026-13"], 2, "is not a month"),
        (["close", "09/2026"], 2, "Write the month as YYYY-MM"),
        (["close", 0], 1, "has not ended yet"),
        (["close", -2], 1, "has not ended yet"),
        (["close", 1, "--user", "nobody@example.com"], 2, "No active user nobody@example.com"),
        (["close", 1, "--user", "clerk@example.com"], 1, "is not an admin"),
        (["reopen", 1], 2, "Missing option '--reason'"),
        (["reopen", 1, "--reason", "Late"], 1, "is not closed"),
        (["close", 1, "--note", "x" * 301], 1, "at most 300 characters"),
    ],
)
def test_books_commands_refuse_what_makes_no_sense_and_write_nothing(runner, controller, args, exit_code, message, m):
    UserFactory(role=Role.FINANCE, email="clerk@example.com")
    args = [m.back(a) if isinstance(a, int) else a for a in args]
    if "--user" not in args:
        args = [*args, "--user", controller.email]
    result = runner.invoke(args=["books", *args])
    assert result.exit_code == exit_code, result.output
    assert message in result.output
    assert count(PeriodAction) == 0


def test_a_wallet_movement_in_a_closed_month_is_refused_and_today_is_always_open(site, controller, m, runner):
    customer_id, _meter_id = site
    deposit = wallet.recharge(customer_id, D("5000"), value_date=m.in_last)
    periods.close(m.last, controller)
    before = count(BalanceTransaction), count(JournalEntry)
    with pytest.raises(PeriodClosed, match=re.escape(m.refused)):
        wallet.recharge(customer_id, D("5000"), value_date=m.last_day)
    with pytest.raises(PeriodClosed, match=re.escape(m.refused)):
        wallet.reverse(deposit.id, description="Entered by mistake", value_date=m.in_last)
    refused = runner.invoke(args=["ledger", "charge", "HOTEL", "100", "--value-date", f"{m.in_last:%Y-%m-%d}"])
    assert refused.exit_code == 1 and m.refused in refused.output
    assert (count(BalanceTransaction), count(JournalEntry)) == before
    wallet.reverse(deposit.id, description="Entered by mistake")  # dated today, in the open period
    assert count(BalanceTransaction) == before[0] + 1


def test_an_invoice_of_a_closed_month_is_withdrawn_in_the_open_period(site, controller, m):
    _customer_id, meter_id = site
    issued = meter_invoices.add_invoice(
        db.session.get(Meter, meter_id), "INV-1", D("150000"), m.in_last, m.current_first
    )
    periods.close(m.last, controller)
    with pytest.raises(PeriodClosed, match=re.escape(m.refused)):
        meter_invoices.withdraw_invoice(issued, "Wrong customer", value_date=m.last_day)
    meter_invoices.withdraw_invoice(issued, "Wrong customer")
    db.session.rollback()
    withdrawn = db.session.get(Invoice, issued.id)
    assert (
        withdrawn.withdrawn and db.session.get(JournalEntry, withdrawn.withdrawal_entry_id).entry_date == local_today()
    )


def test_a_fix_leaves_a_reading_of_a_closed_month_as_it_is_and_says_why(site, controller, m):
    customer_id, meter_id = site
    closed = metering.record_reading(meter_id, m.in_last, D("10"))
    open_ = metering.record_reading(meter_id, m.current_first, D("10"))
    pricing_id = db.session.scalar(sa.select(CustomerPricing.id).where(CustomerPricing.customer_id == customer_id))
    corrupt("customer_pricing", "price_per_sm3", pricing_id, "2000.00")  # both readings now cost twice as much
    periods.close(m.last, controller)
    # Changed by SQL, the price is evidence: the first fix quarantines the customer, until an admin vouches for it.
    assert run(RunMode.FIX, checks=["reading_calculation"]).fixed == 0
    evidence_review.accept([f.id for f in evidence_review.open_findings()], "the price list says 2000", controller)
    fixed = run(RunMode.FIX, checks=["reading_calculation"])
    assert (fixed.status, fixed.mismatched, fixed.fixed, fixed.left) == (RunStatus.SUCCEEDED, 2, 1, 1)
    reasons = dict(
        db.session.execute(
            sa.select(Discrepancy.entity_id, Discrepancy.reason).where(Discrepancy.run_id == fixed.id).distinct()
        ).all()
    )
    assert reasons == {
        closed: f"{m.last} is closed: its fix would post into it; reopen the month to fix the reading",
        open_: None,
    }
    costs = sa.select(TransactionCalculation.reading_id, TransactionCalculation.total_price)
    assert dict(db.session.execute(costs).all()) == {closed: D("10000.00"), open_: D("20000.00")}
