"""What a person reads never shows a code's words: every page and every download, read by an admin in Bahasa
Indonesia and in Vietnamese, has no ``None``, no ``JE-None`` and no name of the code (``zero_rated``,
``total_recharged``) in what it shows.

The walk reads every GET route of the app whose arguments the data set fills (each customer below, their invoice,
payment, reading, price, meter and movements; a journal entry, an import, a job, a run…), each ``any(…)`` of a route
(a CSV and a workbook) and the tabs of a customer of each tax status. What a page shows is its text and the
attributes a person reads (a title, a placeholder, a label, a question asked before a button acts); a download's is
each cell of a CSV, each cell and sheet name of a workbook, and the text of a PDF as pdftotext reads it. Every GET
route is either walked or named in :data:`NOT_WALKED` with the reason; what a machine reads in a download is allowed
by :data:`CODE_COLUMNS` and :data:`CODE_LINES`, each with the reason.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa
from flask import url_for

from backoffice import jobs
from backoffice.imports import running
from backoffice.imports.kinds import KINDS as IMPORT_KINDS
from backoffice.models import (
    AccountManager,
    BalanceTransaction,
    Customer,
    CustomerPricing,
    Import,
    ImportStatus,
    Invoice,
    Issuer,
    JobRecord,
    MeterAssignment,
    MeterReading,
    Order,
    Payment,
    RunMode,
    Target,
    TaxStatus,
    User,
)
from backoffice.models.types import Month, month_start
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.posting.journal import Line
from backoffice.posting.rules import CUSTOMER_DEPOSITS, RECEIVABLES, VAT_PAYABLE
from backoffice.reconcile.engine import run
from backoffice.reconcile.report import CSV_COLUMNS as REPORT_COLUMNS
from backoffice.services import approvals, books, demo, meter_invoices, meter_payments, metering, wallet
from backoffice.services.users import choose_language
from backoffice.web.oversight.history import KINDS as HISTORY_KINDS
from tests.factories import corrupt, imported, metered_customer

LANGUAGES = ["id", "vi"]

NONE = re.compile(r"(?<![\w-])None(?![\w-])")
JE_NONE = re.compile(r"JE-None")
CODE_NAME = re.compile(r"\b[a-z]+_[a-z_]+\b")
"""A name of the code: words joined by underscores, in lower case (``zero_rated``, ``total_recharged``)."""

CODE_COLUMNS = {
    "reconciliation.download": (
        tuple(REPORT_COLUMNS.index(name) for name in ("check", "entity_type", "field")),
        "a run's report keeps the columns scripts have read since its first one, which name the check, the record's "
        "kind and the field as the code does; the columns added after them name the record and the field in words",
    ),
}
"""The columns of a download (by their place) that hold codes a machine reads, each with the reason."""

CODE_LINES = {
    "books.export_journal": (
        re.compile(r"^\s*; source: [a-z_]+ #\d+"),
        "the hledger journal is written in hledger's syntax for hledger to read: each entry's comment names its source "
        "record as the database does (a tag an accountant queries); its CSV and workbook name it in words",
    ),
}
"""The lines of a download that hold codes a machine reads, each with the reason."""

NOT_WALKED = {
    "static": "stylesheets, scripts and icons",
    "api.health_check": "the operations API: JSON, for machines",
    "api.detailed_report": "the operations API: JSON, for machines",
    "api.job_status": "the operations API: JSON, for machines",
    "api.metrics": "Prometheus' text format, for machines",
    "client_api.v1.customer": "the clients' API: JSON, for machines",
    "client_api.v1.description": "the clients' API: JSON, for machines",
    "client_api.v1.movements": "the clients' API: JSON, for machines",
    "client_api.v1.months": "the clients' API: JSON, for machines",
    "client_api.v1.month_balance": "the clients' API: JSON, for machines",
    "billing.invoice_xml": "a Vietnamese e-invoice's XML, for the provider and the tax office: its words are the "
    "decision's, in Vietnamese",
    "billing.invoice_etims": "an eTIMS sale, JSON for the device: its names are KRA's",
    "tax.coretax_xml": "Indonesia's e-Faktur XML for Coretax: its names and codes are DJP's template's",
    "month_end.download": "a month-end run's zip, which only a month-end job writes: the invoices' and statements' "
    "PDFs in it are the ones walked here",
}
"""The GET routes the walk does not read, each with the reason."""

WALKED = (
    "admin.user",
    "admin.users",
    "approvals.export",
    "approvals.index",
    "auth.login",
    "auth.password",
    "billing.edit_invoice",
    "billing.edit_payment",
    "billing.invoice_pdf",
    "billing.print_invoice",
    "books.account",
    "books.accounts",
    "books.balance_sheet",
    "books.entry",
    "books.export_account_lines",
    "books.export_journal",
    "books.index",
    "books.journal",
    "books.new_entry",
    "client_api.clients.index",
    "customer_money.confirm_deactivate",
    "customer_money.payment_invoices",
    "customers.close",
    "customers.edit",
    "customers.export",
    "customers.index",
    "customers.new",
    "customers.show",
    "evidence.index",
    "history.show",
    "home.index",
    "imports.index",
    "imports.rejected",
    "imports.report",
    "imports.show",
    "imports.template",
    "issuer.edit",
    "jobs.index",
    "jobs.panel",
    "jobs.show",
    "ledger.movement",
    "managers.deactivate",
    "managers.edit",
    "managers.export",
    "managers.index",
    "managers.new",
    "metering.edit_pricing",
    "metering.reading",
    "meters.export",
    "meters.index",
    "meters.retire",
    "month_end.index",
    "monthly.confirm_realtime_off",
    "monthly.download",
    "movements.export",
    "movements.index",
    "notices.index",
    "notices.mine",
    "orders.deleted",
    "orders.edit",
    "orders.export",
    "orders.index",
    "orders.new",
    "periods.confirm_close",
    "periods.index",
    "receivables.aging",
    "receivables.export_aging",
    "receivables.export_invoices",
    "receivables.export_payments",
    "receivables.invoices",
    "receivables.payments",
    "reconciliation.confirm",
    "reconciliation.download",
    "reconciliation.index",
    "reconciliation.runs",
    "reconciliation.show",
    "route_sheet.sheet",
    "search.index",
    "search.pick",
    "statements.billing",
    "statements.billing_download",
    "statements.billing_pdf",
    "statements.download",
    "statements.show",
    "statements.show_pdf",
    "targets.edit",
    "targets.export",
    "targets.generate",
    "targets.index",
    "targets.new",
    "tariff.form",
    "tax.export_register",
    "tax.register",
)
"""The GET routes the walk reads."""

TABS = ("orders", "ledger", "billing", "metering", "monthly")
TABBED = ("TAX-NONUM", "EXEMPT-NUM", "ZERO", demo.CODES[0])
"""The customers each of whose tabs is read: one of each tax status (the tax numbers' presence varied) and the
demo's first, with its months of history; the others' pages are read as they open."""
QUERIES = {
    "search.index": [{"q": "Hotel"}, {"q": "MTR"}],
    "search.pick": [{"q": "C0"}],
}
"""The query strings a route is read with, besides none: what changes what a page says (a customer's tab)."""

XFAIL: dict[tuple[str, str], str] = {}
"""The (language, blueprint) walks that find a code's words in what another change rewrites, with what they find."""


@pytest.fixture
def business(app, kept):
    """The data walked, made once per process (``kept``)."""
    return kept("walk-words", lambda: made(app, kept))


TAXED = [
    ("TAX-NPWP", "PT Pajak Lengkap", None, True),
    ("TAX-NONUM", "CV Tanpa NPWP", None, False),
    ("EXEMPT-NUM", "Yayasan Sekolah Bebas", TaxStatus.EXEMPT, True),
    ("EXEMPT", "Klinik Bebas Pajak", TaxStatus.EXEMPT, False),
    ("ZERO-NUM", "PT Ekspor Nol", TaxStatus.ZERO_RATED, True),
    ("ZERO", "CV Ekspor Kecil", TaxStatus.ZERO_RATED, False),
]
"""Customers taxed, exempt and zero-rated, each with a tax number and without: code, name, status, numbered."""
PRINTED = ("TAX-NONUM", "ZERO-NUM")
"""The customers whose PDFs are read (a PDF takes a second to draw): taxed without a tax number, zero-rated with one.
Each customer's printed page, which its PDF is drawn from, is read."""
ACCOUNTS = (CUSTOMER_DEPOSITS, RECEIVABLES, VAT_PAYABLE)
"""The accounts whose pages and lines are read: the customers' deposits, receivables, VAT."""


def made(app, kept) -> dict:
    """The demo (``kept`` too), and what it has not: a customer of each tax status with a tax number and without,
    each with a meter, a price, a reading, an invoice this month and a payment of part of it; a recharge; an
    adjustment and an import of opening balances above the approval limit, waiting; a journal entry, its reversal
    and a draft; runs of the reconciliation (one finding a discrepancy); a job; an import done and one checked."""
    kept("demo", demo.load)
    admin = user_by("admin@example.com")
    today = local_today()
    since = month_start(month_start(today) - timedelta(days=1))  # the first day of last month
    number = db.session.get(Issuer, 1).tax_number
    customers = []
    for n, (code, name, status, numbered) in enumerate(TAXED):
        customer, meter = metered_customer(
            code,
            since,
            Decimal("7500"),
            Decimal("1.02"),
            prepaid=Decimal("5000000"),
            name=name,
            tax_status=status and status.value,
            tax_number=number if numbered else None,
            email=f"keuangan{n}@pajak.example",
            address="Jl. Mawar 1, Bandung",
        )
        metering.record_reading(meter.id, since + timedelta(days=9), Decimal("100.5"))
        metering.record_reading(meter.id, today, Decimal("250.25"))
        invoice = meter_invoices.add_invoice(meter, f"INV-{code}", Decimal("1500000"), today, today + timedelta(14))
        meter_payments.add_payment(meter, Decimal("500000"), today, f"TRF-{code}", invoice_ids=[invoice.id])
        wallet.recharge(customer, Decimal("250000"), description="Setoran tunai", value_date=today)
        customers.append(customer.code)
    customers.append(demo.CODES[0])

    above = app.config["APPROVAL_ABOVE"] + 1
    first = db.session.scalar(sa.select(Customer).where(Customer.code == demo.CODES[0]))
    movement = wallet.adjustment(first, above, description="Koreksi meter disepakati", user=admin)
    approvals.ask_adjustment(movement, user=admin, reason="Koreksi meter disepakati")
    opening = metered_customer("OPEN", since, Decimal("7500"), name="Toko Saldo Awal")[0]
    waiting = imported_by(
        f"Customer code;Opening balance;Cut-over date\n{opening.code};{above * 3};{month_start(today)}\n".encode(),
        "balances",
        admin,
    )
    running.run_import(waiting)
    assert db.session.get(Import, waiting).status == ImportStatus.WAITING, db.session.get(Import, waiting).error

    rent = [Line("5000", debit=Decimal("2500000")), Line("1000", credit=Decimal("2500000"))]
    entry = books.write_entry(today, "Sewa kantor", rent, user=admin).entry_id
    books.reverse_entry(entry, user=admin, reason="Sewa kantor")
    books.write_entry(today, "Sewa kantor", rent, user=admin, draft=True)

    corrupt("orders", "grand_total", db.session.scalar(sa.select(Order.id).order_by(Order.id)), "1")
    runs = [run(RunMode.VERIFY).id, run(RunMode.FIX, checks=["order_grand_total"]).id]
    jobs.enqueue("verify", {"checks": ["order_grand_total"]}, user=admin)
    done = imported(b"Meter serial\nMTR-NEW-1\n").id
    running.run_import(done)
    imported(b"Customer code;Name\nC 1;Warung\n", kind="customers")
    return {"customers": customers, "runs": runs}


def imported_by(content: bytes, kind: str, user: User) -> int:
    """An import of ``content`` checked and kept by ``user``, as the Imports page leaves it: its id."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "saldo.csv"
        path.write_bytes(content)
        checked = running.check(IMPORT_KINDS[kind], running.open_table(IMPORT_KINDS[kind], path, path.name))
        return running.started(IMPORT_KINDS[kind], path.name, path, checked, user, valid_only=False).id


def user_by(email: str) -> User:
    return db.session.scalar(sa.select(User).where(User.email == email))


def ids(model, *where, limit: int = 3) -> list[int]:
    return list(db.session.scalars(sa.select(model.id).where(*where).order_by(model.id).limit(limit)))


def arguments(business) -> dict:
    """What fills the routes' arguments: per customer walked, its rows; besides, the other records' ids."""
    customers = []
    for code in business["customers"]:
        customer = db.session.scalar(sa.select(Customer).where(Customer.code == code))
        held = sa.select(MeterAssignment.meter_id).where(MeterAssignment.customer_id == customer.id)
        movements = db.session.scalars(
            sa.select(sa.func.min(BalanceTransaction.id))
            .where(BalanceTransaction.customer_id == customer.id)
            .group_by(BalanceTransaction.kind, BalanceTransaction.reference_type)
        ).all()
        customers.append(
            {
                "code": [code],
                "invoice_id": ids(Invoice, Invoice.meter_id.in_(held), limit=1),
                "payment_id": ids(Payment, Payment.meter_id.in_(held), limit=1),
                "reading_id": ids(MeterReading, MeterReading.meter_id.in_(held), limit=1),
                "pricing_id": ids(CustomerPricing, CustomerPricing.customer_id == customer.id, limit=1),
                "assignment_id": ids(MeterAssignment, MeterAssignment.customer_id == customer.id, limit=1),
                "movement_id": sorted(movements),
            }
        )
    entries = db.session.scalars(sa.text("SELECT id FROM journal_entries ORDER BY id DESC LIMIT 3")).all()
    return {
        "customers": customers,
        "accounts": list(ACCOUNTS),
        "entry_id": entries,
        "job_id": [str(job) for job in ids(JobRecord)],
        "run_id": business["runs"],
        "import_id": ids(Import, limit=10),
        "user_id": ids(User),
        "manager_id": ids(AccountManager, limit=1),
        "meter_id": [db.session.scalar(sa.text("SELECT min(id) FROM meters"))],
        "order_id": ids(Order, limit=1),
        "target_id": ids(Target, limit=1),
        "month": [str(Month.of(local_today()))],
        "history": [{"kind": [kind], "record_id": ids(spec.model, limit=1)} for kind, spec in HISTORY_KINDS.items()],
    }


def bindings(endpoint: str, names: set[str], filled: dict) -> list[dict]:
    """Each set of values of the route's path arguments (but its ``any(…)``) the data fills."""
    if not names:
        return [{}]
    if endpoint == "history.show":
        groups = filled["history"]
    elif "code" in names and endpoint.startswith("books."):
        groups = [{"code": filled["accounts"]}]
    elif "code" in names and endpoint.endswith("_pdf"):
        groups = [customer for customer in filled["customers"] if customer["code"][0] in PRINTED]
    elif "code" in names:
        groups = filled["customers"]
    else:
        groups = [{name: filled[name] for name in names if name in filled}]
    found = []
    for group in groups:
        if not names <= group.keys() or not all(group[name] for name in names):
            continue
        combos = [{}]
        for name in sorted(names):
            combos = [combo | {name: value} for combo in combos for value in group[name]]
        found += combos
    return found


def addresses(app, endpoint: str, filled: dict) -> list[str]:
    """Every address of the route the data fills: each binding of its arguments, each value of its ``any(…)``,
    with and without each of its query strings (:data:`QUERIES`)."""
    found = []
    for rule in app.url_map.iter_rules(endpoint):
        if "GET" not in rule.methods:
            continue
        choices = {
            name: sorted(converter.items)
            for name, converter in rule._converters.items()
            if hasattr(converter, "items") and isinstance(converter.items, set)
        }
        for binding in bindings(endpoint, set(rule.arguments) - choices.keys(), filled):
            combos = [binding]
            for name, values in choices.items():
                combos = [combo | {name: value} for combo in combos for value in values]
            for combo in combos:
                for query in [{}, *queries(endpoint, combo)]:
                    with app.test_request_context():
                        found.append(url_for(endpoint, **combo, **query))
    return list(dict.fromkeys(found))


def queries(endpoint: str, combo: dict) -> list[dict]:
    """The query strings the address is read with, besides none: :data:`QUERIES`, and each tab of the customers
    :data:`TABBED`."""
    if endpoint == "customers.show":
        return [{"tab": tab} for tab in TABS] if combo["code"] in TABBED else []
    return QUERIES.get(endpoint, [])


class Visible(HTMLParser):
    """What a page shows: its text but its scripts' and styles', and of its attributes those a person reads (a
    tooltip, a placeholder, a label read aloud, a question asked before a button acts, a button's words); the others
    (a field's value, a column's key, an address) are the code's."""

    SHOWN = ("title", "placeholder", "aria-label", "alt", "data-confirm")
    HIDDEN = ("script", "style")

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in self.HIDDEN:
            self._hidden += 1
        self.texts += [attrs[name] for name in self.SHOWN if attrs.get(name)]
        if tag == "input" and attrs.get("type") in ("submit", "button", "reset") and attrs.get("value"):
            self.texts.append(attrs["value"])

    def handle_endtag(self, tag):
        if tag in self.HIDDEN and self._hidden:
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden and data.strip():
            self.texts.append(data)


def shown(response, endpoint: str) -> tuple[str, list[str]]:
    """What kind of answer it is, and what a person reads of it (but the columns :data:`CODE_COLUMNS` allows)."""
    kind = response.mimetype
    body = response.get_data()
    if kind == "text/html":
        page = Visible()
        page.feed(body.decode())
        return "page", page.texts
    if kind == "text/csv":
        text = body.decode("utf-8-sig")
        header = text.partition("\n")[0]
        delimiter = max(",;\t", key=header.count)
        return "CSV", cells(endpoint, list(csv.reader(io.StringIO(text), delimiter=delimiter)))
    if kind == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":
        book = openpyxl.load_workbook(io.BytesIO(body), read_only=True)
        return "workbook", [
            text
            for sheet in book.worksheets
            for text in [sheet.title, *cells(endpoint, list(sheet.iter_rows(values_only=True)))]
            if isinstance(text, str)
        ]
    if kind == "application/pdf":
        return "PDF", pdf_lines(body)
    if kind.startswith("text/"):
        return "text", body.decode().splitlines()
    raise AssertionError(f"an answer of {kind} the walk cannot read")


def cells(endpoint: str, rows: list) -> list:
    """Every cell of the rows, but those of the columns :data:`CODE_COLUMNS` allows (the heading row whole)."""
    allowed = CODE_COLUMNS.get(endpoint, ((), ""))[0]
    return [cell for n, row in enumerate(rows) for i, cell in enumerate(row) if not n or i not in allowed]


def pdf_lines(body: bytes) -> list[str]:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (Debian's poppler-utils) is not installed")
    with tempfile.NamedTemporaryFile(suffix=".pdf") as file:
        file.write(body)
        file.flush()
        read = subprocess.run(["pdftotext", "-layout", file.name, "-"], check=True, capture_output=True, text=True)
    return read.stdout.splitlines()


TYPED = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+|https?://\S+")
"""What a person typed and a code's words may look like: e-mail addresses, web addresses."""


def codes_in(texts: list[str], endpoint: str) -> list[str]:
    """Each ``None``, ``JE-None`` and code name of the texts (e-mail and web addresses, and what :data:`CODE_LINES`
    allows, taken out), with its text."""
    found = {}
    allowed = CODE_LINES.get(endpoint, (re.compile("(?!)"), ""))[0]
    for text in texts:
        kept = allowed.sub(" ", TYPED.sub(" ", text))
        line = " ".join(text.split())[:140]
        for pattern in (JE_NONE, NONE, CODE_NAME):
            for word in pattern.findall(kept):
                found.setdefault(word, f"{word!r} in {line!r}")
    return list(found.values())


@dataclass
class Read:
    url: str
    kind: str
    status: int
    found: list[str]


def walked(client, app, endpoint: str, filled: dict) -> list[Read]:
    reads = []
    for url in addresses(app, endpoint, filled):
        response = client.get(url, follow_redirects=True)
        if response.status_code != 200:
            reads.append(Read(url, "", response.status_code, []))
            continue
        kind, texts = shown(response, endpoint)
        reads.append(Read(url, kind, 200, codes_in(texts, endpoint)))
    return reads


def area(endpoint: str) -> str:
    """The blueprint of a route: the walk reads each blueprint's routes in a test of its own, per language."""
    return endpoint.rpartition(".")[0] or endpoint


AREAS = sorted({area(endpoint) for endpoint in WALKED})


def cases():
    for language in LANGUAGES:
        for name in AREAS:
            marks = []
            if (reason := XFAIL.get((language, name))) is not None:
                marks.append(pytest.mark.xfail(strict=True, reason=reason))
            yield pytest.param(language, name, marks=marks, id=f"{language}-{name}")


@pytest.mark.parametrize(("language", "blueprint"), list(cases()))
def test_no_page_or_download_shows_none_or_a_code_name(app, business, language, blueprint):
    choose_language(user_by("admin@example.com"), language)
    client = app.test_client()
    password = dict((email, password) for email, password, _role in demo.LOGINS)["admin@example.com"]
    response = client.post("/login", data={"email": "admin@example.com", "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)
    filled = arguments(business)
    report = []
    for endpoint in (endpoint for endpoint in WALKED if area(endpoint) == blueprint):
        reads = walked(client, app, endpoint, filled)
        report += [f"the data fills no address of {endpoint}"] if not reads else []
        report += [f"{read.url} answered {read.status}" for read in reads if read.status != 200]
        report += [f"{read.url} ({read.kind}): {found}" for read in reads for found in read.found]
    assert not report, "\n".join(report)


def test_every_get_route_is_walked_or_said_why_not(app):
    routes = {rule.endpoint for rule in app.url_map.iter_rules() if "GET" in rule.methods}
    assert routes - set(WALKED) - NOT_WALKED.keys() == set()
    assert set(WALKED) - routes == set() and NOT_WALKED.keys() - routes == set()
    assert set(WALKED).isdisjoint(NOT_WALKED)


def test_the_walk_finds_none_je_none_and_code_names_but_not_in_addresses():
    found = codes_in(
        ["Status PPN: zero_rated", "Jurnal JE-None", "NPWP: None", "keuangan_1@pajak.example", "Nonexistent"], "x"
    )
    assert found == [
        "'zero_rated' in 'Status PPN: zero_rated'",
        "'JE-None' in 'Jurnal JE-None'",
        "'None' in 'NPWP: None'",
    ]
    assert codes_in(["    ; source: balance_transaction #1"], "books.export_journal") == []
