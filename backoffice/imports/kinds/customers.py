"""The import of customers."""

from __future__ import annotations

from decimal import Decimal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from backoffice.imports import values as read
from backoffice.imports.files import folded
from backoffice.imports.kinds.base import (
    MANAGER,
    Field,
    ImportKind,
    Row,
    _customer_code,
    _ids,
    _refer_managers,
    _stored,
    _text,
)
from backoffice.models import (
    AccountManager,
    Customer,
    TaxStatus,
    User,
)
from backoffice.services import customers
from backoffice.services.customers import CustomerError, Details


def _details(row: Row) -> Details:
    return Details(
        name=row["name"],
        account_manager_id=row.get("manager_id"),
        suspend_below=row.get("suspend_below") or Decimal(0),
        contact_person=row.get("contact_person") or None,
        email=row.get("email") or None,
        phone=row.get("phone") or None,
        address=row.get("address") or None,
        city=row.get("city") or None,
        route=row.get("route") or None,
        route_stop=row.get("route_stop"),
        tax_number=row.get("tax_number") or None,
        tax_status=row.get("tax_status") or TaxStatus.TAXED.value,
    )


TAX_STATUS_WORDS = {
    TaxStatus.TAXED.value: ("taxed", "vat", "ppn", "kena pajak", "kena ppn", "pkp", "chịu thuế", "có thuế"),
    TaxStatus.EXEMPT.value: (
        "exempt",
        "vat exempt",
        "bebas",
        "bebas ppn",
        "dibebaskan",
        "miễn thuế",
        "không chịu thuế",
    ),
    TaxStatus.ZERO_RATED.value: ("zero-rated", "0%", "tarif 0%", "thuế suất 0%"),
}
"""How a file writes each tax status, in en, id and vi, read as headers are (without case, marks or punctuation)."""
TAX_STATUSES = {folded(word): status for status, words in TAX_STATUS_WORDS.items() for word in words}


def _stop(value: object) -> int:
    """A stop on a route: a whole number (its range is the customer's rule)."""
    return int(read.number(value, 0))


def _tax_status(value: object) -> str:
    if (status := TAX_STATUSES.get(folded(read.text(value, 40)))) is None:
        raise read.Refused(_("Write taxed, exempt or zero-rated."))
    return status


def _refer_customer_details(rows: list[Row]) -> dict[int, tuple[str, str]]:
    refused = _refer_managers(rows)
    for position, row in enumerate(rows):
        if position in refused or row.get("name") is None:  # a customer that exists, updated: checked as updated
            continue
        try:
            checked = customers.checked_details(_details(row))
        except CustomerError as error:
            refused[position] = ({"account_manager_id": "manager"}.get(error.field, error.field), str(error))
            continue
        row.update(email=checked["email"] or "", phone=checked["phone"] or "")
    return refused


def _stored_customers(rows: list[Row]) -> dict[tuple, Row]:
    query = select(
        Customer.code,
        Customer.name,
        AccountManager.email.label("manager"),
        Customer.suspend_below,
        Customer.contact_person,
        Customer.email,
        Customer.phone,
        Customer.address,
        Customer.city,
        Customer.route,
        Customer.route_stop,
        Customer.tax_number,
        func.coalesce(Customer.tax_status, TaxStatus.TAXED.value).label("tax_status"),
    ).outerjoin(AccountManager, AccountManager.id == Customer.account_manager_id)
    found = _stored(query, [Customer.code], rows, [(row["code"],) for row in rows])
    for record in found.values():
        for name in ("manager", "contact_person", "email", "phone", "address", "city", "route", "tax_number"):
            record[name] = record[name] or ""
    return found


def _write_customers(rows: list[Row], user: User | None) -> None:
    customers.create_customers([(row["code"], _details(row)) for row in rows])


CUSTOMERS = ImportKind(
    "customers",
    _l("Customers"),
    (
        Field(
            "code",
            _l("Customer code"),
            _customer_code,
            required=True,
            aliases=(
                "ref",
                "reference",
                "internal reference",
                "id",
                "customer id",
                "kode",
                "id pelanggan",
                "no pelanggan",
                "kode pel",
                "ma kh",
                "ma khach hang",
                "client code",
                "account no",
            ),
        ),
        Field(
            "name",
            _l("Name"),
            _text(200),
            required=True,
            aliases=(
                "customer name",
                "display name",
                "company name",
                "full name",
                "nama pelanggan",
                "nama perusahaan",
                "ten khach hang",
                "ten kh",
                "ten cong ty",
                "ho ten",
            ),
        ),
        MANAGER,
        Field(
            "suspend_below",
            _l("Suspend below"),
            read.amount,
            holds="number",
            default=Decimal("0.00"),
            aliases=(
                "minimum balance",
                "min balance",
                "batas saldo minimum",
                "saldo minimum",
                "batas saldo",
                "so du toi thieu",
            ),
        ),
        Field(
            "contact_person",
            _l("Contact person"),
            _text(120),
            aliases=(
                "contact",
                "contact name",
                "primary contact",
                "customer primary contact",
                "kontak",
                "nama kontak",
                "pic",
                "nguoi lien he",
                "lien he",
            ),
        ),
        Field(
            "email",
            _l("Email"),
            _text(254),
            aliases=(
                "email id",
                "e-mail",
                "email address",
                "mail",
                "alamat email",
                "surel",
                "thu dien tu",
            ),
        ),
        Field(
            "phone",
            _l("Phone"),
            _text(40),
            aliases=(
                "mobile no",
                "mobile",
                "phone number",
                "telephone",
                "tel",
                "telp",
                "no telp",
                "no hp",
                "hp",
                "handphone",
                "so dien thoai",
                "dien thoai",
                "sdt",
            ),
        ),
        Field(
            "address",
            _l("Address"),
            _text(500, lines=True),
            aliases=(
                "primary address",
                "street",
                "address line 1",
                "alamat lengkap",
                "dia chi",
            ),
        ),
        Field(
            "city",
            _l("City"),
            _text(100),
            aliases=("town", "kota", "kabupaten", "kota kabupaten", "thanh pho", "tinh thanh pho", "tinh"),
        ),
        Field(
            "route",
            _l("Route"),
            _text(60),
            aliases=(
                "round",
                "area",
                "reading route",
                "meter route",
                "rute",
                "rute baca",
                "wilayah",
                "tuyen",
                "khu vuc",
            ),
        ),
        Field(
            "route_stop",
            _l("Stop on the route"),
            _stop,
            holds="number",
            aliases=("stop", "sequence", "route order", "urutan", "urutan rute", "thu tu", "thu tu tuyen"),
        ),
        Field(
            "tax_number",
            _l("Tax number"),
            _text(40),
            aliases=("tax id", "tax_id", "vat", "npwp", "no npwp", "ma so thue", "mst", "kra pin", "pin no"),
        ),
        Field(
            "tax_status",
            _l("Tax status"),
            _tax_status,
            default=TaxStatus.TAXED.value,
            aliases=("vat status", "tax treatment", "status pajak", "status ppn", "tinh trang thue", "loai thue"),
        ),
    ),
    ("code",),
    _stored_customers,
    _write_customers,
    refers=_refer_customer_details,
    updatable=customers.UPDATED_BY_IMPORT,
    update=lambda changed: customers.update_customers([(code, given) for (code,), given in changed]),
    customers=lambda rows: set(_ids(Customer, Customer.code, {row["code"] for row in rows}).values()),
    compared=(
        "name",
        "manager",
        "suspend_below",
        "contact_person",
        "email",
        "phone",
        "address",
        "city",
        "route",
        "route_stop",
        "tax_number",
        "tax_status",
    ),
)


# Meters.
