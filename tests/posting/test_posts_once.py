"""Every form that writes money posts once, however often it is sent: a second tab, a retry, the back button.

Each route is walked as a browser walks it: the page holding the form is opened (its hidden key with it), what a
clerk types is filled in, the form is sent, then the very same form is sent again. The first sending writes; the
second writes nothing in any table, leads where the first led and says what the first did. The forms guarded by
``backoffice.web.plumbing.once`` also say that the form had been sent already; the four older forms carry their own
idempotency key, which finds what the first sending posted and shows it again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa

from backoffice.models import (
    ApprovalRequest,
    ApprovalStatus,
    BalanceTransaction,
    Customer,
    CustomerPricing,
    DocumentSending,
    EntryStatus,
    Invoice,
    Issuer,
    JobRecord,
    JournalEntry,
    Meter,
    MeterReading,
    Order,
    Payment,
    PaymentAllocation,
)
from backoffice.platform.extensions import db
from backoffice.posting.journal import Line
from backoffice.services import approvals, books, issuer, meter_invoices, metering, wallet
from backoffice.web.plumbing.once import _here
from tests.chromium import follow, log_in
from tests.concurrency import race
from tests.factories import CustomerFactory, OrderFactory, UserFactory
from tests.pages import flashes, opened
from tests.rows import balance_by_code

D = Decimal
SENT_ALREADY = "This form had been sent already: what it asked was saved once, and nothing was saved again."
KEYED = {"customer_money.recharge", "customer_money.charge", "ledger.adjust", "books.new_entry"}
"""The forms whose own hidden ``idempotency_key`` makes the posting find what the first sending posted."""


@dataclass(frozen=True)
class Route:
    """A form that writes money: who sends it, the page that holds it, where it posts and what a clerk types in it
    (each formatted with the ids ``given`` made), and what its first sending wrote (``wrote``, of those ids)."""

    endpoint: str
    role: str
    given: Callable[[pytest.FixtureRequest], dict]
    page: str
    action: str
    wrote: Callable[[dict], bool]
    typed: dict[str, str] = field(default_factory=dict)


def rows(model, *where) -> list:
    db.session.rollback()
    return list(db.session.scalars(sa.select(model).where(*where)))


# What each route needs in the database before its page is opened.


def billed(request) -> dict:
    """HOTEL holding meter M-1, with invoice INV-1 of Rp500.000 and a payment of Rp200.000 (the ``meter`` fixture)."""
    meter = request.getfixturevalue("meter")
    return {
        "meter": meter.id,
        "serial": meter.serial,
        "invoice": db.session.scalar(sa.select(Invoice.id)),
        "payment": db.session.scalar(sa.select(Payment.id)),
    }


def billed_twice(request) -> dict:
    """``billed``, and a second open invoice, INV-2, that the payment may be applied to."""
    given = billed(request)
    meter = db.session.get(Meter, given["meter"])
    second = meter_invoices.add_invoice(meter, "INV-2", D("100000"), date(2026, 11, 3), date(2026, 11, 30))
    return given | {"other": second.id}


def metered(request) -> dict:
    """HOTEL holding M-1, Rp1.000.000 prepaid, priced from November (the ``metered_hotel`` fixture)."""
    customer, meter = request.getfixturevalue("metered_hotel")
    return {"customer": customer.id, "meter": meter.id, "serial": meter.serial}


def routed(request) -> dict:
    """``metered``, and HOTEL's account manager (by email), whose route sheet holds M-1."""
    given = metered(request)
    return given | {"manager": db.session.get(Customer, given["customer"]).account_manager.email}


def read(request) -> dict:
    """``metered``, with a reading of 10 m³ on 2026-11-20."""
    given = metered(request)
    return given | {"reading": metering.record_reading(given["meter"], date(2026, 11, 20), D("10"))}


def deposited(request) -> dict:
    """HOTEL with its opening deposit of Rp100.000 (the ``hotel`` fixture)."""
    request.getfixturevalue("hotel")
    return {"deposit": db.session.scalar(sa.select(BalanceTransaction.id))}


def drafted(request) -> dict:
    """A balanced draft journal entry of Rp500, by another admin."""
    lines = [Line("1000", debit=D("500")), Line("3000", credit=D("500"))]
    done = books.write_entry(
        date(2026, 11, 20), "Being prepared", lines, user=request.getfixturevalue("maker"), draft=True
    )
    return {"entry": done.entry_id}


def posted(request) -> dict:
    """A posted manual journal entry of Rp500, by another admin."""
    lines = [Line("1000", debit=D("500")), Line("3000", credit=D("500"))]
    done = books.write_entry(date(2026, 11, 20), "Owner's capital", lines, user=request.getfixturevalue("maker"))
    return {"entry": done.entry_id}


def asked(request) -> dict:
    """An adjustment of Rp60.000, above the approval limit, asked by another admin (the maker)."""
    request.getfixturevalue("limit")
    maker = request.getfixturevalue("maker")
    movement = wallet.adjustment(
        request.getfixturevalue("hotel"), D("60000"), reason="other", description="Meter misread", user=maker
    )
    return {"request": approvals.ask_adjustment(movement, user=maker, reason="Other: Meter misread").id}


def ordered(request) -> dict:
    """An order of Rp9.300.000 (the factory's)."""
    return {"order": OrderFactory().id}


def customer_to_order(request) -> dict:
    """A customer, with its account manager, to enter an order for (by their code and email)."""
    customer = CustomerFactory(code="C0042")
    return {"customer": customer.code, "manager": customer.account_manager.email}


def allocated(payment_id: int, invoice_id: int) -> Decimal:
    db.session.rollback()
    return db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(PaymentAllocation.amount), 0)).where(
            PaymentAllocation.payment_id == payment_id, PaymentAllocation.invoice_id == invoice_id
        )
    )


def request_status(given: dict) -> ApprovalStatus:
    db.session.rollback()
    return db.session.get(ApprovalRequest, given["request"]).status


def entry_status(given: dict) -> EntryStatus:
    db.session.rollback()
    return db.session.get(JournalEntry, given["entry"]).status


ENTRY = {"entry_date": "2026-11-22", "description": "Owner's capital", "action": "post"} | {
    "lines-0-account": "1000",
    "lines-0-debit": "1.000.000",
    "lines-0-credit": "",
    "lines-1-account": "3000",
    "lines-1-debit": "",
    "lines-1-credit": "1.000.000",
}


def sendable(request) -> dict:
    """``billed``, HOTEL with an e-mail address, the issuer saved, and the suite's SMTP server to send through."""
    given = billed(request)
    request.getfixturevalue("smtp")
    issuer.save({"name": "PT Gas Nusantara", "email": "tagihan@gasnusantara.example"}, version=None)
    db.session.scalar(sa.select(Customer).where(Customer.code == "HOTEL")).email = "finance@hotel.example"
    db.session.commit()
    return given


def sent_once() -> bool:
    db.session.rollback()
    return db.session.scalar(sa.select(sa.func.count(DocumentSending.id))) == 1


ROUTES = [
    Route(
        "customer_money.add_invoice",
        "finance",
        billed,
        "/customers/HOTEL?tab=billing",
        "/customers/HOTEL/invoices",
        lambda given: (
            [(i.amount, i.meter_id) for i in rows(Invoice, Invoice.number == "INV-2")]
            == [(D("300000.00"), given["meter"])]
        ),
        {
            "invoice-meter_id": "{serial}",
            "invoice-number": "INV-2",
            "invoice-amount": "300.000",
            "invoice-issued_on": "2026-11-20",
            "invoice-due_on": "2026-12-20",
        },
    ),
    Route(
        "customer_money.add_payment",
        "finance",
        billed,
        "/customers/HOTEL?tab=billing",
        "/customers/HOTEL/payments",
        lambda given: [p.amount for p in rows(Payment, Payment.reference == "TRF-10")] == [D("300000.00")],
        {
            "payment-meter_id": "{serial}",
            "payment-amount": "300.000",
            "payment-paid_on": "2026-11-20",
            "payment-reference": "TRF-10",
            "payment-invoice_ids": "{invoice}",
        },
    ),
    Route(
        "customer_money.recharge",
        "finance",
        deposited,
        "/customers/HOTEL?tab=ledger",
        "/customers/HOTEL/recharge",
        lambda given: balance_by_code() == D("150000.00"),
        {"recharge-amount": "50.000", "recharge-description": "transfer"},
    ),
    Route(
        "customer_money.charge",
        "finance",
        deposited,
        "/customers/HOTEL?tab=ledger",
        "/customers/HOTEL/charge",
        lambda given: balance_by_code() == D("75000.00"),
        {"charge-amount": "25.000", "charge-description": "gas"},
    ),
    Route(
        "ledger.adjust",
        "admin",
        deposited,
        "/customers/HOTEL?tab=ledger",
        "/customers/HOTEL/adjust",
        lambda given: balance_by_code() == D("97500.00"),
        {"adjust-direction": "down", "adjust-amount": "2.500", "adjust-reason": "write_off"},
    ),
    Route(
        "ledger.reverse",
        "admin",
        deposited,
        "/customers/HOTEL/movements/{deposit}",
        "/customers/HOTEL/movements/{deposit}/reverse",
        lambda given: wallet.reversal_of(given["deposit"]) is not None and balance_by_code() == D("0.00"),
        {"description": "Deposited to the wrong customer"},
    ),
    Route(
        "ledger.ask_reversal",
        "finance",
        deposited,
        "/customers/HOTEL/movements/{deposit}",
        "/customers/HOTEL/movements/{deposit}/ask-reversal",
        lambda given: [r.status for r in rows(ApprovalRequest)] == [ApprovalStatus.PENDING],
        {"description": "Deposited to the wrong customer"},
    ),
    Route(
        "metering.record",
        "finance",
        metered,
        "/customers/HOTEL?tab=metering",
        "/customers/HOTEL/readings",
        lambda given: len(rows(MeterReading)) == 1 and balance_by_code() == D("987500.00"),
        {"reading-meter_id": "{serial}", "reading-reading_date": "2026-11-05", "reading-volume_flow_meter": "12,5"},
    ),
    Route(
        "metering.correct",
        "finance",
        read,
        "/customers/HOTEL/readings/{reading}",
        "/customers/HOTEL/readings/{reading}",
        lambda given: (
            [r.volume_flow_meter for r in rows(MeterReading)] == [D("20")] and balance_by_code() == D("980000.00")
        ),
        {"volume_flow_meter": "20"},
    ),
    Route(
        "metering.delete",
        "finance",
        read,
        "/customers/HOTEL?tab=metering",
        "/customers/HOTEL/readings/{reading}/delete",
        lambda given: rows(MeterReading) == [] and balance_by_code() == D("1000000.00"),
    ),
    Route(
        "metering.set_pricing",
        "finance",
        metered,
        "/customers/HOTEL?tab=metering",
        "/customers/HOTEL/pricing",
        lambda given: (
            [p.price_per_sm3 for p in rows(CustomerPricing, CustomerPricing.effective_from == date(2026, 11, 10))]
            == [D("1500.00")]
        ),
        {"pricing-effective_from": "2026-11-10", "pricing-price_per_sm3": "1.500", "pricing-meter_correction": "1"},
    ),
    Route(
        "tariff.save",
        "admin",
        metered,
        "/pricing/tariff",
        "/pricing/tariff",
        lambda given: (
            [p.price_per_sm3 for p in rows(CustomerPricing, CustomerPricing.effective_from == date(2026, 11, 1))]
            == [D("2000.00")]
        ),
        {"effective_from": "2026-11-01", "price_per_sm3": "2.000", "customer_codes": "HOTEL"},
    ),
    Route(
        "books.new_entry",
        "admin",
        lambda request: {},
        "/books/journal/new",
        "/books/journal/new",
        lambda given: [e.status for e in rows(JournalEntry)] == [EntryStatus.POSTED],
        ENTRY,
    ),
    Route(
        "books.settle_draft",
        "admin",
        drafted,
        "/books/journal/{entry}",
        "/books/journal/{entry}/post",
        lambda given: entry_status(given) is EntryStatus.POSTED,
    ),
    Route(
        "books.settle_draft",
        "admin",
        drafted,
        "/books/journal/{entry}",
        "/books/journal/{entry}/void",
        lambda given: entry_status(given) is EntryStatus.VOID,
    ),
    Route(
        "books.reverse",
        "admin",
        posted,
        "/books/journal/{entry}",
        "/books/journal/{entry}/reverse",
        lambda given: len(rows(JournalEntry, JournalEntry.reverses_id == given["entry"])) == 1,
    ),
    Route(
        "billing.edit_invoice",
        "finance",
        billed,
        "/customers/HOTEL/invoices/{invoice}/edit",
        "/customers/HOTEL/invoices/{invoice}/edit",
        lambda given: [i.amount for i in rows(Invoice)] == [D("450000.00")],
        {"amount": "450.000"},
    ),
    Route(
        "billing.edit_payment",
        "finance",
        billed,
        "/customers/HOTEL/payments/{payment}/edit",
        "/customers/HOTEL/payments/{payment}/edit",
        lambda given: [p.amount for p in rows(Payment)] == [D("250000.00")],
        {"amount": "250.000"},
    ),
    Route(
        "billing.reallocate",
        "finance",
        billed_twice,
        "/customers/HOTEL/payments/{payment}/edit",
        "/customers/HOTEL/payments/{payment}/reallocate",
        lambda given: (
            (allocated(given["payment"], given["invoice"]), allocated(given["payment"], given["other"]))
            == (D("100000.00"), D("100000.00"))
        ),
        {"reallocate-invoice_ids": "{other}", "reallocate-reason": "Meant for INV-2"},
    ),
    Route(
        "billing.withdraw_invoice",
        "admin",
        billed,
        "/customers/HOTEL/invoices/{invoice}/edit",
        "/customers/HOTEL/invoices/{invoice}/withdraw",
        lambda given: [i.withdrawal_reason for i in rows(Invoice)] == ["Issued twice"],
        {"withdraw-reason": "Issued twice"},
    ),
    Route(
        "billing.withdraw_payment",
        "admin",
        billed,
        "/customers/HOTEL/payments/{payment}/edit",
        "/customers/HOTEL/payments/{payment}/withdraw",
        lambda given: [p.withdrawal_reason for p in rows(Payment)] == ["Bounced"],
        {"withdraw-reason": "Bounced"},
    ),
    Route(
        "orders.new",
        "finance",
        customer_to_order,
        "/orders/new",
        "/orders/new",
        lambda given: [o.grand_total for o in rows(Order)] == [D("9300000.00")],
        {
            "customer_id": "{customer}",
            "account_manager_id": "{manager}",
            "closing_date": "2026-11-10",
            "total_price": "10.000.000",
            "additions": "500.000",
            "promo": "1.000.000",
            "reductions": "200.000",
        },
    ),
    Route(
        "orders.edit",
        "finance",
        ordered,
        "/orders/{order}/edit",
        "/orders/{order}/edit",
        lambda given: [(o.promo, o.version) for o in rows(Order)] == [(D("0.00"), 2)],
        {"promo": "0"},
    ),
    Route(
        "orders.delete",
        "finance",
        ordered,
        "/orders/{order}/edit",
        "/orders/{order}/delete",
        lambda given: rows(Order) == [],
    ),
    Route(
        "route_sheet.save",
        "finance",
        routed,
        "/readings/sheet?manager={manager}&on=2026-11-20",
        "/readings/sheet",
        lambda given: [r.volume_flow_meter for r in rows(MeterReading)] == [D("10.0000")],
        {"meter-{meter}-index": "110", "meter-{meter}-how": "replaced", "meter-{meter}-start": "100"},
    ),
    Route(
        "approvals.approve",
        "admin",
        asked,
        "/approvals",
        "/approvals/{request}/approve",
        lambda given: request_status(given) is ApprovalStatus.APPROVED and balance_by_code() == D("160000.00"),
    ),
    Route(
        "approvals.reject",
        "admin",
        asked,
        "/approvals",
        "/approvals/{request}/reject",
        lambda given: request_status(given) is ApprovalStatus.REJECTED and balance_by_code() == D("100000.00"),
        {"reject-{request}-reason": "No evidence of a misread"},
    ),
    Route(
        "billing.send_invoice",
        "finance",
        sendable,
        "/customers/HOTEL/invoices/{invoice}/print",
        "/customers/HOTEL/invoices/{invoice}/send",
        lambda given: sent_once(),
    ),
    Route(
        "statements.send_billing",
        "finance",
        sendable,
        "/customers/HOTEL/billing-statement",
        "/customers/HOTEL/billing-statement/send",
        lambda given: sent_once(),
    ),
    Route(
        "statements.send_prepaid",
        "finance",
        sendable,
        "/customers/HOTEL/statement?month=2026-11",
        "/customers/HOTEL/statement/send?month=2026-11",
        lambda given: sent_once(),
    ),
    Route(
        "issuer.edit",
        "admin",
        lambda request: {},
        "/admin/issuer",
        "/admin/issuer",
        lambda given: db.session.get(Issuer, 1) is not None,
        {"name": "PT Gas Nusantara"},
    ),
    Route(
        "month_end.index",
        "admin",
        lambda request: {},
        "/admin/month-end",
        "/admin/month-end",
        lambda given: (
            db.session.scalar(sa.select(sa.func.count(JobRecord.id)).where(JobRecord.kind == "month_end")) == 1
        ),
        {"month": "2026-10", "statements": "y", "invoices": "y", "send": ""},
    ),
]


def tables() -> dict[str, list[tuple]]:
    """Every table's rows, as a new transaction sees them. None is left out: no table changes on a request alone."""
    db.session.rollback()
    with db.engine.connect() as connection:
        return {
            table.name: sorted((tuple(row) for row in connection.execute(sa.select(table))), key=repr)
            for table in db.metadata.sorted_tables
        }


def filled(text: str, given: dict) -> str:
    return text.format(**given)


class _PostingForms(HTMLParser):
    def __init__(self, action: str) -> None:
        super().__init__()
        self.action = action
        self.found: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and attrs.get("method") == "post" and attrs.get("action", "") in ("", self.action):
            self.found.append(attrs)


def posting_forms(client, url: str, action: str) -> list[dict]:
    """The attributes of the forms of the page at ``url`` that post to ``action``."""
    parser = _PostingForms(action)
    parser.feed(client.get(url).get_data(as_text=True))
    return parser.found


def named(route: Route) -> str:
    """The test's name for the route: its endpoint, and for a draft's two buttons which one."""
    return (
        f"{route.endpoint}-{route.action.rsplit('/', 1)[-1]}"
        if route.endpoint == "books.settle_draft"
        else route.endpoint
    )


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("/customers/HOTEL?tab=billing", "/customers/HOTEL?tab=billing"),
        ("http://localhost/customers/HOTEL", "/customers/HOTEL"),
        ("https://elsewhere.example/phish", None),
        ("//elsewhere.example/phish", None),
        ("javascript:alert(1)", None),
        ("", None),
    ],
)
def test_where_a_sending_led_is_kept_and_followed_only_as_a_path_of_this_site(app, url, kept):
    """A sending's Referer, or its row as stored, never leads a clerk off this site."""
    with app.test_request_context("/customers/HOTEL/payments", method="POST"):
        assert _here(url) == kept


def payment_form(client, meter) -> dict:
    """The hotel's payment form as opened, a payment of Rp300.000 (TRF-10) typed in it. It pays no invoice: one paid
    by a first sending would refuse a second before its key is claimed."""
    shown = opened(client, "/customers/HOTEL?tab=billing", "/customers/HOTEL/payments")
    return {name: value for name, value in shown.items() if name != "payment-invoice_ids"} | {
        "payment-meter_id": meter.serial,
        "payment-amount": "300.000",
        "payment-paid_on": "2026-11-20",
        "payment-reference": "TRF-10",
    }


def test_one_form_sent_twice_at_once_writes_once_and_the_later_sending_says_so(app, client, finance, meter):
    """The second sending arrives while the first is still writing: it waits for the first's commit, finds the key
    claimed, and rolls back what it wrote."""
    form = payment_form(client, meter)
    other = app.test_client()
    assert other.post("/login", data={"email": finance.email, "password": "correct horse battery"}).status_code == 302
    answers = []

    race(
        app,
        lambda: answers.append(client.post("/customers/HOTEL/payments", data=form)),
        lambda: answers.append(other.post("/customers/HOTEL/payments", data=form)),
        hold_after="commit",
    )

    assert [answer.status_code for answer in answers] == [302, 302]
    assert [p.amount for p in rows(Payment, Payment.reference == "TRF-10")] == [D("300000.00")]
    assert flashes(other.get(answers[1].location))[-1] == SENT_ALREADY


def test_a_form_sent_with_a_key_another_user_sent_saves_nothing_and_says_so(app, client, finance, meter):
    form = payment_form(client, meter)
    assert client.post("/customers/HOTEL/payments", data=form).status_code == 302
    other = app.test_client()
    admin = UserFactory(role="admin", password="correct horse battery")
    assert other.post("/login", data={"email": admin.email, "password": "correct horse battery"}).status_code == 302
    before = tables()

    copied = form | {"payment-amount": "9.000.000.000.000", "payment-reference": "TRF-11"}
    answer = other.post("/customers/HOTEL/payments", data=copied, headers={"Referer": "/customers/HOTEL?tab=billing"})

    assert answer.status_code == 302 and answer.location == "/customers/HOTEL?tab=billing"
    assert flashes(other.get(answer.location))[-1] == (
        "This form was sent already by another user: what you asked was not saved. Fill in the form again."
    )
    assert tables() == before
    assert [p.amount for p in rows(Payment, Payment.reference.in_(["TRF-10", "TRF-11"]))] == [D("300000.00")]


@pytest.mark.parametrize("route", ROUTES, ids=named)
def test_a_form_sent_twice_writes_once_and_the_second_says_what_the_first_did(client, request, route):
    given = route.given(request)
    request.getfixturevalue(route.role)
    url, action = filled(route.page, given), filled(route.action, given)
    # The browser keeps nothing typed in the form for its back button: a page it fetches again draws a new key, and
    # what was typed would come back under it.
    forms = posting_forms(client, url, action)
    assert forms and all(form.get("autocomplete") == "off" for form in forms)
    form = opened(client, url, action) | {
        filled(name, given): filled(value, given) for name, value in route.typed.items()
    }

    first = client.post(action, data=form)
    assert first.status_code == 302, first.get_data(as_text=True)
    assert route.wrote(given)
    said = flashes(client.get(first.location))
    assert said
    before = tables()

    again = client.post(action, data=form)
    assert (again.status_code, again.location) == (302, first.location)
    shown = flashes(client.get(again.location))
    assert tables() == before
    assert route.wrote(given)
    if route.endpoint in KEYED:
        assert shown == said
    else:
        assert shown[-1] == SENT_ALREADY
        assert said[-1] in shown[:-1]


def test_every_form_that_writes_money_is_walked(app):
    guarded = {endpoint for endpoint, view in app.view_functions.items() if getattr(view, "posts_once", False)}
    assert {route.endpoint for route in ROUTES} == guarded | KEYED


@pytest.mark.browser
def test_a_payment_sent_again_from_the_page_the_back_button_shows_is_saved_once(page, meter):
    from playwright.sync_api import expect

    UserFactory(email="clerk@example.com")
    log_in(page, "clerk@example.com")
    page.goto("/customers/HOTEL?tab=billing")
    key = page.input_value("input[name=payment-submission]")
    page.fill("#payment-amount", "300.000")
    page.fill("#payment-paid_on", "2026-11-20")
    page.fill("#payment-reference", "TRF-10")
    follow(page, "text=Add payment")
    expect(page.locator(".flash")).to_contain_text("Payment of Rp300.000,00 added for HOTEL")
    expect(page.locator("#payments")).to_contain_text("TRF-10")

    page.go_back(wait_until="load")
    restored = page.input_value("#payment-amount"), page.input_value("#payment-reference")
    sent_with = page.input_value("input[name=payment-submission]")
    follow(page, "text=Add payment")

    assert [p.amount for p in rows(Payment, Payment.reference == "TRF-10")] == [D("300000.00")]
    if restored == ("", ""):
        # The browser fetched the page again: a blank form, under a new key, which saves nothing as it is.
        assert sent_with != key
        expect(page.locator("#error-payment-amount")).to_contain_text("Enter an amount")
    else:
        # The browser kept the page as it was: what was typed comes back only with the key it was first sent with.
        assert (restored, sent_with) == (("300.000", "TRF-10"), key)
        expect(page.locator(".flash").last).to_have_text(SENT_ALREADY)
