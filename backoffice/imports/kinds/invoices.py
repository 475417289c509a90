"""The import of invoices: each given by its net, charged VAT at the rate in force on its date, or by its total (an
old system's Total, Grand Total, "Jumlah termasuk PPN"), whose VAT is in it and never charged again. What the old
system says an invoice still asks (Amount Due, Outstanding Amount) is what it asks once imported: the part paid
before, that no payment here pays, is recorded as settled in the system before."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from backoffice.imports import values as read
from backoffice.imports.files import folded
from backoffice.imports.kinds.base import (
    HOLDER,
    LINES,
    METER,
    METER_DUE,
    REFUSED_LINE,
    Field,
    ImportKind,
    Row,
    Stated,
    _any_day,
    _billed,
    _both,
    _held_on,
    _holders,
    _meter_of_holder,
    _open_month,
    _refer_meters,
    _signed,
    _stored,
    _text,
)
from backoffice.models import (
    Invoice,
    LineKind,
    Meter,
    User,
)
from backoffice.platform.extensions import db
from backoffice.platform.money import round_money, shown
from backoffice.services import billing, meter_invoices


def _stored_invoices(rows: list[Row]) -> dict[tuple, Row]:
    query = select(
        Invoice.number,
        Meter.serial.label("meter"),
        Invoice.net.label("amount"),
        Invoice.amount.label("total"),
        Invoice.issued_on,
        Invoice.due_on,
    ).join(Meter, Meter.id == Invoice.meter_id)
    return _stored(query, [Invoice.number], rows, [(row["number"],) for row in rows])


def _given_amounts(rows: list[Row]) -> dict[int, tuple[str, str]]:
    """An invoice is given by its net (charged VAT) or by its total (the VAT in it, never charged again); where the
    file gives its net, its VAT and its total, the three agree. Given both, the total is what is owed, and the VAT the
    file implies (its total less its net) is compared, once written, with the VAT derived from the total."""
    refused = {}
    for position, row in enumerate(rows):
        net, vat, total = row.get("amount"), row.get("vat"), row.get("total")
        if net is None and total is None:
            refused[position] = ("amount", _("Give the invoice's net amount, or its total with VAT."))
        elif None not in (net, vat, total) and net + vat != total:
            refused[position] = (
                "total",
                _(
                    "The net %(net)s and the VAT %(vat)s make %(sum)s, not the total %(total)s.",
                    net=shown(net),
                    vat=shown(vat),
                    sum=shown(net + vat),
                    total=shown(total),
                ),
            )
        elif total is not None and net is not None:
            # The total is what is owed; the file's net is the invoice's where charged VAT it makes the total.
            row["vat"], row["net_given"], row["amount"] = total - net, net, None
    return refused


def _lines_read(rows: list[Row]) -> dict[int, tuple[str, str]]:
    """Each invoice's lines as the system before wrote them, each with its amount before VAT (its quantity × unit
    price rounded once, where the file gives no amount); where the file gives the invoice's net, its lines make it.
    An invoice whose line cannot be read is refused, the line named."""
    refused = {}
    for position, row in enumerate(rows):
        if REFUSED_LINE in row:
            column, line, why = row[REFUSED_LINE]
            refused[position] = (column, _("Line %(line)s of this invoice: %(why)s", line=line, why=why))
            continue
        lines = []
        for line in row.get(LINES, ()):
            amount = line.get("line_amount")
            if amount is None and None not in (line.get("quantity"), line.get("unit_price")):
                amount = round_money(line["quantity"] * line["unit_price"])
            if amount is None:
                refused[position] = (
                    "line_amount",
                    _(
                        "Line %(line)s of this invoice gives no amount, nor its quantity and unit price.",
                        line=line["line"],
                    ),
                )
                break
            lines.append(
                meter_invoices.NewLine(
                    amount,
                    line.get("description") or "",
                    line.get("quantity"),
                    line.get("unit_price"),
                    line.get("line_tax") or "",
                    line.get("line_kind") or LineKind.GAS.value,
                )
            )
        else:
            try:
                meter_invoices.refuse_lines_off(
                    lines, row.get("net_given", row.get("amount") if row.get("total") is None else None)
                )
            except billing.BillingError as error:
                refused[position] = ("line_amount", str(error))
            row[LINES] = lines
    return refused


LINE_KIND_WORDS = {
    LineKind.GAS.value: ("gas", "gas alam", "natural gas", "khí", "khí đốt", "khí thiên nhiên"),
    LineKind.METER_RENTAL.value: ("meter rental", "rental", "rent", "sewa meter", "sewa", "thuê đồng hồ", "tiền thuê"),
    LineKind.CONNECTION_FEE.value: (
        "connection fee",
        "connection",
        "biaya sambungan",
        "biaya koneksi",
        "phí đấu nối",
        "phí kết nối",
    ),
}
"""How a file writes each kind of line, in en, id and vi, read as headers are (without case, marks or punctuation):
the kind a line is taxed as (each kind at its own rate)."""
LINE_KINDS = {folded(word): kind for kind, words in LINE_KIND_WORDS.items() for word in words}


def _line_kind(value: object) -> str:
    if (kind := LINE_KINDS.get(folded(read.text(value, 40)))) is None:
        raise read.Refused(_("Write gas, meter rental or connection fee."))
    return kind


def _quantity(value: object) -> Decimal:
    """A line's quantity or unit price: at most six decimal places, below a trillion either way."""
    found = read.number(value, 6)
    if abs(found) >= 10**12:
        raise read.Refused(_("At most %(count)s digits before the decimal mark.", count=12))
    return found


def _invoices_outstanding(numbers: list[str]) -> dict[str, Decimal]:
    query = select(Invoice.number, Invoice.outstanding).where(Invoice.number.in_(numbers))
    return dict(db.session.execute(query).all())


def _invoices_vat(numbers: list[str]) -> dict[str, Decimal]:
    query = select(Invoice.number, func.coalesce(Invoice.vat, 0)).where(Invoice.number.in_(numbers))
    return dict(db.session.execute(query).all())


def _write_invoices(rows: list[Row], user: User | None) -> None:
    """The invoices, each owing what the file says it still asks: what was paid of it before the move-in and that no
    payment here pays recorded as settled in the system before (``NewInvoice.owed``)."""
    meter_invoices.add_invoices(
        [
            meter_invoices.NewInvoice(
                row["meter_id"],
                row["number"],
                row["amount"] if row.get("total") is None else row["total"],
                row["issued_on"],
                row["due_on"],
                vat_included=row.get("total") is not None,
                net=row.get("net_given"),
                lines=row.get(LINES, ()),
                owed=row.get("outstanding"),
            )
            for row in rows
        ],
        user=user,
    )


INVOICES = ImportKind(
    "invoices",
    _l("Invoices"),
    (
        Field(
            "number",
            _l("Invoice number"),
            _text(40),
            required=True,
            aliases=(
                "invoice no",
                "invoice",
                "number",
                "id",
                "name",
                "no faktur",
                "faktur",
                "no invoice",
                "no tagihan",
                "so hoa don",
                "ma hoa don",
                "hoa don",
            ),
        ),
        replace(METER, required=False),
        HOLDER,
        Field(
            "amount",
            _l("Amount"),
            _billed,
            holds="number",
            total=True,
            aliases=(
                "net amount",
                "untaxed amount",
                "amount untaxed",
                "amount_untaxed",
                "amount untaxed signed",
                "net total",
                "net",
                "invoice amount",
                "amount billed",
                "dpp",
                "dasar pengenaan pajak",
                "jumlah tagihan",
                "nilai faktur",
                "nilai",
                "tien truoc thue",
                "cong tien hang",
                "thanh tien",
            ),
        ),
        Field(
            "total",
            _l("Total with VAT"),
            _billed,
            holds="number",
            total=True,
            aliases=(
                "grand total",
                "amount total",
                "amount_total",
                "amount total signed",
                "total signed",
                "total",
                "rounded total",
                "invoice total",
                "total incl vat",
                "jumlah termasuk ppn",
                "total termasuk ppn",
                "total tagihan",
                "tong tien thanh toan",
                "tong cong tien thanh toan",
                "tong tien",
                "tong cong",
            ),
        ),
        Field(
            "issued_on",
            _l("Issued on"),
            read.day,
            holds="date",
            required=True,
            aliases=(
                "posting date",
                "invoice date",
                "invoice_date",
                "invoice bill date",
                "date",
                "tgl faktur",
                "tgl invoice",
                "tgl tagihan",
                "tgl",
                "ngay hoa don",
                "ngay lap",
                "ngay",
            ),
        ),
        Field(
            "due_on",
            _l("Due on"),
            _any_day,
            holds="date",
            required=True,
            aliases=(
                "due date",
                "payment due date",
                "invoice_date_due",
                "date due",
                "tgl jatuh tempo",
                "jatuh tempo",
                "han thanh toan",
                "ngay den han",
            ),
        ),
        Field(
            "description",
            _l("Item"),
            _text(200),
            aliases=(
                "invoice lines product",
                "invoice lines label",
                "invoice line ids product id",
                "invoice line ids name",
                "item name items",
                "item code items",
                "description items",
                "item name",
                "item code",
                "product",
                "item",
                "description",
                "label",
                "produk",
                "nama barang",
                "uraian",
                "ten hang hoa dich vu",
                "ten hang hoa",
                "dien giai",
            ),
        ),
        Field(
            "quantity",
            _l("Quantity"),
            _quantity,
            holds="number",
            aliases=(
                "invoice lines quantity",
                "invoice line ids quantity",
                "quantity items",
                "qty items",
                "qty",
                "kuantitas",
                "kuantum",
                "so luong",
            ),
        ),
        Field(
            "unit_price",
            _l("Unit price"),
            _quantity,
            holds="number",
            aliases=(
                "invoice lines unit price",
                "invoice line ids price unit",
                "rate items",
                "price",
                "rate",
                "harga satuan",
                "harga",
                "don gia",
            ),
        ),
        Field(
            "line_tax",
            _l("Line tax"),
            _text(60),
            aliases=(
                "invoice lines taxes",
                "invoice line ids tax ids",
                "item tax template items",
                "tax rate items",
                "tax rate",
                "vat rate",
                "thue suat",
            ),
        ),
        Field(
            "line_kind",
            _l("Line kind"),
            _line_kind,
            aliases=(
                "kind of line",
                "line kind",
                "item group items",
                "item group",
                "product category",
                "jenis baris",
                "jenis",
                "loai dong",
                "loai hang hoa dich vu",
            ),
        ),
        Field(
            "line_amount",
            _l("Line amount"),
            _signed,
            holds="number",
            aliases=(
                "invoice lines subtotal",
                "invoice line ids price subtotal",
                "amount items",
                "net amount items",
                "subtotal",
                "line total",
                "jumlah baris",
                "thanh tien truoc thue",
            ),
        ),
    ),
    ("number",),
    _stored_invoices,
    _write_invoices,
    resolve=_both(_given_amounts, _lines_read, _meter_of_holder("issued_on")),
    refers=_both(_refer_meters, _open_month("issued_on"), _held_on("issued_on")),
    stated=(
        Stated(
            Field(
                "outstanding",
                _l("Outstanding amount"),
                read.amount,
                holds="number",
                aliases=(
                    "outstanding",
                    "amount_residual",
                    "amount due",
                    "residual",
                    "balance due",
                    "sisa tagihan",
                    "sisa",
                    "terutang",
                    "belum dibayar",
                    "con no",
                    "so tien con lai",
                ),
            ),
            "number",
            _invoices_outstanding,
        ),
        Stated(
            Field(
                "vat",
                _l("VAT"),
                read.amount,
                holds="number",
                aliases=(
                    "vat amount",
                    "tax",
                    "taxes",
                    "amount tax",
                    "amount_tax",
                    "amount tax signed",
                    "total taxes and charges",
                    "ppn",
                    "jumlah ppn",
                    "nilai ppn",
                    "tien thue",
                    "tien thue gtgt",
                    "thue gtgt",
                ),
            ),
            "number",
            _invoices_vat,
        ),
        METER_DUE,
    ),
    customers=_holders,
    lined=("description", "quantity", "unit_price", "line_tax", "line_kind", "line_amount"),
    compared=("meter", "amount", "total", "issued_on", "due_on"),
)
