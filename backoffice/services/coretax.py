"""Indonesia: a month's output tax invoices as the e-Faktur XML Coretax imports (*Impor Data Faktur Keluaran*), one
file for a clerk to upload to Coretax by hand (no machine here reaches the tax office).

The file is DJP's template's: a ``TaxInvoiceBulk`` of the seller's 16-digit ``TIN`` and a ``ListOfTaxInvoice`` of a
``TaxInvoice`` per invoice, each with its fields in :data:`INVOICE_FIELDS`' order and a ``ListOfGoodService`` of a
``GoodService`` per line (:data:`LINE_FIELDS`). ``CustomDocMonthYear`` is written empty, as the template since
February 2025 has it. What the rules say (transaction code, TIN, NITKU, other base) is
:mod:`~backoffice.services.efaktur`'s, which the tax register reads too.

Which invoices: those issued in the month and standing, that the tax office has not numbered (``Normal``), and those
corrected after their number was recorded, as the replacement of the tax invoice they had (``TaxInvoiceOpt``
:data:`REPLACEMENT`). A withdrawn invoice is left out: one the tax office numbered is cancelled in Coretax by hand.

A line of gas is goods (``Opt`` ``A``), a meter's rental and a connection fee services (``B``); every line is of
code ``000000`` and unit ``UM.0033`` (*Lainnya*, other): the installation keeps no goods codes or units of its own.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import func, or_, select

from backoffice.models import Customer, Invoice, InvoiceLine, Issuer, LineKind, MeterAssignment, TaxStatus, covers
from backoffice.models.types import next_month_start
from backoffice.platform.money import unit_places
from backoffice.platform.words import words
from backoffice.services import authority, efaktur
from backoffice.services.workbooks import XML_UNFIT

NORMAL = "Normal"
REPLACEMENT = "Pengganti"
"""The ``TaxInvoiceOpt`` of an invoice corrected after the tax office numbered it."""
COUNTRY = "IDN"
GOODS, SERVICES = "A", "B"
OPT = {LineKind.GAS.value: GOODS, LineKind.METER_RENTAL.value: SERVICES, LineKind.CONNECTION_FEE.value: SERVICES}
CODE = "000000"
UNIT = "UM.0033"
INVOICE_FIELDS = (
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
)
"""A ``TaxInvoice``'s fields in the template's order (``BuyerAdress`` spelt as Coretax spells it), then its
``ListOfGoodService``."""
LINE_FIELDS = (
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
)
"""A ``GoodService``'s fields in the template's order."""

_UNFIT = re.compile(XML_UNFIT)


class CoretaxError(ValueError):
    """A month that cannot be written as Coretax's XML, saying what to correct; nothing is written."""


@dataclass(frozen=True)
class Written:
    """The file, and how many tax invoices it holds: ``normal`` and ``replacements``."""

    body: bytes
    normal: int
    replacements: int


def month_xml(month: date, session) -> Written:
    """The month's output tax invoices as Coretax's XML (see the module); :class:`CoretaxError` where the issuer's
    NPWP, a customer's tax number, or a text XML cannot hold keeps it from being written."""
    issuer = session.get(Issuer, 1)
    seller = _seller_tin(issuer)
    seller_idtku = efaktur.nitku(issuer.nitku or None, seller)
    places = unit_places()
    invoices, lines = _read(month, session)
    root = ET.Element("TaxInvoiceBulk")
    _add(root, "TIN", seller)
    listed = ET.SubElement(root, "ListOfTaxInvoice")
    unread: list[str] = []
    counted = {NORMAL: 0, REPLACEMENT: 0}
    for invoice in invoices:
        try:
            buyer = efaktur.buyer(invoice.tax_number, invoice.nitku)
        except efaktur.TinError:
            unread.append(f"{invoice.code} ({invoice.tax_number})")
            continue
        option = REPLACEMENT if invoice.action == authority.Action.REPLACE.value else NORMAL
        counted[option] += 1
        element = ET.SubElement(listed, "TaxInvoice")
        values = {
            "TaxInvoiceDate": invoice.issued_on.isoformat(),
            "TaxInvoiceOpt": option,
            "TrxCode": invoice.trx_code,
            "RefDesc": _fit(invoice.number, _("Invoice %(number)s's number", number=invoice.number)),
            "SellerIDTKU": seller_idtku,
            "BuyerTin": buyer.tin,
            "BuyerDocument": buyer.document,
            "BuyerCountry": COUNTRY,
            "BuyerDocumentNumber": buyer.document_number,
            "BuyerName": _fit(invoice.name, _("Customer %(code)s's name", code=invoice.code)),
            "BuyerAdress": _fit(invoice.address, _("Customer %(code)s's address", code=invoice.code)),
            "BuyerEmail": _fit(invoice.email or "", _("Customer %(code)s's email", code=invoice.code)),
            "BuyerIDTKU": buyer.idtku,
        }
        for name in INVOICE_FIELDS:
            _add(element, name, values.get(name, ""))
        goods = ET.SubElement(element, "ListOfGoodService")
        for line in lines[invoice.id]:
            _good(goods, line, invoice.trx_code, places)
    if unread:
        raise CoretaxError(
            _(
                "The tax office would refuse the tax numbers of customers %(customers)s: an NPWP has 15 or 16 digits, "
                "a NIK 16. Correct them on the customers' pages, then download the file again.",
                customers=", ".join(unread),
            )
        )
    ET.indent(root)
    body = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return Written(body, counted[NORMAL], counted[REPLACEMENT])


def _seller_tin(issuer: Issuer | None) -> str:
    try:
        seller = efaktur.tin(issuer.tax_number if issuer else None)
    except efaktur.TinError:
        seller = None
    if seller is None:
        raise CoretaxError(
            _("Coretax needs the issuer's NPWP (15 or 16 digits): an admin saves it on the Issuer page first.")
        )
    return seller


def _read(month: date, session):
    """The month's invoices to write (see the module), each with its customer then, and their lines by invoice."""
    invoices_ = Invoice.__table__
    lines_ = InvoiceLine.__table__
    customers = Customer.__table__
    assignments = MeterAssignment.__table__
    effective = (
        select(func.bool_and(func.coalesce(lines_.c.vat_rate, 0) == efaktur.EFFECTIVE_RATE))
        .where(lines_.c.invoice_id == invoices_.c.id)
        .scalar_subquery()
    )
    status = func.coalesce(customers.c.tax_status, TaxStatus.TAXED.value)
    action = authority.action_sql(invoices_.c)
    address = func.concat_ws(", ", func.nullif(customers.c.address, ""), func.nullif(customers.c.city, ""))
    query = (
        select(
            invoices_.c.id,
            invoices_.c.number,
            invoices_.c.issued_on,
            customers.c.code,
            customers.c.name,
            customers.c.tax_number,
            customers.c.nitku,
            customers.c.email,
            address.label("address"),
            efaktur.trx_code_sql(status, invoices_.c.issued_on, effective).label("trx_code"),
            action.label("action"),
        )
        .select_from(
            invoices_.join(
                assignments,
                (assignments.c.meter_id == invoices_.c.meter_id) & covers(assignments.c, invoices_.c.issued_on),
            ).join(customers, customers.c.id == assignments.c.customer_id)
        )
        .where(
            invoices_.c.issued_on >= month,
            invoices_.c.issued_on < next_month_start(month),
            invoices_.c.withdrawn_at.is_(None),
            or_(invoices_.c.authority_number.is_(None), action == authority.Action.REPLACE.value),
        )
        .order_by(invoices_.c.issued_on, invoices_.c.number)
    )
    invoices = session.execute(query).all()
    lines: dict[int, list] = defaultdict(list)
    ids = [invoice.id for invoice in invoices]
    for start in range(0, len(ids), 5000):
        for line in session.execute(
            select(lines_)
            .where(lines_.c.invoice_id.in_(ids[start : start + 5000]))
            .order_by(lines_.c.invoice_id, lines_.c.position)
        ):
            lines[line.invoice_id].append(line)
    return invoices, lines


def _good(goods: ET.Element, line, code: str, places: int) -> None:
    """A line as a ``GoodService``: its quantity and unit price where they make its base, else 1 at its base."""
    base = line.amount
    quantity, price = Decimal(1), base
    if line.quantity and line.unit_price and round(line.quantity * line.unit_price, places) == base:
        quantity, price = line.quantity, line.unit_price
    rate = line.vat_rate or Decimal(0)
    named = line.description or words("id").get(line.kind, line.kind)
    values = {
        "Opt": OPT.get(line.kind, GOODS),
        "Code": CODE,
        "Name": _fit(named, _("A line's description")),
        "Unit": UNIT,
        "Price": _number(price),
        "Qty": _number(quantity),
        "TotalDiscount": "0",
        "TaxBase": _number(base),
        "OtherTaxBase": _number(efaktur.other_base(base, code, places)),
        "VATRate": _number(efaktur.CORETAX_RATE if code == efaktur.OTHER_BASE else rate),
        "VAT": _number(line.vat or Decimal(0)),
        "STLGRate": "0",
        "STLG": "0",
    }
    element = ET.SubElement(goods, "GoodService")
    for name in LINE_FIELDS:
        _add(element, name, values[name])


def _number(value: Decimal) -> str:
    """A number as XML writes it: plain, a point before its decimals, none after it where it is whole."""
    return format(Decimal(value).normalize(), "f")


def _fit(text: str | None, what: str) -> str:
    """``text`` for XML: refused (:class:`CoretaxError`) where it holds a character XML cannot hold."""
    text = " ".join((text or "").split())
    if _UNFIT.search(text):
        raise CoretaxError(
            _(
                "%(what)s holds a character an XML file cannot hold: correct it, then download the file again.",
                what=what,
            )
        )
    return text


def _add(parent: ET.Element, name: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, name)
    element.text = text
    return element


def file_name(month: date) -> str:
    """The name the month's file downloads as."""
    return f"efaktur-coretax-{month:%Y-%m}.xml"
