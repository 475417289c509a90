"""Lists fit the screen: on a laptop's 1366 × 768 the columns a clerk came for are in view without a sideways scroll,
the least needed giving way first; on a phone's 390 × 844 each row is a card with its key, its amount and its state,
the other cells under their headings; a person's choice of columns is kept for them on the server. In Debian's
headless Chromium, in Bahasa Indonesia and in Vietnamese, over the demonstration data and a customer whose names and
amounts are as long as a real installation's."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice.models import ListColumns, User
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.services import approvals, demo, meter_invoices, meter_lifecycle, meter_payments, metering, wallet
from backoffice.web.columns import LISTS
from tests.checkout import ROOT
from tests.chromium import log_in
from tests.factories import AccountManagerFactory, CustomerFactory, UserFactory

LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
SIZES = pytest.mark.parametrize("size", [LAPTOP, PHONE], ids=["1366x768", "390x844"])
LANGUAGES = pytest.mark.parametrize("language", ["id", "vi"])
BIG = Decimal("9999999999.99")
SHOWN_BIG = "9.999.999.999,99"
LONG_NAME = "PT Perusahaan Gas Negara Distribusi Nusantara Sejahtera Abadi Makmur Tbk"
LONG_TEXT = (
    "Transfer from Bank Central Asia for the quarterly prepayment of the factory's gas supply, agreed with the "
    "customer's finance manager"
)
TEMPLATES = ROOT / "templates"


@pytest.fixture
def shop(csrf_app, kept):
    """The demonstration data, and a customer with long names and amounts of ten digits: a wallet, a meter with
    invoices in the aging report's buckets and a payment of several, a priced reading, an approval waiting."""
    return kept("fit", lambda: made(kept))


def made(kept) -> dict:
    kept("demo", demo.load)
    today = local_today()
    clerk = UserFactory(email="finance@fit.example", role="finance", name="Dewi Anggraini Kusumawardhani Putri")
    UserFactory(email="admin@fit.example", role="admin", name="Rina Kusuma")
    maker = UserFactory(email="maker.with.a.long.address@fit.example", role="admin", name="Bayu Saputra Wicaksono")
    manager = AccountManagerFactory(name="Raden Ajeng Kartika Sari Dewi Purnamasari", email="kartika@fit.example")
    # Exempt from VAT: its invoices ask their ten digits as typed.
    customer = CustomerFactory(code="C9001", name=LONG_NAME, account_manager=manager, tax_status="exempt")
    since = today - timedelta(days=150)
    # Beyond the approval limit: as a second admin approved it.
    wallet.recharge(customer.id, BIG, description=LONG_TEXT, user=clerk, value_date=since, by_hand=False)
    wallet.charge(customer.id, Decimal("1234567890.12"), description=LONG_TEXT, user=clerk)
    meter = meter_lifecycle.add_meter("MTR-C9001-UTAMA-00012345")
    meter_lifecycle.assign_meter(meter, customer, since)
    metering.set_pricing(customer.id, since, Decimal("9999.99"), Decimal("1.0234"))
    reading = metering.record_reading(meter.id, today - timedelta(days=3), Decimal("99999.99"), note=LONG_TEXT)
    invoices = []
    for n, days in enumerate((130, 75, 45, 20, 5)):
        issued = today - timedelta(days=days)
        number = f"INV-C9001-2026-{n + 1:04d}"
        invoices.append(meter_invoices.add_invoice(meter, number, BIG, issued, issued + timedelta(days=14), user=clerk))
    meter_payments.add_payment(
        meter,
        BIG + Decimal("5000000000.00"),
        today - timedelta(days=2),
        "Transfer BCA 2026-11 for INV-C9001-2026-0001 and INV-C9001-2026-0002",
        invoice_ids=[invoices[0].id, invoices[1].id],
        user=clerk,
    )
    movement = wallet.adjustment(
        customer, BIG + Decimal("100000000"), reason="other", description="Meter replaced: index agreed", user=maker
    )
    approvals.ask_adjustment(movement, user=maker, reason=f"{LONG_TEXT}; {LONG_TEXT}")
    return {"customer": customer.code, "reading": reading, "manager": manager.email}


@pytest.fixture
def open_as(browser, live_server, shop):
    """``open_as(email, size, language)``: a page of a new browser context (a new visit: no cookie, no storage),
    logged in as the user, whose pages are in ``language``."""
    contexts = []

    def open_page(email: str, size: dict, language: str = "id"):
        db.session.execute(sa.update(User).where(User.email == email).values(language=language))
        db.session.commit()
        context = browser.new_context(base_url=live_server, viewport=size)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        log_in(page, email)
        return page

    yield open_page
    for context in contexts:
        context.close()


# What a clerk came for on each list: a row of the long customer, found by what it says, and the columns of it
# (by the names the list's <colgroup> gives them) that must be in view, with what one of them says.
KEY_CELLS = {
    "the wallet ledger": (
        "/customers/C9001?tab=ledger",
        [("#ledger", "Bank Central Asia", ("number", "kind", "amount", "description", "by"))],
    ),
    "the billing tab": (
        "/customers/C9001?tab=billing",
        [
            ("#invoices", "INV-C9001-2026-0003", ("number", "amount", "outstanding", "status", "actions")),
            ("#payments", "Transfer BCA", ("paid", "amount", "pays", "unapplied", "actions")),
        ],
    ),
    "the aging report": (
        "/receivables/aging?customer=C9001",
        [
            ("#aging-summary", "", ("selected", "over-90", "total")),
            ("#aging", "INV-C9001-2026-0003", ("invoice", "days-31-60", "total")),
        ],
    ),
    "approvals": ("/approvals", [("#pending", "Bank Central Asia", ("number", "by", "what", "amount", "why"))]),
    "the customers list": ("/customers", [("#customers", "C9001", ("code", "name", "status", "balance"))]),
}

IN_VIEW = """([table, text, columns]) => {
  // Each column's cell in the first row of the table saying ``text``: where it is, and whether it is drawn.
  const row = [...document.querySelectorAll(`${table} tbody tr`)].find((row) => row.innerText.includes(text));
  if (!row) return {missing: `${table}: no row says ${text}`};
  const box = row.closest('.scroll');
  const found = {box: box ? [box.scrollWidth, box.clientWidth] : null, cells: {}};
  for (const column of columns) {
    const cell = row.querySelector(`:scope > [data-col="${column}"]`);
    if (!cell) { found.cells[column] = 'missing'; continue; }
    const r = cell.getBoundingClientRect();
    const drawn = r.width > 0 && r.height > 0 && getComputedStyle(cell).visibility === 'visible';
    found.cells[column] = {drawn, left: r.left, right: r.right, top: r.top, bottom: r.bottom, text: cell.innerText};
  }
  return found;
}"""


def out_of_view(page, table: str, text: str, columns) -> tuple[list[str], dict]:
    """What is wrong with the row's key cells on the page shown: a cell missing, not drawn, or out of the
    viewport; the table's box scrolling sideways; the page wider than the screen. And the cells, measured."""
    width = page.viewport_size["width"]
    found = page.evaluate(IN_VIEW, [table, text, list(columns)])
    if "missing" in found:
        return [found["missing"]], {}
    problems = []
    if found["box"] and found["box"][0] > found["box"][1] + 1:
        problems.append(f"{table} scrolls sideways: {found['box'][0]} px in a box of {found['box'][1]}")
    for column, cell in found["cells"].items():
        if cell == "missing":
            problems.append(f"{table}: no cell of the column {column}")
        elif not cell["drawn"]:
            problems.append(f"{table}: the {column} of {text!r} is not drawn")
        elif cell["left"] < -0.5 or cell["right"] > width + 0.5:
            problems.append(f"{table}: the {column} of {text!r} is at {cell['left']:.0f}–{cell['right']:.0f} px")
    page_width = page.evaluate("document.documentElement.scrollWidth")
    if page_width > width:
        problems.append(f"the page is {page_width} px wide")
    return problems, found["cells"]


@pytest.mark.browser
@LANGUAGES
@SIZES
def test_each_list_shows_the_columns_a_clerk_came_for_inside_the_screen(open_as, size, language):
    page = open_as("admin@fit.example", size, language)
    problems = []
    for name, (path, tables) in KEY_CELLS.items():
        page.goto(path)
        for table, text, columns in tables:
            found, cells = out_of_view(page, table, text, columns)
            problems += [f"{name}: {problem}" for problem in found]
            if "amount" in cells and text.startswith("INV"):
                assert SHOWN_BIG in cells["amount"]["text"], (name, cells["amount"])
    assert not problems, f"at {size['width']} px in {language}:\n" + "\n".join(problems)


@pytest.mark.browser
@LANGUAGES
def test_on_a_phone_each_row_is_a_card_key_and_amount_on_top_its_state_under_them(open_as, language):
    page = open_as("admin@fit.example", PHONE, language)
    page.goto("/customers")
    row = page.locator("#customers tbody tr", has_text="C9001")
    key, amount, state = (row.locator(f"[data-col={name}]").bounding_box() for name in ("code", "balance", "status"))
    assert abs(key["y"] - amount["y"]) < 8 and key["x"] < amount["x"], (key, amount)
    assert state["y"] >= key["y"] + key["height"] - 1, (key, state)
    # The other cells under the heading of their column, which the card says beside them.
    name = row.locator("[data-col=name]")
    heading = page.locator("#customers thead th").nth(1).inner_text().strip()
    assert name.get_attribute("data-label") == heading
    assert name.evaluate("cell => getComputedStyle(cell, '::before').content") == f'"{heading}"'
    assert page.locator("#customers thead").bounding_box()["height"] <= 1  # the headings are said, not drawn

    page.goto("/customers/C9001/statement")
    for line in page.locator("#statement-lines tbody tr").all():
        balance = line.locator("[data-col=balance]")
        assert balance.is_visible() and balance.bounding_box()["x"] + balance.bounding_box()["width"] <= 390
    closing = page.locator("#statement-lines tbody tr.closing [data-col=balance]")
    assert re.search(r"\d\.\d{3},\d\d", closing.inner_text()), closing.inner_text()


@pytest.mark.browser
@LANGUAGES
@SIZES
def test_approvals_shows_who_asked_what_how_much_and_why_beside_its_buttons(open_as, size, language):
    page = open_as("admin@fit.example", size, language)
    page.goto("/approvals")
    row = page.locator("#pending tbody tr", has_text="Bank Central Asia")
    shown = row.bounding_box()
    assert shown["x"] >= 0 and shown["x"] + shown["width"] <= size["width"], shown
    for part in ("[data-col=by]", "[data-col=what]", "[data-col=amount]", "[data-col=why]", "button[id^=approve-]"):
        box = row.locator(part).bounding_box()
        assert box is not None, part
        assert box["x"] >= shown["x"] and box["x"] + box["width"] <= shown["x"] + shown["width"] + 0.5, (part, box)
    assert "Bayu Saputra Wicaksono" in row.locator("[data-col=by]").inner_text()
    assert "C9001" in row.locator("[data-col=what]").inner_text()
    assert "10.099.999.999,99" in row.locator("[data-col=amount]").inner_text()
    assert "Bank Central Asia" in row.locator("[data-col=why]").inner_text()
    reject = row.locator("button[id^=reject-]").bounding_box()
    if size is LAPTOP:  # beside the buttons: the row is no taller than the screen, its buttons in view
        assert shown["height"] <= LAPTOP["height"] and reject["y"] + reject["height"] <= shown["y"] + shown["height"]


@pytest.mark.browser
@LANGUAGES
def test_the_route_sheet_and_a_readings_tables_fit_a_laptop(open_as, shop, language):
    page = open_as("finance@fit.example", LAPTOP, language)
    page.goto(f"/readings/sheet?manager={shop['manager']}&on={local_today().isoformat()}")
    key = ("meter", "customer", "index", "check", "counted")
    problems, _ = out_of_view(page, "table.route-sheet", "MTR-C9001", key)
    assert not problems, problems
    page.goto(f"/customers/C9001/readings/{shop['reading']}")
    assert page.evaluate("document.documentElement.scrollWidth") <= LAPTOP["width"]
    for box in page.locator("main .scroll").all():
        assert box.evaluate("box => box.scrollWidth <= box.clientWidth"), box.inner_html()[:200]


@pytest.mark.browser
@LANGUAGES
def test_the_tax_register_shows_each_invoice_s_vat_and_total_inside_a_laptop_s_screen(open_as, language):
    page = open_as("admin@fit.example", LAPTOP, language)
    page.goto(f"/books/tax-register?month={local_today() - timedelta(days=5):%Y-%m}")
    key = ("date", "invoice", "customer", "tax_number", "net", "vat_rate", "vat", "total")
    problems, cells = out_of_view(page, "#tax-register", "INV-C9001-2026-0005", key)
    assert not problems, problems
    assert SHOWN_BIG in cells["total"]["text"] and "None" not in cells["tax_number"]["text"]


@pytest.mark.browser
@pytest.mark.parametrize("language", ["en", "id", "vi"])
def test_the_admins_menu_stays_on_one_line_at_1366_pixels_with_the_rest_under_more(open_as, language):
    page = open_as("admin@fit.example", LAPTOP, language)
    page.goto("/approvals")
    middles = page.evaluate(
        "[...document.querySelectorAll('.topbar nav > a, .topbar .more-button, .topbar .logout button')]"
        ".map((shown) => { const box = shown.getBoundingClientRect(); return box.top + box.height / 2; })"
    )
    assert max(middles) - min(middles) < 6, middles
    assert page.evaluate("document.querySelector('.topbar').getBoundingClientRect().height") < 60
    users = page.locator(".topbar .more-links a[href='/admin/users']")
    assert not users.is_visible()
    page.click("#more-button")
    assert users.is_visible() and page.locator("#more-button").get_attribute("aria-expanded") == "true"
    with page.expect_navigation():
        users.click()
    assert page.locator(".topbar .more").get_attribute("class") == "more current"
    assert page.locator(".topbar .more-links a[href='/admin/users']").get_attribute("aria-current") == "page"


@pytest.mark.browser
def test_a_chosen_set_of_columns_is_remembered_on_the_next_visit(open_as):
    page = open_as("admin@fit.example", LAPTOP)
    page.goto("/customers/C9001?tab=ledger")
    gave_way = page.locator("#ledger thead th[data-off]").first.get_attribute("data-col")  # to the width
    assert gave_way in ("posted", "before", "corrections"), gave_way
    chooser = page.locator("details.columns[data-list=customer-ledger]")
    chooser.locator("summary").click()
    for column in (gave_way, "kind"):
        with page.expect_response(lambda answer: answer.url.endswith("/account/columns/customer-ledger")) as answer:
            chooser.locator(f"input[value={column}]").click()
        assert answer.value.status == 204
    assert page.locator(f"#ledger th[data-col={gave_way}]").is_visible()
    assert not page.locator("#ledger th[data-col=kind]").is_visible()
    user = db.session.scalar(sa.select(User.id).where(User.email == "admin@fit.example"))
    assert db.session.get(ListColumns, (user, "customer-ledger")).columns == {gave_way: True, "kind": False}

    again = open_as("admin@fit.example", LAPTOP)  # another browser: nothing kept in it
    again.goto("/customers/C9001?tab=ledger")
    assert again.locator(f"#ledger th[data-col={gave_way}]").is_visible()
    assert not again.locator("#ledger th[data-col=kind]").is_visible()
    phone = open_as("admin@fit.example", PHONE)  # a column hidden on the desktop is hidden on the phone's cards
    phone.goto("/customers/C9001?tab=ledger")
    assert phone.locator("#ledger tbody td[data-col=kind]").count() > 0
    assert not any(cell.is_visible() for cell in phone.locator("#ledger tbody td[data-col=kind]").all())
    assert phone.locator(f"#ledger tbody td[data-col={gave_way}]").first.is_visible()
    chooser = again.locator("details.columns[data-list=customer-ledger]")
    chooser.locator("summary").click()
    assert chooser.locator(f"input[value={gave_way}]").is_checked()
    assert not chooser.locator("input[value=kind]").is_checked()
    assert chooser.locator("input[value=number]").is_disabled()  # a list's key is always shown
    with again.expect_response(lambda answer: answer.url.endswith("/account/columns/customer-ledger")):
        chooser.locator("[data-usual]").click()
    assert again.locator("#ledger th[data-col=kind]").is_visible()
    assert not again.locator(f"#ledger th[data-col={gave_way}]").is_visible()
    db.session.expire_all()
    assert db.session.get(ListColumns, (user, "customer-ledger")) is None


def test_a_choice_of_columns_is_kept_for_the_person_who_made_it(client, finance):
    other = UserFactory(email="other@fit.example")
    answer = client.post("/account/columns/customer-ledger", data={"shown": ["by"], "hidden": ["posted", "before"]})
    assert answer.status_code == 204
    assert db.session.get(ListColumns, (finance.id, "customer-ledger")).columns == {
        "by": True,
        "posted": False,
        "before": False,
    }
    assert db.session.get(ListColumns, (other.id, "customer-ledger")) is None
    page = client.get("/customers").get_data(as_text=True)
    assert """data-list="customers" data-chosen='{}'""" in page

    assert client.post("/account/columns/customer-ledger", data={"hidden": ["by"]}).status_code == 204
    db.session.expire_all()
    assert db.session.get(ListColumns, (finance.id, "customer-ledger")).columns == {"by": False}
    assert client.post("/account/columns/customer-ledger").status_code == 204
    db.session.expire_all()
    assert db.session.get(ListColumns, (finance.id, "customer-ledger")) is None


@pytest.mark.parametrize(
    ("address", "data", "status", "message"),
    [
        ("/account/columns/no-such-list", {"shown": ["by"]}, 404, "There is no list 'no-such-list'"),
        ("/account/columns/customers", {"shown": ["Balance!"]}, 400, "No list has a column named 'Balance!'."),
        ("/account/columns/customers", {"shown": ["x" * 41]}, 400, "No list has a column named"),
        ("/account/columns/customers", {"shown": ["name"], "hidden": ["name"]}, 400, "not both: name."),
        (
            "/account/columns/customers",
            {"hidden": [f"c{n}" for n in range(41)]},
            400,
            "A list has at most 40 columns to choose from.",
        ),
    ],
    ids=["unknown list", "a name no column has", "a name too long", "shown and hidden", "too many"],
)
def test_columns_that_cannot_be_kept_are_refused_with_a_message_and_nothing_written(
    client, finance, address, data, status, message
):
    answer = client.post(address, data=data)
    assert answer.status_code == status
    assert message in answer.get_json()["message"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ListColumns)) == 0


def test_every_list_with_a_columns_chooser_is_one_the_server_keeps_choices_for():
    named = {
        name
        for template in TEMPLATES.rglob("*.html")
        for name in re.findall(r"column_chooser\('([^']+)'\)", template.read_text(encoding="utf-8"))
    }
    assert named == LISTS
