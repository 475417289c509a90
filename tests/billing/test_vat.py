"""VAT on invoices: an invoice's amount typed is its net, its VAT is charged at the rate in force on its issue date,
and what the customer owes, pays and is aged on is the total; the journal posts the VAT to VAT payable, and the
nightly's ``invoice_tax`` check proves every invoice's VAT."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice.models import Invoice, Meter, RunMode, TaxStatus
from backoffice.platform.extensions import db
from backoffice.posting.rules import GAS_REVENUE, RECEIVABLES, VAT_PAYABLE
from backoffice.reconcile.engine import run
from backoffice.services import billing, meter_invoices, meter_lifecycle, tax
from backoffice.services.tax import TaxError
from tests.billing.test_documents import pdf_text
from tests.concurrency import race
from tests.factories import CustomerFactory, MeterFactory, stored
from tests.pages import error_of, shown
from tests.pages import text as shown_html
from tests.workbooks import sheets

D = Decimal
DAY = date(2026, 11, 2)
DUE = date(2026, 11, 30)


def rate(percent: str, applies_from: date = date(2026, 1, 1)) -> bool:
    with db.session.begin_nested():
        written = tax.save_rate(db.session.connection(), D(percent), applies_from, None)
    db.session.commit()
    return written


def held_meter(**customer):
    meter = MeterFactory()
    meter_lifecycle.assign_meter(meter, CustomerFactory(**customer), date(2026, 10, 1))
    return meter


def lines_of(invoice_id: int) -> dict[str, Decimal]:
    """What the invoice's entries moved per account, debits less credits."""
    rows = db.session.execute(
        sa.text(
            "SELECT a.code, sum(l.debit - l.credit) FROM journal_entries e JOIN journal_lines l ON l.entry_id = e.id "
            "JOIN accounts a ON a.id = l.account_id WHERE e.source_type = 'invoice' AND e.source_id = :id "
            "GROUP BY a.code"
        ),
        {"id": invoice_id},
    )
    return {code: D(moved) for code, moved in rows}


def clean(*checks: str) -> bool:
    return run(RunMode.VERIFY, checks=list(checks)).mismatched == 0


CHECKS = ("invoice_tax", "movement_accounts", "invoice_outstanding", "meter_balance", "journal_balanced")


def test_an_invoice_s_net_is_charged_the_rate_in_force_and_owed_with_its_vat(app):
    assert rate("11")
    meter = held_meter()
    invoice = meter_invoices.add_invoice(meter, "INV-1", D("1000000"), DAY, DUE)
    assert (invoice.amount, invoice.vat, invoice.vat_rate, invoice.net) == (
        D("1110000.00"),
        D("110000.00"),
        D("11.00"),
        D("1000000.00"),
    )
    assert stored("meters", "balance", meter.id) == D("1110000.00")
    assert stored("invoices", "outstanding", invoice.id) == D("1110000.00")
    assert lines_of(invoice.id) == {RECEIVABLES: D("1110000"), GAS_REVENUE: D("-1000000"), VAT_PAYABLE: D("-110000")}
    assert clean(*CHECKS)


def test_vat_is_rounded_once_half_up_to_the_currency_s_unit(app):
    rate("11")
    invoice = meter_invoices.add_invoice(held_meter(), "INV-R", D("1234567.45"), DAY, DUE)
    assert invoice.vat == D("135802.42")  # 135 802,4195 → ,42
    assert invoice.amount == D("1370369.87")
    assert clean(*CHECKS)


def test_each_invoice_takes_the_rate_of_its_own_issue_date(app):
    rate("10", date(2026, 1, 1))
    rate("11", date(2026, 11, 1))
    meter = held_meter()
    before, after = meter_invoices.add_invoices(
        [
            meter_invoices.NewInvoice(meter.id, "INV-OCT", D("100000"), date(2026, 10, 31), DUE),
            meter_invoices.NewInvoice(meter.id, "INV-NOV", D("100000"), date(2026, 11, 1), DUE),
        ]
    )
    assert [(db.session.get(Invoice, i).vat, db.session.get(Invoice, i).vat_rate) for i in (before, after)] == [
        (D("10000.00"), D("10.00")),
        (D("11000.00"), D("11.00")),
    ]
    assert clean(*CHECKS)


@pytest.mark.parametrize("status", [TaxStatus.EXEMPT.value, TaxStatus.ZERO_RATED.value])
def test_a_customer_not_taxed_is_charged_no_vat(app, status):
    rate("11")
    invoice = meter_invoices.add_invoice(held_meter(tax_status=status), "INV-X", D("500000"), DAY, DUE)
    assert (invoice.amount, invoice.vat, invoice.vat_rate) == (D("500000.00"), None, None)
    assert lines_of(invoice.id) == {RECEIVABLES: D("500000"), GAS_REVENUE: D("-500000")}
    assert clean(*CHECKS)


def test_before_any_rate_an_invoice_is_charged_none(app):
    invoice = meter_invoices.add_invoice(held_meter(), "INV-0", D("500000"), DAY, DUE)
    assert (invoice.amount, invoice.vat, invoice.vat_rate) == (D("500000.00"), None, None)
    assert clean(*CHECKS)


def test_a_corrected_net_keeps_the_invoice_s_rate_and_posts_what_its_vat_changes(app):
    rate("11")
    invoice = meter_invoices.add_invoice(held_meter(), "INV-C", D("1000000"), DAY, DUE)
    rate("12", date(2026, 11, 3))
    changed = meter_invoices.change_invoice(invoice, "INV-C", D("2000000"), DUE)
    assert (changed.amount, changed.vat, changed.vat_rate) == (D("2220000.00"), D("220000.00"), D("11.00"))
    assert lines_of(invoice.id) == {RECEIVABLES: D("2220000"), GAS_REVENUE: D("-2000000"), VAT_PAYABLE: D("-220000")}
    lowered = meter_invoices.change_invoice(changed, "INV-C", D("500000"), DUE)
    assert (lowered.amount, lowered.vat) == (D("555000.00"), D("55000.00"))
    assert lines_of(invoice.id) == {RECEIVABLES: D("555000"), GAS_REVENUE: D("-500000"), VAT_PAYABLE: D("-55000")}
    assert clean(*CHECKS)


def test_a_withdrawn_invoice_takes_its_vat_back(app):
    rate("11")
    invoice = meter_invoices.add_invoice(held_meter(), "INV-W", D("1000000"), DAY, DUE)
    meter_invoices.withdraw_invoice(invoice, "issued twice")
    assert lines_of(invoice.id) == {RECEIVABLES: D("0"), GAS_REVENUE: D("0"), VAT_PAYABLE: D("0")}
    assert clean(*CHECKS)


def test_an_invoice_made_before_vat_was_kept_keeps_its_amount_when_corrected(app):
    invoice = meter_invoices.add_invoice(held_meter(), "INV-OLD", D("1000000"), DAY, DUE)
    rate("11", date(2026, 11, 3))
    changed = meter_invoices.change_invoice(db.session.get(Invoice, invoice.id), "INV-OLD", D("1500000"), DUE)
    assert (changed.amount, changed.vat, changed.vat_rate, changed.net) == (D("1500000.00"), None, None, D("1500000"))
    assert clean("invoice_tax", "movement_accounts")


def test_a_total_beyond_what_an_amount_may_be_is_refused_and_nothing_is_written(app):
    rate("11")
    meter = held_meter()
    with pytest.raises(billing.BillingError, match="VAT"):
        meter_invoices.add_invoice(meter, "INV-BIG", D("9999999999999"), DAY, DUE)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Invoice)) == 0


def test_a_rate_that_would_change_an_invoice_issued_is_refused(app):
    rate("11")
    meter_invoices.add_invoice(held_meter(), "INV-K", D("100000"), DAY, DUE)
    with pytest.raises(TaxError, match="INV-K") as refused:
        rate("12", DAY)
    assert refused.value.field == "vat_rate_from"
    db.session.rollback()
    assert rate("12", date(2026, 11, 3))
    assert not rate("12", date(2026, 11, 4))  # already in force: nothing written
    assert [r.rate for r in tax.rates(db.session)] == [D("12.00"), D("11.00")]


@pytest.mark.parametrize("given", ["-1", "100", "11.005", "NaN", "eleven"])
def test_a_rate_out_of_range_is_refused(app, given):
    with pytest.raises(TaxError, match="per cent"):
        tax.checked_rate(given)


def test_the_check_finds_a_forged_vat_rate_or_posting(app):
    rate("11")
    invoice = meter_invoices.add_invoice(held_meter(), "INV-F", D("1000000"), DAY, DUE)
    db.session.execute(
        sa.text("UPDATE invoices SET vat = 0, vat_rate = 7, amount = 1000000 WHERE id = :id"), {"id": invoice.id}
    )
    db.session.commit()
    result = run(RunMode.VERIFY, checks=["invoice_tax"])
    found = {
        row.field
        for row in db.session.execute(
            sa.text("SELECT field FROM reconciliation_discrepancies WHERE run_id = :r"), {"r": result.id}
        )
    }
    assert found == {"vat", "vat_rate", "vat_posted"}


# --- As an admin and a clerk use it ---------------------------------------------------------------------------------

ISSUER = {"name": "PT Gas Nusantara", "tax_number": "01.234.567.8-901.000", "version": ""}


def seen(client) -> str:
    return re.search(r'name="vat_rates_seen" type="hidden" value="(\d*)"', client.get("/admin/issuer").text).group(1)


def test_an_admin_saves_a_rate_on_the_issuer_page_and_its_history_lists_it(client, admin):
    response = client.post(
        "/admin/issuer", data=ISSUER | {"vat_rate": "11", "vat_rate_from": "2026-01-01", "vat_rates_seen": seen(client)}
    )
    assert response.status_code == 302, shown(response)
    page = client.get("/admin/issuer")
    assert 'name="vat_rate" type="text" value="11"' in page.text
    assert re.search(r'id="vat-rates">.*?1 Jan 2026.*?11 %', shown_html(page))
    assert [(r.rate, r.applies_from, r.created_by_id) for r in tax.rates(db.session)] == [
        (D("11.00"), date(2026, 1, 1), admin.id)
    ]


@pytest.mark.parametrize(("given", "field"), [({"vat_rate": "101"}, "vat_rate"), ({"vat_rate": "abc"}, "vat_rate")])
def test_a_rate_that_is_no_per_cent_is_refused_under_its_field(client, admin, given, field):
    response = client.post("/admin/issuer", data=ISSUER | {"vat_rates_seen": seen(client)} | given)
    assert response.status_code == 422 and 'id="error-vat_rate"' in response.text
    assert tax.rates(db.session) == []


def test_a_rate_saved_meanwhile_makes_the_page_stale(client, admin):
    stale = seen(client)
    rate("10")
    response = client.post("/admin/issuer", data=ISSUER | {"vat_rate": "12", "vat_rates_seen": stale})
    assert response.status_code == 409
    assert [r.rate for r in tax.rates(db.session)] == [D("10.00")]


def test_a_rate_that_would_change_an_issued_invoice_is_refused_on_the_page(client, admin):
    rate("11")
    meter_invoices.add_invoice(held_meter(), "INV-P", D("100000"), DAY, DUE)
    response = client.post(
        "/admin/issuer", data=ISSUER | {"vat_rate": "12", "vat_rate_from": "2026-11-01", "vat_rates_seen": seen(client)}
    )
    assert response.status_code == 422
    assert "INV-P" in error_of(response, "vat_rate_from")
    assert [r.rate for r in tax.rates(db.session)] == [D("11.00")]


def test_the_invoice_prints_its_net_vat_and_total_and_the_clerk_types_the_net(client, finance, tmp_path):
    rate("11")
    meter = held_meter(code="CAFE", name="Café Señor")
    response = client.post(
        "/customers/CAFE/invoices",
        data={
            "invoice-meter_id": meter.serial,
            "invoice-number": "INV-11",
            "invoice-amount": "1.000.000",
            "invoice-issued_on": "2026-11-02",
            "invoice-due_on": "2026-11-30",
        },
    )
    assert response.status_code == 302
    said = shown(client.get(response.location))
    assert "Invoice INV-11 of Rp1.110.000,00 added" in said and "includes VAT of Rp110.000,00" in said
    invoice = db.session.scalar(sa.select(Invoice).where(Invoice.number == "INV-11"))
    page = shown(client.get(f"/customers/CAFE/invoices/{invoice.id}/print"))
    assert "Net Rp1.000.000,00" in page and "VAT 11 % Rp110.000,00" in page and "Total Rp1.110.000,00" in page
    pdf = pdf_text(client.get(f"/customers/CAFE/invoices/{invoice.id}.pdf").data, tmp_path)
    assert "VAT 11 % Rp110.000,00" in pdf and "Total Rp1.110.000,00" in pdf
    aging = shown(client.get("/receivables/aging"))
    assert "INV-11" in aging and "Rp1.110.000,00" in aging
    edit = client.get(f"/customers/CAFE/invoices/{invoice.id}/edit")
    assert 'name="amount" placeholder="1.234.567,89" type="text" value="1.000.000,00"' in edit.text


def test_the_tax_register_lists_the_month_s_invoices_and_downloads_them(client, finance):
    rate("11")
    taxed = held_meter(code="CAFE", name="Café", tax_number="01.234.567.8-901.000")
    exempt = held_meter(code="SCHOOL", name="School", tax_status=TaxStatus.EXEMPT.value)
    first = meter_invoices.add_invoice(taxed, "INV-A", D("1000000"), DAY, DUE)
    meter_invoices.add_invoice(exempt, "INV-B", D("500000"), date(2026, 11, 3), DUE)
    meter_invoices.withdraw_invoice(
        meter_invoices.add_invoice(taxed, "INV-C", D("200000"), date(2026, 11, 4), DUE), "twice"
    )
    meter_invoices.add_invoice(taxed, "INV-OCT", D("300000"), date(2026, 10, 30), DUE)
    assert "/books/tax-register" in client.get("/books/accounts").text

    page = client.get("/books/tax-register?month=2026-11")
    assert page.status_code == 200
    rows = shown(page)
    assert "INV-A" in rows and "INV-B" in rows and "INV-C" in rows and "INV-OCT" not in rows
    assert "01.234.567.8-901.000" in rows and "exempt from VAT" in rows
    assert "None" not in rows  # the exempt school has no tax number: its cell is blank
    assert re.search(r'id="register-vat">Rp110\.000,00<', page.text)
    assert re.search(r'id="register-total">Rp1\.610\.000,00<', page.text)

    csv = client.get("/books/tax-register.csv?month=2026-11")
    lines = csv.text.removeprefix("\ufeff").splitlines()
    assert lines[0] == ",".join(tax.REGISTER_COLUMNS)
    assert lines[1].startswith(
        "2026-11-02,INV-A,CAFE,Café,01.234.567.8-901.000,taxed,1000000.00,11.00,110000.00,1110000.00,"
    )
    assert len([line for line in lines if not line.startswith("Total")]) == 4  # the totals rows by rate after them
    book = sheets(client.get("/books/tax-register.xlsx?month=2026-11").data)[0]
    assert book[1][:3] == (date(2026, 11, 2), "INV-A", "CAFE") or book[1][1] == "INV-A"
    assert client.get("/books/tax-register?month=2026-13").status_code == 422
    assert first.id


def test_the_postpaid_statement_says_each_invoice_s_net_and_vat(client, finance):
    rate("11")
    meter_invoices.add_invoice(held_meter(code="CAFE", name="Café"), "INV-S", D("1000000"), DAY, DUE)
    page = shown(client.get("/customers/CAFE/billing-statement?month=2026-11"))
    assert "Invoice INV-S" in page and "Net Rp1.000.000,00, VAT 11 % Rp110.000,00" in page


def test_a_rate_saved_while_an_invoice_is_written_waits_for_it_and_is_refused(app):
    rate("11")
    meter_id = held_meter().id

    def invoice() -> None:
        meter_invoices.add_invoice(db.session.get(Meter, meter_id), "INV-RACE", D("100000"), DAY, DUE)

    def new_rate() -> None:
        rate("12", DAY)

    with pytest.raises(TaxError, match="INV-RACE"):
        race(app, invoice, new_rate, hold_after="commit")
    db.session.rollback()
    assert [r.rate for r in tax.rates(db.session)] == [D("11.00")]
    assert db.session.scalar(sa.select(Invoice.vat_rate).where(Invoice.number == "INV-RACE")) == D("11.00")
