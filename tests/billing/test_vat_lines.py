"""An invoice's lines each with their own tax: every invoice has at least one line, each line is charged the rate in
force for its kind (gas, meter rental, connection fee) on its issue date, the VAT at a rate is charged on the sum of
its lines at that rate and shared among them, the invoice's VAT is its lines', printed and checked by rate."""

from __future__ import annotations

import html
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from backoffice import register_migrations
from backoffice.models import Invoice, InvoiceLine, LineKind, RunMode, TaxStatus
from backoffice.platform.extensions import db
from backoffice.reconcile.engine import run
from backoffice.services import billing, meter_invoices, tax
from backoffice.services.meter_invoices import NewLine
from backoffice.services.tax import TaxError
from tests.billing.test_vat import CHECKS, DAY, DUE, ISSUER, clean, held_meter, lines_of, rate, seen
from tests.factories import past_the_guards
from tests.pages import shown

D = Decimal


def kind_rate(percent: str, kind: LineKind, applies_from: date = date(2026, 1, 1)) -> bool:
    with db.session.begin_nested():
        written = tax.save_rate(db.session.connection(), D(percent), applies_from, None, kind.value)
    db.session.commit()
    return written


def lines(invoice_id: int) -> list[tuple]:
    query = sa.select(InvoiceLine.kind, InvoiceLine.amount, InvoiceLine.vat_rate, InvoiceLine.vat)
    return [
        tuple(row) for row in db.session.execute(query.where(InvoiceLine.invoice_id == invoice_id).order_by("position"))
    ]


def found(result) -> set[tuple[str, int]]:
    rows = db.session.execute(
        sa.text("SELECT field, entity_id FROM reconciliation_discrepancies WHERE run_id = :r"), {"r": result.id}
    )
    return {(row.field, row.entity_id) for row in rows}


def two_rates() -> None:
    """Vietnam's day: gas at 8 %, a meter's rental at 10 %."""
    kind_rate("8", LineKind.GAS)
    kind_rate("10", LineKind.METER_RENTAL)
    kind_rate("10", LineKind.CONNECTION_FEE)


def test_an_invoice_typed_without_lines_has_one_line_of_gas_carrying_its_vat(app):
    rate("11")
    invoice = meter_invoices.add_invoice(held_meter(), "INV-1", D("1000000"), DAY, DUE)
    assert lines(invoice.id) == [(LineKind.GAS, D("1000000.00"), D("11.00"), D("110000.00"))]


def test_a_gas_line_at_8_and_a_rental_at_10_are_charged_apart_and_owed_together(app):
    two_rates()
    meter = held_meter()
    invoice = meter_invoices.add_invoice(
        meter,
        "INV-2",
        D("1050000"),
        DAY,
        DUE,
        lines=[NewLine(D("1000000")), NewLine(D("50000"), kind=LineKind.METER_RENTAL.value)],
    )
    assert lines(invoice.id) == [
        (LineKind.GAS, D("1000000.00"), D("8.00"), D("80000.00")),
        (LineKind.METER_RENTAL, D("50000.00"), D("10.00"), D("5000.00")),
    ]
    assert (invoice.amount, invoice.vat, invoice.vat_rate, invoice.net) == (
        D("1135000.00"),
        D("85000.00"),
        None,
        D("1050000.00"),
    )
    assert lines_of(invoice.id)["2300"] == D("-85000")
    assert clean(*CHECKS)


def test_the_vat_at_a_rate_is_charged_on_its_lines_sum_and_shared_the_last_taking_the_rest(app):
    rate("11")
    thirds = [NewLine(D("0.05")), NewLine(D("0.05")), NewLine(D("0.05"))]  # 0.15 × 11 % = 0.0165 → 0.02
    invoice = meter_invoices.add_invoice(held_meter(), "INV-3", D("0.15"), DAY, DUE, lines=thirds)
    assert [line[3] for line in lines(invoice.id)] == [D("0.01"), D("0.01"), D("0.00")]
    assert invoice.vat == D("0.02")
    assert clean("invoice_tax")


def test_lines_that_do_not_make_the_amount_are_refused_and_nothing_is_written(app):
    rate("11")
    with pytest.raises(billing.BillingError, match="Its lines make"):
        meter_invoices.add_invoice(held_meter(), "INV-4", D("100"), DAY, DUE, lines=[NewLine(D("99"))])
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Invoice)) == 0


def test_a_zero_rated_customer_s_lines_carry_0_percent_and_the_invoice_none(app):
    two_rates()
    meter = held_meter(tax_status=TaxStatus.ZERO_RATED.value)
    invoice = meter_invoices.add_invoice(
        meter, "INV-5", D("150"), DAY, DUE, lines=[NewLine(D("100")), NewLine(D("50"), kind="meter_rental")]
    )
    assert [(line[2], line[3]) for line in lines(invoice.id)] == [(D("0.00"), D("0.00"))] * 2
    assert (invoice.vat, invoice.vat_rate, invoice.amount) == (None, None, D("150.00"))
    assert clean("invoice_tax")


def test_a_one_line_invoice_corrected_moves_its_line_and_one_of_several_is_replaced_instead(app):
    two_rates()
    meter = held_meter()
    one = meter_invoices.add_invoice(meter, "INV-6", D("1000"), DAY, DUE)
    one = meter_invoices.change_invoice(one, "INV-6", D("2000"), DUE)
    assert lines(one.id) == [(LineKind.GAS, D("2000.00"), D("8.00"), D("160.00"))]
    assert one.amount == D("2160.00")
    several = meter_invoices.add_invoice(
        meter, "INV-7", D("1100"), DAY, DUE, lines=[NewLine(D("1000")), NewLine(D("100"), kind="meter_rental")]
    )
    with pytest.raises(billing.BillingError, match="withdraw it and issue its replacement"):
        meter_invoices.change_invoice(several, "INV-7", D("1200"), DUE)
    db.session.rollback()
    renamed = meter_invoices.change_invoice(db.session.get(Invoice, several.id), "INV-7B", D("1100"), DUE)
    assert renamed.number == "INV-7B" and renamed.amount == D("1190.00")
    assert clean(*CHECKS)


def test_the_database_keeps_a_line_s_words_and_rate_and_its_money_to_its_invoice(app):
    rate("11")
    invoice = meter_invoices.add_invoice(held_meter(), "INV-8", D("1000"), DAY, DUE)
    for statement in (
        "UPDATE invoice_lines SET amount = 1",
        "UPDATE invoice_lines SET vat_rate = 5",
        "UPDATE invoice_lines SET kind = 'meter_rental'",
        "DELETE FROM invoice_lines",
    ):
        with pytest.raises(sa.exc.DBAPIError, match="invoice's line"):
            with db.engine.begin() as connection:
                connection.exec_driver_sql(statement)
    assert lines(invoice.id) == [(LineKind.GAS, D("1000.00"), D("11.00"), D("110.00"))]


def test_the_check_finds_a_line_forged_past_the_guards(app):
    two_rates()
    invoice = meter_invoices.add_invoice(
        held_meter(), "INV-9", D("1100"), DAY, DUE, lines=[NewLine(D("1000")), NewLine(D("100"), kind="meter_rental")]
    )
    with past_the_guards() as connection:  # a share moved from one line to the other, the total kept
        connection.execute(sa.text("UPDATE invoice_lines SET vat = vat + 1 WHERE kind = 'gas'"))
        connection.execute(sa.text("UPDATE invoice_lines SET vat = vat - 1, vat_rate = 9 WHERE kind = 'meter_rental'"))
    result = run(RunMode.VERIFY, checks=["invoice_tax"])
    assert found(result) == {("line_vat", invoice.id), ("line_rates", invoice.id), ("vat", invoice.id)}


def test_a_rate_for_one_kind_is_refused_only_where_an_invoice_has_a_line_of_it(app):
    two_rates()
    meter_invoices.add_invoice(held_meter(), "INV-10", D("1000"), DAY, DUE)  # gas alone
    assert kind_rate("12", LineKind.METER_RENTAL, DAY)  # no rental was issued from that day
    with pytest.raises(TaxError, match="INV-10"):
        kind_rate("9", LineKind.GAS, DAY)


def test_an_admin_saves_a_rental_rate_of_its_own_and_the_printed_invoice_says_vat_by_rate(client, admin):
    response = client.post(
        "/admin/issuer",
        data=ISSUER
        | {
            "vat_rate": "8",
            "vat_rate_meter_rental": "10",
            "vat_rate_from": "2026-01-01",
            "vat_rates_seen": seen(client),
        },
    )
    assert response.status_code == 302
    assert {(r.rate, r.kinds) for r in tax.rates(db.session)} == {
        (D("8.00"), (LineKind.GAS, LineKind.CONNECTION_FEE)),
        (D("10.00"), (LineKind.METER_RENTAL,)),
    }
    page = client.get("/admin/issuer")
    assert 'name="vat_rate_meter_rental" type="text" value="10"' in page.text
    assert 'name="vat_rate_connection_fee" type="text" value=""' in page.text
    meter = held_meter(code="HOTEL")
    form = {
        "invoice-meter_id": meter.serial,
        "invoice-number": "INV-11",
        "invoice-amount": "1.000.000",
        "invoice-meter_rental": "50.000",
        "invoice-issued_on": "2026-11-02",
        "invoice-due_on": "2026-11-30",
    }
    assert client.post("/customers/HOTEL/invoices", data=form).status_code == 302
    invoice = db.session.scalar(sa.select(Invoice).where(Invoice.number == "INV-11"))
    assert invoice.amount == D("1135000.00")
    printed = html.unescape(shown(client.get(f"/customers/HOTEL/invoices/{invoice.id}/print")))
    assert "VAT 8 % on Rp1.000.000,00 Rp80.000,00" in printed
    assert "VAT 10 % on Rp50.000,00 Rp5.000,00" in printed
    assert "Meter rental (VAT 10 %) Rp50.000,00" in printed


def test_the_postpaid_statement_says_a_two_rate_invoice_s_net_and_vat(client, finance):
    two_rates()
    meter = held_meter(code="CAFE")
    meter_invoices.add_invoice(
        meter, "INV-12", D("1050000"), DAY, DUE, lines=[NewLine(D("1000000")), NewLine(D("50000"), kind="meter_rental")]
    )
    page = html.unescape(shown(client.get("/customers/CAFE/billing-statement?month=2026-11")))
    assert "Net Rp1.050.000,00, VAT Rp85.000,00" in page


def test_the_migration_gives_every_invoice_made_before_its_lines_as_the_check_proves_them(app):
    rate("11")
    meter = held_meter()
    typed = meter_invoices.add_invoice(meter, "INV-13", D("1000000"), DAY, DUE)
    worded = [NewLine(D("0.05"), "Gas alam", D("1"), D("0.05"), "PPN 11%")] * 3
    imported = meter_invoices.add_invoice(meter, "INV-14", D("0.15"), DAY, DUE, lines=worded)
    before = {typed.id: lines(typed.id), imported.id: lines(imported.id)}
    db.session.remove()
    register_migrations(app)
    try:
        downgrade(revision="0102")
        upgrade(revision="0103")
    finally:
        upgrade()
    assert {invoice_id: lines(invoice_id) for invoice_id in before} == before
    assert [r.kinds for r in tax.rates(db.session)] == [tuple(LineKind)]
    assert clean(*CHECKS)
