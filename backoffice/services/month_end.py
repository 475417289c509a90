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
from flask_babel import force_locale
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
from backoffice.services.exports import csv_chunks
from backoffice.services.statements import Period
from backoffice.services.workbooks import xlsx_chunks

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
    """The folder the month's month-end documents are written to."""
    return Path(current_app.config["DOCUMENTS_FOLDER"]) / f"month-end-{month}"


def zip_path(month: Month) -> Path:
    """The month's month-end archive."""
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
    """Produce the month's documents, a folder of them per customer (and send each customer one message carrying
    theirs when ``send``), and an index of them all; the report of what was done."""
    key = f"month-end {month}"
    report = Report(str(month))
    target = folder(month)
    target.mkdir(parents=True, exist_ok=True)
    planned = _planned(month, statements=statements, invoices=invoices)
    index: list[list] = []
    done = 0
    with current_app.test_request_context(base_url=BASE_URL):
        for customer_id, theirs in _by_customer(planned):
            customer = db.session.get(Customer, customer_id)
            drawn = []
            for drawing in _drawings(customer, theirs, month):
                pdf = documents.drawn_pdf(drawing, base_url=BASE_URL)
                with force_locale(documents.language_of(customer)):
                    path = target / sending.file_name(customer.code) / f"{sending.file_name(drawing.name)}.pdf"
                path.parent.mkdir(exist_ok=True)
                path.write_bytes(pdf)
                drawn.append((drawing, pdf, path))
                report.produced += 1
            outcomes = _send(customer, drawn, key, user, report) if send else {}
            for drawing, _pdf, path in drawn:
                recipient, outcome = outcomes.get(id(drawing), ("", NOT_SENT))
                index.append(_indexed(customer, drawing, path.relative_to(target), recipient, outcome))
            db.session.rollback()  # what was read for this customer is let go before the next
            done += len(drawn)
            progress(done, len(planned))
        report.zip_name = _zipped(month, target, index).name
    return report


NOT_SENT = "not sent"
INDEX_HEADER = (
    "customer_code",
    "customer_name",
    "document",
    "reference",
    "file",
    "amount",
    "due_on",
    "sent_to",
    "outcome",
)
"""The columns of a month-end's index of its documents."""


def _indexed(customer: Customer, drawing: documents.Drawing, file: Path, recipient: str, outcome: str) -> list:
    return [
        customer.code,
        customer.name,
        drawing.kind.value,
        drawing.reference,
        file.as_posix(),
        drawing.asks,
        drawing.due_on,
        recipient,
        outcome,
    ]


def _by_customer(planned):
    """The planned documents, a customer at a time in the order of their codes: each customer's, in the plan's
    order."""
    theirs: dict[int, list] = {}
    for kind, customer_id, invoice_id in planned:
        theirs.setdefault(customer_id, []).append((kind, invoice_id))
    return theirs.items()


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


def _drawings(customer: Customer, theirs, month: Month) -> Iterator[documents.Drawing]:
    period = Period.of_month(month)
    for kind, invoice_id in theirs:
        if kind is DocumentKind.INVOICE:
            yield documents.invoice(customer, db.session.get(Invoice, invoice_id))
        elif kind is DocumentKind.STATEMENT:
            yield documents.prepaid_statement(customer, period)
        else:
            yield documents.billing_statement(customer, period.since, period.until)


def _send(customer: Customer, drawn, key: str, user: User | None, report: Report) -> dict[int, tuple[str, str]]:
    """Send the customer one message carrying each of their documents this month's runs have not sent yet; what
    came of each document (by the drawing's ``id``): where it went and the outcome."""
    outcomes: dict[int, tuple[str, str]] = {}
    unsent = []
    for drawing, pdf, _path in drawn:
        if sending.sent_before(key, customer.id, drawing.kind, drawing.reference):
            report.sent_before += 1
            outcomes[id(drawing)] = (customer.email or "", "sent before")
        else:
            unsent.append((drawing, pdf))
    if not unsent:
        return outcomes
    rows = sending.send_together(unsent, user_id=user.id if user else None, run_key=key)
    for (drawing, _pdf), row in zip(unsent, rows, strict=True):
        outcomes[id(drawing)] = (row.recipient or "", row.outcome.value)
        if row.outcome is SendingOutcome.SENT:
            report.sent += 1
        elif row.outcome is SendingOutcome.NO_ADDRESS:
            if customer.code not in report.no_address:
                report.no_address.append(customer.code)
        else:
            report.refused.append(f"{customer.code} {drawing.reference}: {row.server_reply}")
    return outcomes


def _zipped(month: Month, target: Path, index: list[list]) -> Path:
    """One zip of the run: a folder of PDFs per customer (stored as they are: compressed already) and the index of
    every document, as CSV and as a workbook."""
    path = zip_path(month)
    partial = path.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_STORED) as archive:
        for row in index:
            archive.write(target / row[4], row[4])
        listed = "".join(csv_chunks(INDEX_HEADER, index)).encode("utf-8-sig")
        archive.writestr("index.csv", listed, zipfile.ZIP_DEFLATED)
        archive.writestr("index.xlsx", b"".join(xlsx_chunks(INDEX_HEADER, index)))
    partial.replace(path)
    return path
