"""Each invoice as its tax office reads it: Vietnam's e-invoice XML (QĐ 1450/QĐ-TCT), Kenya's eTIMS sale (the
``saveTrnsSalesOsdc`` body); what cannot be written so is refused with what to correct, and nothing is given."""

from __future__ import annotations

import html
import json
import xml.etree.ElementTree as ET
from datetime import date
from decimal import Decimal

import pytest

from backoffice.models import Customer, Invoice, Issuer, LineKind, MeterAssignment, TaxStatus
from backoffice.platform.extensions import db
from backoffice.services import authority, einvoices, issuer, meter_invoices, tax
from backoffice.services.authority import Given
from backoffice.services.einvoices import EInvoiceError
from backoffice.services.meter_invoices import NewLine
from tests.billing.test_vat import DAY, DUE, held_meter
from tests.billing.test_vat_lines import kind_rate, two_rates
from tests.pages import shown

D = Decimal
VIETNAM = {
    "name": "Công ty Khí Sài Gòn",
    "address": "12 Nguyễn Huệ, Quận 1, TP. Hồ Chí Minh",
    "tax_number": "0301234567",
    "einvoice_template": "1",
    "einvoice_series": "C26TAA",
}
KENYA = {
    "name": "Nairobi Gas Ltd",
    "address": "Mombasa Road, Nairobi",
    "tax_number": "P051234567X",
    "etims_branch": "00",
    "etims_device": "KRACU0100000001",
}


def saved_issuer(app, locale: str, values: dict) -> None:
    app.config["LOCALE"] = locale
    version = db.session.get(Issuer, 1).version if db.session.get(Issuer, 1) else None
    issuer.save(values, version=version)


def vietnamese_invoice(meter=None, number: str = "HD-0000012", **customer) -> Invoice:
    """Vietnam's day: a gas line at 8 %, a meter's rental at 10 %."""
    return meter_invoices.add_invoice(
        meter or held_meter(**customer),
        number,
        D("1050000"),
        DAY,
        DUE,
        lines=[NewLine(D("1000000")), NewLine(D("50000"), kind=LineKind.METER_RENTAL.value)],
    )


def _holder(invoice: Invoice) -> Customer:
    assignment = db.session.query(MeterAssignment).filter_by(meter_id=invoice.meter_id).one()
    return db.session.get(Customer, assignment.customer_id)


def parsed(body: bytes) -> ET.Element:
    return ET.fromstring(body)


def texts(element: ET.Element, path: str) -> list[str]:
    return [found.text or "" for found in element.findall(path)]


def test_a_vietnamese_invoice_with_gas_at_8_and_a_rental_at_10_exports_both_rates(app):
    saved_issuer(app, "vi_VN", VIETNAM)
    two_rates()
    invoice = vietnamese_invoice(code="KS-01", name="Khách sạn Bến Thành", tax_number="0309876543", city="Hồ Chí Minh")
    root = parsed(einvoices.vietnam_xml(invoice, _holder(invoice)))
    assert root.tag == "HDon" and [child.tag for child in root] == ["DLHDon", "DSCKS"]
    data = root.find("DLHDon")
    assert data.get("Id") and [child.tag for child in data] == ["TTChung", "NDHDon"]
    general = data.find("TTChung")
    assert [child.tag for child in general] == [
        "PBan",
        "THDon",
        "KHMSHDon",
        "KHHDon",
        "SHDon",
        "NLap",
        "DVTTe",
        "TGia",
        "HTTToan",
        "MSTTCGP",
    ]
    assert {child.tag: child.text for child in general} | {"MSTTCGP": None} == {
        "PBan": "2.0.0",
        "THDon": "Hóa đơn giá trị gia tăng",
        "KHMSHDon": "1",
        "KHHDon": "C26TAA",
        "SHDon": "12",
        "NLap": "2026-11-02",
        "DVTTe": "VND",
        "TGia": "1",
        "HTTToan": "TM/CK",
        "MSTTCGP": None,
    }
    content = data.find("NDHDon")
    assert [child.tag for child in content] == ["NBan", "NMua", "DSHHDVu", "TToan"]
    assert texts(content, "NBan/Ten") == ["Công ty Khí Sài Gòn"] and texts(content, "NBan/MST") == ["0301234567"]
    assert texts(content, "NMua/Ten") == ["Khách sạn Bến Thành"] and texts(content, "NMua/MST") == ["0309876543"]
    items = content.findall("DSHHDVu/HHDVu")
    assert [[child.tag for child in item] for item in items] == [["TChat", "STT", "THHDVu", "ThTien", "TSuat"]] * 2
    assert [(texts(i, "STT"), texts(i, "ThTien"), texts(i, "TSuat")) for i in items] == [
        (["1"], ["1000000"], ["8%"]),
        (["2"], ["50000"], ["10%"]),
    ]
    assert texts(content, "DSHHDVu/HHDVu/TChat") == ["1", "1"]
    totals = content.find("TToan")
    assert [child.tag for child in totals] == ["THTTLTSuat", "TgTCThue", "TgTThue", "TgTTTBSo", "TgTTTBChu"]
    rates = [[child.text for child in rate] for rate in totals.findall("THTTLTSuat/LTSuat")]
    assert rates == [["8%", "1000000", "80000"], ["10%", "50000", "5000"]]
    assert [totals.find(tag).text for tag in ("TgTCThue", "TgTThue", "TgTTTBSo")] == ["1050000", "85000", "1135000"]
    assert totals.find("TgTTTBChu").text == "Một triệu một trăm ba mươi lăm nghìn đồng"
    assert list(root.find("DSCKS")) == []


def test_an_exempt_customer_s_lines_say_kct_and_no_rate_in_force_kkknt(app):
    saved_issuer(app, "vi_VN", VIETNAM)
    exempt = meter_invoices.add_invoice(held_meter(tax_status=TaxStatus.EXEMPT.value), "HD-1", D("500"), DAY, DUE)
    root = parsed(einvoices.vietnam_xml(exempt, _holder(exempt)))
    assert texts(root, ".//HHDVu/TSuat") == ["KCT"] and texts(root, ".//LTSuat/TSuat") == ["KCT"]
    untaxed = meter_invoices.add_invoice(held_meter(), "HD-2", D("500"), DAY, DUE)
    assert texts(parsed(einvoices.vietnam_xml(untaxed, _holder(untaxed))), ".//HHDVu/TSuat") == ["KKKNT"]


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        (D("0"), "Không đồng"),
        (D("15"), "Mười lăm đồng"),
        (D("21"), "Hai mươi mốt đồng"),
        (D("105"), "Một trăm lẻ năm đồng"),
        (D("1000001"), "Một triệu lẻ một đồng"),
        (D("2500000000"), "Hai tỷ năm trăm triệu đồng"),
    ],
)
def test_an_amount_is_said_in_vietnamese_words(app, amount, words):
    assert einvoices.amount_in_words(amount) == words


def test_an_invoice_without_template_or_series_is_refused_saying_where_to_set_them(app):
    saved_issuer(app, "vi_VN", VIETNAM | {"einvoice_template": "", "einvoice_series": ""})
    invoice = meter_invoices.add_invoice(held_meter(), "HD-3", D("100"), DAY, DUE)
    with pytest.raises(EInvoiceError, match="template symbol .* Issuer page") as refused:
        einvoices.vietnam_xml(invoice, _holder(invoice))
    assert refused.value.field == "einvoice_template"
    issuer.save(VIETNAM | {"einvoice_series": ""}, version=db.session.get(Issuer, 1).version)
    with pytest.raises(EInvoiceError, match="series .* Issuer page"):
        einvoices.vietnam_xml(invoice, _holder(invoice))
    issuer.save(VIETNAM | {"einvoice_series": "C25TAA"}, version=db.session.get(Issuer, 1).version)
    with pytest.raises(EInvoiceError, match="Series C25TAA is of the year 2025"):
        einvoices.vietnam_xml(invoice, _holder(invoice))


def test_an_address_holding_a_character_xml_cannot_hold_is_refused(app):
    saved_issuer(app, "vi_VN", VIETNAM)
    invoice = meter_invoices.add_invoice(held_meter(address="12 Lê Lợi\x01"), "HD-4", D("100"), DAY, DUE)
    with pytest.raises(EInvoiceError, match="The customer's address holds a character"):
        einvoices.vietnam_xml(invoice, _holder(invoice))


def test_a_number_without_its_number_in_the_series_is_refused(app):
    saved_issuer(app, "vi_VN", VIETNAM)
    invoice = meter_invoices.add_invoice(held_meter(), "HD-A", D("100"), DAY, DUE)
    with pytest.raises(EInvoiceError, match="does not end with its number in the series"):
        einvoices.vietnam_xml(invoice, _holder(invoice))


def test_the_issuer_page_keeps_the_template_and_series_checked_in_vietnam(app, client, admin):
    app.config["LOCALE"] = "vi_VN"
    page = client.get("/admin/issuer").text
    assert 'name="einvoice_series"' in page and 'name="etims_branch"' not in page
    form = VIETNAM | {"version": ""}
    refused = client.post("/admin/issuer", data=form | {"einvoice_series": "C26XAA"})
    assert refused.status_code == 422 and "A series is six characters" in html.unescape(shown(refused))
    refused = client.post("/admin/issuer", data=form | {"einvoice_template": "7"})
    assert refused.status_code == 422 and "A template symbol is one digit from 1 to 6" in html.unescape(shown(refused))
    assert db.session.get(Issuer, 1) is None
    assert client.post("/admin/issuer", data=form | {"einvoice_series": "c26taa"}).status_code == 302
    row = db.session.get(Issuer, 1)
    assert (row.einvoice_template, row.einvoice_series) == ("1", "C26TAA")


def test_the_issuer_page_keeps_the_etims_branch_and_device_in_kenya(app, client, admin):
    app.config["LOCALE"] = "en_KE"
    page = client.get("/admin/issuer").text
    assert 'name="etims_branch"' in page and 'name="einvoice_series"' not in page
    form = KENYA | {"version": ""}
    refused = client.post("/admin/issuer", data=form | {"etims_branch": "1"})
    assert refused.status_code == 422 and "A branch id is two digits" in shown(refused)
    assert client.post("/admin/issuer", data=form).status_code == 302
    row = db.session.get(Issuer, 1)
    assert (row.etims_branch, row.etims_device) == ("00", "KRACU0100000001")


def test_a_clerk_downloads_the_xml_from_the_printed_invoice(app, client, finance):
    saved_issuer(app, "vi_VN", VIETNAM)
    two_rates()
    invoice = vietnamese_invoice(code="KS-02")
    printed = client.get(f"/customers/KS-02/invoices/{invoice.id}/print")
    assert printed.status_code == 200 and f'/customers/KS-02/invoices/{invoice.id}.xml"' in printed.text
    assert "VAT 8 % on" in html.unescape(shown(printed)) and "VAT 10 % on" in html.unescape(shown(printed))
    response = client.get(f"/customers/KS-02/invoices/{invoice.id}.xml")
    assert response.status_code == 200 and response.mimetype == "application/xml"
    assert 'filename="' in response.headers["Content-Disposition"]
    assert texts(parsed(response.data), ".//HHDVu/TSuat") == ["8%", "10%"]
    register = client.get("/books/tax-register.csv?month=2026-11")
    assert register.status_code == 200 and "HD-0000012" in register.text
    totals = tax.register_totals(date(2026, 11, 1), db.session)
    assert (totals.issued, totals.net, totals.vat) == (1, D("1050000"), D("85000"))


def test_a_refused_download_says_why_on_the_printed_invoice_and_gives_no_file(app, client, finance):
    saved_issuer(app, "vi_VN", VIETNAM | {"einvoice_series": ""})
    invoice = meter_invoices.add_invoice(held_meter(code="KS-03"), "HD-5", D("100"), DAY, DUE)
    response = client.get(f"/customers/KS-03/invoices/{invoice.id}.xml")
    assert response.status_code == 302 and response.location.endswith(f"/invoices/{invoice.id}/print")
    page = client.get(response.location)
    assert "The e-invoice names its series" in html.unescape(shown(page))


def test_a_withdrawn_coded_invoice_asks_for_its_replacement_which_names_it(app, client, admin):
    saved_issuer(app, "vi_VN", VIETNAM)
    meter = held_meter(code="KS-04")
    original = meter_invoices.add_invoice(meter, "HD-0000007", D("100"), DAY, DUE)
    assert authority.record_numbers([Given("HD-0000007", "M1-26-ABCDE-00000000007")]) == 1
    printed = html.unescape(shown(client.get(f"/customers/KS-04/invoices/{original.id}/print")))
    assert "Tax office code (MCCQT) M1-26-ABCDE-00000000007" in printed and "replacement" not in printed
    original = db.session.get(Invoice, original.id)
    meter_invoices.withdraw_invoice(original, "Sai số chỉ số", user=admin)
    page = html.unescape(shown(client.get(f"/customers/KS-04/invoices/{original.id}/edit")))
    assert "replacement invoice (hóa đơn thay thế)" in page
    replacement = meter_invoices.add_invoice(meter, "HD-0000008", D("90"), DAY, DUE)
    printed = client.get(f"/customers/KS-04/invoices/{replacement.id}/print").text
    assert '<option value="HD-0000007">' in printed
    response = client.get(f"/customers/KS-04/invoices/{replacement.id}.xml?replaces=HD-0000007")
    related = parsed(response.data).find("DLHDon/TTChung/TTHDLQuan")
    assert {child.tag: child.text for child in related} == {
        "TCHDon": "1",
        "LHDCLQuan": "1",
        "KHMSHDCLQuan": "1",
        "KHHDCLQuan": "C26TAA",
        "SHDCLQuan": "7",
        "NLHDCLQuan": "2026-11-02",
        "GChu": "Sai số chỉ số",
    }
    refused = client.get(f"/customers/KS-04/invoices/{replacement.id}.xml?replaces=HD-0000008")
    assert refused.status_code == 302
    assert client.get(f"/customers/KS-04/invoices/{original.id}.xml").status_code == 302
    assert "HD-0000007 is withdrawn: no tax office is sent it" in html.unescape(
        shown(client.get(f"/customers/KS-04/invoices/{original.id}/print"))
    )


# Kenya


def test_a_kenyan_invoice_yields_its_etims_payload(app):
    saved_issuer(app, "en_KE", KENYA)
    kind_rate("16", LineKind.GAS)
    kind_rate("8", LineKind.METER_RENTAL)
    kind_rate("16", LineKind.CONNECTION_FEE)
    meter = held_meter(name="Java House", tax_number="A012345678Z")
    invoice = meter_invoices.add_invoice(
        meter,
        "INV-0042",
        D("1300"),
        DAY,
        DUE,
        lines=[NewLine(D("1000")), NewLine(D("200"), kind="meter_rental"), NewLine(D("100"), kind="connection_fee")],
    )
    sale = einvoices.etims_sale(invoice, _holder(invoice))
    assert list(sale) == einvoices.SALE_FIELDS
    assert {key: sale[key] for key in ("tin", "bhfId", "invcNo", "trdInvcNo", "orgInvcNo", "custTin", "custNm")} == {
        "tin": "P051234567X",
        "bhfId": "00",
        "invcNo": 42,
        "trdInvcNo": "INV-0042",
        "orgInvcNo": 0,
        "custTin": "A012345678Z",
        "custNm": "Java House",
    }
    assert (sale["salesTyCd"], sale["rcptTyCd"], sale["salesSttsCd"], sale["salesDt"]) == ("N", "S", "02", "20261102")
    assert len(sale["cfmDt"]) == 14 and sale["totItemCnt"] == 3
    assert [(i["itemSeq"], i["taxTyCd"], i["taxblAmt"], i["taxAmt"], i["totAmt"]) for i in sale["itemList"]] == [
        (1, "B", 1000.0, 160.0, 1160.0),
        (2, "E", 200.0, 16.0, 216.0),
        (3, "B", 100.0, 16.0, 116.0),
    ]
    assert [sale[f"taxblAmt{t}"] for t in "ABCDE"] == [0, 1100.0, 0, 0, 200.0]
    assert [sale[f"taxAmt{t}"] for t in "ABCDE"] == [0, 176.0, 0, 0, 16.0]
    assert [sale[f"taxRt{t}"] for t in "ABCDE"] == [0, 16.0, 0, 0, 8.0]
    assert (sale["totTaxblAmt"], sale["totTaxAmt"], sale["totAmt"]) == (1300.0, 192.0, 1492.0)
    assert all(i["dcRt"] == 0 and i["dcAmt"] == 0 for i in sale["itemList"])


def test_an_exempt_or_zero_rated_customer_s_sale_is_of_type_a_or_c(app):
    saved_issuer(app, "en_KE", KENYA)
    kind_rate("16", LineKind.GAS)
    for status, letter in ((TaxStatus.EXEMPT, "A"), (TaxStatus.ZERO_RATED, "C")):
        invoice = meter_invoices.add_invoice(held_meter(tax_status=status.value), f"INV-{letter}1", D("50"), DAY, DUE)
        sale = einvoices.etims_sale(invoice, _holder(invoice))
        assert [item["taxTyCd"] for item in sale["itemList"]] == [letter]
        assert sale[f"taxblAmt{letter}"] == 50.0 and sale["totTaxAmt"] == 0


def test_a_sale_whose_totals_are_not_its_items_is_refused(app):
    saved_issuer(app, "en_KE", KENYA)
    kind_rate("16", LineKind.GAS)
    invoice = meter_invoices.add_invoice(held_meter(), "INV-7", D("100"), DAY, DUE)
    sale = einvoices.etims_sale(invoice, _holder(invoice))
    with pytest.raises(EInvoiceError, match="taxblAmtB: not its items'"):
        einvoices.check_sale(sale | {"taxblAmtB": 99.0})
    with pytest.raises(EInvoiceError, match="bhfId: missing"):
        einvoices.check_sale({key: value for key, value in sale.items() if key != "bhfId"})


def test_a_rate_etims_has_no_type_for_and_a_missing_branch_are_refused(app):
    saved_issuer(app, "en_KE", KENYA | {"etims_branch": ""})
    kind_rate("14", LineKind.GAS)
    invoice = meter_invoices.add_invoice(held_meter(), "INV-8", D("100"), DAY, DUE)
    with pytest.raises(EInvoiceError, match="branch .* Issuer page"):
        einvoices.etims_sale(invoice, _holder(invoice))
    issuer.save(KENYA, version=db.session.get(Issuer, 1).version)
    with pytest.raises(EInvoiceError, match="no tax type for a rate of 14"):
        einvoices.etims_sale(invoice, _holder(invoice))


def test_a_clerk_downloads_the_etims_sale_from_the_printed_invoice(app, client, finance):
    saved_issuer(app, "en_KE", KENYA)
    kind_rate("16", LineKind.GAS)
    invoice = meter_invoices.add_invoice(held_meter(code="JH-1"), "INV-9", D("100"), DAY, DUE)
    printed = client.get(f"/customers/JH-1/invoices/{invoice.id}/print")
    assert f'/customers/JH-1/invoices/{invoice.id}.etims.json"' in printed.text
    assert ".xml" not in printed.text.split('id="invoice-pdf"')[1]
    response = client.get(f"/customers/JH-1/invoices/{invoice.id}.etims.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert json.loads(response.data)["totAmt"] == 116.0
    sent = json.loads(response.data, parse_float=D)  # the amounts written as the decimals they are, no float between
    assert (sent["totTaxblAmt"], sent["totTaxAmt"], sent["totAmt"]) == (D("100.00"), D("16.00"), D("116.00"))
    assert '"totAmt": 116.00' in response.get_data(as_text=True)


def test_the_downloads_are_for_signed_in_users_only(app, client):
    saved_issuer(app, "en_KE", KENYA)
    invoice = meter_invoices.add_invoice(held_meter(code="JH-2"), "INV-10", D("100"), DAY, DUE)
    response = client.get(f"/customers/JH-2/invoices/{invoice.id}.etims.json")
    assert response.status_code in (302, 401) and b"totAmt" not in response.data


def test_the_receipt_number_and_signature_an_etims_device_gives_back_are_printed(app, client, finance):
    saved_issuer(app, "en_KE", KENYA)
    kind_rate("16", LineKind.GAS)
    invoice = meter_invoices.add_invoice(held_meter(code="JH-3"), "INV-11", D("100"), DAY, DUE)
    # The device's answer: its receipt number (rcptNo) and signature (rcptSign), brought back as any tax office's.
    assert authority.record_numbers([Given("INV-11", "KRACU0100000001/11", "QUII27MATATSHFRB")]) == 1
    printed = html.unescape(shown(client.get(f"/customers/JH-3/invoices/{invoice.id}/print")))
    assert "eTIMS receipt number KRACU0100000001/11" in printed
    assert "eTIMS receipt signature QUII27MATATSHFRB" in printed


def test_a_coded_invoice_corrected_since_asks_for_an_adjustment(app, client, finance):
    saved_issuer(app, "vi_VN", VIETNAM)
    invoice = meter_invoices.add_invoice(held_meter(code="KS-05"), "HD-0000020", D("100"), DAY, DUE)
    authority.record_numbers([Given("HD-0000020", "M1-26-XYZ-20")])
    meter_invoices.change_invoice(db.session.get(Invoice, invoice.id), "HD-0000020", D("120"), DUE)
    page = html.unescape(shown(client.get(f"/customers/KS-05/invoices/{invoice.id}/edit")))
    assert "adjustment invoice (hóa đơn điều chỉnh)" in page
