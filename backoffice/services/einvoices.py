"""Each invoice as its tax office reads it: Vietnam's e-invoice, Kenya's eTIMS sale.

- **Vietnam**: the XML of an e-invoice under Decree 123/2020/NĐ-CP and Circular 78/2021/TT-BTC, in the format of
  Decision 1450/QĐ-TCT (version 2.0.0): ``HDon`` > ``DLHDon`` (its general facts ``TTChung``, its content ``NDHDon``:
  seller, buyer, a ``HHDVu`` a line, the totals by rate and in words) and ``DSCKS``, the signatures, left empty: the
  provider signs it and sends it to the tax office, who gives back its code (MCCQT). A replacement names the invoice
  it replaces in ``TTHDLQuan``.
- **Kenya**: the sale as an eTIMS device (OSCU/VSCU) takes it, the body of ``saveTrnsSalesOsdc``: the issuer's KRA
  PIN and branch, the invoice's number, its lines each with its tax type (A exempt, B 16 %, C zero-rated, D non-VAT,
  E 8 %) and its totals by type. The device gives back a receipt number and signature.

No machine here reaches a tax office: these are files a clerk sends through the provider or the device. What is
written is checked before it is given (:func:`check_sale` for eTIMS; the XML is written by the standard library's
ElementTree from values checked one by one): an invoice that cannot be written so is refused with what to correct
(:class:`EInvoiceError`), and nothing is written.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import simplejson
from babel import Locale
from flask import current_app
from flask_babel import gettext as _
from num2words import num2words
from sqlalchemy import select

from backoffice.models import Customer, Invoice, InvoiceLine, Issuer, TaxStatus
from backoffice.platform.clock import local_now
from backoffice.platform.extensions import db
from backoffice.platform.words import words
from backoffice.services.workbooks import XML_UNFIT

D = Decimal
_UNFIT = re.compile(XML_UNFIT)

TEMPLATE = re.compile(r"[1-6]")
"""A template symbol (ký hiệu mẫu số, Circular 78/2021 art. 4.1a): one digit, 1 a VAT invoice, 2 a sales invoice, 3
a sale of public assets, 4 of national reserves, 5 another (stamps, tickets, cards), 6 a delivery note."""
SERIES = re.compile(r"[CK]\d{2}[TDLMNBGH][A-Z]{2}")
"""A series (ký hiệu hóa đơn, Circular 78/2021 art. 4.1b): six characters, C (coded by the tax office) or K (not), the
year's two digits, a letter for the kind of e-invoice (T: registered by a business; D, L, M, N, B, G, H the others),
and two letters the seller chooses: ``C26TAA``."""
BRANCH = re.compile(r"\d{2}")
"""An eTIMS branch id: two digits, 00 for the head office."""
DEVICE = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-]*")
KRA_PIN = re.compile(r"[AP]\d{9}[A-Z]")
NUMBER = re.compile(r"(\d+)\D*$")
"""The digits an invoice's number ends with: its number in the series (Vietnam, at most 8 digits) or its eTIMS
invoice number."""

VAT_INVOICE = "Hóa đơn giá trị gia tăng"
PAYMENT_FORM = "TM/CK"
"""How it is paid (HTTToan): in cash or by bank transfer, as customers pay an invoice."""


class EInvoiceError(ValueError):
    """An invoice that cannot be written as its tax office reads it; nothing was written. ``field`` names what is at
    fault (an issuer's field to set on the Issuer page, or none)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def country() -> str:
    """The installation's country (its locale's territory): ``VN``, ``KE``, ``ID``…"""
    return Locale.parse(current_app.config["LOCALE"]).territory or ""


@dataclass(frozen=True)
class Source:
    """What an invoice's file is written from: the invoice, its customer (who held its meter on its issue date), its
    lines and the issuer as saved."""

    invoice: Invoice
    customer: Customer
    lines: list[InvoiceLine]
    issuer: Issuer

    @property
    def status(self) -> str:
        return self.customer.tax_status or TaxStatus.TAXED.value


def source(invoice: Invoice, customer: Customer) -> Source:
    """What ``invoice``'s file is written from, or a refusal when it is withdrawn or the issuer is not named with its
    tax number."""
    if invoice.withdrawn:
        raise EInvoiceError(
            _("Invoice %(number)s is withdrawn: no tax office is sent it.", number=invoice.number), "invoice"
        )
    issuer = db.session.get(Issuer, 1)
    if issuer is None or not issuer.name.strip() or not issuer.tax_number:
        raise EInvoiceError(
            _("The tax office's file names the issuer and its tax number: save them on the Issuer page."),
            "tax_number",
        )
    lines = db.session.scalars(
        select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id).order_by(InvoiceLine.position)
    ).all()
    return Source(invoice, customer, list(lines), issuer)


def number_in_series(number: str) -> int:
    """The number an invoice's number ends with (``HD-00000012``: 12), or :class:`EInvoiceError`."""
    found = NUMBER.search(number)
    if found is None or len(found.group(1).lstrip("0") or "0") > 8 or int(found.group(1)) == 0:
        raise EInvoiceError(
            _(
                "Invoice %(number)s does not end with its number in the series (1 to 99999999): the tax office's "
                "file numbers it so.",
                number=number,
            )
        )
    return int(found.group(1))


def _fit(text: str | None, what: str) -> str:
    """``text`` as the file holds it, or a refusal naming ``what`` holds a character it cannot."""
    text = " ".join((text or "").split())
    if _UNFIT.search(text):
        raise EInvoiceError(
            _("%(what)s holds a character the tax office's file cannot hold: correct it and export again.", what=what)
        )
    return text


def _amount(value: Decimal | None) -> str:
    """An amount as the XML writes it: its digits, a point before its decimals, none that are 0."""
    value = value or D(0)
    text = format(value.quantize(D("0.01")), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


# Vietnam


def rate_symbol(line: InvoiceLine, status: str) -> str:
    """A line's rate as the e-invoice writes it (TSuat): ``8%``, ``10%``, ``0%``; ``KCT`` for a customer exempt from
    VAT (không chịu thuế), ``KKKNT`` where no rate was in force (không kê khai, tính nộp thuế)."""
    if status == TaxStatus.EXEMPT.value:
        return "KCT"
    if line.vat_rate is None:
        return "KKKNT"
    return f"{_amount(line.vat_rate)}%"


def amount_in_words(amount: Decimal) -> str:
    """An amount of đồng in Vietnamese words, as an invoice says its total: ``Một triệu đồng``."""
    whole = int(amount)
    if whole != amount:
        raise EInvoiceError(_("An amount in đồng has no decimals: the e-invoice says its total in whole đồng."))
    said = num2words(abs(whole), lang="vi") + " đồng"
    said = ("âm " + said) if whole < 0 else said
    return said[0].upper() + said[1:]


def series_of_year(series: str, day: date) -> str:
    """The issuer's series as it was in ``day``'s year: its year's digits replaced (``C26TAA`` for 2025: ``C25TAA``)."""
    return f"{series[0]}{day.year % 100:02d}{series[3:]}"


def vietnam_xml(invoice: Invoice, customer: Customer, *, replaces: Invoice | None = None) -> bytes:
    """The invoice as the XML of a Vietnamese e-invoice (QĐ 1450/QĐ-TCT), UTF-8; ``replaces``: the withdrawn invoice
    with an authority code it replaces (hóa đơn thay thế). Raises :class:`EInvoiceError`."""
    found = source(invoice, customer)
    issuer = found.issuer
    if not TEMPLATE.fullmatch(issuer.einvoice_template or ""):
        raise EInvoiceError(
            _("The e-invoice names its template symbol (1 for a VAT invoice): set it on the Issuer page."),
            "einvoice_template",
        )
    if not SERIES.fullmatch(issuer.einvoice_series or ""):
        raise EInvoiceError(
            _("The e-invoice names its series (six characters, e.g. C26TAA): set it on the Issuer page."),
            "einvoice_series",
        )
    if int(issuer.einvoice_series[1:3]) != invoice.issued_on.year % 100:
        raise EInvoiceError(
            _(
                "Series %(series)s is of the year 20%(year)s, and the invoice was issued in %(issued)s: set the "
                "year's series on the Issuer page.",
                series=issuer.einvoice_series,
                year=issuer.einvoice_series[1:3],
                issued=invoice.issued_on.year,
            ),
            "einvoice_series",
        )
    number = number_in_series(invoice.number)
    names = words("vi")

    root = ET.Element("HDon")
    data = ET.SubElement(root, "DLHDon", Id="DLHDon")
    general = ET.SubElement(data, "TTChung")
    for tag, text in (
        ("PBan", "2.0.0"),
        ("THDon", VAT_INVOICE),
        ("KHMSHDon", issuer.einvoice_template),
        ("KHHDon", issuer.einvoice_series),
        ("SHDon", str(number)),
        ("NLap", invoice.issued_on.isoformat()),
        ("DVTTe", "VND"),
        ("TGia", "1"),
        ("HTTToan", PAYMENT_FORM),
        ("MSTTCGP", ""),
    ):
        ET.SubElement(general, tag).text = text
    if replaces is not None:
        related = ET.SubElement(general, "TTHDLQuan")
        for tag, text in (
            ("TCHDon", "1"),
            ("LHDCLQuan", "1"),
            ("KHMSHDCLQuan", issuer.einvoice_template),
            ("KHHDCLQuan", series_of_year(issuer.einvoice_series, replaces.issued_on)),
            ("SHDCLQuan", str(number_in_series(replaces.number))),
            ("NLHDCLQuan", replaces.issued_on.isoformat()),
            ("GChu", _fit(replaces.withdrawal_reason, _("The withdrawal's reason"))),
        ):
            ET.SubElement(related, tag).text = text
    content = ET.SubElement(data, "NDHDon")
    seller = ET.SubElement(content, "NBan")
    ET.SubElement(seller, "Ten").text = _fit(issuer.name, _("The issuer's name"))
    ET.SubElement(seller, "MST").text = _fit(issuer.tax_number, _("The issuer's tax number"))
    ET.SubElement(seller, "DChi").text = _fit(issuer.address, _("The issuer's address"))
    buyer = ET.SubElement(content, "NMua")
    ET.SubElement(buyer, "Ten").text = _fit(customer.name, _("The customer's name"))
    if customer.tax_number:
        ET.SubElement(buyer, "MST").text = _fit(customer.tax_number, _("The customer's tax number"))
    address = ", ".join(part for part in (customer.address, customer.city) if part and part.strip())
    ET.SubElement(buyer, "DChi").text = _fit(address, _("The customer's address"))
    ET.SubElement(buyer, "MKHang").text = _fit(customer.code, _("The customer's code"))
    items = ET.SubElement(content, "DSHHDVu")
    by_rate: dict[str, tuple[Decimal, Decimal]] = {}
    for place, line in enumerate(found.lines, 1):
        symbol = rate_symbol(line, found.status)
        item = ET.SubElement(items, "HHDVu")
        ET.SubElement(item, "TChat").text = "1"
        ET.SubElement(item, "STT").text = str(place)
        name = line.description or names.get(line.kind.value, line.kind.value).capitalize()
        ET.SubElement(item, "THHDVu").text = _fit(name, _("Line %(place)s", place=place))
        if line.quantity is not None and line.unit_price is not None:
            ET.SubElement(item, "SLuong").text = _amount_exact(line.quantity)
            ET.SubElement(item, "DGia").text = _amount_exact(line.unit_price)
        ET.SubElement(item, "ThTien").text = _amount(line.amount)
        ET.SubElement(item, "TSuat").text = symbol
        base, vat = by_rate.get(symbol, (D(0), D(0)))
        by_rate[symbol] = (base + line.amount, vat + (line.vat or D(0)))
    totals = ET.SubElement(content, "TToan")
    rates = ET.SubElement(totals, "THTTLTSuat")
    for symbol, (base, vat) in by_rate.items():
        rate = ET.SubElement(rates, "LTSuat")
        ET.SubElement(rate, "TSuat").text = symbol
        ET.SubElement(rate, "ThTien").text = _amount(base)
        ET.SubElement(rate, "TThue").text = _amount(vat)
    ET.SubElement(totals, "TgTCThue").text = _amount(invoice.net)
    ET.SubElement(totals, "TgTThue").text = _amount(invoice.vat)
    ET.SubElement(totals, "TgTTTBSo").text = _amount(invoice.amount)
    ET.SubElement(totals, "TgTTTBChu").text = amount_in_words(invoice.amount)
    ET.SubElement(root, "DSCKS")
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _amount_exact(value: Decimal) -> str:
    """A quantity or a unit price as the XML writes it: every decimal it has, none that are 0."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def replaceable(invoice: Invoice) -> list[Invoice]:
    """The invoices of ``invoice``'s meter a replacement of it may name: withdrawn, with an authority code, issued
    before it or on its day."""
    return list(
        db.session.scalars(
            select(Invoice)
            .where(
                Invoice.meter_id == invoice.meter_id,
                Invoice.id != invoice.id,
                Invoice.withdrawn_at.is_not(None),
                Invoice.authority_number.is_not(None),
                Invoice.issued_on <= invoice.issued_on,
            )
            .order_by(Invoice.issued_on.desc(), Invoice.id.desc())
        )
    )


def replaced(invoice: Invoice, number: str | None) -> Invoice | None:
    """The invoice ``number`` names among those ``invoice`` may replace (none: it replaces none), or a refusal."""
    if not number:
        return None
    for candidate in replaceable(invoice):
        if candidate.number == number:
            return candidate
    raise EInvoiceError(
        _(
            "Invoice %(number)s is not one this invoice can replace: a withdrawn invoice of its meter that has the "
            "tax office's code.",
            number=number,
        )
    )


# Kenya

TAX_TYPES = {"A": D(0), "B": D(16), "C": D(0), "D": D(0), "E": D(8)}
"""eTIMS' tax types and their rates: A exempt, B the standard 16 %, C zero-rated, D not subject to VAT, E 8 %."""
ITEMS = {
    "gas": ("KE2NTU0000001", "1511150000"),
    "meter_rental": ("KE3NTU0000002", "8013150000"),
    "connection_fee": ("KE3NTU0000003", "8310150000"),
}
"""Each kind of line's item code and item classification code, as the device registers them (``saveItem``) once:
natural gas a product, a meter's rental and a connection services."""
CREDIT = "02"
"""eTIMS' payment type of a sale on credit: the customer pays the invoice by its due date."""
SALE_FIELDS = (
    "tin bhfId trdInvcNo invcNo orgInvcNo custTin custNm salesTyCd rcptTyCd pmtTyCd salesSttsCd cfmDt salesDt "
    "stockRlsDt cnclReqDt cnclDt rfdDt rfdRsnCd totItemCnt taxblAmtA taxblAmtB taxblAmtC taxblAmtD taxblAmtE taxRtA "
    "taxRtB taxRtC taxRtD taxRtE taxAmtA taxAmtB taxAmtC taxAmtD taxAmtE totTaxblAmt totTaxAmt totAmt prchrAcptcYn "
    "remark regrId regrNm modrId modrNm receipt itemList"
).split()
ITEM_FIELDS = (
    "itemSeq itemCd itemClsCd itemNm bcd pkgUnitCd pkg qtyUnitCd qty prc splyAmt dcRt dcAmt isrccCd isrccNm isrcRt "
    "isrcAmt taxTyCd taxblAmt taxAmt totAmt"
).split()


def tax_type(line: InvoiceLine, status: str) -> str:
    """A line's eTIMS tax type: A for a customer exempt from VAT, C zero-rated, D where no rate was in force, else its
    rate's (B 16 %, E 8 %, C 0 %)."""
    if status == TaxStatus.EXEMPT.value:
        return "A"
    if status == TaxStatus.ZERO_RATED.value:
        return "C"
    if line.vat_rate is None:
        return "D"
    for letter in "BEC":
        if line.vat_rate == TAX_TYPES[letter]:
            return letter
    raise EInvoiceError(
        _("eTIMS has no tax type for a rate of %(rate)s %%: its rates are 16 %%, 8 %% and 0 %%.", rate=line.vat_rate)
    )


def _money(value: Decimal | None) -> Decimal:
    return (value or D(0)).quantize(D("0.01"))


def etims_sale(invoice: Invoice, customer: Customer) -> dict:
    """The invoice as the body of eTIMS' ``saveTrnsSalesOsdc`` (a normal sale, its receipt a sale, approved), checked
    (:func:`check_sale`). Raises :class:`EInvoiceError`."""
    found = source(invoice, customer)
    issuer = found.issuer
    if not KRA_PIN.fullmatch(issuer.tax_number):
        raise EInvoiceError(
            _("eTIMS names the issuer by its KRA PIN (e.g. P051234567X): set it on the Issuer page."), "tax_number"
        )
    if not BRANCH.fullmatch(issuer.etims_branch or ""):
        raise EInvoiceError(
            _("eTIMS names the issuer's branch (00 for the head office): set it on the Issuer page."), "etims_branch"
        )
    names = words(current_app.config["LANGUAGE"])
    items = []
    for place, line in enumerate(found.lines, 1):
        letter = tax_type(line, found.status)
        code, classification = ITEMS[line.kind.value]
        quantity, price = D(1), line.amount
        if (
            line.quantity
            and line.unit_price is not None
            and (line.quantity * line.unit_price).quantize(D("0.01")) == line.amount.quantize(D("0.01"))
        ):
            quantity, price = line.quantity, line.unit_price
        items.append(
            {
                "itemSeq": place,
                "itemCd": code,
                "itemClsCd": classification,
                "itemNm": _fit(
                    line.description or names.get(line.kind.value, line.kind.value).capitalize(),
                    _("Line %(place)s", place=place),
                ),
                "bcd": None,
                "pkgUnitCd": "NT",
                "pkg": quantity,
                "qtyUnitCd": "U",
                "qty": quantity,
                "prc": price,
                "splyAmt": _money(line.amount),
                "dcRt": 0,
                "dcAmt": 0,
                "isrccCd": None,
                "isrccNm": None,
                "isrcRt": None,
                "isrcAmt": None,
                "taxTyCd": letter,
                "taxblAmt": _money(line.amount),
                "taxAmt": _money(line.vat),
                "totAmt": _money(line.amount + (line.vat or D(0))),
            }
        )
    stamp = local_now().strftime("%Y%m%d%H%M%S")
    customer_pin = (customer.tax_number or "").upper().replace(" ", "")
    customer_pin = customer_pin if KRA_PIN.fullmatch(customer_pin) else None
    sale = {
        "tin": issuer.tax_number,
        "bhfId": issuer.etims_branch,
        "trdInvcNo": _fit(invoice.number, _("The invoice's number")),
        "invcNo": number_in_series(invoice.number),
        "orgInvcNo": 0,
        "custTin": customer_pin,
        "custNm": _fit(customer.name, _("The customer's name")),
        "salesTyCd": "N",
        "rcptTyCd": "S",
        "pmtTyCd": CREDIT,
        "salesSttsCd": "02",
        "cfmDt": stamp,
        "salesDt": invoice.issued_on.strftime("%Y%m%d"),
        "stockRlsDt": None,
        "cnclReqDt": None,
        "cnclDt": None,
        "rfdDt": None,
        "rfdRsnCd": None,
        "totItemCnt": len(items),
    }
    for letter in TAX_TYPES:
        of_type = [item for item in items if item["taxTyCd"] == letter]
        sale[f"taxblAmt{letter}"] = _money(sum((item["taxblAmt"] for item in of_type), D(0)))
    for letter, rate in TAX_TYPES.items():
        sale[f"taxRt{letter}"] = rate
    for letter in TAX_TYPES:
        of_type = [item for item in items if item["taxTyCd"] == letter]
        sale[f"taxAmt{letter}"] = _money(sum((item["taxAmt"] for item in of_type), D(0)))
    sale |= {
        "totTaxblAmt": _money(invoice.net),
        "totTaxAmt": _money(invoice.vat),
        "totAmt": _money(invoice.amount),
        "prchrAcptcYn": "N",
        "remark": None,
        "regrId": "backoffice",
        "regrNm": "backoffice",
        "modrId": "backoffice",
        "modrNm": "backoffice",
        "receipt": {
            "custTin": customer_pin,
            "custMblNo": None,
            "rcptPbctDt": stamp,
            "trdeNm": _fit(issuer.name, _("The issuer's name")),
            "adrs": _fit(issuer.address, _("The issuer's address")),
            "topMsg": None,
            "btmMsg": None,
            "prchrAcptcYn": "N",
        },
        "itemList": items,
    }
    check_sale(sale)
    return sale


def etims_json(invoice: Invoice, customer: Customer) -> bytes:
    """The eTIMS sale as the device's request body: JSON, UTF-8."""
    # Its amounts are decimals, written as JSON's numbers as they are (simplejson), never through a float.
    return simplejson.dumps(etims_sale(invoice, customer), ensure_ascii=False, indent=2, use_decimal=True).encode()


def check_sale(sale: dict) -> None:
    """Refuse (:class:`EInvoiceError`) a sale eTIMS would: a field missing or of another kind, a tax type or a date
    it does not know, a total that is not its lines' (per tax type and in all)."""
    problems = []
    missing = [name for name in SALE_FIELDS if name not in sale]
    problems += [f"{name}: missing" for name in missing]
    if missing:
        raise EInvoiceError(_("The eTIMS sale is not whole: %(problems)s.", problems="; ".join(problems)))

    def cents(value) -> Decimal:
        return D(str(value)).quantize(D("0.01"))

    texts = ("tin", "bhfId", "salesTyCd", "rcptTyCd", "pmtTyCd", "salesSttsCd", "cfmDt", "salesDt", "custNm")
    problems += [f"{name}: not a text" for name in texts if not isinstance(sale[name], str) or not sale[name]]
    if not KRA_PIN.fullmatch(str(sale["tin"])):
        problems.append("tin: not a KRA PIN")
    if sale["custTin"] is not None and not KRA_PIN.fullmatch(str(sale["custTin"])):
        problems.append("custTin: not a KRA PIN")
    if not BRANCH.fullmatch(str(sale["bhfId"])):
        problems.append("bhfId: not two digits")
    if not isinstance(sale["invcNo"], int) or sale["invcNo"] < 1:
        problems.append("invcNo: not a number from 1")
    if not re.fullmatch(r"\d{14}", str(sale["cfmDt"])):
        problems.append("cfmDt: not YYYYMMDDhhmmss")
    if not re.fullmatch(r"\d{8}", str(sale["salesDt"])):
        problems.append("salesDt: not YYYYMMDD")
    items = sale["itemList"]
    if not isinstance(items, list) or not items or sale["totItemCnt"] != len(items):
        problems.append("itemList: no item, or not totItemCnt")
        items = []
    for item in items:
        absent = [name for name in ITEM_FIELDS if name not in item]
        if absent:
            problems.append(f"item {item.get('itemSeq')}: {', '.join(absent)} missing")
            continue
        if item["taxTyCd"] not in TAX_TYPES:
            problems.append(f"item {item['itemSeq']}: taxTyCd {item['taxTyCd']} unknown")
        elif cents(item["taxblAmt"]) + cents(item["taxAmt"]) != cents(item["totAmt"]):
            problems.append(f"item {item['itemSeq']}: taxblAmt + taxAmt is not totAmt")
    for letter in TAX_TYPES:
        of_type = [item for item in items if item.get("taxTyCd") == letter]
        for total, field in ((f"taxblAmt{letter}", "taxblAmt"), (f"taxAmt{letter}", "taxAmt")):
            if cents(sale[total]) != sum((cents(item[field]) for item in of_type), D(0)):
                problems.append(f"{total}: not its items'")
        if cents(sale[f"taxRt{letter}"]) != TAX_TYPES[letter]:
            problems.append(f"taxRt{letter}: not {TAX_TYPES[letter]}")
    for total, field in (("totTaxblAmt", "taxblAmt"), ("totTaxAmt", "taxAmt"), ("totAmt", "totAmt")):
        if cents(sale[total]) != sum((cents(item.get(field, 0)) for item in items), D(0)):
            problems.append(f"{total}: not its items'")
    if problems:
        raise EInvoiceError(_("eTIMS would refuse this sale: %(problems)s.", problems="; ".join(problems)))
