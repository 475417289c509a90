"""Indonesia's month of tax: the tax register a tax accountant files (a row per invoice and rate, the transaction
code, the buyer's TIN as the tax office writes it, NITKU, address, base, other base, rate, VAT, total and the tax
office's number, with totals by rate), the e-Faktur XML Coretax imports (DJP's template, field by field), the
numbers brought back printed on the invoices, and each refusal said in the reader's language, nothing written."""

from __future__ import annotations

import html
import io
import xml.etree.ElementTree as ET
from datetime import date
from decimal import Decimal

import openpyxl
import pytest
import sqlalchemy as sa

from backoffice.models import Customer, Invoice, Issuer, LineKind, TaxStatus
from backoffice.platform.extensions import db
from backoffice.services import authority, efaktur, meter_invoices, tax
from backoffice.services.authority import Given
from backoffice.services.meter_invoices import NewLine
from tests.billing.test_vat import DAY, DUE, held_meter, rate
from tests.pages import INDONESIAN, shown

D = Decimal
MONTH = "2026-11"

TAX_INVOICE = [
    "TaxInvoiceDate",
    "TaxInvoiceOpt",
    "TrxCode",
    "AddInfo",
    "CustomDoc",
    "CustomDocMonthYear",
    "RefDesc",
    "FacilityStamp",
    "SellerIDTKU",
    "BuyerTin",
    "BuyerDocument",
    "BuyerCountry",
    "BuyerDocumentNumber",
    "BuyerName",
    "BuyerAdress",
    "BuyerEmail",
    "BuyerIDTKU",
    "ListOfGoodService",
]
"""DJP's template of a TaxInvoice (Coretax's Faktur Keluaran), its fields in order."""
GOOD_SERVICE = [
    "Opt",
    "Code",
    "Name",
    "Unit",
    "Price",
    "Qty",
    "TotalDiscount",
    "TaxBase",
    "OtherTaxBase",
    "VATRate",
    "VAT",
    "STLGRate",
    "STLG",
]


def said(response) -> str:
    """The page's words, its character references read."""
    return html.unescape(shown(response))


def issuer(tax_number: str = "01.234.567.8-901.000", nitku: str = "") -> None:
    db.session.add(Issuer(id=1, name="PT Gas Nusantara", tax_number=tax_number, nitku=nitku))
    db.session.commit()


def indonesian_month() -> dict[str, Invoice]:
    """A month of invoices to customers taxed (a 15-digit NPWP with dots, a 16-digit one with its NITKU, a NIK),
    exempt (no tax number) and zero-rated; one of two lines, one withdrawn, one the tax office numbered, one it
    numbered and that was corrected since."""
    rate("11")
    issuer()
    cafe = held_meter(
        code="CAFE", name="Café Señor", tax_number="01.234.567.8-901.000", address="Jl. Merdeka 1", city="Bandung"
    )
    mill = held_meter(code="MILL", name="PT Pabrik", tax_number="0987654321098765", nitku="0987654321098765000001")
    warung = held_meter(code="WARUNG", name="Bu Tini", tax_number="3171234567890001", email="tini@example.id")
    school = held_meter(code="SCHOOL", name="Sekolah", tax_status=TaxStatus.EXEMPT.value)
    embassy = held_meter(code="EMBASSY", name="Kedutaan", tax_number="1234567890123456", tax_status="zero_rated")
    add = meter_invoices.add_invoice
    made = {
        "A": add(
            cafe,
            "INV-A",
            D("1050000"),
            DAY,
            DUE,
            lines=[NewLine(D("1000000")), NewLine(D("50000"), kind=LineKind.METER_RENTAL.value)],
        ),
        "B": add(mill, "INV-B", D("2000000"), DAY, DUE),
        "C": add(warung, "INV-C", D("300000"), DAY, DUE),
        "D": add(school, "INV-D", D("500000"), DAY, DUE),
        "E": add(embassy, "INV-E", D("400000"), DAY, DUE),
        "N": add(mill, "INV-N", D("100000"), DAY, DUE),
        "R": add(mill, "INV-R", D("200000"), DAY, DUE),
        "W": add(cafe, "INV-W", D("700000"), DAY, DUE),
    }
    meter_invoices.withdraw_invoice(made["W"], "twice")
    authority.record_numbers([Given("INV-N", "04002600000000010"), Given("INV-R", "04002600000000011")])
    meter_invoices.change_invoice(db.session.get(Invoice, made["R"].id), "INV-R", D("250000"), DUE)
    return made


def tax_invoices(body: bytes) -> dict[str, ET.Element]:
    root = ET.fromstring(body)
    assert root.tag == "TaxInvoiceBulk" and [child.tag for child in root] == ["TIN", "ListOfTaxInvoice"]
    assert root.findtext("TIN") == "0012345678901000"
    listed = root.find("ListOfTaxInvoice")
    found = {}
    for invoice in listed:
        assert invoice.tag == "TaxInvoice"
        assert [child.tag for child in invoice] == TAX_INVOICE
        for good in invoice.find("ListOfGoodService"):
            assert good.tag == "GoodService" and [child.tag for child in good] == GOOD_SERVICE
        found[invoice.findtext("RefDesc")] = invoice
    return found


def fields(element: ET.Element) -> dict[str, str]:
    return {child.tag: child.text or "" for child in element if len(child) == 0}


def test_an_indonesian_month_exports_the_xml_coretax_imports_field_by_field(app, client, finance):
    indonesian_month()
    response = client.get(f"/books/tax-register.xml?month={MONTH}")
    assert response.status_code == 200, shown(response)
    assert response.headers["Content-Disposition"] == 'attachment; filename="efaktur-coretax-2026-11.xml"'
    assert response.data.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    found = tax_invoices(response.data)
    # Withdrawn, and numbered unchanged: left out; numbered and corrected since: its replacement.
    assert sorted(found) == ["INV-A", "INV-B", "INV-C", "INV-D", "INV-E", "INV-R"]
    cafe = fields(found["INV-A"])
    assert cafe == {
        "TaxInvoiceDate": "2026-11-02",
        "TaxInvoiceOpt": "Normal",
        "TrxCode": "04",
        "AddInfo": "",
        "CustomDoc": "",
        "CustomDocMonthYear": "",
        "RefDesc": "INV-A",
        "FacilityStamp": "",
        "SellerIDTKU": "0012345678901000000000",
        "BuyerTin": "0012345678901000",
        "BuyerDocument": "TIN",
        "BuyerCountry": "IDN",
        "BuyerDocumentNumber": "-",
        "BuyerName": "Café Señor",
        "BuyerAdress": "Jl. Merdeka 1, Bandung",
        "BuyerEmail": "",
        "BuyerIDTKU": "0012345678901000000000",
    }
    gas, rental = (fields(good) for good in found["INV-A"].find("ListOfGoodService"))
    assert gas == {
        "Opt": "A",
        "Code": "000000",
        "Name": "gas",
        "Unit": "UM.0033",
        "Price": "1000000",
        "Qty": "1",
        "TotalDiscount": "0",
        "TaxBase": "1000000",
        "OtherTaxBase": "916666.67",
        "VATRate": "12",
        "VAT": "110000",
        "STLGRate": "0",
        "STLG": "0",
    }
    assert (rental["Opt"], rental["TaxBase"], rental["OtherTaxBase"], rental["VAT"]) == (
        "B",
        "50000",
        "45833.33",
        "5500",
    )
    mill = fields(found["INV-B"])
    assert (mill["BuyerTin"], mill["BuyerIDTKU"], mill["TrxCode"]) == (
        "0987654321098765",
        "0987654321098765000001",
        "04",
    )
    warung = fields(found["INV-C"])  # a NIK is the TIN of an individual
    assert (warung["BuyerTin"], warung["BuyerDocument"], warung["BuyerIDTKU"], warung["BuyerEmail"]) == (
        "3171234567890001",
        "TIN",
        "3171234567890001000000",
        "tini@example.id",
    )
    school = fields(found["INV-D"])
    assert (school["TrxCode"], school["BuyerTin"], school["BuyerDocument"], school["BuyerIDTKU"]) == (
        "08",
        "0000000000000000",
        "Other",
        "000000",
    )
    school_gas = fields(found["INV-D"].find("ListOfGoodService")[0])
    assert (school_gas["TaxBase"], school_gas["OtherTaxBase"], school_gas["VATRate"], school_gas["VAT"]) == (
        "500000",
        "500000",
        "0",
        "0",
    )
    assert fields(found["INV-E"])["TrxCode"] == "07"
    replaced = fields(found["INV-R"])
    assert (replaced["TaxInvoiceOpt"], replaced["RefDesc"]) == ("Pengganti", "INV-R")
    assert fields(found["INV-R"].find("ListOfGoodService")[0])["TaxBase"] == "250000"


def test_the_register_page_links_the_xml_and_says_what_the_tax_office_needs(app, client, finance):
    made = indonesian_month()
    page = client.get(f"/books/tax-register?month={MONTH}")
    assert page.status_code == 200
    assert f'href="/books/tax-register.xml?month={MONTH}"' in page.text
    rows = shown(page)
    assert "None" not in rows
    assert "0012345678901000" in rows and "01.234.567.8-901.000" in rows and "0987654321098765000001" in rows
    assert "04002600000000010" in rows
    assert f'id="replace-{made["R"].id}"' in page.text and "replace in Coretax (Pengganti)" in rows
    assert "Total at 11 %" in rows and "Total at 0 %" in rows


def test_a_withdrawn_numbered_invoice_asks_its_cancellation_on_the_register(app, client, finance):
    made = indonesian_month()
    meter_invoices.withdraw_invoice(db.session.get(Invoice, made["N"].id), "issued by mistake")
    page = client.get(f"/books/tax-register?month={MONTH}")
    assert f'id="cancel-{made["N"].id}"' in page.text and "cancel in Coretax (Pembatalan)" in shown(page)


def test_the_register_downloads_have_the_new_columns_and_totals_rows_by_rate(app, client, finance):
    indonesian_month()
    csv = client.get(f"/books/tax-register.csv?month={MONTH}").text.removeprefix("\ufeff").splitlines()
    assert csv[0] == ",".join(tax.REGISTER_COLUMNS)
    assert csv[0].endswith(",trx_code,buyer_tin,nitku,address,other_base,authority_number")
    rows = [line.split(",") for line in csv[1:]]
    by_number = {}
    for row in rows:
        by_number.setdefault(row[1], []).append(row)
    assert len(by_number["INV-A"]) == 1  # gas and rental both at 11 %: one row
    assert by_number["INV-B"][0][11:] == [
        "04",
        "0987654321098765",
        "0987654321098765000001",
        "",
        "1833333.33",
        "",
    ]
    assert by_number["INV-N"][0][-1] == "04002600000000010"
    assert "None" not in "\n".join(csv)
    totals = [row for row in rows if row[0].startswith("Total")]
    assert [row[0] for row in totals] == ["Total at 0 %", "Total at 11 %", "Total"]
    at_0, at_11, grand = totals
    assert (at_0[6], at_0[8], at_0[9]) == ("900000.00", "0.00", "900000.00")
    # 1 050 000 + 2 000 000 + 300 000 + 100 000 + 250 000 at 11 % (the withdrawn left out)
    assert (at_11[6], at_11[8], at_11[9]) == ("3700000.00", "407000.00", "4107000.00")
    assert (grand[6], grand[8], grand[9]) == ("4600000.00", "407000.00", "5007000.00")
    book = openpyxl.load_workbook(io.BytesIO(client.get(f"/books/tax-register.xlsx?month={MONTH}").data)).active
    values = [[cell.value for cell in row] for row in book.iter_rows()]
    assert values[0] == tax.REGISTER_COLUMNS
    assert [row[0] for row in values[-3:]] == ["Total at 0 %", "Total at 11 %", "Total"]
    assert D(str(values[-1][8])) == D("407000")
    said = client.get(f"/books/tax-register.csv?month={MONTH}", headers=INDONESIAN).text
    header = said.removeprefix("\ufeff").splitlines()[0]
    assert "trx_code" not in header and "authority_number" not in header


def test_numbers_brought_back_print_on_the_invoices(app, client, finance):
    made = indonesian_month()
    printed = shown(client.get(f"/customers/MILL/invoices/{made['N'].id}/print"))
    assert "Tax office number 04002600000000010" in printed


@pytest.mark.parametrize(
    ("tax_number", "written"),
    [
        ("01.234.567.8-901.000", "0012345678901000"),
        ("012345678901000", "0012345678901000"),
        ("0123.4567-8901 2345", "0123456789012345"),
        ("3171234567890001", "3171234567890001"),
        (" ", None),
        (None, None),
    ],
)
def test_a_tin_is_written_as_the_tax_office_writes_it(app, tax_number, written):
    assert efaktur.tin(tax_number) == written


@pytest.mark.parametrize(
    "tax_number", ["12.345", "01.234.567.8-901.00", "A012345678Z", "０１２３４５６７８９０１２３４"]
)
def test_anything_else_is_no_tin(app, tax_number):
    with pytest.raises(efaktur.TinError, match="is no NPWP"):
        efaktur.tin(tax_number)


def test_the_transaction_code_follows_the_customer_s_status_and_the_rate(app):
    assert efaktur.trx_code("taxed", date(2026, 1, 5), {D("11")}) == "04"
    assert efaktur.trx_code(None, date(2026, 1, 5), {D("12")}) == "01"
    assert efaktur.trx_code("taxed", date(2024, 12, 31), {D("11")}) == "01"
    assert efaktur.trx_code("taxed", date(2026, 1, 5), {D("11"), D("12")}) == "01"
    assert efaktur.trx_code("zero_rated", date(2026, 1, 5), {D("0")}) == "07"
    assert efaktur.trx_code("exempt", date(2026, 1, 5), {D("0")}) == "08"
    assert efaktur.other_base(D("1000000"), "04", 2) == D("916666.67")
    assert efaktur.other_base(D("1000000"), "01", 2) == D("1000000")


# --- Refusals -------------------------------------------------------------------------------------------------------


def test_a_customer_s_tax_number_that_is_no_tin_is_refused_on_the_form_in_the_reader_s_language(client, finance):
    from tests.customers.test_customers_web import NEW  # noqa: PLC0415

    response = client.post("/customers/new", data=NEW | {"tax_number": "12.345"}, headers=INDONESIAN)
    assert response.status_code == 422
    error = response.get_data(as_text=True).split('id="error-tax_number">', 1)[1].split("</div>", 1)[0]
    assert "12.345 bukan NPWP" in error
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 0
    assert client.post("/customers/new", data=NEW | {"tax_number": "01.234.567.8-901.000"}).status_code == 302


def test_a_tax_number_coretax_would_refuse_is_reported_by_the_register_and_the_xml_writes_nothing(app, client, finance):
    indonesian_month()
    # As a customer saved before the rule was: the tax number typed then.
    db.session.execute(sa.update(Customer).where(Customer.code == "WARUNG").values(tax_number="12.345"))
    db.session.commit()
    page = client.get(f"/books/tax-register?month={MONTH}", headers=INDONESIAN)
    assert 'id="tax-register-unread"' in page.text and "WARUNG" in shown(page)
    response = client.get(f"/books/tax-register.xml?month={MONTH}", headers=INDONESIAN)
    assert response.status_code == 302 and response.location.endswith(f"/books/tax-register?month={MONTH}")
    told = said(client.get(response.location, headers=INDONESIAN))
    assert "WARUNG (12.345)" in told and "Kantor pajak akan menolak" in told


def test_without_the_issuer_s_npwp_the_xml_is_refused(app, client, finance):
    rate("11")
    held_meter(code="CAFE", name="Café", tax_number="01.234.567.8-901.000")
    response = client.get(f"/books/tax-register.xml?month={MONTH}", headers=INDONESIAN)
    assert response.status_code == 302
    assert "Coretax memerlukan NPWP penerbit" in said(client.get(response.location, headers=INDONESIAN))


def test_a_character_xml_cannot_hold_is_refused_saying_where(app, client, finance):
    indonesian_month()
    db.session.execute(sa.update(Customer).where(Customer.code == "MILL").values(address="Jl. Raya\x01 5"))
    db.session.commit()
    response = client.get(f"/books/tax-register.xml?month={MONTH}")
    assert response.status_code == 302
    assert "Customer MILL's address holds a character an XML file cannot hold" in said(client.get(response.location))
    again = client.get(f"/books/tax-register.xml?month={MONTH}", headers=INDONESIAN)
    assert "Alamat pelanggan MILL memuat karakter" in said(client.get(again.location, headers=INDONESIAN))


def test_the_command_writes_the_month_s_file(app, runner, tmp_path):
    indonesian_month()
    out = tmp_path / "faktur.xml"
    result = runner.invoke(args=["books", "coretax-xml", MONTH, "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "5 tax invoices, 1 replacements" in result.output
    assert sorted(tax_invoices(out.read_bytes())) == ["INV-A", "INV-B", "INV-C", "INV-D", "INV-E", "INV-R"]
    assert runner.invoke(args=["books", "coretax-xml", "2026-13"]).exit_code == 2


def test_a_customer_s_nitku_is_kept_as_its_22_digits_and_anything_else_is_refused(client, finance):
    from tests.customers.test_customers_web import NEW  # noqa: PLC0415

    refused = client.post("/customers/new", data=NEW | {"tax_number": "0987654321098765", "nitku": "0987-65"})
    assert refused.status_code == 422 and 'id="error-nitku"' in refused.text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 0
    saved = client.post(
        "/customers/new", data=NEW | {"tax_number": "0987654321098765", "nitku": "0987654321098765-000001"}
    )
    assert saved.status_code == 302
    assert db.session.scalar(sa.select(Customer.nitku)) == "0987654321098765000001"


def test_the_invoice_s_page_says_what_coretax_needs_of_it(app, client, finance):
    made = indonesian_month()
    replaced = said(client.get(f"/customers/MILL/invoices/{made['R'].id}/edit", headers=INDONESIAN))
    assert "04002600000000011" in replaced and "Pengganti" in replaced
    meter_invoices.withdraw_invoice(db.session.get(Invoice, made["N"].id), "issued by mistake")
    page = client.get(f"/customers/MILL/invoices/{made['N'].id}/edit")
    assert 'id="coretax-cancel-note"' in page.text and "(Pembatalan)" in said(page)
    plain = client.get(f"/customers/MILL/invoices/{made['B'].id}/edit")
    assert "coretax-" not in plain.text
