"""The acceptance walk: every page each role reaches, read in Bahasa Indonesia and in Vietnamese, has no English
word in what it shows, outside what a clerk typed and proper names.

The walk logs in as each of the demo's users (an admin, the second admin who approves, a finance clerk), their
language set on their row (``User.language``), and reads every page breadth-first from the home page: same-origin
GET links and GET forms' actions, never logout nor a download; besides the home page it starts from an address of
every page the data has (each record the test made below, each history kind, each customer tab), so a page no link
reaches yet is still read. Every GET route of the app is either read this way or declared here as not a page.

What a page shows: its HTML text nodes (option texts included), and the title, placeholder, aria-label, alt and
data-confirm attributes and the buttons' values. An English word is a word of three letters or more of the
catalogue's msgids (``messages.pot``) that no msgstr of the language uses (``status``, ``total``, ``email`` are
Indonesian too) and that :data:`ALLOWED` does not name; and a word of :data:`LEFT_IN_ENGLISH`, which a translation
may have kept (a loanword a clerk does not read as their own), is English too. What a clerk typed (the demo's names,
descriptions and references, and this test's own) and e-mail addresses are taken out of the text before its words
are read. Nor does a sentence write a date or a month the ISO way (``2026-11-26``, ``2026-11``): it names them as the
reader's language does.

Each installation is walked too, in its own language and currency: Indonesia (``id_ID``, Rupiah), Vietnam
(``vi_VN``, the đồng, which has no decimals: no page writes an amount with any, and an amount typed with some is
refused) and Kenya (``en_KE``, the shilling: English pages, amounts with two decimals, dates written the Kenyan way).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import cache
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urljoin, urlsplit

import pytest
import sqlalchemy as sa
from babel.messages.pofile import read_po
from flask import url_for
from werkzeug.exceptions import HTTPException

from backoffice import jobs
from backoffice.imports import running
from backoffice.models import (
    ApprovalRequest,
    BalanceTransaction,
    Customer,
    CustomerPricing,
    Invoice,
    MeterAssignment,
    MeterReading,
    Order,
    Payment,
    RunMode,
    User,
)
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.platform.money import decimal_places
from backoffice.posting.journal import Line
from backoffice.reconcile.engine import run
from backoffice.services import approvals, books, demo, meter_invoices, meter_payments, metering, wallet
from backoffice.services.users import choose_language
from backoffice.web.oversight.history import KINDS as HISTORY_KINDS
from tests.checkout import ROOT
from tests.factories import (
    OrderFactory,
    TargetFactory,
    UserFactory,
    corrupt,
    hotel_with_meter,
    imported,
    quarantine,
)

CATALOGUES = ROOT / "backoffice" / "translations"

ALLOWED = {
    "backoffice": "the product's name: the brand link and every page's title",
    "english": "the language's own name, among the languages the account page offers",
}
"""Words of the catalogue a page may show in any language, each with the reason."""

NOT_PAGES = {
    "static": "stylesheets, scripts and icons",
    "api.health_check": "the operations API: JSON, for machines",
    "api.detailed_report": "the operations API: JSON, for machines",
    "api.job_status": "the operations API: JSON, for machines",
    "api.metrics": "Prometheus' text format, for machines",
    "books.export_journal": "a download",
    "customers.export": "a download",
    "movements.export": "a download",
    "orders.export": "a download",
    "receivables.export_aging": "a download",
    "receivables.export_invoices": "a download",
    "receivables.export_payments": "a download",
    "reconciliation.download": "a download",
    "statements.download": "a download",
    "imports.report": "a download",
    "imports.rejected": "a download",
    "month_end.download": "a download (a zip of PDFs)",
    "billing.invoice_xml": "a download (a Vietnamese e-invoice's XML, in the decision's words)",
    "billing.invoice_etims": "a download (an eTIMS sale, JSON for the device)",
    "client_api.v1.customer": "the clients' API: JSON, for machines",
    "client_api.v1.description": "the clients' API: JSON, for machines",
    "client_api.v1.movements": "the clients' API: JSON, for machines",
    "client_api.v1.months": "the clients' API: JSON, for machines",
    "client_api.v1.month_balance": "the clients' API: JSON, for machines",
}
"""The GET routes the walk does not read, each with the reason."""

QUERY_KINDS = {"tab", "status", "check"}
"""Query arguments that change what a page says (a customer's tab); the others (a page number, a sort, a filter's
value) change which rows it lists, and one address of each combination is read."""

PASSWORDS = {email: password for email, password, _role in demo.LOGINS}
TYPED = [
    *demo.CUSTOMERS,
    *(name for name, _email in demo.MANAGERS),
    *demo.USER_NAMES.values(),
    demo.ISSUER["payment_instructions_en"],  # the issuer's instructions for documents in English
    "Opening deposit",
    "Monthly reading",
    "Salah input setoran",
    "Koreksi meter disepakati",
    "Koreksi ditolak",
    "Sewa kantor",
    "Forged",  # what tests.factories.quarantine writes past the guards
]
"""What a clerk typed: the demo's names and descriptions, and this test's own."""
TYPED_PATTERNS = [
    r"Gas, week \d",
    r"Top-up \d{4}-\d{2}",
    r"Transfer INV-C\d{4}-\d{2}",
    r"\b(?:DEMO|INV|MTR)-[\w-]+",  # the demo's order, invoice and meter numbers
    r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+",  # e-mail addresses
    r"\b[0-9a-f]{12,32}\b",  # a job's random id, whole or shortened: its hex can spell "bad" or "face"
]
TYPED_TEXT = re.compile("|".join([*TYPED_PATTERNS, *map(re.escape, sorted(TYPED, key=len, reverse=True))]))
WORD = re.compile(r"[^\W\d_]{3,}")
LEFT_IN_ENGLISH = ("worker", "real time", "real-time", "bucket", "chunk", "heartbeat", "login", "dry run")
"""English words a catalogue's msgstrs once kept: none is shown in Indonesian or Vietnamese."""
LEFT = re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, LEFT_IN_ENGLISH)) + r")s?(?!\w)", re.IGNORECASE)
ISO_DATE = re.compile(r"(?<![\w-])\d{4}-\d{2}(?:-\d{2})?(?![\w-])")
CODES = re.compile(r"\w+(?:[._]\w+)+|%\(\w+\)[sdif]|%[sdif]|\{\w*\}|<[^>]*>|&\w+;")
"""What is not words, in a message or on a page: names of the code (``total_recharged``, ``customers.balance``,
a check's name), a message's placeholders and markup."""


@pytest.fixture
def business(app, demo_data):
    """The demo's data, and what the demo has not, made through the services: a deposit reversed, adjustments
    asked for approval (one pending, one approved, one rejected), a manual journal entry with its reversal and a
    draft, a reconciliation run finding a discrepancy, tampered evidence and the fix run beside it, and a job."""
    admin, controller = user_by("admin@example.com"), user_by("controller@example.com")
    customer, forged = db.session.scalars(sa.select(Customer).order_by(Customer.id).limit(2)).all()

    deposit = db.session.scalar(
        sa.select(BalanceTransaction.id)
        .where(BalanceTransaction.customer_id == customer.id, BalanceTransaction.kind == "recharge")
        .order_by(BalanceTransaction.id.desc())
    )
    wallet.reverse(deposit, description="Salah input setoran", user=admin)
    above_the_limit = app.config["APPROVAL_ABOVE"] + 1
    for extra in range(3):
        movement = wallet.adjustment(
            customer, above_the_limit + extra, description="Koreksi meter disepakati", user=admin
        )
        approvals.ask_adjustment(movement, user=admin, reason="Koreksi meter disepakati")
    _pending, approved, rejected = db.session.scalars(sa.select(ApprovalRequest.id).order_by(ApprovalRequest.id))
    approvals.approve(approved, controller)
    approvals.reject(rejected, controller, "Koreksi ditolak")

    rent = [Line("5000", debit=Decimal("2500000")), Line("1000", credit=Decimal("2500000"))]
    entry = books.write_entry(local_today(), "Sewa kantor", rent, user=admin).entry_id
    books.reverse_entry(entry, user=admin, reason="Sewa kantor")
    books.write_entry(local_today(), "Sewa kantor", rent, user=admin, draft=True)

    corrupt("orders", "grand_total", db.session.scalar(sa.select(Order.id).order_by(Order.id)), "1")
    found = run(RunMode.VERIFY)
    quarantine(forged.id)
    fixed = run(RunMode.FIX)
    job, _created = jobs.enqueue("verify", {"checks": ["order_grand_total"]}, user=admin)
    running.run_import(imported(b"Meter serial\nMTR-NEW-1\n").id)
    imported(b"Customer code;Name\nC 1;Warung\n", kind="customers")
    return {"customers": [customer.code, forged.code], "runs": [found.id, fixed.id], "job": job.id, "entry": entry}


def user_by(email: str) -> User:
    return db.session.scalar(sa.select(User).where(User.email == email))


@dataclass
class Walk:
    """Walks that ``check`` each page they read, and what they found: each page's problems, the addresses that
    answered neither 200 nor a redirect, the routes read."""

    check: Callable[[Visible], list[str]]
    found: dict[str, list[str]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    endpoints: set[str] = field(default_factory=set)
    pages: int = 0


# The pages read the same on either database: the walk reads them once, on PostgreSQL's, as production does.
def test_every_page_of_each_role_shows_no_english_word_in_indonesian_or_vietnamese(app, business):
    report, read, pages = [], set(), 0
    for language in ("id", "vi"):
        walk = walk_in(app, business, language)
        read |= walk.endpoints
        pages += walk.pages
        report += [f"[{language}] {url} answered {status}" for url, status in walk.errors.items()]
        report += [f"[{language}] {url}:\n    " + "\n    ".join(found) for url, found in walk.found.items()]
    unread = sorted(
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if "GET" in rule.methods and rule.endpoint not in read and rule.endpoint not in NOT_PAGES
    )
    report += [
        f"no page of {endpoint} was read: give the walk its address, or say in NOT_PAGES why not" for endpoint in unread
    ]
    assert not report, f"Of {pages} pages read:\n" + "\n".join(report)


def test_the_walk_finds_an_iso_date_in_a_sentence_and_an_english_word_kept():
    assert iso_dates_in(["Faktur bertanggal 2026-11-26.", "Laporan rekening 2026-11", "Top-up 2026-11"]) == [
        "an ISO date in 'Faktur bertanggal 2026-11-26.'",
        "an ISO date in 'Laporan rekening 2026-11'",
    ]
    assert iso_dates_in(["2026-11-26", "26 Nov 2026", "INV-C0001-2026-11", "Rp1.234.567,50"]) == []
    assert left_in_english(["Menunggu worker", "Dihitung secara real time", "Dihitung secara waktu nyata"]) == [
        "worker: 'Menunggu worker'",
        "real time: 'Dihitung secara real time'",
    ]


def walk_in(app, business, language: str) -> Walk:
    """Every user's walk with their pages in ``language``: the login and not-found pages to a browser asking for
    it, then the admin's and the clerk's every page, and the second admin's approvals (which the first asked)."""
    english = vocabulary(language)
    walk = Walk(lambda page: english_in(page.texts, english) + left_in_english(page.texts) + iso_dates_in(page.texts))
    logged_out = app.test_client()
    for path in ("/login", "/no-such-page"):
        read(logged_out, path, walk, headers={"Accept-Language": language})
    walk.endpoints.add("auth.login")
    for email in ("admin@example.com", "finance@example.com", "controller@example.com"):
        choose_language(user_by(email), language)
        client = app.test_client()
        response = client.post("/login", data={"email": email, "password": PASSWORDS[email]})
        assert response.status_code == 302, response.get_data(as_text=True)
        if email == "controller@example.com":
            crawl(app, client, ["/approvals"], walk, follow=False)
        else:
            crawl(app, client, starts(app, business), walk)
    return walk


def crawl(app, client, start: list[str], walk: Walk, *, follow: bool = True) -> None:
    """Read the pages breadth-first from ``start``: every address of ``start``, and of the pages their links lead to
    one of each route and kind of query (QUERY_KINDS)."""
    adapter = app.url_map.bind("localhost")
    queue = deque(start)
    given = set(start)
    kinds_read: set[tuple] = set()
    seen: set[str] = set()
    while queue:
        url = queue.popleft()
        if url in seen:
            continue
        seen.add(url)
        parts = urlsplit(url)
        try:
            endpoint, args = adapter.match(parts.path, method="GET")
        except HTTPException:
            continue
        if endpoint in NOT_PAGES:
            continue
        kind = (
            endpoint,
            tuple(sorted(str(value) for name, value in args.items() if name in ("kind", "mode"))),
            tuple(
                sorted(
                    (name, value if name in QUERY_KINDS else "")
                    for name, value in parse_qsl(parts.query)
                    if name not in ("page", "sort")
                )
            ),
        )
        if kind in kinds_read and url not in given:
            continue
        kinds_read.add(kind)
        walk.endpoints.add(endpoint)
        links = read(client, url, walk, given=url in given)
        for link in links if follow else ():
            target = urlsplit(urljoin(url, link))
            if target.scheme in ("", "http") and target.netloc in ("", "localhost"):
                queue.append(target.path + (f"?{target.query}" if target.query else ""))


def read(client, url: str, walk: Walk, *, headers=None, given: bool = True) -> list[str]:
    """Read one page: note what the walk's check finds and what it answered; return its links (none from an error
    page).

    A page a link leads to answers 200 or redirects; an address the walk was given may be refused (403: an admin's
    page, to a clerk; 404: the not-found page), and its error page is read too."""
    response = client.get(url, headers=headers)
    walk.pages += 1
    status = response.status_code
    if status in (301, 302, 303):
        return [response.headers["Location"]]
    if status >= 500 or (status != 200 and not (given and status in (403, 404))):
        walk.errors[url] = status
    if not response.content_type.startswith("text/html"):
        return []
    page = Visible()
    page.feed(response.get_data(as_text=True))
    if found := walk.check(page):
        walk.found[url] = found
    return page.links if status == 200 else []


def english_in(texts: list[str], english: set[str]) -> list[str]:
    """The English words of the texts (what a clerk typed taken out), each with the text it is in, once per page."""
    found = {}
    for text in texts:
        for word in WORD.findall(CODES.sub(" ", TYPED_TEXT.sub(" ", text))):
            if word.lower() in english and word.lower() not in found:
                found[word.lower()] = f"{word}: {' '.join(text.split())[:120]!r}"
    return list(found.values())


def left_in_english(texts: list[str]) -> list[str]:
    """The words of :data:`LEFT_IN_ENGLISH` in the texts (what a clerk typed taken out), each with its text, once per
    page."""
    found = {}
    for text in texts:
        for word in LEFT.findall(TYPED_TEXT.sub(" ", text)):
            found.setdefault(word.lower(), f"{word}: {' '.join(text.split())[:120]!r}")
    return list(found.values())


def iso_dates_in(texts: list[str]) -> list[str]:
    """The texts (what a clerk typed taken out) that write a date or a month the ISO way inside a sentence: beside a
    word of their own."""
    found = []
    for text in texts:
        kept = TYPED_TEXT.sub(" ", text)
        if ISO_DATE.search(kept) and WORD.search(ISO_DATE.sub(" ", kept)):
            found.append(f"an ISO date in {' '.join(text.split())[:120]!r}")
    return found


@cache
def vocabulary(language: str) -> frozenset[str]:
    """The English words of the catalogue (its msgids' words of three letters or more), less those the language's
    msgstrs use too and those :data:`ALLOWED`."""
    with (CATALOGUES / "messages.pot").open("rb") as file:
        msgids = [m.id for m in read_po(file) if m.id]
    with (CATALOGUES / language / "LC_MESSAGES" / "messages.po").open("rb") as file:
        msgstrs = [m.string for m in read_po(file, locale=language) if m.id]
    return frozenset(words(msgids) - words(msgstrs) - set(ALLOWED))


def words(messages: list) -> set[str]:
    texts = [text for message in messages for text in (message if isinstance(message, tuple) else (message,))]
    return {word.lower() for text in texts for word in WORD.findall(CODES.sub(" ", text or ""))}


def starts(app, business) -> list[str]:
    """The home page, and an address of every page the data has: the records made above, a record of each kind of
    history, each tab of a customer's page, a wallet movement of each kind."""
    code, forged = business["customers"]
    customer_id = db.session.scalar(sa.select(Customer.id).where(Customer.code == code))
    held = sa.select(MeterAssignment.meter_id).where(MeterAssignment.customer_id == customer_id)
    first = lambda model, *where: db.session.scalar(sa.select(model.id).where(*where).order_by(model.id))  # noqa: E731
    movements = db.session.execute(
        sa.select(sa.func.min(BalanceTransaction.id))
        .where(BalanceTransaction.customer_id == customer_id)
        .group_by(BalanceTransaction.kind, BalanceTransaction.reference_type)
    ).scalars()
    invoice = first(Invoice, Invoice.meter_id.in_(held))
    pages = [
        ("books.index", {}),
        ("approvals.index", {}),
        ("evidence.index", {}),
        ("reconciliation.runs", {}),
        ("books.entry", {"entry_id": business["entry"]}),
        ("jobs.show", {"job_id": business["job"]}),
        ("jobs.panel", {"job_id": business["job"]}),
        *(("reconciliation.show", {"run_id": run_id}) for run_id in business["runs"]),
        *(("reconciliation.confirm", {"mode": mode}) for mode in ("fix", "rebuild")),
        *(("history.show", {"kind": kind, "record_id": first(spec.model)}) for kind, spec in HISTORY_KINDS.items()),
        *(
            ("customers.show", {"code": shown, "tab": tab})
            for shown in (code, forged)
            for tab in ("orders", "ledger", "billing", "metering", "monthly")
        ),
        *(("ledger.movement", {"code": code, "movement_id": movement}) for movement in movements),
        (
            "customer_money.confirm_deactivate",
            {"code": code, "assignment_id": first(MeterAssignment, MeterAssignment.customer_id == customer_id)},
        ),
        ("customer_money.payment_invoices", {"code": code}),
        ("monthly.confirm_realtime_off", {"code": code}),
        (
            "metering.edit_pricing",
            {"code": code, "pricing_id": first(CustomerPricing, CustomerPricing.customer_id == customer_id)},
        ),
        ("metering.reading", {"code": code, "reading_id": first(MeterReading, MeterReading.meter_id.in_(held))}),
        ("billing.edit_invoice", {"code": code, "invoice_id": invoice}),
        ("billing.print_invoice", {"code": code, "invoice_id": invoice}),
        ("billing.edit_payment", {"code": code, "payment_id": first(Payment, Payment.meter_id.in_(held))}),
        ("statements.show", {"code": code}),
        ("statements.billing", {"code": code}),
        ("search.pick", {"kind": "customer", "q": code}),
        ("search.pick", {"kind": "manager"}),
        ("search.pick", {"kind": "meter", "customer": code}),
    ]
    with app.test_request_context():
        return ["/", *(url_for(endpoint, **args) for endpoint, args in pages)]


class Visible(HTMLParser):
    """What a page shows, and where it leads: its text, its shown attributes, its links and GET forms' actions."""

    SHOWN = ("title", "placeholder", "aria-label", "alt", "data-confirm")
    CODE = ("script", "style", "code")
    """What is not read as words: the scripts, and what a page quotes for an operator to type (a command)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self.links: list[str] = []
        self.language: str | None = None
        self.amount_fields: list[str] = []
        """What each amount field holds, or shows as an example when empty."""
        self._code = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "html":
            self.language = attrs.get("lang")
        if tag == "input" and "data-amount" in attrs:
            self.amount_fields.append(attrs.get("value") or attrs.get("placeholder") or "")
        if tag in self.CODE:
            self._code += 1
        self.texts += [attrs[name] for name in self.SHOWN if attrs.get(name)]
        if tag == "input" and attrs.get("type") in ("submit", "button", "reset") and attrs.get("value"):
            self.texts.append(attrs["value"])
        if tag == "a" and attrs.get("href") and "download" not in attrs:
            self.links.append(attrs["href"])
        if tag == "form" and (attrs.get("method") or "get").lower() == "get" and attrs.get("action"):
            self.links.append(attrs["action"])

    def handle_endtag(self, tag):
        if tag in self.CODE and self._code:
            self._code -= 1

    def handle_data(self, data):
        if not self._code and data.strip():
            self.texts.append(data)


# --- Each installation in its own language and currency ------------------------------------------------------------


@dataclass(frozen=True)
class Installation:
    locale: str
    currency: str
    language: str
    amount: str
    """How every amount on a page is written: a regular expression of one amount, with its currency, that the
    installation's amounts all are (the đồng's never with decimals, the shilling's always with two)."""
    written: str
    """What an amount is written as, for the regular expression to find."""
    shown: dict[str, str]
    """Amounts and the date of the reading, as the pages write them."""
    typed: str
    """An amount typed with decimals: read (Rupiah, shilling) or refused (đồng)."""


INSTALLATIONS = {
    "Indonesia": Installation(
        "id_ID",
        "IDR",
        "id",
        amount=r"-?Rp\d{1,3}(?:\.\d{3})*,\d{2}",
        written=r"-?Rp[\d.,]*\d",
        shown={"deposit": "Rp1.234.567,50", "reading": "20 Nov 2026", "example": "1.234.567,89"},
        typed="1.000,50",
    ),
    "Vietnam": Installation(
        "vi_VN",
        "VND",
        "vi",
        amount=r"-?\d{1,3}(?:\.\d{3})*\xa0₫",
        written=r"-?[\d.,]*\d\s?₫",
        shown={"deposit": "1.234.567\xa0₫", "reading": "20 thg 11, 2026", "example": "1.234.567"},
        typed="1.000,50",
    ),
    "Kenya": Installation(
        "en_KE",
        "KES",
        "en",
        amount=r"-?Ksh\d{1,3}(?:,\d{3})*\.\d{2}",
        written=r"-?Ksh[\d.,]*\d",
        shown={"deposit": "Ksh1,234,567.50", "reading": "20 Nov 2026", "example": "1,234,567.89"},
        typed="1,000.50",
    ),
}


@pytest.fixture(params=list(INSTALLATIONS))
def installation(request, app):
    """The app set up as the installation is (``BACKOFFICE_LOCALE``, ``BACKOFFICE_CURRENCY``, and its language by
    default), with an admin whose pages are in it, and a customer with a deposit, a meter read on 2026-11-20 and
    billed, an order and a target."""
    country = INSTALLATIONS[request.param]
    app.config.update(
        LOCALE=country.locale,
        CURRENCY=country.currency,
        CURRENCY_PLACES=decimal_places(country.currency),
        LANGUAGE=country.language,
    )
    customer, meter = hotel_with_meter(date(2026, 10, 1))
    deposit = Decimal("1234567.50") if decimal_places(country.currency) else Decimal("1234567")
    wallet.recharge(customer, deposit, description="opening deposit", value_date=date(2026, 11, 2))
    metering.record_reading(meter.id, date(2026, 11, 20), Decimal("123.4567"))
    meter_invoices.add_invoice(meter, "INV-7", Decimal("500000"), date(2026, 11, 2), date(2026, 11, 30))
    meter_payments.add_payment(meter, Decimal("200000"), date(2026, 11, 10), "TRF-7")
    OrderFactory(customer=customer)
    TargetFactory(account_manager=customer.account_manager)
    UserFactory(email="admin@hotel.example", role="admin", password="correct horse battery")
    return country


def test_an_installation_writes_pages_in_its_language_and_amounts_in_its_currency(app, installation):
    country = installation
    client = app.test_client()
    client.post("/login", data={"email": "admin@hotel.example", "password": "correct horse battery"})
    walk = Walk(lambda page: notation_in(page, country))
    crawl(app, client, ["/", *(f"/customers/HOTEL?tab={tab}" for tab in ("ledger", "billing", "metering"))], walk)

    assert not walk.errors
    assert not walk.found, "\n".join(f"{url}: {found}" for url, found in walk.found.items())
    ledger = client.get("/customers/HOTEL?tab=ledger").get_data(as_text=True)
    assert country.shown["deposit"] in ledger
    assert f'placeholder="{country.shown["example"]}"' in ledger
    assert country.shown["reading"] in client.get("/customers/HOTEL?tab=metering").get_data(as_text=True)


def notation_in(page: Visible, country: Installation) -> list[str]:
    """What is not written the installation's way on the page: its language, an amount, an amount field."""
    found = [] if page.language == country.language else [f"the page is in {page.language}"]
    for text in page.texts:
        found += [
            f"the amount {written!r} in {text.strip()[:80]!r}"
            for written in re.findall(country.written, text)
            if not re.fullmatch(country.amount, written)
        ]
    places = decimal_places(country.currency)
    decimal = "," if country.locale != "en_KE" else "."
    found += [
        f"the amount field holds {value!r}"
        for value in page.amount_fields
        if value and (decimal in value) != bool(places)
    ]
    if country.locale == "en_KE":
        found += [f"an American date in {text.strip()[:80]!r}" for text in page.texts if US_DATE.search(text)]
    return found


US_DATE = re.compile(r"\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]* \d{1,2}, \d{4}")


def test_a_dong_amount_with_decimals_is_refused_and_a_shilling_one_is_saved(app, installation):
    country = installation
    client = app.test_client()
    client.post("/login", data={"email": "admin@hotel.example", "password": "correct horse battery"})
    before = db.session.scalar(sa.select(sa.func.count(BalanceTransaction.id)))
    form = {"recharge-amount": country.typed, "recharge-description": "transfer", "recharge-idempotency_key": "k-1"}

    response = client.post("/customers/HOTEL/recharge", data=form)

    db.session.rollback()
    after = db.session.scalar(sa.select(sa.func.count(BalanceTransaction.id)))
    if decimal_places(country.currency):
        assert response.status_code == 302 and after == before + 1
        newest = db.session.scalar(sa.select(BalanceTransaction.amount).order_by(BalanceTransaction.id.desc()))
        assert newest == Decimal("1000.50")
    else:
        page = response.get_data(as_text=True)
        assert response.status_code == 422 and after == before
        assert "Số tiền ở đây không có chữ số thập phân: hãy viết số tiền chẵn, ví dụ 1.234.567." in page
