"""Every sending of a document to a customer: what was sent (the PDF's SHA-256), to whom, when, by whom, and whether
the mail server accepted it. Rows are only ever added: a sending is a fact, as the server's answer was."""

import enum
from datetime import date, datetime

from sqlalchemy import BigInteger, Date, DateTime, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backoffice.models.types import str_enum, utcnow
from backoffice.models.users import User
from backoffice.platform.extensions import db


class DocumentKind(enum.StrEnum):
    INVOICE = "invoice"
    STATEMENT = "statement"
    """The prepaid statement of account: the wallet's movements over a period."""
    BILLING_STATEMENT = "billing_statement"
    """The postpaid statement of account: the invoices and payments over a period."""


class SendingOutcome(enum.StrEnum):
    SENT = "sent"
    """The mail server accepted the message for delivery."""
    REFUSED = "refused"
    """The mail server refused it (its answer is kept), or could not be reached."""
    NO_ADDRESS = "no_address"
    """The customer has no e-mail address: nothing was sent."""


class DocumentSending(db.Model):
    __tablename__ = "document_sendings"
    __table_args__ = (
        Index("ix_document_sendings_customer_id_id", "customer_id", "id"),  # a customer's sendings, newest first
        # A month-end run sends each of its documents once, however often it runs.
        Index(
            "uq_document_sendings_sent_once",
            "run_key",
            "customer_id",
            "kind",
            "reference",
            unique=True,
            postgresql_where=text("outcome = 'sent' AND run_key IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    kind: Mapped[DocumentKind] = mapped_column(str_enum(DocumentKind, "document_kind"))
    reference: Mapped[str] = mapped_column(String(60))
    """The invoice's number, or the statement's period (``2026-10-01..2026-10-31``)."""
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    period_start: Mapped[date | None] = mapped_column(Date)
    period_end: Mapped[date | None] = mapped_column(Date)
    language: Mapped[str] = mapped_column(String(5))
    recipient: Mapped[str | None] = mapped_column(String(254))
    outcome: Mapped[SendingOutcome] = mapped_column(str_enum(SendingOutcome, "sending_outcome"))
    server_reply: Mapped[str] = mapped_column(String(500), default="")
    pdf_sha256: Mapped[str | None] = mapped_column(String(64))
    pdf_bytes: Mapped[int | None] = mapped_column(Integer)
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    run_key: Mapped[str | None] = mapped_column(String(80))
    """The month-end run that sent it (``month-end 2026-10``); none for a sending from the document's page."""

    sent_by: Mapped[User | None] = relationship()
