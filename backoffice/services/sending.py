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
import unicodedata
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from urllib.parse import unquote, urlsplit

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from backoffice.models import DocumentKind, DocumentSending, SendingOutcome
from backoffice.platform.clock import local_now
from backoffice.platform.extensions import db
from backoffice.platform.i18n import named_date, named_month
from backoffice.platform.lines import NOT_ONE_LINE
from backoffice.platform.money import shown
from backoffice.services import documents, issuer, transaction

TIMEOUT = 30
"""Seconds a mail server has to answer each step."""


ONE_LINE_HEADERS = email.policy.SMTP.clone(max_line_length=998)
"""How a message is written: each header on one line up to the most a line may hold (a subject folded after
``Subject:`` reads with a leading space in some readers); a subject beyond ASCII is folded before
(:func:`_subject_header`)."""
ENCODED_LINE = 76
"""The longest line of a subject written as encoded words, its folding space counted: each word at most 75
characters."""


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
    """Send the drawn document's PDF to its customer (:func:`send_together`); its sending, logged."""
    (sending,) = send_together([(drawing, pdf)], user_id=user_id, run_key=run_key)
    return sending


def send_together(
    drawn: list[tuple[documents.Drawing, bytes]], *, user_id: int | None, run_key: str | None = None
) -> list[DocumentSending]:
    """Send one customer's drawn documents in one message to the customer's address, each PDF attached, with a short
    text in the customer's language that says what each asks and by when; log each document's sending with the
    server's answer. Raises :class:`SendingError` (nothing sent, nothing logged) when no mail server is set or the
    issuer has no name or address to send from."""
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
    customer = drawn[0][0].customer
    language = documents.language_of(customer)
    recipient = (customer.email or "").strip() or None
    outcome, reply = SendingOutcome.NO_ADDRESS, ""
    if recipient is not None:
        message = _message(drawn, language, sender, recipient, details)
        outcome, reply = _delivered(message, sender, recipient)
    sendings = [
        DocumentSending(
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
        for drawing, pdf in drawn
    ]
    try:
        with transaction() as session:
            session.add_all(sendings)
    except IntegrityError:
        raise SendingError(_("This document was sent by this run already.")) from None
    return sendings


def _message(
    drawn: list[tuple[documents.Drawing, bytes]], language: str, sender: str, recipient: str, details: issuer.Details
) -> EmailMessage:
    """The documents' message: a short text in the customer's language naming what each asks and by when, its
    subject naming the document (or the documents' month), each PDF attached under its name in that language."""
    with force_locale(language):
        subject = _subject([drawing for drawing, _pdf in drawn], details.name)
        lines = [_asked(drawing) for drawing, _pdf in drawn]
        body = _(
            "Dear %(customer)s,\n\n%(documents)s\n\nEach document attached says how to pay and which reference to "
            "quote.\n\nKind regards,\n%(company)s",
            customer=drawn[0][0].customer.name,
            documents="\n".join(f"- {line}" for line in lines),
            company=details.name,
        )
        names = [f"{file_name(drawing.name)}.pdf" for drawing, _pdf in drawn]
    message = EmailMessage()
    _subject_header(message, subject)
    message["From"] = sender
    message["To"] = recipient
    if details.email:
        message["Reply-To"] = details.email
    message["Date"] = format_datetime(local_now())
    message["Message-ID"] = make_msgid(domain=_domain(sender))
    message.set_content(body)
    for (_drawing, pdf), name in zip(drawn, names, strict=True):
        message.add_attachment(pdf, maintype="application", subtype="pdf", filename=name)
    # After the parts are made: making them moves the message's own Content- headers onto its first part.
    message["Content-Language"] = language
    return message


def _subject_header(message: EmailMessage, subject: str) -> None:
    """The message's subject on one line of text (a text stored before its column held one line, migration 0072, may
    hold a line end, which no header holds). Beyond ASCII, it is written as encoded words of at most 75 characters
    each (RFC 2047), folded between them: the ``Header`` class folds them so; the policy's own folding loses the space
    where it splits two of them, and written on one line it makes one encoded word of any length."""
    one_line = " ".join(NOT_ONE_LINE.sub(" ", subject).split())
    if one_line.isascii():
        message["Subject"] = one_line
        return
    folded = Header(one_line, "utf-8", maxlinelen=ENCODED_LINE, header_name="Subject").encode(linesep="\r\n")
    message.set_raw("Subject", folded)


def _domain(sender: str) -> str:
    """The domain of the address messages are sent from: their Message-ID's, as mail servers expect."""
    return parseaddr(sender)[1].rpartition("@")[2].strip().lower() or "localhost"


def _subject(drawings: list[documents.Drawing], company: str) -> str:
    """A message's subject, in the language spoken: the document and its month, or the documents' month."""
    if len(drawings) > 1:
        months = sorted({_month_of(drawing) for drawing in drawings})
        return _("Your documents for %(month)s from %(company)s", month=", ".join(months), company=company)
    (drawing,) = drawings
    if drawing.kind is DocumentKind.INVOICE:
        return _(
            "Invoice %(number)s of %(month)s from %(company)s",
            number=drawing.reference,
            month=_month_of(drawing),
            company=company,
        )
    if drawing.kind is DocumentKind.BILLING_STATEMENT:
        return _("Postpaid statement for %(month)s from %(company)s", month=_month_of(drawing), company=company)
    return _("Statement of account for %(month)s from %(company)s", month=_month_of(drawing), company=company)


def _month_of(drawing: documents.Drawing) -> str:
    """The month a document is of, named in the language spoken: its issue's, or its period's (both ends when the
    period is not one month)."""
    since, until = drawing.period or (drawing.issued_on, drawing.issued_on)
    if (since.year, since.month) == (until.year, until.month):
        return named_month(until)
    return f"{named_date(since)} – {named_date(until)}"


def _asked(drawing: documents.Drawing) -> str:
    """What a document asks of the customer and by when, in a line of the message."""
    if drawing.kind is DocumentKind.INVOICE:
        if drawing.asks <= 0:
            return _("Invoice %(number)s: paid, nothing is due.", number=drawing.reference)
        return _(
            "Invoice %(number)s: %(amount)s due by %(date)s.",
            number=drawing.reference,
            amount=shown(drawing.asks),
            date=named_date(drawing.due_on),
        )
    if drawing.kind is DocumentKind.BILLING_STATEMENT:
        if drawing.asks <= 0:
            return _("Postpaid statement for %(month)s: nothing is due.", month=_month_of(drawing))
        return _(
            "Postpaid statement for %(month)s: %(amount)s due.", month=_month_of(drawing), amount=shown(drawing.asks)
        )
    return _(
        "Statement of account for %(month)s: your balance is %(amount)s.",
        month=_month_of(drawing),
        amount=shown(drawing.asks),
    )


def file_name(name: str) -> str:
    """A file's name made of what a name holds safely everywhere: letters without their marks, digits, ``.``, ``_``
    and ``-`` for a space (``hoa-don-INV_1``, from "hóa đơn-INV/1")."""
    plain = unicodedata.normalize("NFKD", "-".join(name.replace("đ", "d").replace("Đ", "D").split()))
    return re.sub(r"[^A-Za-z0-9._-]", "_", "".join(char for char in plain if not unicodedata.combining(char)))


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
            code, answer = server.data(message.as_bytes(policy=ONE_LINE_HEADERS))
    except (OSError, smtplib.SMTPException) as error:
        return SendingOutcome.REFUSED, f"{type(error).__name__}: {error}"
    reply = f"{code} {answer.decode(errors='replace')}"
    return (SendingOutcome.SENT if code == 250 else SendingOutcome.REFUSED), reply
