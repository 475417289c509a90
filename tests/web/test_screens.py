"""The screens fit: a laptop's 1366 × 768 and a phone's 390 × 844, on the main pages of each role, in Debian's
headless Chromium, with axe-core (installed by ``make axe`` from package-lock.json) finding nothing critical or
serious on them; on a phone in Bahasa Indonesia too (its words are longer), and in a user's own language."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice import jobs
from backoffice.models import Customer, Order, RunMode, User
from backoffice.platform.extensions import db
from backoffice.reconcile.engine import run
from backoffice.services import approvals, demo, wallet
from tests.checkout import ROOT
from tests.chromium import log_in
from tests.conftest import require_service
from tests.factories import UserFactory, corrupt

pytestmark = pytest.mark.browser
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
LONG_REASON = (
    "The customer's meter was replaced on the 14th after the seal broke; the technician's report, the photographs "
    "of both dials and the supplier's confirmation of the new meter's first index are attached to the ticket, and "
    "the difference was agreed with the customer's finance manager by telephone on the 17th."
)


@pytest.fixture
def business(csrf_app, kept):
    """Demonstration data, and what the demo has not: a run with discrepancies, an approval waiting with a long
    reason, jobs that ran; made once per process (``kept``)."""
    return kept("screens", lambda: made(csrf_app, kept))


def made(app, kept) -> dict:
    """The business made: the demo (``kept`` too), then what the demo has not."""
    kept("demo", demo.load)
    UserFactory(email="finance@screens.example", role="finance", name="Finance Clerk")
    admin = UserFactory(email="admin@screens.example", role="admin", name="Admin One")
    maker = UserFactory(email="maker.with.a.long.address@screens.example", role="admin", name="Maker")
    customer = db.session.scalar(sa.select(Customer).order_by(Customer.id))
    big = app.config["APPROVAL_ABOVE"] + Decimal("12345678.90")
    movement = wallet.adjustment(customer, big, reason="other", description="Meter replaced: index agreed", user=maker)
    approvals.ask_adjustment(movement, user=maker, reason=LONG_REASON)
    for order_id in db.session.scalars(sa.select(Order.id).order_by(Order.id).limit(3)):
        corrupt("orders", "grand_total", order_id, "1")
    corrupt("customers", "balance", customer.id, "123456789.12")
    discrepancies = run(RunMode.VERIFY)
    jobs.enqueue("verify", {})
    return {"customer": customer.code, "run": discrepancies.id, "admin": admin.email}


def pages(business, role: str) -> list[str]:
    common = [
        "/",
        "/orders",
        "/orders/new",
        "/customers",
        f"/customers/{business['customer']}?tab=ledger",
        f"/customers/{business['customer']}?tab=metering",
        "/meters",
        "/books/journal",
        f"/reconciliation/runs/{business['run']}",
        "/jobs",
    ]
    return common + (["/approvals", "/admin/users"] if role == "admin" else [])


def problems_on(page) -> list[str]:
    """What does not fit the screen, or what axe-core finds critical or serious, on the page shown."""
    found = []
    page_width, window = page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
    if page_width > window:
        found.append(f"the page is {page_width} px wide on a {window} px screen")
    found += page.evaluate(HIDDEN_CELLS)
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    for violation in result["violations"]:
        if violation["impact"] in ("critical", "serious"):
            targets = [", ".join(node["target"]) for node in violation["nodes"]][:3]
            found.append(f"axe {violation['impact']}: {violation['id']} ({violation['help']}) at {targets}")
    return found


HIDDEN_CELLS = """() => {
  // Each table either fits its box, or scrolls inside it with its first column and its actions in view.
  const found = [];
  for (const table of document.querySelectorAll('main table')) {
    if (!table.offsetParent) continue;
    const box = table.closest('.scroll');
    const edge = box ? box.getBoundingClientRect() : {left: 0, right: innerWidth};
    const name = table.id || 'a table';
    if (box && getComputedStyle(box).overflowX !== 'auto') found.push(`${name}: its box does not scroll`);
    for (const row of table.rows) {
      const cells = [row.cells[0], ...row.querySelectorAll('.row-actions')];
      if (box && box.scrollWidth <= box.clientWidth) cells.push(row.cells[row.cells.length - 1]);
      for (const cell of cells) {
        if (!cell || cell.colSpan > 1) continue;  // a row saying the table is empty
        const r = cell.getBoundingClientRect();
        if (r.width && (r.left < edge.left - 1 || r.right > edge.right + 1)) {
          found.push(`${name}: "${cell.innerText.trim().slice(0, 30)}" is out of view`);
          break;
        }
      }
    }
  }
  return [...new Set(found)];
}"""


@pytest.fixture
def screens(browser, live_server, business):
    if not AXE.exists():
        require_service("axe-core", "node_modules/axe-core is not installed (make test installs it with npm)")
    contexts = []

    def open_as(email: str, size: dict, language: str | None = None):
        # axe-core is injected as an inline script, which the Content-Security-Policy would block.
        # ``language``: the browser's (its Accept-Language); none, English.
        context = browser.new_context(
            base_url=live_server,
            viewport=size,
            bypass_csp=True,
            locale=language or "en-US",
            extra_http_headers={"Accept-Language": language or "en"},
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        log_in(page, email)
        return page

    yield open_as
    for context in contexts:
        context.close()


@pytest.mark.parametrize("role", ["finance", "admin"])
@pytest.mark.parametrize("size", [LAPTOP, PHONE], ids=["1366x768", "390x844"])
def test_the_main_pages_fit_the_screen_and_axe_finds_nothing_serious(screens, business, role, size):
    page = screens(f"{role}@screens.example", size)
    found = {}
    for path in pages(business, role):
        page.goto(path)
        if problems := problems_on(page):
            found[path] = problems
    assert not found, "\n".join(f"{path}: {problem}" for path, problems in found.items() for problem in problems)


def test_on_a_phone_the_navigation_is_a_menu_that_opens_with_the_account_in_it(screens, business):
    from playwright.sync_api import expect

    page = screens(business["admin"], PHONE)
    menu = page.locator("#menu-button")
    expect(menu).to_be_visible()
    expect(page.locator(".topbar nav")).to_be_hidden()
    expect(page.locator(".topbar .logout")).to_be_hidden()
    menu.click()
    for shown in (".topbar nav >> text=Customers", "#nav-approvals", ".topbar .logout >> text=Log out"):
        expect(page.locator(shown)).to_be_in_viewport()
    expect(page.locator(".topbar .who").first).to_contain_text(business["admin"])
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    with page.expect_navigation(wait_until="load"):
        page.click(".topbar nav >> text=Customers")
    expect(page.locator("h1")).to_contain_text("Customers")
    expect(page.locator(".topbar nav")).to_be_hidden()

    page.set_viewport_size(LAPTOP)  # on a laptop, no menu button: the links are in the bar
    expect(menu).to_be_hidden()
    expect(page.locator(".topbar nav >> text=Customers")).to_be_visible()
    expect(page.locator(".topbar .logout >> text=Log out")).to_be_visible()


def test_at_1366_pixels_approve_reject_and_every_discrepancy_column_stay_in_view(screens, business):
    from playwright.sync_api import expect

    page = screens(business["admin"], LAPTOP)
    page.goto("/approvals")
    row = page.locator("#pending tbody tr").first
    expect(row.locator(".why")).to_contain_text("finance manager by telephone")
    for action in (".why", "button:text('Approve')", "button:text('Reject')"):
        box = row.locator(action).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= LAPTOP["width"], (action, box)
    expect(page.locator("#pending-approvals")).to_have_text("1")

    page.goto(f"/reconciliation/runs/{business['run']}")
    table = page.locator("table", has=page.locator("th", has_text="Difference"))
    for heading in ("Difference", "Fixed"):
        box = table.locator("th", has_text=heading).first.bounding_box()
        assert box is not None and box["x"] + box["width"] <= LAPTOP["width"], (heading, box)


@pytest.mark.parametrize("role", ["finance", "admin"])
def test_in_indonesian_on_a_phone_the_main_pages_fit_and_axe_finds_nothing_serious(screens, business, role):
    from playwright.sync_api import expect

    page = screens(f"{role}@screens.example", PHONE, "id-ID")
    found = {}
    for path in pages(business, role):
        page.goto(path)
        expect(page.locator("html")).to_have_attribute("lang", "id")
        if problems := problems_on(page):
            found[path] = problems
    assert not found, "\n".join(f"{path}: {problem}" for path, problems in found.items() for problem in problems)
    page.goto("/")
    expect(page.locator("#menu-button")).to_have_text("Menu")
    expect(page.locator("#nightly")).to_contain_text("Pemeliharaan malam")


def test_the_menu_opens_in_a_users_language_with_a_legible_approvals_badge(screens, business):
    from playwright.sync_api import expect

    db.session.execute(sa.update(User).where(User.email == business["admin"]).values(language="vi"))
    db.session.commit()
    page = screens(business["admin"], PHONE, "id-ID")  # the user's choice wins over the browser's
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    menu = page.locator("#menu-button")
    expect(menu).to_have_text("Trình đơn")
    expect(menu).to_have_attribute("aria-expanded", "false")
    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(page.locator(".topbar nav")).to_have_attribute("aria-label", "Chính")
    expect(page.locator("#nav-approvals")).to_be_in_viewport()
    expect(page.locator(".topbar .logout button")).to_have_text("Đăng xuất")
    # The badge counting the approvals waiting, on the open menu's dark bar, is legible (axe's color-contrast).
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("axe.run('.topbar', {runOnly: ['color-contrast'], resultTypes: ['violations', 'passes']})")
    assert result["violations"] == [], result["violations"]
    assert any("#pending-approvals" in node["target"] for rule in result["passes"] for node in rule["nodes"])
    for path in ("/", f"/customers/{business['customer']}?tab=metering", "/approvals"):
        page.goto(path)
        problems = problems_on(page)
        assert not problems, (path, problems)
