"""Sending a document to its customer: its PDF attached to a short message in the customer's language, through the
installation's mail server (``BACKOFFICE_SMTP_URL``), and every sending logged, whatever the server answered.

A customer without an e-mail address is logged as such (``no_address``) and nothing is sent: a month-end run lists
them, never skips them silently. A document whose issuer has no name is never sent. A sending of a month-end run
(``run_key``) is sent once: a second run finds it sent and sends nothing (the database holds it to once).
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from dataclasses import dataclass
from datetime import date
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from urllib.parse import unquote, urlsplit

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from backoffice.models import Customer, DocumentKind, DocumentSending, SendingOutcome
from backoffice.platform.extensions import db
from backoffice.platform.i18n import LANGUAGES
from backoffice.services import issuer, transaction

TIMEOUT = 30
"""Seconds a mail server has to answer each step."""


class SendingError(RuntimeError):
    """A document that cannot be sent as asked; nothing was sent or logged."""


@dataclass(frozen=True)
class Document:
    """A document drawn for its customer, ready to send."""

    kind: DocumentKind
    customer: Customer
    reference: str
    """The invoice's number, or the statement's period (``2026-10-01..2026-10-31``)."""
    pdf: bytes
    filename: str
    subject: str
    """The message's subject, in the customer's language."""
    body: str
    """The message's text, in the customer's language."""
    language: str
    invoice_id: int | None = None
    period: tuple[date, date] | None = None


def language_of(customer: Customer) -> str:
    """The language a customer's documents are written in: their own, else the installation's."""
    return customer.language if customer.language in LANGUAGES else current_app.config["LANGUAGE"]


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


def send(document: Document, *, user_id: int | None, run_key: str | None = None) -> DocumentSending:
    """Send the document to its customer's address and log the sending with the server's answer; raises
    :class:`SendingError` (nothing sent, nothing logged) when no mail server is set or the issuer has no name."""
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
    recipient = (document.customer.email or "").strip() or None
    outcome, reply = SendingOutcome.NO_ADDRESS, ""
    if recipient is not None:
        outcome, reply = _delivered(_message(document, sender, recipient, details.email), sender, recipient)
    sending = DocumentSending(
        customer_id=document.customer.id,
        kind=document.kind,
        reference=document.reference[:60],
        invoice_id=document.invoice_id,
        period_start=document.period[0] if document.period else None,
        period_end=document.period[1] if document.period else None,
        language=document.language,
        recipient=recipient,
        outcome=outcome,
        server_reply=reply[:500],
        pdf_sha256=hashlib.sha256(document.pdf).hexdigest(),
        pdf_bytes=len(document.pdf),
        sent_by_id=user_id,
        run_key=run_key,
    )
    try:
        with transaction() as session:
            session.add(sending)
    except IntegrityError:
        raise SendingError(_("This document was sent by this run already.")) from None
    return sending


def subject_and_body(kind: DocumentKind, reference: str, customer: Customer, language: str) -> tuple[str, str]:
    """A document's message, in ``language``."""
    name = issuer.current().name
    with force_locale(language):
        if kind is DocumentKind.INVOICE:
            subject = _("Invoice %(number)s from %(company)s", number=reference, company=name)
            body = _(
                "Dear %(customer)s,\n\nPlease find attached invoice %(number)s. It says how to pay it and which "
                "reference to quote.\n\nKind regards,\n%(company)s",
                customer=customer.name,
                number=reference,
                company=name,
            )
        else:
            subject = _("Statement of account from %(company)s", company=name)
            body = _(
                "Dear %(customer)s,\n\nPlease find attached your statement of account.\n\nKind regards,\n%(company)s",
                customer=customer.name,
                company=name,
            )
    return subject, body


def _message(document: Document, sender: str, recipient: str, reply_to: str) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = document.subject
    message["From"] = sender
    message["To"] = recipient
    if reply_to:
        message["Reply-To"] = reply_to
    message["Message-ID"] = make_msgid(domain=urlsplit(current_app.config["SMTP_URL"]).hostname)
    message["Content-Language"] = document.language
    message.set_content(document.body)
    message.add_attachment(document.pdf, maintype="application", subtype="pdf", filename=document.filename)
    return message


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
            code, answer = server.data(message.as_bytes())
    except (OSError, smtplib.SMTPException) as error:
        return SendingOutcome.REFUSED, f"{type(error).__name__}: {error}"
    reply = f"{code} {answer.decode(errors='replace')}"
    return (SendingOutcome.SENT if code == 250 else SendingOutcome.REFUSED), reply
