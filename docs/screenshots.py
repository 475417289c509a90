"""The pictures in docs/images/, made by Debian's headless chromium over the demo data: ``make screenshots``, or
``.venv/bin/python -m docs.screenshots [NAME ...]`` from the repository's root (``orders``, ``order-form``…; every
picture by default).

The app runs on a fresh embedded PostgreSQL in a temporary directory, never on the instance folder's database, and with
its secrets given in the environment, so that none is read from the instance folder or made there; every other
setting is left at its default. The database is migrated and holds the demo data of ``make run`` as of :data:`DAY`,
and what the demo has not: approvals waiting for a second admin, and a reconciliation run that found discrepancies
(figures overwritten past the application, as a bad import would). A thread serves it on a free port of 127.0.0.1.
Each picture is taken in a browser of its own, in English (the clerks' main screens also in Indonesian, ``-id``), at
a laptop's 1366 × 768 or a phone's 390 × 844, logged in with the demo's logins as the role whose screen it is: the
finance clerk for the orders, the customer, the statements and the aging report, the admins for the reconciliation
and the approvals.

The same data makes the same pictures, but for what the application stamps with the clock: when a movement was
posted, when an approval was asked, when a run started; and for the value dates the forms offer, today.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from flask_migrate import upgrade
from playwright.sync_api import expect

from backoffice import create_app, register_migrations
from backoffice.models import Customer, Invoice, Order, Role, RunMode, RunTrigger, User
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.posting import journal
from backoffice.reconcile.engine import run
from backoffice.services import approvals, books, demo, wallet
from tests import chromium
from tests.factories import corrupt

IMAGES = Path(__file__).resolve().parent / "images"
DAY = date(2026, 11, 20)
"""The demo's today, so that its dates and the periods shown are the same at every run (today, if earlier)."""
FIRST_DAY = date(2026, 6, 1)
"""The first day of the demo's six months."""
LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}


def _logins(role) -> list[tuple[str, str]]:
    """The demo's logins (``make run`` prints them) of a role: email and password."""
    return [(email, password) for email, password, of in demo.LOGINS if of is role]


(CLERK,) = _logins(Role.FINANCE)
ADMIN, SECOND_ADMIN = _logins(Role.ADMIN)
CUSTOMER = ("C0004", demo.CUSTOMERS[3])
"""The customer whose ledger and statement are shown (the demo's fourth: Hotel Cempaka)."""
MISTAKEN = "C0011"
"""The demo customer whose wallet balance is overwritten for the reconciliation run to find."""
PAYER, PAID_INVOICE = "C0002", "INV-C0002-04"
"""A postpaid customer with older invoices open, paying a newer one."""
OVERWRITTEN_ORDERS = ("DEMO-00003", "DEMO-00017")
"""Demo orders of the first month (off the orders list's first page) whose grand totals are overwritten."""


@dataclass(frozen=True)
class Screen:
    login: tuple[str, str]
    """Who is logged in: email and password."""
    size: dict
    show: Callable
    """Brings the page to what the picture shows."""
    full_page: bool = False
    """The whole page, not only what the window shows."""
    language: str = "en"
    """The language the browser asks for: ``en``, or ``id`` for the clerks' screens as a clerk in Indonesia reads
    them."""
    document: Callable[[], str] | None = None
    """The address of a PDF the picture is the first page of (poppler's ``pdftoppm`` draws it), instead of a page."""


def orders_list(page) -> None:
    page.goto("/orders")
    expect(page.locator("#orders td.grand-total").first).to_be_visible()


def order_form(page) -> None:
    """A new order with its amounts typed and the grand total worked out live, before it is saved."""
    page.goto("/orders/new")
    page.fill("#closing_date", DAY.isoformat())
    chromium.pick(page, "customer_id", CUSTOMER[1], " — ".join(CUSTOMER))
    for name, amount in (("total_price", "42.500.000"), ("additions", "1.250.000"), ("promo", "2.000.000")):
        page.fill(f"#{name}", "")
        page.locator(f"#{name}").press_sequentially(amount)
    page.fill("#reductions", "350.000")
    expect(page.locator("#grand-total")).to_have_text("Rp41.400.000,00")
    page.locator("#reductions").blur()


def customer_ledger(page) -> None:
    page.goto(f"/customers/{CUSTOMER[0]}?tab=ledger")
    expect(page.locator("#ledger tbody tr").first).to_be_visible()


def statement(page) -> None:
    """The customer's statement over the demo's months."""
    page.goto(f"/customers/{CUSTOMER[0]}/statement?since={FIRST_DAY}&until={DAY}")
    expect(page.locator("#statement-lines tbody tr").first).to_be_visible()


def payment_form(page) -> None:
    """A payment typed on the billing tab: its reference names an open invoice, which the form ticks."""
    page.goto(f"/customers/{PAYER}?tab=billing")
    page.fill("#payment-amount", "7.400.000")
    page.locator("#payment-reference").press_sequentially(f"Transfer {PAID_INVOICE}")
    expect(page.locator("#payment-invoices input:checked")).to_have_count(1)
    page.locator("#payment-invoices").scroll_into_view_if_needed()


def billing_statement(page) -> None:
    """The customer's postpaid statement of account over the demo's months."""
    page.goto(f"/customers/{CUSTOMER[0]}/billing-statement?since={FIRST_DAY}&until={DAY}")
    expect(page.locator("#statement-lines")).to_contain_text("INV-")


def invoice_pdf() -> str:
    """The PDF of the demo's fourth customer's latest invoice, as it is sent to them."""
    customer = db.session.scalar(sa.select(Customer).where(Customer.code == CUSTOMER[0]))
    number = f"INV-{customer.code}-{demo.MONTHS - 1:02d}"
    invoice = db.session.scalar(sa.select(Invoice).where(Invoice.number == number))
    return f"/customers/{customer.code}/invoices/{invoice.id}.pdf"


def statement_pdf() -> str:
    """The PDF of the same customer's prepaid statement of the demo's last whole month."""
    month = (min(DAY, local_today()).replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    return f"/customers/{CUSTOMER[0]}/statement.pdf?month={month}"


def aging_report(page) -> None:
    """The open invoices of every customer by days past due."""
    page.goto("/receivables/aging")
    expect(page.locator("#aging-summary")).to_be_visible()


def reconciliation_run(page) -> None:
    """The newest run, opened from the reconciliation page."""
    page.goto("/reconciliation")
    chromium.follow(page, "#runs tbody tr >> nth=0 >> a")
    expect(page.locator("table.data").last).to_contain_text("Order grand totals")


LEGACY_CUSTOMERS = (
    "Daftar pelanggan — ekspor sistem lama\n"
    ";;;\n"
    "Kode pelanggan;Nama;Email manajer akun;Alamat\n"
    "L0001;Hotel Seruni;;Jl. Asia Afrika 12, Bandung\n"
    "L0002;PT Baja Mulia;;Kawasan Industri Pulogadung\n"
    "L 03;Warung Sate Pak Kumis;;Jl. Sabang 7\n"
    'L0004;=HYPERLINK("http://contoh");;\n'
    "L0005;Klinik Sehat Sentosa;nobody@example.com;\n"
    "L0002;PT Baja Mulia (cabang);;\n"
).encode("cp1252")
"""A customers file as a legacy system exports it, with a title above its header and rows an import refuses."""


def import_preview(page) -> None:
    """A customers file checked on the Imports page: what it would write, and each rejected row with why."""
    page.goto("/imports")
    page.select_option("#kind", "customers")
    page.set_input_files("#file", files=[{"name": "pelanggan.csv", "mimeType": "text/csv", "buffer": LEGACY_CUSTOMERS}])
    chromium.follow(page, "#upload button[type=submit]")
    expect(page.locator("#rejections tbody tr")).to_have_count(4)


def import_report(page) -> None:
    """The same file's valid rows imported alone: the report, proven against what backoffice holds."""
    import_preview(page)
    chromium.follow(page, "#import-valid")
    expect(page.locator("#import-report")).to_contain_text("Verify")


def route_sheet(page) -> None:
    """A manager's route of the day: the first meter's index typed (counted from the index it was put in at), checked
    by the server as the clerk moves on."""
    page.goto("/readings/sheet")
    chromium.pick(page, "manager", demo.MANAGERS[0][0], demo.MANAGERS[0][0])
    page.fill("#on", (DAY - timedelta(days=1)).isoformat())  # the demo reads its meters on the 20th
    chromium.follow(page, "form.filters button[type=submit]")
    first = page.locator("#route-sheet tbody tr").first
    first.locator("select").first.select_option("replaced")
    first.locator("input[aria-label^='Start index']").fill("1000")
    first.locator("[data-sheet=index]").fill("1420")
    first.locator("[data-sheet=index]").press("Enter")
    expect(first).to_contain_text("420")
    page.locator("#route-sheet .scroll").evaluate("table => { table.scrollLeft = 0; }")


def waiting_approvals(page) -> None:
    page.goto("/approvals")
    expect(page.locator("#pending button", has_text="Approve")).to_have_count(2)


def search(page) -> None:
    """The header's search, reached with the "/" key, a name typed with a slip and a word missing."""
    page.goto("/orders")
    page.keyboard.press("/")
    page.keyboard.type("Nusantra gas", delay=40)
    expect(page.locator("#search-results [role=option]").first).to_be_visible()


def customers_phone(page) -> None:
    """The customers list on a phone: each customer a card, its code, balance and state on top."""
    page.goto("/customers")
    expect(page.locator("table.list tbody tr").first).to_be_visible()


def notices(page) -> None:
    """What happened while the admin was elsewhere: their request approved, another waiting for their decision."""
    page.goto("/notices")
    expect(page.locator("main li, main tr").first).to_be_visible()


SCREENS = {
    "orders": Screen(CLERK, LAPTOP, orders_list),
    "order-form": Screen(CLERK, LAPTOP, order_form),
    "customer-ledger": Screen(CLERK, LAPTOP, customer_ledger, full_page=True),
    "statement": Screen(CLERK, LAPTOP, statement, full_page=True),
    "payment-form": Screen(CLERK, LAPTOP, payment_form),
    "billing-statement": Screen(CLERK, LAPTOP, billing_statement, full_page=True),
    "aging-report": Screen(CLERK, LAPTOP, aging_report, full_page=True),
    "reconciliation-run": Screen(ADMIN, LAPTOP, reconciliation_run, full_page=True),
    "approvals": Screen(SECOND_ADMIN, LAPTOP, waiting_approvals, full_page=True),
    "import-preview": Screen(ADMIN, LAPTOP, import_preview, full_page=True),
    "import-report": Screen(ADMIN, LAPTOP, import_report, full_page=True),
    "route-sheet": Screen(CLERK, LAPTOP, route_sheet, full_page=True),
    "search": Screen(CLERK, LAPTOP, search),
    "customers-phone": Screen(CLERK, PHONE, customers_phone, full_page=True),
    "notices": Screen(SECOND_ADMIN, LAPTOP, notices),
    "orders-phone": Screen(CLERK, PHONE, orders_list),
    "orders-id": Screen(CLERK, LAPTOP, orders_list, language="id"),
    "customer-ledger-id": Screen(CLERK, LAPTOP, customer_ledger, full_page=True, language="id"),
    "statement-id": Screen(CLERK, LAPTOP, statement, full_page=True, language="id"),
    "payment-form-id": Screen(CLERK, LAPTOP, payment_form, language="id"),
    "aging-report-id": Screen(CLERK, LAPTOP, aging_report, full_page=True, language="id"),
    "invoice-pdf": Screen(CLERK, LAPTOP, None, document=invoice_pdf),
    "statement-pdf": Screen(CLERK, LAPTOP, None, document=statement_pdf),
}
"""Each picture (docs/images/NAME.png) and how it is taken."""


def shoot(browser, base_url: str, name: str, directory: Path) -> Path:
    """Take picture ``name`` of the app served at ``base_url`` into ``directory``; returns its path.

    Refuses (raises) when a request of the page was answered with an error, a script of the page failed, or the
    Content-Security-Policy blocked something: the picture would show a broken screen."""
    screen = SCREENS[name]
    context = browser.new_context(
        base_url=base_url,
        viewport=screen.size,
        device_scale_factor=1,
        locale={"en": "en-US", "id": "id-ID"}[screen.language],
        extra_http_headers={"Accept-Language": screen.language},
    )
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        wrong = []
        page.on("response", lambda r: wrong.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        page.on("pageerror", lambda error: wrong.append(f"script: {error}"))
        page.on("console", lambda m: wrong.append(m.text) if "Content Security Policy" in m.text else None)
        chromium.log_in(page, *screen.login)
        path = directory / f"{name}.png"
        if screen.document is not None:
            return _first_page(context, screen.document(), path)
        screen.show(page)
        page.wait_for_load_state("networkidle")
        if wrong:
            raise RuntimeError(f"The page of {name}.png went wrong: " + "; ".join(wrong))
        page.screenshot(path=path, full_page=screen.full_page, animations="disabled", caret="hide")
        return path
    finally:
        context.close()


def _first_page(context, address: str, path: Path) -> Path:
    """The first page of the PDF at ``address``, downloaded as the logged-in browser would, drawn into ``path``."""
    response = context.request.get(address)
    if not response.ok or response.headers["content-type"] != "application/pdf":
        raise RuntimeError(f"{address} answered {response.status} {response.headers['content-type']}")
    with tempfile.TemporaryDirectory() as folder:
        pdf = Path(folder) / "document.pdf"
        pdf.write_bytes(response.body())
        subprocess.run(
            ["pdftoppm", "-png", "-r", "80", "-singlefile", "-f", "1", str(pdf), str(path.with_suffix(""))], check=True
        )
    return path


def stage(today: date) -> None:
    """What the pictures need beyond the demo data: two requests above the approval limit waiting for a second
    admin and one decided, and a verify run by an admin that found the figures overwritten."""

    def user(login: tuple[str, str]) -> User:
        return db.session.scalar(sa.select(User).where(User.email == login[0]))

    def customer(code: str) -> Customer:
        return db.session.scalar(sa.select(Customer).where(Customer.code == code))

    admin, controller = user(ADMIN), user(SECOND_ADMIN)

    def ask(code: str, amount: Decimal, description: str, *, by: User):
        """A balance adjustment for a data entry error, asked as the customer's page asks for it."""
        movement = wallet.adjustment(
            customer(code), amount, reason="data_entry_error", description=description, user=by, value_date=today
        )
        return approvals.ask_adjustment(movement, user=by, reason=f"Data entry error: {description}")

    keyed = ask("C0008", Decimal("112_500_000"), "Transfer of 3 November keyed as Rp12.500.000", by=controller)
    approvals.approve(keyed.id, admin)
    ask("C0012", Decimal("135_000_000"), "Transfer of 10 November keyed as Rp15.000.000", by=admin)
    capital = Decimal("300_000_000")
    books.write_entry(
        today,
        "Owner's capital paid in by bank transfer",
        [journal.Line("1000", debit=capital), journal.Line("3000", credit=capital)],
        user=admin,
    )
    for number in OVERWRITTEN_ORDERS:
        order = db.session.scalar(sa.select(Order).where(Order.number == number))
        corrupt("orders", "grand_total", order.id, order.grand_total - Decimal("500000"))
    mistaken = customer(MISTAKEN)
    corrupt("customers", "balance", mistaken.id, mistaken.balance + Decimal("2500000"))
    run(RunMode.VERIFY, trigger=RunTrigger.USER, user=admin)


def main(names: list[str]) -> None:
    unknown = set(names) - set(SCREENS)
    if unknown:
        sys.exit(f"Unknown picture(s): {', '.join(sorted(unknown))}; they are: {', '.join(SCREENS)}")
    path = chromium.executable()
    if path is None:
        sys.exit("Debian's chromium is not installed: 'make screenshots' installs it.")
    started = time.perf_counter()
    IMAGES.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="backoffice-screenshots-") as directory, _embedded(Path(directory)) as url:
        app = _app(url)
        with app.app_context():
            logging.disable(logging.INFO)  # not a line per migration
            upgrade()
            logging.disable(logging.NOTSET)
            today = min(DAY, local_today())
            demo.load(today)
            stage(today)
        print(f"Demo data loaded as of {today} ({time.perf_counter() - started:.1f} s).")
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request
        with chromium.served(app) as url, chromium.headless(path) as browser, app.app_context():
            for name in names or SCREENS:
                shot = shoot(browser, url, name, IMAGES)
                print(f"{shot} ({time.perf_counter() - started:.1f} s)")
    print(f"Done in {time.perf_counter() - started:.1f} s.")


@contextmanager
def _embedded(directory: Path) -> Iterator[str]:
    """A PostgreSQL of the pictures' own, with its data in ``directory`` (``backoffice embedded``): its owner's URL;
    stopped after."""
    data = str(directory / "postgres")
    command = [str(Path(sys.executable).with_name("backoffice")), "embedded"]
    subprocess.run([*command, "start", "--data", data], check=True)
    try:
        yield subprocess.run(
            [*command, "url", "--owner", "--data", data], check=True, capture_output=True, text=True
        ).stdout.strip()
    finally:
        subprocess.run([*command, "stop", "--data", data], check=True)


def _app(url: str):
    """The app on the new database ``url``, speaking English, with the secrets of a demonstration and every other
    setting at its default (the environment's are left out)."""
    for name in [name for name in os.environ if name.startswith("BACKOFFICE_")]:
        del os.environ[name]
    os.environ.update(
        DATABASE_URL=url,
        SECRET_KEY="screenshots",
        BACKOFFICE_SEAL_KEY="screenshots-seal-key-of-thirty-two-characters",
        BACKOFFICE_API_TOKEN="screenshots",
        BACKOFFICE_LANGUAGE="en",
        BACKOFFICE_LOG_LEVEL="WARNING",
    )
    os.environ.pop("REDIS_URL", None)
    app = create_app()
    register_migrations(app)
    return app


if __name__ == "__main__":
    main(sys.argv[1:])
