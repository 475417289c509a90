"""Documents fit to send: an invoice that bills its readings line by line and says how to pay it, and a statement of
account dated the day it is printed, each a page to print and a PDF drawn on the server from the same page (A4, its
fonts embedded, its pages numbered, its text one a reader can copy), in the reader's language."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice.models import Customer
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.services import issuer, meter_invoices, meter_lifecycle, meter_payments, metering, wallet
from tests.conftest import require_service
from tests.factories import CustomerFactory, MeterFactory

D = Decimal
ISSUER = {
    "name": "PT Gas Nusantara",
    "address": "Jl. Jend. Sudirman Kav. 1, Jakarta 10220",
    "tax_number": "01.234.567.8-901.000",
    "bank_accounts": "Bank Mandiri 123-00-0456789-0 a.n. PT Gas Nusantara",
    "payment_instructions_id": "Cantumkan nomor faktur sebagai berita transfer.",
    "payment_instructions_vi": "Ghi số hóa đơn trong nội dung chuyển khoản.",
}
WORDS = {
    "id": ("Faktur INV-11", "Jatuh tempo", "Cantumkan INV-11 sebagai referensi pembayaran.", "12 Okt 2026"),
    "vi": ("Hóa đơn INV-11", "Hạn thanh toán", "INV-11", "12 thg 10, 2026"),
}


def speaks(language: str) -> None:
    """ACME reads its documents in ``language``."""
    db.session.scalar(sa.select(Customer).where(Customer.code == "ACME")).language = language
    db.session.commit()


def pdf_pages(body: bytes, tmp_path) -> list[str]:
    """Each page's text of the PDF, as pdftotext reads it."""
    return pdf_text(body, tmp_path, keep_pages=True).split("\f")[:-1]


def pdf_text(body: bytes, tmp_path, name: str = "document", *, keep_pages: bool = False) -> str:
    """What a reader copies out of the PDF, as pdftotext reads it."""
    if shutil.which("pdftotext") is None:
        require_service("poppler-utils", "Debian's poppler-utils package is not installed")
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(body)
    found = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True)
    return found.stdout if keep_pages else " ".join(found.stdout.split())


def pdf_info(body: bytes, tmp_path, tool: str) -> str:
    path = tmp_path / "info.pdf"
    path.write_bytes(body)
    return subprocess.run([tool, str(path)], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def billed(app):
    """ACME's meter M-A at Rp7.500 per Sm³ (factor 1,02), read on 12 Oct and 20 Oct 2026, then invoiced INV-11 on
    1 Nov 2026 for the two readings and Rp50.000 more; the issuer saved."""
    issuer.save(ISSUER, version=None)
    customer = CustomerFactory(code="ACME", name="Acme Hotel", address="Jl. Mawar 1, Bandung")
    meter = MeterFactory(serial="M-A")
    meter_lifecycle.assign_meter(meter, customer, date(2026, 9, 1))
    wallet.recharge(customer, D("10000000"), value_date=date(2026, 9, 1))
    metering.set_pricing(customer.id, date(2026, 9, 1), D("7500.00"), D("1.020000"))
    first = metering.record_reading(meter.id, date(2026, 10, 12), D("100"))
    second = metering.record_reading(meter.id, date(2026, 10, 20), D("40.5"))
    readings = D("765000.00") + D("309825.00")  # 102 Sm³ and 41,31 Sm³ at Rp7.500
    invoice = meter_invoices.add_invoice(meter, "INV-11", readings + D("50000"), date(2026, 11, 1), date(2026, 11, 15))
    return {"invoice": invoice, "readings": (first, second)}


@pytest.mark.parametrize("language", ["id", "vi"])
def test_the_invoice_pdf_bills_each_reading_and_how_to_pay_in_the_customers_language(
    client, finance, billed, language, tmp_path
):
    speaks(language)
    invoice = billed["invoice"]
    response = client.get(f"/customers/ACME/invoices/{invoice.id}.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == 'attachment; filename="invoice-INV-11.pdf"'
    text = pdf_text(response.get_data(), tmp_path)
    title, due, reference, first_day = WORDS[language]
    assert title in text and due in text and reference in text and first_day in text
    assert "PT Gas Nusantara" in text and "NPWP 01.234.567.8-901.000" in text
    assert "Bank Mandiri 123-00-0456789-0 a.n. PT Gas Nusantara" in text
    # The issuer's payment instructions in the document's language, never another's.
    instructions = {"id": "Cantumkan nomor faktur sebagai berita transfer.", "vi": "Ghi số hóa đơn trong nội dung"}
    assert instructions[language] in text and instructions[{"id": "vi", "vi": "id"}[language]] not in text
    assert "Acme Hotel" in text and "M-A" in text
    # Each reading: its volume, its Sm³, the price and what it costs; then what the invoice asks beyond them.
    for volume, sm3, amount in (("100,0000", "102,0000", "765.000"), ("40,5000", "41,3100", "309.825")):
        assert volume in text and sm3 in text and amount in text
    assert "7.500" in text and "50.000" in text and "1.124.825" in text
    assert "backoffice" not in text
    assert re.search(r"\b1 ?/ ?1$", text)  # the page's number at its foot


def test_the_pdf_is_a4_with_its_fonts_embedded(client, finance, billed, tmp_path):
    body = client.get(f"/customers/ACME/invoices/{billed['invoice'].id}.pdf").get_data()
    if shutil.which("pdffonts") is None:
        require_service("poppler-utils", "Debian's poppler-utils package is not installed")
    assert "A4" in pdf_info(body, tmp_path, "pdfinfo")
    fonts = pdf_info(body, tmp_path, "pdffonts").splitlines()[2:]
    assert fonts and all(" yes " in font for font in fonts), fonts


def test_an_invoice_of_a_meter_without_readings_bills_the_gas_supplied_as_one_line(client, finance, app):
    customer = CustomerFactory(code="BETA", name="Beta Bakery")
    meter = MeterFactory(serial="M-B")
    meter_lifecycle.assign_meter(meter, customer, date(2026, 9, 1))
    invoice = meter_invoices.add_invoice(meter, "B-1", D("300000"), date(2026, 10, 1), date(2026, 10, 15))
    page = " ".join(client.get(f"/customers/BETA/invoices/{invoice.id}/print").get_data(as_text=True).split())
    assert "Gas supplied through meter M-B" in page and 'id="billed-rest"' in page
    assert 'id="invoice-total"><strong>Rp300.000,00' in page


@pytest.mark.parametrize(("status", "said"), [("zero_rated", "PPN 0 % (tarif PPN 0%)"), (None, "PPN 0 %")])
def test_an_invoice_that_charged_no_vat_prints_its_base_its_vat_at_0_and_its_total(
    client, finance, app, tmp_path, status, said
):
    """A zero-rated customer's invoice, and one charged no VAT (no rate in force), print their base (DPP), their VAT
    with its rate, 0 %, and why, and their total: never the amount alone."""
    issuer.save(ISSUER, version=None)
    customer = CustomerFactory(code="NOL", name="Nol Industri", language="id", tax_status=status)
    meter = MeterFactory(serial="M-NOL")
    meter_lifecycle.assign_meter(meter, customer, date(2026, 9, 1))
    invoice = meter_invoices.add_invoice(meter, "NOL-1", D("300000"), date(2026, 10, 1), date(2026, 10, 15))
    assert invoice.vat is None
    text = " ".join(pdf_text(client.get(f"/customers/NOL/invoices/{invoice.id}.pdf").get_data(), tmp_path).split())
    assert "DPP Rp300.000,00" in text and f"{said} Rp0,00" in text and "Total Rp300.000,00" in text
    page = " ".join(client.get(f"/customers/NOL/invoices/{invoice.id}/print").get_data(as_text=True).split())
    assert 'id="invoice-net">Rp300.000,00' in page and 'id="invoice-vat">Rp0,00' in page


def test_how_to_pay_is_never_split_across_pages(client, finance, tmp_path):
    """However many readings push it down, an invoice's "How to pay" (its heading, the reference and every bank
    account) is printed whole on one page: no bank line is left alone on the next."""
    banks = [f"Bank {n} 123-00-0456789-{n} a.n. PT Gas Nusantara" for n in range(4)]
    issuer.save(ISSUER | {"bank_accounts": "\n".join(banks)}, version=None)
    pages_of_section = set()
    for count in range(2, 13, 2):
        customer = CustomerFactory(code=f"C{count}", language="id")
        meter = MeterFactory(serial=f"M-{count}")
        meter_lifecycle.assign_meter(meter, customer, date(2026, 1, 1))
        metering.set_pricing(customer.id, date(2026, 1, 1), D("7500.00"), D("1.020000"))
        wallet.recharge(customer, D("900000000"), value_date=date(2026, 1, 1))
        for week in range(count):
            metering.record_reading(meter.id, date(2026, 1, 2) + timedelta(weeks=week), D("10"))
        invoice = meter_invoices.add_invoice(meter, f"I-{count}", D("1000000"), date(2026, 11, 1), date(2026, 11, 15))
        body = client.get(f"/customers/C{count}/invoices/{invoice.id}.pdf").get_data()
        pages = pdf_pages(body, tmp_path)
        holding = [n for n, page in enumerate(pages) if "Cara membayar" in page or any(bank in page for bank in banks)]
        assert len(holding) == 1, (count, holding)
        assert all(bank in pages[holding[0]] for bank in banks) and "Cara membayar" in pages[holding[0]]
        pages_of_section.add(holding[0])
    assert pages_of_section == {0, 1}  # the readings pushed the section across the page's end


def test_the_invoice_bills_the_readings_since_the_meter_s_previous_invoice(client, finance, billed):
    meter = billed["invoice"].meter
    metering.record_reading(meter.id, date(2026, 11, 5), D("10"))
    later = meter_invoices.add_invoice(meter, "INV-12", D("76500"), date(2026, 11, 20), date(2026, 12, 5))
    page = " ".join(client.get(f"/customers/ACME/invoices/{later.id}/print").get_data(as_text=True).split())
    assert page.count('class="billed-reading"') == 1 and "5 Nov 2026" in page and 'id="billed-rest"' not in page
    assert "2 Nov 2026 to 20 Nov 2026" in page  # the day after the previous invoice, to this one


def named_today(language: str) -> str:
    from babel.dates import format_date

    return format_date(local_today(), "d MMM, y" if language == "vi" else "d MMM y", locale=language)


@pytest.mark.parametrize("language", ["id", "vi"])
def test_a_statement_as_pdf_is_dated_the_day_it_is_printed_and_closes_on_it(
    client, finance, billed, language, tmp_path
):
    speaks(language)
    month = local_today().strftime("%Y-%m")
    prepaid = client.get(f"/customers/ACME/statement.pdf?month={month}")
    assert prepaid.status_code == 200 and prepaid.mimetype == "application/pdf"
    text = pdf_text(prepaid.get_data(), tmp_path, "prepaid")
    today = named_today(language)
    assert {"id": "Tanggal laporan rekening", "vi": "Ngày sao kê"}[language] in text and today in text
    assert "PT Gas Nusantara" in text and "NPWP 01.234.567.8-901.000" in text and "Bank Mandiri" in text
    assert "nạp nạp" not in text and "khối lượng" not in text.lower()  # the glossary's words, none said twice
    page = client.get(f"/customers/ACME/statement?month={month}").get_data(as_text=True)
    assert f'<td id="closing-date">{named_today("en")}</td>' in page  # never the month's last day, still to come

    postpaid = client.get("/customers/ACME/billing-statement.pdf?since=2026-10-01")
    text = pdf_text(postpaid.get_data(), tmp_path, "postpaid")
    assert "INV-11" in text and "1.124.825" in text and today in text
    assert {"id": "Cantumkan ACME sebagai referensi pembayaran.", "vi": "Ghi ACME"}[language] in text


def test_a_clerk_sets_a_customers_documents_language_and_one_not_offered_is_refused(client, finance, billed):
    form = {"name": "Acme Hotel", "version": "1", "address": "Jl. Mawar 1, Bandung"}
    refused = client.post("/customers/ACME/edit", data=form | {"language": "fr"})
    assert refused.status_code == 422 and "Choose one of the languages offered." in refused.get_data(as_text=True)
    assert db.session.scalar(sa.select(Customer.language).where(Customer.code == "ACME")) is None
    version = db.session.scalar(sa.select(Customer.version).where(Customer.code == "ACME"))
    saved = client.post("/customers/ACME/edit", data=form | {"language": "vi", "version": str(version)})
    assert saved.status_code == 302, saved.get_data(as_text=True)
    db.session.rollback()
    assert db.session.scalar(sa.select(Customer.language).where(Customer.code == "ACME")) == "vi"


LONG_NAME = "PT Perusahaan Gas Alam Nusantara Sejahtera Makmur Abadi Jaya Sentosa Internasional Tbk"
EDGE = 5 / 25.4 * 72
"""5 mm, in the points a PDF measures in: no word lies nearer a page's edge."""


@pytest.fixture
def commercial(app):
    """A commercial customer whose figures run to billions, with a long name and address: its wallet, its meter read
    and invoiced, a payment beyond the invoice (a negative balance on the postpaid statement), then an invoice of
    which the payment's credit leaves most open (its aging)."""
    issuer.save(ISSUER, version=None)
    customer = CustomerFactory(
        code="KOMERSIAL-0001",
        name=LONG_NAME,
        address="Kawasan Industri Jababeka II, Jl. Industri Selatan 5 Blok PP No. 1A-1B, Cikarang, Bekasi 17550",
        city="Kabupaten Bekasi",
        tax_number="09.876.543.2-109.000",
        tax_status="zero_rated",
    )
    meter = MeterFactory(serial="M-KOMERSIAL-000000000001")
    meter_lifecycle.assign_meter(meter, customer, date(2026, 9, 1))
    wallet.recharge(customer, D("9876543210.00"), value_date=date(2026, 10, 2))
    metering.set_pricing(customer.id, date(2026, 9, 1), D("7500.00"), D("1.020000"))
    metering.record_reading(meter.id, date(2026, 10, 12), D("600000"))
    invoice = meter_invoices.add_invoice(
        meter, "FKT/2026/10/000052", D("4709125000.00"), date(2026, 10, 31), date(2026, 11, 15)
    )
    meter_payments.add_payment(meter, D("5000000000.00"), date(2026, 11, 2), reference="TRF-2026-11-02-000123456789")
    meter_invoices.add_invoice(meter, "FKT/2026/11/000001", D("1234567890.00"), date(2026, 11, 3), date(2026, 11, 4))
    return invoice


def words_near_the_edge(body: bytes, tmp_path) -> list[str]:
    """The words of the PDF that lie within 5 mm of their page's edge, with where they lie."""
    path = tmp_path / "boxes.pdf"
    path.write_bytes(body)
    boxes = subprocess.run(["pdftotext", "-bbox", str(path), "-"], check=True, capture_output=True, text=True).stdout
    near = []
    for page in re.finditer(r'<page width="([\d.]+)" height="([\d.]+)">(.*?)</page>', boxes, re.S):
        width, height = float(page[1]), float(page[2])
        for word in re.finditer(
            r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>', page[3]
        ):
            x_min, y_min, x_max, y_max = (float(word[n]) for n in range(1, 5))
            if x_min < EDGE or y_min < EDGE or x_max > width - EDGE or y_max > height - EDGE:
                near.append(f"{word[5]} ({x_min:.0f}–{x_max:.0f} of {width:.0f})")
    return near


@pytest.mark.parametrize("language", ["id", "vi"])
def test_every_document_lies_within_its_page_with_billions_and_long_names(
    client, finance, commercial, language, tmp_path
):
    """Each document a customer receives, drawn with amounts in the billions and a long name, keeps every word 5 mm
    inside its page, every amount whole (a negative one on one line), whatever its language."""
    db.session.scalar(sa.select(Customer).where(Customer.code == "KOMERSIAL-0001")).language = language
    db.session.commit()
    documents = {
        "invoice": f"/customers/KOMERSIAL-0001/invoices/{commercial.id}.pdf",
        "prepaid": "/customers/KOMERSIAL-0001/statement.pdf?month=2026-10",
        "postpaid": "/customers/KOMERSIAL-0001/billing-statement.pdf?since=2026-10-01",
    }
    amounts = {
        "invoice": ["4.709.125.000,00"],
        "prepaid": ["9.876.543.210,00", "4.590.000.000,00"],
        "postpaid": ["4.709.125.000,00", "5.000.000.000,00", "943.692.890,00", "-(Rp)?290.875.000,00"],
    }
    for name, url in documents.items():
        response = client.get(url)
        assert response.status_code == 200, (name, response.get_data(as_text=True)[:300])
        body = response.get_data()
        assert words_near_the_edge(body, tmp_path) == [], name
        text = pdf_text(body, tmp_path, name)
        # The customer as the tax office knows it: its tax number and status, on every document.
        assert "NPWP 09.876.543.2-109.000" in text and {"id": "Tarif 0%", "vi": "Thuế suất 0%"}[language] in text
        for amount in amounts[name]:
            assert re.search(rf"(?<![\d.]){amount.replace('.', '[.]')}", text), (name, amount, text)
