"""A real headless Chromium (Debian's) drives the app served on localhost."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice.models import Customer, MeterReading, Order, RunMode
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.reconcile.engine import run
from tests.chromium import answered_as_typed, follow, log_in, pick
from tests.factories import (
    AccountManagerFactory,
    CustomerFactory,
    OrderFactory,
    TargetFactory,
    UserFactory,
    corrupt,
    stored,
)
from tests.workers import run_worker

pytestmark = pytest.mark.browser


def test_a_clerk_creates_an_order_and_sees_the_grand_total_live(page):
    from playwright.sync_api import expect

    UserFactory(email="clerk@example.com", password="correct horse battery")
    customer = CustomerFactory(code="C0042", name="Hotel Cempaka")

    log_in(page, "clerk@example.com")
    follow(page, "text=Orders")
    follow(page, "text=New order")
    pick(page, "customer_id", "cempka", "C0042 — Hotel Cempaka")
    expect(page.locator("#customer_id")).to_have_value("C0042")
    expect(page.locator("#account_manager_id")).to_have_value(customer.account_manager.email)
    page.evaluate("window.notReloaded = true")

    grand_total = page.locator("#grand-total")
    expect(grand_total).to_have_text("Rp0,00")
    page.fill("#total_price", "")
    page.locator("#total_price").press_sequentially("10.000.000")
    expect(grand_total).to_have_text("Rp10.000.000,00")
    page.fill("#additions", "500.000")
    page.fill("#promo", "1.000.000")
    page.fill("#reductions", "200.000")
    expect(grand_total).to_have_text("Rp9.300.000,00")

    page.fill("#promo", "1.000.000x")
    expect(page.locator("#error-promo")).to_contain_text("Not an amount")
    expect(grand_total).to_have_text("—")
    page.fill("#promo", "1.000.000")
    expect(page.locator("#error-promo")).to_have_text("")
    expect(grand_total).to_have_text("Rp9.300.000,00")
    assert page.evaluate("window.notReloaded") is True

    page.click("text=Save")
    expect(page.locator(".flash")).to_contain_text("Grand total Rp9.300.000,00")
    expect(page.locator("table.data")).to_contain_text("Hotel Cempaka")
    db.session.rollback()  # a new transaction sees what the server committed
    order = db.session.scalar(sa.select(Order))
    assert order.grand_total == Decimal("9300000.00")
    assert order.number in page.locator("table.data").inner_text()


def test_deleting_an_order_asks_first(page):
    from playwright.sync_api import expect

    UserFactory(email="clerk@example.com", password="correct horse battery")
    order = OrderFactory(number="SO-DELETE-ME")
    log_in(page, "clerk@example.com")
    page.goto(f"/orders/{order.id}/edit")

    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click("text=Delete order")
    expect(page.locator("h1")).to_have_text("Order SO-DELETE-ME")
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(Order.id))) == 1

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("text=Delete order")
    expect(page.locator(".flash")).to_contain_text("Order SO-DELETE-ME deleted")
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(Order.id))) == 0


@pytest.mark.production_path("real workers")
def test_an_admin_recalculates_a_customer_and_watches_the_job_finish(page, redis_url, csrf_app):
    from playwright.sync_api import expect

    UserFactory(email="boss@example.com", password="correct horse battery", role="admin")
    order = OrderFactory(customer__code="C0042")
    corrupt("orders", "grand_total", order.id, "1")
    log_in(page, "boss@example.com")
    page.goto("/customers/C0042")
    page.evaluate("window.notReloaded = true")

    page.click("text=Recalculate customer")
    panel = page.locator("#job-panel")
    expect(panel).to_contain_text("queued")
    run_worker(csrf_app, redis_url)
    expect(panel).to_contain_text("finished", timeout=15_000)
    expect(panel.locator("tr", has_text="Order grand totals")).to_contain_text("1")
    assert page.evaluate("window.notReloaded") is True
    assert stored("orders", "grand_total", order.id) == 9300000


def test_a_clerk_sees_a_charge_over_the_balance_flagged_before_submitting(page):
    from playwright.sync_api import expect

    from backoffice.services import wallet

    UserFactory(email="clerk@example.com", password="correct horse battery")
    customer = CustomerFactory(code="C0042")
    wallet.recharge(customer, Decimal("100000"))
    log_in(page, "clerk@example.com")
    page.goto("/customers/C0042?tab=ledger")
    check = page.locator("#charge-check")
    page.locator("#charge-amount").press_sequentially("150.000")
    expect(check).to_contain_text("More than the Rp100.000,00 available")
    page.fill("#charge-amount", "40.000")
    expect(check).to_contain_text("Balance after the charge: Rp60.000,00")
    page.click("text=Post charge")
    expect(page.locator("#balance")).to_have_text("Rp60.000,00")


def test_an_admin_adjusts_a_balance_and_reverses_a_charge_from_the_customer_page(page):
    from playwright.sync_api import expect

    from backoffice.models import BalanceTransaction
    from backoffice.services import wallet

    UserFactory(email="boss@example.com", password="correct horse battery", role="admin")
    customer = CustomerFactory(code="C0042")
    wallet.recharge(customer, Decimal("100000"))
    charge = wallet.charge(customer, Decimal("30000"), description="gas November")
    log_in(page, "boss@example.com")
    page.goto("/customers/C0042?tab=ledger")

    page.select_option("#adjust-direction", "down")
    page.fill("#adjust-amount", "2.500")
    page.select_option("#adjust-reason", "other")
    follow(page, "text=Post adjustment")
    expect(page.locator("#error-adjust-description")).to_contain_text("needs a description")
    page.fill("#adjust-description", "Bank fee")
    follow(page, "text=Post adjustment")
    expect(page.locator("#balance")).to_have_text("Rp67.500,00")

    follow(page, f"#movement-{charge.id} >> text=Reverse")
    expect(page.locator("#posts")).to_contain_text(
        "Posts a reversal of Rp30.000,00: Dr Gas revenue / Cr Customer deposits."
    )
    page.fill("#description", "Charged twice")
    follow(page, "text=Post the reversal")
    expect(page.locator("#reversed-by")).to_contain_text("#")
    expect(page.locator("#already-reversed")).to_be_visible()
    page.goto("/customers/C0042?tab=ledger")
    expect(page.locator("#balance")).to_have_text("Rp97.500,00")
    expect(page.locator(f"#movement-{charge.id}")).to_contain_text("reversed by")
    db.session.rollback()
    kinds = db.session.scalars(sa.select(BalanceTransaction.kind).order_by(BalanceTransaction.id)).all()
    assert [kind.value for kind in kinds] == ["recharge", "charge", "adjustment", "reversal"]


def test_an_admin_types_a_journal_entry_and_sees_it_balance_before_posting(page):
    from playwright.sync_api import expect

    UserFactory(email="boss@example.com", password="correct horse battery", role="admin")
    log_in(page, "boss@example.com")
    page.goto("/books/journal/new")
    page.fill("#description", "Owner's capital")
    page.select_option("#lines-0-account", "1000")
    page.locator("#lines-0-debit").press_sequentially("2.500.000")
    page.select_option("#lines-1-account", "3000")
    page.locator("#lines-1-credit").press_sequentially("2.000.000")
    expect(page.locator("#entry-totals")).to_contain_text("not balanced: difference Rp500.000,00")
    page.fill("#lines-1-credit", "2.500.000")
    expect(page.locator("#balanced")).to_have_text("balanced")
    page.click("text=Post entry")
    expect(page.locator("#entry-lines")).to_contain_text("Rp2.500.000,00")
    page.goto("/books/balance-sheet")
    expect(page.locator("#sheet-status")).to_contain_text("Balanced")


def test_choosing_a_check_filters_a_runs_discrepancies_at_once(page):
    from playwright.sync_api import expect

    UserFactory(email="clerk@example.com", password="correct horse battery")
    target = TargetFactory()
    order = OrderFactory(customer__account_manager=target.account_manager)
    corrupt("orders", "grand_total", order.id, "1.00")
    record = run(RunMode.VERIFY)
    log_in(page, "clerk@example.com")
    page.goto(f"/reconciliation/runs/{record.id}")
    rows = page.locator("table.data").last.locator("tbody tr")
    expect(rows.filter(has_text="Order grand totals")).to_have_count(1)

    page.select_option("#check", "target_achieved")
    expect(page).to_have_url(f"/reconciliation/runs/{record.id}?check=target_achieved")
    expect(rows.filter(has_text="Order grand totals")).to_have_count(0)
    expect(rows.filter(has_text="Targets achieved")).to_have_count(1)


def test_typing_into_an_amount_that_holds_zero_replaces_it(page):
    from playwright.sync_api import expect

    UserFactory(email="clerk@example.com", password="correct horse battery")
    CustomerFactory(code="C0042", name="Hotel Cempaka")
    log_in(page, "clerk@example.com")
    page.goto("/orders/new")
    expect(page.locator("#additions")).to_have_value("0,00")
    page.click("#additions")
    page.keyboard.type("500.000")
    expect(page.locator("#additions")).to_have_value("500.000")


def test_a_clerk_prints_a_customers_statement_on_a4_without_the_navigation(page):
    from playwright.sync_api import expect

    from backoffice.services import wallet

    UserFactory(email="clerk@example.com", password="correct horse battery")
    customer = CustomerFactory(code="C0042", name="Hotel Cempaka")
    wallet.recharge(customer, Decimal("1000000"), description="Deposit by bank transfer")
    wallet.charge(customer, Decimal("250000"), description="Gas for the kitchen and the laundry, " * 4)
    log_in(page, "clerk@example.com")
    page.goto("/customers/C0042")
    follow(page, "#statement-link")
    expect(page.locator("#closing")).to_have_text("Rp750.000,00")
    expect(page.locator(".topbar")).to_be_visible()
    page.evaluate("window.print = () => { window.printed = true; }")
    page.click("text=Print")
    assert page.evaluate("window.printed") is True

    # A4's printable width at 96 dpi: 210 mm less the print stylesheet's margins of 12 mm, about 700 px.
    page.set_viewport_size({"width": 700, "height": 1000})
    page.emulate_media(media="print")
    for hidden in (".topbar", ".statement-choice", "button[data-print]", "#statement-csv"):
        expect(page.locator(hidden)).to_be_hidden()
    expect(page.locator("#statement-lines")).to_be_visible()
    expect(page.locator("#statement")).to_contain_text("Gas for the kitchen")
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    # The stylesheet's page: A4, 595 × 842 points.
    box = re.search(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", page.pdf(prefer_css_page_size=True))
    assert (round(Decimal(box[1].decode())), round(Decimal(box[2].decode()))) == (595, 842)


def test_a_clerk_adds_a_customer_and_a_new_meter_and_assigns_the_meter_to_them(page):
    from playwright.sync_api import expect

    from backoffice.models import MeterAssignment

    UserFactory(email="clerk@example.com", password="correct horse battery")
    AccountManagerFactory(name="Dewi")
    log_in(page, "clerk@example.com")

    follow(page, '.topbar nav >> text="Customers"')
    follow(page, "text=New customer")
    page.fill("#code", "c0100")
    page.fill("#name", "Hotel Melati")
    pick(page, "account_manager_id", "dewi", "Dewi")
    page.fill("#contact_person", "Ibu Sari")
    page.fill("#email", "not an email")
    page.fill("#phone", "+62 21 555-0123")
    follow(page, "text=Save")
    expect(page.locator("#error-email")).to_contain_text("is not an email address")
    page.fill("#email", "sari@melati.example")
    follow(page, "text=Save")
    expect(page.locator("h1")).to_contain_text("C0100 — Hotel Melati")
    expect(page.locator("#contact")).to_contain_text("Ibu Sari")

    follow(page, '.topbar nav >> text="Meters"')
    page.fill("#serial", "m-100")
    follow(page, "button:has-text('Add meter')")
    expect(page.locator(".flash")).to_contain_text("Meter M-100 added")

    page.goto("/customers/C0100?tab=billing")
    page.fill("#assign-serial", "M-100")
    follow(page, "button:has-text('Assign')")
    expect(page.locator(".flash")).to_contain_text("Meter M-100 assigned to C0100.")
    follow(page, '.topbar nav >> text="Meters"')
    expect(page.locator("table.data")).to_contain_text("C0100 — Hotel Melati")

    db.session.rollback()
    customer = db.session.scalar(sa.select(Customer).where(Customer.code == "C0100"))
    assert (customer.contact_person, customer.email, customer.account_manager.name) == (
        "Ibu Sari",
        "sari@melati.example",
        "Dewi",
    )
    assignment = db.session.scalar(sa.select(MeterAssignment))
    assert assignment.customer_id == customer.id and assignment.meter.serial == "M-100" and assignment.is_active


def test_a_picker_keeps_the_option_moved_to_when_suggestions_for_what_was_typed_come(page):
    """The arrow moves to a suggestion shown as the field was focused; the suggestions asked as it was typed in come
    after it: Enter chooses the same suggestion, and does not send the form."""
    from playwright.sync_api import expect

    UserFactory(email="clerk@example.com", password="correct horse battery")
    AccountManagerFactory(name="Dewi")
    log_in(page, "clerk@example.com")
    page.goto("/customers/new")
    typing = answered_as_typed(page, "account_manager_id")
    page.fill("#account_manager_id", "dewi")
    expect(page.locator("#account_manager_id-options [role=option]").filter(has_text="Dewi")).to_be_visible()
    page.press("#account_manager_id", "ArrowDown")
    typing.evaluate("typing => typing.answered")

    page.press("#account_manager_id", "Enter")

    expect(page.locator("#account_manager_id-options")).to_be_hidden()
    expect(page.locator("#account_manager_id-chosen")).to_have_text("Dewi")
    assert page.url.endswith("/customers/new")


def test_the_orders_list_fits_1366_pixels_with_its_grand_total_in_view(browser, live_server):
    """A laptop's 1366×768 screen shows every column of the orders list, the grand total last, without scrolling
    sideways, even with long names and amounts in the hundreds of billions."""
    UserFactory(email="clerk@example.com", password="correct horse battery")
    manager = AccountManagerFactory(name="Bernadette Kusumawardhani Simanjuntak")
    customer = CustomerFactory(
        code="PT-SUMBER-0042",
        name="PT Sumber Energi Nusantara Gas Industri Tbk, Kawasan Industri Pulogadung",
        account_manager=manager,
    )
    for n in range(3):
        OrderFactory(
            number=f"SO-2026-11-{n:05d}",
            customer=customer,
            total_price=Decimal("987654321098.76"),
            additions=Decimal("123456789012.34"),
            promo=Decimal("12345678901.23"),
            reductions=Decimal("1234567890.12"),
        )
    context = browser.new_context(base_url=live_server, viewport={"width": 1366, "height": 768})
    page = context.new_page()
    try:
        log_in(page, "clerk@example.com")
        follow(page, "text=Orders")
        widths = page.evaluate(
            "() => { const box = document.querySelector('#orders').closest('.scroll');"
            " return [document.documentElement.scrollWidth, window.innerWidth, box.scrollWidth, box.clientWidth]; }"
        )
        page_width, window_width, table_width, shown_width = widths
        assert page_width <= window_width and table_width <= shown_width, widths
        heading = page.locator("#orders th", has_text="Grand total")
        cells = page.locator("#orders td.grand-total")
        assert cells.count() == 3
        for element in (heading, *(cells.nth(n) for n in range(3))):
            box = element.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 1366, box
        assert cells.first.inner_text() == "Rp1.097.530.863.319,75"

        follow(page, "#orders th >> text=Grand total")
        assert page.locator("#orders th[aria-sort=ascending]").inner_text().startswith("Grand total")
        assert "sort=grand_total" in page.url
    finally:
        context.close()


def test_a_clerk_edits_an_order_sees_its_history_deletes_it_and_finds_it_as_deleted(page):
    from playwright.sync_api import expect

    UserFactory(email="clerk@example.com", name="Clerk Dewi", password="correct horse battery")
    order = OrderFactory(number="SO-HISTORY")
    log_in(page, "clerk@example.com")
    page.goto(f"/orders/{order.id}/edit")

    page.fill("#additions", "750.000")
    page.click("text=Save")
    expect(page.locator(".flash")).to_contain_text("Order saved")
    page.goto(f"/orders/{order.id}/edit")
    history = page.locator("#history")
    expect(history.locator("tr.history-edited")).to_contain_text("Clerk Dewi")
    expect(history.locator("tr.history-edited")).to_contain_text("Rp500.000,00 → Rp750.000,00")
    expect(history.locator("tr.history-created")).to_have_count(1)

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("text=Delete order")
    expect(page.locator(".flash")).to_contain_text("Order SO-HISTORY deleted")
    follow(page, "text=Deleted orders")
    row = page.locator("table.data tbody tr", has_text="SO-HISTORY")
    expect(row).to_contain_text("Clerk Dewi")
    expect(row).to_contain_text("Rp9.550.000,00")
    with page.expect_navigation(wait_until="load"):
        row.get_by_role("link", name="History").click()
    expect(page.locator("tr.history-deleted")).to_contain_text("Clerk Dewi")
    expect(page.locator("tr.history-deleted")).to_contain_text("was SO-HISTORY")


def test_a_clerk_meters_a_customer_charges_corrects_a_reading_and_prints_a_statement(
    page,
):
    from playwright.sync_api import expect

    UserFactory(email="clerk@example.com", password="correct horse battery")
    AccountManagerFactory(name="Dewi Lestari")
    today = local_today().isoformat()
    log_in(page, "clerk@example.com")

    follow(page, "nav >> text=Customers")
    follow(page, "text=New customer")
    page.fill("#code", "C0777")
    page.fill("#name", "PT Sinar Jaya Makmur")
    pick(page, "account_manager_id", "lestari", "Dewi Lestari")
    page.fill("#contact_person", "Budi")
    follow(page, "button:text('Save')")
    expect(page.locator("h1")).to_contain_text("C0777 — PT Sinar Jaya Makmur")

    follow(page, "nav >> text=Meters")
    page.fill("#serial", "M-777")
    follow(page, "button:text('Add meter')")
    expect(page.locator(".flash")).to_contain_text("M-777")

    page.goto("/customers/C0777?tab=billing")
    page.fill("#assign-serial", "M-777")
    page.fill("#assign-started_on", today)
    follow(page, "button:text('Assign')")
    expect(page.locator(".flash")).to_contain_text("Meter M-777 assigned to C0777")

    follow(page, "text=Prepaid ledger")
    page.fill("#recharge-amount", "1.000.000")
    page.fill("#recharge-description", "Transfer BCA")
    follow(page, "button:text('Post recharge')")

    follow(page, "text=Readings & pricing")
    page.fill("#pricing-effective_from", today)
    page.fill("#pricing-price_per_sm3", "5.000")
    page.fill("#pricing-meter_correction", "1")
    follow(page, "button:text('Save pricing')")
    expect(page.locator("#reading-meter_id")).to_have_value("M-777")  # its only meter, chosen already
    page.fill("#reading-volume_flow_meter", "100")
    expect(page.locator("#reading-preview")).to_contain_text("Rp500.000,00")
    follow(page, "button:text('Record and charge')")
    expect(page.locator(".flash")).to_contain_text("Reading recorded")
    readings = page.locator("table.data", has=page.locator("th", has_text="Flow meter"))
    expect(readings).to_contain_text("Rp500.000,00")

    follow(page, "a:text-is('Correct')")
    page.fill("#volume_flow_meter", "120")
    follow(page, "#correct button[type=submit]")
    expect(page.locator(".flash")).to_be_visible()
    history = page.locator(".history")
    expect(history).to_contain_text("edited")
    expect(history).to_contain_text("100,0000 → 120,0000")
    expect(history).to_contain_text("created")

    db.session.rollback()  # a new transaction sees what the server committed
    customer = db.session.scalar(sa.select(Customer).where(Customer.code == "C0777"))
    assert customer.balance == Decimal("400000.00")
    assert db.session.scalar(sa.select(MeterReading.volume_flow_meter)) == Decimal("120")

    page.goto("/customers/C0777")
    follow(page, "#statement-link")
    expect(page.locator("#opening")).to_have_text("Rp0,00")
    expect(page.locator("#statement-lines")).to_contain_text("Transfer BCA")
    expect(page.locator("#closing")).to_have_text("Rp400.000,00")
    page.emulate_media(media="print")
    expect(page.locator("nav").first).to_be_hidden()
    expect(page.locator("#statement")).to_be_visible()
    assert page.pdf(format="A4")[:4] == b"%PDF"


def test_an_adjustment_above_the_limit_waits_for_a_second_admin(page, csrf_app):
    from playwright.sync_api import expect

    from backoffice.models import ApprovalRequest, ApprovalStatus, BalanceTransaction
    from backoffice.services import wallet

    csrf_app.config["APPROVAL_ABOVE"] = Decimal("50000")
    maker = UserFactory(email="maker@example.com", password="correct horse battery", role="admin")
    checker = UserFactory(email="checker@example.com", password="correct horse battery", role="admin")
    customer = CustomerFactory(code="C0042")
    wallet.recharge(customer, Decimal("100000"))
    log_in(page, "maker@example.com")
    page.goto("/customers/C0042?tab=ledger")
    expect(page.locator("#adjust-approval")).to_contain_text("Above Rp50.000,00")

    page.select_option("#adjust-direction", "up")
    page.fill("#adjust-amount", "75.000")
    page.select_option("#adjust-reason", "goodwill")
    page.fill("#adjust-description", "Supply cut for two days")
    follow(page, "text=Post adjustment")
    expect(page.locator(".flash-info")).to_contain_text("This amount needs a second admin's approval")
    expect(page.locator("#balance")).to_have_text("Rp100.000,00")
    db.session.rollback()
    request = db.session.scalar(sa.select(ApprovalRequest))
    assert request.status is ApprovalStatus.PENDING

    follow(page, "#nav-approvals")
    row = page.locator(f"#request-{request.id}")
    expect(page.locator("#pending-approvals")).to_have_text("1")
    expect(row.locator(".requested-by")).to_have_text(maker.name or maker.email)
    expect(row.locator(".why")).to_have_text("Goodwill: Supply cut for two days")
    expect(row).to_contain_text("Rp75.000,00")
    expect(row.locator(f"#own-{request.id}")).to_contain_text("another admin approves it")
    expect(row.locator(f"#approve-{request.id}")).to_have_count(0)

    page.click("text=Log out")
    log_in(page, "checker@example.com")
    page.goto("/approvals")
    page.once("dialog", lambda dialog: dialog.accept())
    follow(page, f"#approve-{request.id}")
    expect(page.locator(".flash-success")).to_contain_text(f"Request #{request.id} approved")
    expect(page.locator(f"#decided #request-{request.id} .decision")).to_contain_text(
        f"approved by {checker.name or checker.email}"
    )
    page.goto("/customers/C0042?tab=ledger")
    expect(page.locator("#balance")).to_have_text("Rp175.000,00")
    db.session.rollback()
    approved = db.session.get(ApprovalRequest, request.id)
    assert approved.status is ApprovalStatus.APPROVED
    assert db.session.get(BalanceTransaction, approved.result_movement_id).signed_amount == Decimal("75000.00")


def test_a_rebuild_asks_first_and_the_new_run_appears_when_its_job_ends(page):
    from playwright.sync_api import expect

    UserFactory(email="boss@example.com", password="correct horse battery", role="admin")
    OrderFactory(customer__code="C0042")
    log_in(page, "boss@example.com")
    page.goto("/reconciliation")
    page.evaluate("window.notReloaded = true")
    expect(page.locator("#runs")).to_contain_text("No run yet.")

    page.click("#start-rebuild")
    panel = page.locator("#job-panel")
    expect(panel).to_contain_text("It recomputes and writes")
    expect(panel.locator("#may-change")).to_contain_text("Order grand totals: 1")
    page.fill("#customer", "C0042")
    page.select_option("#check", "order_grand_total")
    page.click("text=Show what this covers")
    expect(panel.locator("#confirm-run")).to_have_text("Rebuild 1 entity")
    page.click("#confirm-run")
    expect(panel).to_contain_text("finished")
    expect(page.locator("#runs tbody tr")).to_have_count(1)
    expect(page.locator("#runs")).to_contain_text("rebuild")
    assert page.evaluate("window.notReloaded") is True
