"""The month-end run: every customer's statement of the month and every invoice issued in it, as PDFs written to the
documents folder (one file each, and a zip of them all), sent to the customers when asked, and a report of what was
produced, sent, refused by the mail server, and which customers have no address.

A run is a job (``month_end``), as a worker runs it; running it again for the same month writes the files again and
sends nothing it sent before (each sending is logged under the month's key, which the database holds to once).
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app
from sqlalchemy import exists, or_, select

from backoffice.models import (
    Customer,
    DocumentKind,
    Invoice,
    MeterAssignment,
    Payment,
    SendingOutcome,
    User,
)
from backoffice.models.billing import covers
from backoffice.models.types import Month
from backoffice.platform.extensions import db
from backoffice.services import documents, sending
from backoffice.services.statements import Period

BASE_URL = "http://documents.invalid/"
"""What a document's links are read against: a PDF reads only the application's own stylesheets (see
:func:`documents.pdf`), so no host is ever asked."""


@dataclass
class Report:
    """What a month-end run did."""

    month: str
    produced: int = 0
    sent: int = 0
    sent_before: int = 0
    """Documents a previous run of the month sent already: not sent again."""
    refused: list[str] = field(default_factory=list)
    """The documents the mail server refused, each as ``C0001 INV-11: 550 …``."""
    no_address: list[str] = field(default_factory=list)
    """The codes of the customers with no e-mail address (their documents are written, not sent)."""
    zip_name: str = ""

    def as_result(self) -> dict:
        return {
            "month": self.month,
            "produced": self.produced,
            "sent": self.sent,
            "sent_before": self.sent_before,
            "refused": self.refused,
            "no_address": self.no_address,
            "zip": self.zip_name,
        }


def folder(month: Month) -> Path:
    return Path(current_app.config["DOCUMENTS_FOLDER"]) / f"month-end-{month}"


def zip_path(month: Month) -> Path:
    return folder(month) / f"month-end-{month}.zip"


def run(
    month: Month,
    *,
    statements: bool,
    invoices: bool,
    send: bool,
    user: User | None,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> Report:
    """Produce the month's documents (and send them when ``send``); the report of what was done."""
    key = f"month-end {month}"
    report = Report(str(month))
    target = folder(month)
    target.mkdir(parents=True, exist_ok=True)
    planned = _planned(month, statements=statements, invoices=invoices)
    written: list[Path] = []
    with current_app.test_request_context(base_url=BASE_URL):
        for done, drawing in enumerate(_drawings(planned, month), start=1):
            pdf = documents.drawn_pdf(drawing, base_url=BASE_URL)
            path = target / f"{sending.file_name(drawing.name)}.pdf"
            path.write_bytes(pdf)
            written.append(path)
            report.produced += 1
            if send:
                _send(drawing, pdf, key, user, report)
            db.session.rollback()  # what was read for this document is let go before the next
            progress(done, len(planned))
    report.zip_name = _zipped(month, written).name
    return report


def planned(month: Month, *, statements: bool, invoices: bool) -> int:
    """How many documents a run of ``month`` would produce."""
    return len(_planned(month, statements=statements, invoices=invoices))


def _planned(month: Month, *, statements: bool, invoices: bool) -> list[tuple[DocumentKind, int, int | None]]:
    """The documents of the month, in the order of the customers' codes: (kind, customer id, invoice id)."""
    since, until = month.first_day, month.next().first_day
    planned: list[tuple[DocumentKind, int, int | None]] = []
    if statements:
        billed = exists().where(
            MeterAssignment.customer_id == Customer.id,
            or_(
                exists().where(
                    Invoice.meter_id == MeterAssignment.meter_id,
                    Invoice.issued_on >= since,
                    Invoice.issued_on < until,
                    covers(MeterAssignment, Invoice.issued_on),
                ),
                exists().where(
                    Payment.meter_id == MeterAssignment.meter_id,
                    Payment.paid_on >= since,
                    Payment.paid_on < until,
                    covers(MeterAssignment, Payment.paid_on),
                ),
            ),
        )
        rows = db.session.execute(
            select(Customer.id, billed.label("billed")).where(Customer.closed_at.is_(None)).order_by(Customer.code)
        ).all()
        for customer_id, has_billing in rows:
            planned.append((DocumentKind.STATEMENT, customer_id, None))
            if has_billing:
                planned.append((DocumentKind.BILLING_STATEMENT, customer_id, None))
    if invoices:
        rows = db.session.execute(
            select(MeterAssignment.customer_id, Invoice.id)
            .join(MeterAssignment, MeterAssignment.meter_id == Invoice.meter_id)
            .join(Customer, Customer.id == MeterAssignment.customer_id)
            .where(
                Invoice.issued_on >= since,
                Invoice.issued_on < until,
                Invoice.withdrawn_at.is_(None),
                covers(MeterAssignment, Invoice.issued_on),
            )
            .order_by(Customer.code, Invoice.issued_on, Invoice.number)
        ).all()
        planned.extend((DocumentKind.INVOICE, customer_id, invoice_id) for customer_id, invoice_id in rows)
    return planned


def _drawings(planned, month: Month) -> Iterator[documents.Drawing]:
    period = Period.of_month(month)
    for kind, customer_id, invoice_id in planned:
        customer = db.session.get(Customer, customer_id)
        if kind is DocumentKind.INVOICE:
            yield documents.invoice(customer, db.session.get(Invoice, invoice_id))
        elif kind is DocumentKind.STATEMENT:
            yield documents.prepaid_statement(customer, period)
        else:
            yield documents.billing_statement(customer, period.since, period.until)


def _send(drawing: documents.Drawing, pdf: bytes, key: str, user: User | None, report: Report) -> None:
    customer = drawing.customer
    if sending.sent_before(key, customer.id, drawing.kind, drawing.reference):
        report.sent_before += 1
        return
    row = sending.send(drawing, pdf, user_id=user.id if user else None, run_key=key)
    if row.outcome is SendingOutcome.SENT:
        report.sent += 1
    elif row.outcome is SendingOutcome.NO_ADDRESS:
        if customer.code not in report.no_address:
            report.no_address.append(customer.code)
    else:
        report.refused.append(f"{customer.code} {drawing.reference}: {row.server_reply}")


def _zipped(month: Month, written: list[Path]) -> Path:
    """One zip of the run's PDFs (they are compressed already: stored as they are)."""
    path = zip_path(month)
    partial = path.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_STORED) as archive:
        for pdf in written:
            archive.write(pdf, pdf.name)
    partial.replace(path)
    return path
