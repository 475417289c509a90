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
Indonesian too) and that :data:`ALLOWED` does not name. What a clerk typed (the demo's names, descriptions and
references, and this test's own) and e-mail addresses are taken out of the text before its words are read.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qsl, urljoin, urlsplit

import pytest
import sqlalchemy as sa
from babel.messages.pofile import read_po
from flask import url_for
from werkzeug.exceptions import HTTPException

from backoffice import demo, jobs
from backoffice.config import local_today
from backoffice.extensions import db
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
from backoffice.posting.journal import Line
from backoffice.reconcile.engine import run
from backoffice.services import approvals, books, transaction, wallet
from backoffice.services.users import choose_language
from backoffice.web.history import KINDS as HISTORY_KINDS
from tests.factories import corrupt, quarantine

CATALOGUES = Path(__file__).resolve().parent.parent / "backoffice" / "translations"

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
}
"""The GET routes the walk does not read, each with the reason."""

QUERY_KINDS = {"tab", "status", "check"}
"""Query arguments that change what a page says (a customer's tab); the others (a page number, a sort, a filter's
value) change which rows it lists, and one address of each combination is read."""

PASSWORDS = {email: password for email, password, _role in demo.LOGINS}
USER_NAMES = {
    "admin@example.com": "Rina Kusuma",
    "controller@example.com": "Bayu Saputra",
    "finance@example.com": "Dewi Anggraini",
}
"""The names the users are given here: the demo names them Admin, Controller and Finance, words of the catalogue
that the pages naming a user would show as if they were untranslated."""

TYPED = [
    *demo.CUSTOMERS,
    *(name for name, _email in demo.MANAGERS),
    *USER_NAMES.values(),
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
]
TYPED_TEXT = re.compile("|".join([*TYPED_PATTERNS, *map(re.escape, sorted(TYPED, key=len, reverse=True))]))
WORD = re.compile(r"[^\W\d_]{3,}")
CODES = re.compile(r"\w+(?:[._]\w+)+|%\(\w+\)[sdif]|%[sdif]|\{\w*\}|<[^>]*>|&\w+;")
"""What is not words, in a message or on a page: names of the code (``total_recharged``, ``customers.balance``,
a check's name), a message's placeholders and markup."""


@pytest.fixture
def business(app):
    """The demo's data, and what the demo has not, made through the services: a deposit reversed, adjustments
    asked for approval (one pending, one approved, one rejected), a manual journal entry with its reversal and a
    draft, a reconciliation run finding a discrepancy, tampered evidence and the fix run beside it, and a job."""
    demo.load()
    for email, name in USER_NAMES.items():
        with transaction():
            user_by(email).name = name
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
    return {"customers": [customer.code, forged.code], "runs": [found.id, fixed.id], "job": job.id, "entry": entry}


def user_by(email: str) -> User:
    return db.session.scalar(sa.select(User).where(User.email == email))


@dataclass
class Walk:
    """What the walks in one language read: each page's English words, what answered neither 200 nor a redirect,
    and the routes read."""

    leaks: dict[str, list[str]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    endpoints: set[str] = field(default_factory=set)
    pages: int = 0


# The pages read the same on either database: the walk reads them once, on PostgreSQL's, as production does.
@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_every_page_of_each_role_shows_no_english_word_in_indonesian_or_vietnamese(app, business):
    report, read, pages = [], set(), 0
    for language in ("id", "vi"):
        walk = walk_in(app, business, language)
        read |= walk.endpoints
        pages += walk.pages
        report += [f"[{language}] {url} answered {status}" for url, status in walk.errors.items()]
        report += [f"[{language}] {url}:\n    " + "\n    ".join(found) for url, found in walk.leaks.items()]
    unread = sorted(
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if "GET" in rule.methods and rule.endpoint not in read and rule.endpoint not in NOT_PAGES
    )
    report += [
        f"no page of {endpoint} was read: give the walk its address, or say in NOT_PAGES why not" for endpoint in unread
    ]
    assert not report, f"Of {pages} pages read:\n" + "\n".join(report)


def walk_in(app, business, language: str) -> Walk:
    """Every user's walk with their pages in ``language``: the login and not-found pages to a browser asking for
    it, then the admin's and the clerk's every page, and the second admin's approvals (which the first asked)."""
    english = vocabulary(language)
    walk = Walk()
    logged_out = app.test_client()
    for path in ("/login", "/no-such-page"):
        read(logged_out, path, english, walk, headers={"Accept-Language": language})
    walk.endpoints.add("auth.login")
    for email in ("admin@example.com", "finance@example.com", "controller@example.com"):
        choose_language(user_by(email), language)
        client = app.test_client()
        response = client.post("/login", data={"email": email, "password": PASSWORDS[email]})
        assert response.status_code == 302, response.get_data(as_text=True)
        if email == "controller@example.com":
            crawl(app, client, ["/approvals"], english, walk, follow=False)
        else:
            crawl(app, client, starts(app, business), english, walk)
    return walk


def crawl(app, client, start: list[str], english: set[str], walk: Walk, *, follow: bool = True) -> None:
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
        links = read(client, url, english, walk, given=url in given)
        for link in links if follow else ():
            target = urlsplit(urljoin(url, link))
            if target.scheme in ("", "http") and target.netloc in ("", "localhost"):
                queue.append(target.path + (f"?{target.query}" if target.query else ""))


def read(client, url: str, english: set[str], walk: Walk, *, headers=None, given: bool = True) -> list[str]:
    """Read one page: note its English words and what it answered; return its links (none from an error page).

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
    if found := english_in(page.texts, english):
        walk.leaks[url] = found
    return page.links if status == 200 else []


def english_in(texts: list[str], english: set[str]) -> list[str]:
    """The English words of the texts, each with its text (what a clerk typed taken out), once per page."""
    found = {}
    for text in texts:
        shown = " ".join(TYPED_TEXT.sub(" ", text).split())
        for word in WORD.findall(CODES.sub(" ", shown)):
            if word.lower() in english and word.lower() not in found:
                found[word.lower()] = f"{word}: {shown[:120]!r}"
    return list(found.values())


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
            "customers.confirm_deactivate",
            {"code": code, "assignment_id": first(MeterAssignment, MeterAssignment.customer_id == customer_id)},
        ),
        ("customers.payment_invoices", {"code": code}),
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
        self._code = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
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
