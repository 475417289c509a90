"""Sending a document to its customer: its PDF attached to a short message in the customer's language, through the
installation's mail server (``BACKOFFICE_SMTP_URL``), and every sending logged, whatever the server answered.

A customer without an e-mail address is logged as such (``no_address``) and nothing is sent: a month-end run lists
them, never skips them silently. A document whose issuer has no name is never sent. A sending of a month-end run
(``run_key``) is sent once: a second run finds it sent and sends nothing (the database holds it to once).
"""

from __future__ import annotations

import email.policy
import hashlib
import re
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from urllib.parse import unquote, urlsplit

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from backoffice.models import DocumentKind, DocumentSending, SendingOutcome
from backoffice.platform.extensions import db
from backoffice.platform.lines import NOT_ONE_LINE
from backoffice.services import documents, issuer, transaction

TIMEOUT = 30
"""Seconds a mail server has to answer each step."""


class SendingError(RuntimeError):
    """A document that cannot be sent as asked; nothing was sent or logged."""


def sendings_of(customer_id: int, size: int) -> list[DocumentSending]:
    """The customer's latest ``size`` sendings, the newest first."""
    return list(
        db.session.scalars(
            select(DocumentSending)
            .options(selectinload(DocumentSending.sent_by))
            .where(DocumentSending.customer_id == customer_id)
            .order_by(DocumentSending.id.desc())
            .limit(size)
        )
    )


def can_send() -> bool:
    """Whether the installation has a mail server to send documents through."""
    return bool(current_app.config.get("SMTP_URL"))


def sent_before(run_key: str, customer_id: int, kind: DocumentKind, reference: str) -> bool:
    """Whether a month-end run sent this document to this customer already."""
    return (
        db.session.scalar(
            select(DocumentSending.id).where(
                DocumentSending.run_key == run_key,
                DocumentSending.customer_id == customer_id,
                DocumentSending.kind == kind,
                DocumentSending.reference == reference,
                DocumentSending.outcome == SendingOutcome.SENT,
            )
        )
        is not None
    )


def send(drawing: documents.Drawing, pdf: bytes, *, user_id: int | None, run_key: str | None = None) -> DocumentSending:
    """Send the drawn document's PDF to its customer's address with a short message in the customer's language, and
    log the sending with the server's answer; raises :class:`SendingError` (nothing sent, nothing logged) when no
    mail server is set or the issuer has no name or address to send from."""
    if not can_send():
        raise SendingError(_("No mail server is set (BACKOFFICE_SMTP_URL): documents can be printed, not sent."))
    details = issuer.current()
    if not details.named:
        raise SendingError(_("The company's name is not set: an admin writes it on the Issuer page before sending."))
    sender = current_app.config.get("MAIL_FROM") or (
        formataddr((details.name, details.email)) if details.email else None
    )
    if not sender:
        raise SendingError(_("No address to send from: an admin writes the issuer's e-mail address on its page."))
    customer, language = drawing.customer, documents.language_of(drawing.customer)
    recipient = (customer.email or "").strip() or None
    outcome, reply = SendingOutcome.NO_ADDRESS, ""
    if recipient is not None:
        message = _message(drawing, pdf, language, sender, recipient, details)
        outcome, reply = _delivered(message, sender, recipient)
    sending = DocumentSending(
        customer_id=customer.id,
        kind=drawing.kind,
        reference=drawing.reference[:60],
        invoice_id=drawing.invoice_id,
        period_start=drawing.period[0] if drawing.period else None,
        period_end=drawing.period[1] if drawing.period else None,
        language=language,
        recipient=recipient,
        outcome=outcome,
        server_reply=reply[:500],
        pdf_sha256=hashlib.sha256(pdf).hexdigest(),
        pdf_bytes=len(pdf),
        sent_by_id=user_id,
        run_key=run_key,
    )
    try:
        with transaction() as session:
            session.add(sending)
    except IntegrityError:
        raise SendingError(_("This document was sent by this run already.")) from None
    return sending


def _message(
    drawing: documents.Drawing, pdf: bytes, language: str, sender: str, recipient: str, details: issuer.Details
) -> EmailMessage:
    """The document's message: a short text in the customer's language, its PDF attached."""
    with force_locale(language):
        if drawing.kind is DocumentKind.INVOICE:
            subject = _("Invoice %(number)s from %(company)s", number=drawing.reference, company=details.name)
            body = _(
                "Dear %(customer)s,\n\nPlease find attached invoice %(number)s. It says how to pay it and which "
                "reference to quote.\n\nKind regards,\n%(company)s",
                customer=drawing.customer.name,
                number=drawing.reference,
                company=details.name,
            )
        else:
            subject = _("Statement of account from %(company)s", company=details.name)
            body = _(
                "Dear %(customer)s,\n\nPlease find attached your statement of account.\n\nKind regards,\n%(company)s",
                customer=drawing.customer.name,
                company=details.name,
            )
    message = EmailMessage()
    # A text stored before its column held one line (migration 0072) may hold a line end, which no header holds.
    message["Subject"] = " ".join(NOT_ONE_LINE.sub(" ", subject).split())
    message["From"] = sender
    message["To"] = recipient
    if details.email:
        message["Reply-To"] = details.email
    message["Message-ID"] = make_msgid(domain=urlsplit(current_app.config["SMTP_URL"]).hostname)
    message["Content-Language"] = language
    message.set_content(body)
    message.add_attachment(pdf, maintype="application", subtype="pdf", filename=f"{file_name(drawing.name)}.pdf")
    return message


def file_name(name: str) -> str:
    """A file's name made of what a name holds safely everywhere (``invoice-INV_1``)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def _delivered(message: EmailMessage, sender: str, recipient: str) -> tuple[SendingOutcome, str]:
    """Hand the message to the mail server: whether it accepted it, and its answer."""
    url = urlsplit(current_app.config["SMTP_URL"])
    try:
        if url.scheme == "smtps":
            server = smtplib.SMTP_SSL(
                url.hostname, url.port or 465, timeout=TIMEOUT, context=ssl.create_default_context()
            )
        else:
            server = smtplib.SMTP(url.hostname, url.port or 25, timeout=TIMEOUT)
        with server:
            server.ehlo()
            if url.scheme == "smtp" and server.has_extn("starttls"):
                server.starttls(context=ssl.create_default_context())
                server.ehlo()
            if url.username:
                server.login(unquote(url.username), unquote(url.password or ""))
            code, answer = server.mail(sender)
            if code != 250:
                return SendingOutcome.REFUSED, f"{code} {answer.decode(errors='replace')}"
            code, answer = server.rcpt(recipient)
            if code not in (250, 251):
                return SendingOutcome.REFUSED, f"{code} {answer.decode(errors='replace')}"
            code, answer = server.data(message.as_bytes(policy=email.policy.SMTP))
    except (OSError, smtplib.SMTPException) as error:
        return SendingOutcome.REFUSED, f"{type(error).__name__}: {error}"
    reply = f"{code} {answer.decode(errors='replace')}"
    return (SendingOutcome.SENT if code == 250 else SendingOutcome.REFUSED), reply
