"""Who issues the documents customers receive: the company's name, address, tax number, bank accounts, payment
instructions and logo, as the law of its country asks an invoice to name its issuer.

One row (its id is 1), edited by admins on the Issuer page, every change a version in its history. Until it is
saved, the installation's settings stand in (``BACKOFFICE_COMPANY_NAME``, ``BACKOFFICE_COMPANY_ADDRESS``).
"""

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, Index, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backoffice.models.types import Rate
from backoffice.models.users import User
from backoffice.platform.extensions import db


class Issuer(db.Model):
    __tablename__ = "issuer"
    __versioned__ = {"exclude": ["logo", "version"]}
    __table_args__ = (CheckConstraint("id = 1", name="one_issuer"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(500), default="")
    tax_number: Mapped[str] = mapped_column(String(40), default="")
    """NPWP in Indonesia, MST in Vietnam, KRA PIN in Kenya."""
    bank_accounts: Mapped[str] = mapped_column(Text, default="")
    """One account a line: bank, account number, holder."""
    payment_instructions: Mapped[str] = mapped_column(Text, default="")
    """How to pay, printed on a document whose language has no text of its own below."""
    payment_instructions_id: Mapped[str | None] = mapped_column(Text)
    payment_instructions_vi: Mapped[str | None] = mapped_column(Text)
    payment_instructions_en: Mapped[str | None] = mapped_column(Text)
    """How to pay, in each language a document is written in (none: not written)."""
    email: Mapped[str] = mapped_column(String(254), default="")
    """The address documents are sent from and customers answer to."""
    phone: Mapped[str] = mapped_column(String(40), default="")
    logo: Mapped[bytes | None] = mapped_column(LargeBinary)
    """A PNG or JPEG of at most 200 KB; its history keeps its digest (``logo_sha256``), not its bytes."""
    logo_type: Mapped[str] = mapped_column(String(20), default="")
    logo_sha256: Mapped[str] = mapped_column(String(64), default="")
    nitku: Mapped[str] = mapped_column(String(22), default="", server_default=text("''"))
    """Indonesia: its place of business as the tax office numbers it (NITKU, 22 digits); empty: its NPWP's 16 digits
    and 000000, the head office."""
    einvoice_template: Mapped[str] = mapped_column(String(11), default="", server_default=text("''"))
    """Vietnam: the e-invoice's template symbol (ký hiệu mẫu số; 1 for a VAT invoice)."""
    einvoice_series: Mapped[str] = mapped_column(String(8), default="", server_default=text("''"))
    """Vietnam: the e-invoice's series (ký hiệu hóa đơn, e.g. C26TAA)."""
    etims_branch: Mapped[str] = mapped_column(String(2), default="", server_default=text("''"))
    """Kenya: the eTIMS branch id (00 for the head office)."""
    etims_device: Mapped[str] = mapped_column(String(40), default="", server_default=text("''"))
    """Kenya: the serial of the eTIMS device (OSCU/VSCU) the invoices are sent through."""
    version: Mapped[int] = mapped_column(server_default=text("1"))

    __mapper_args__ = {"version_id_col": version}


class VatRate(db.Model):
    """The VAT rate charged on a kind of line from a day on, as an admin saved it on the Issuer page. Append-only:
    the rate in force for a kind on a day is its latest row of the latest ``applies_from`` on or before it, so a
    mistaken rate is corrected by a row of its own, and the history of rates is the table."""

    __tablename__ = "vat_rates"
    __table_args__ = (
        CheckConstraint("rate >= 0 AND rate < 100", name="rate_in_range"),
        Index("ix_vat_rates_kind_applies_from_id", "kind", "applies_from", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default="gas", server_default=text("'gas'"))
    """The kind of invoice line it is charged on (``LineKind``)."""
    applies_from: Mapped[date] = mapped_column(Date)
    rate: Mapped[Decimal] = mapped_column(Rate)
    """In per cent."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    created_by: Mapped["User | None"] = relationship()
