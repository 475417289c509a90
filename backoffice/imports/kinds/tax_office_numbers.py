"""The import of the numbers a tax office gave our invoices back: Coretax's tax invoice numbers (its export of
output tax invoices names our invoice under *Referensi*), a Vietnamese e-invoice's authority code, an eTIMS
receipt's number and signature. Each row our invoice's number, the tax office's number and, where it signs, its
signature, recorded by :func:`backoffice.services.authority.record`, the one writer of them."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from backoffice.imports import values as read
from backoffice.imports.kinds.base import Field, ImportKind, Row, _stored
from backoffice.imports.values import Refused
from backoffice.models import Invoice, User
from backoffice.platform.extensions import db
from backoffice.platform.roles import Role
from backoffice.services import authority
from backoffice.services.authority import AuthorityError, Given


def _number(value: object) -> str:
    try:
        return authority.checked_number(read.text(value, authority.NUMBER_LENGTH))
    except AuthorityError as error:
        raise Refused(str(error)) from None


def _signature(value: object) -> str | None:
    try:
        return authority.checked_signature(read.text(value, authority.SIGNATURE_LENGTH))
    except AuthorityError as error:
        raise Refused(str(error)) from None


def _given(rows: list[Row]) -> list[Given]:
    return [Given(row["invoice"], row["authority_number"], row.get("authority_signature")) for row in rows]


def _stored_numbers(rows: list[Row]) -> dict[tuple, Row]:
    query = select(
        Invoice.number.label("invoice"),
        Invoice.authority_number,
        Invoice.authority_signature,
    )
    return _stored(
        query,
        [Invoice.number, Invoice.authority_number],
        rows,
        [(row["invoice"], row["authority_number"]) for row in rows],
    )


def _refers(rows: list[Row]) -> dict[int, tuple[str, str]]:
    refused = authority.refusals(db.session.connection(), _given(rows))
    return {position: (error.field, str(error)) for position, error in refused.items()}


def _write(rows: list[Row], user: User | None) -> None:
    authority.record(db.session.connection(), _given(rows), user)


TAX_OFFICE_NUMBERS = ImportKind(
    "tax_office_numbers",
    _l("Tax office numbers"),
    (
        Field(
            "invoice",
            _l("Invoice number"),
            lambda value: read.text(value, 40),
            required=True,
            aliases=(
                "referensi",
                "reference",
                "ref",
                "invoice",
                "invoice no",
                "nomor invoice",
                "no invoice",
                "nomor tagihan",
                "so hoa don noi bo",
                "trader invoice number",
                "trader invoice no",
            ),
        ),
        Field(
            "authority_number",
            _l("Tax office number"),
            _number,
            required=True,
            aliases=(
                "nomor faktur pajak",
                "no faktur pajak",
                "nsfp",
                "tax invoice number",
                "authority number",
                "ma cua co quan thue",
                "ma cqt",
                "ma co quan thue",
                "receipt number",
                "etims receipt number",
                "cu invoice number",
            ),
        ),
        Field(
            "authority_signature",
            _l("Tax office signature"),
            _signature,
            aliases=("signature", "receipt signature", "internal data", "chu ky", "chu ky so"),
        ),
    ),
    ("invoice", "authority_number"),
    _stored_numbers,
    _write,
    refers=_refers,
    customers=lambda rows: set(),
    compared=("authority_signature",),
    role=Role.FINANCE,
)
