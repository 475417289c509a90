"""Sending a document: its PDF attached to a short message in the customer's language, through a real SMTP server
the suite starts; every sending logged with what was sent (the PDF's SHA-256), to whom, when, by whom and what the
server answered, and shown on the customer's page; a form sent twice sends once."""

from __future__ import annotations

import hashlib
import re
import subprocess
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice.models import Customer, DocumentSending, SendingOutcome
from backoffice.platform.extensions import db
from backoffice.services import issuer, meter_invoices, meter_lifecycle
from tests.factories import CustomerFactory, MeterFactory
from tests.pages import unescaped as text

D = Decimal
ISSUER = {
    "name": "PT Gas Nusantara",
    "tax_number": "01.234.567.8-901.000",
    "email": "tagihan@gasnusantara.example",
    "bank_accounts": "Mandiri 123-00-0456789-0 a.n. PT Gas Nusantara",
}


@pytest.fixture
def invoice(app):
    issuer.save(ISSUER, version=None)
    customer = CustomerFactory(code="ACME", name="Acme Hotel", email="finance@acme.example", language="id")
    meter = MeterFactory(serial="M-A")
    meter_lifecycle.assign_meter(meter, customer, date(2026, 9, 1))
    return meter_invoices.add_invoice(meter, "INV-11", D("500000"), date(2026, 11, 2), date(2026, 11, 30))


def logged() -> list[DocumentSending]:
    db.session.rollback()
    return list(db.session.scalars(sa.select(DocumentSending).order_by(DocumentSending.id)))


def send(client, invoice, key: str = "k" * 32):
    url = f"/customers/ACME/invoices/{invoice.id}/send"
    return client.post(url, data={"send-submission": key}, follow_redirects=True)


def test_an_invoice_is_sent_as_a_pdf_in_the_customer_s_language_and_logged(client, finance, smtp, invoice, tmp_path):
    page = text(client.get(f"/customers/ACME/invoices/{invoice.id}/print"))
    assert 'id="send-document"' in page and "Send to finance@acme.example" in page
    response = send(client, invoice)
    assert "Invoice INV-11 sent to finance@acme.example: the mail server accepted it." in text(response)

    (message,) = smtp.received
    assert message["To"] == "finance@acme.example"
    assert message["From"] == "PT Gas Nusantara <tagihan@gasnusantara.example>"
    assert message["Subject"] == "Faktur INV-11 bulan November 2026 dari PT Gas Nusantara"
    body = message.get_body(("plain",)).get_content()
    assert "Faktur INV-11: Rp500.000,00 jatuh tempo 30 Nov 2026." in body
    assert message["Date"].datetime.tzinfo is not None and message["Content-Language"] == "id"
    assert message["Message-ID"].endswith("@gasnusantara.example>")
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_filename() == "faktur-INV-11.pdf" and attachment.get_content_type() == "application/pdf"
    pdf = attachment.get_content()
    (path := tmp_path / "sent.pdf").write_bytes(pdf)
    said = subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True, text=True).stdout
    assert "Faktur INV-11" in said and "NPWP 01.234.567.8-901.000" in said and "Mandiri 123-00-0456789-0" in said

    (row,) = logged()
    assert (row.outcome, row.recipient, row.language, row.reference) == (
        SendingOutcome.SENT,
        "finance@acme.example",
        "id",
        "INV-11",
    )
    assert row.pdf_sha256 == hashlib.sha256(pdf).hexdigest() and row.sent_by_id == finance.id
    assert row.server_reply == "250 2.0.0 Ok: queued as Q1"
    tab = text(client.get("/customers/ACME?tab=documents"))
    assert f'id="sending-{row.id}"' in tab and "accepted by the mail server" in tab and row.pdf_sha256[:12] in tab


def test_the_same_form_sent_twice_sends_once(client, finance, smtp, invoice):
    send(client, invoice, "same-key-12345678")
    send(client, invoice, "same-key-12345678")
    assert len(smtp.received) == 1 and len(logged()) == 1


def test_an_address_the_server_refuses_is_logged_refused_with_its_answer(client, finance, smtp, invoice):
    smtp.refused.add("finance@acme.example")
    response = send(client, invoice)
    assert "was not sent to finance@acme.example: the mail server answered 550 5.1.1 No such mailbox here" in text(
        response
    )
    (row,) = logged()
    assert row.outcome is SendingOutcome.REFUSED and row.server_reply.startswith("550")
    assert smtp.received == []


def test_a_customer_without_an_address_is_logged_and_nothing_is_sent(client, finance, smtp, invoice):
    db.session.scalar(sa.select(Customer).where(Customer.code == "ACME")).email = None
    db.session.commit()
    assert 'id="no-address"' in text(client.get(f"/customers/ACME/invoices/{invoice.id}/print"))
    response = send(client, invoice)
    assert "ACME has no e-mail address: nothing was sent." in text(response)
    assert [row.outcome for row in logged()] == [SendingOutcome.NO_ADDRESS] and smtp.received == []


def test_without_a_mail_server_or_an_issuer_s_name_nothing_is_sent_or_logged(app, client, finance, smtp, invoice):
    app.config["SMTP_URL"] = None
    assert 'id="send-document"' not in text(client.get(f"/customers/ACME/invoices/{invoice.id}/print"))
    assert "No mail server is set (BACKOFFICE_SMTP_URL)" in text(send(client, invoice))
    app.config["SMTP_URL"] = smtp.url
    db.session.execute(sa.text("UPDATE issuer SET name = ''"))
    db.session.commit()
    assert "The company's name is not set" in text(send(client, invoice, "other-key-1234567"))
    assert logged() == [] and smtp.received == []


def test_a_subject_beyond_ascii_is_encoded_words_of_at_most_75_and_the_date_is_in_the_installation_s_zone(
    app, client, finance, smtp, invoice
):
    """A Vietnamese subject is folded into encoded words each within RFC 2047's 75 characters, read back whole with
    its spaces; the Date header carries the installation's own offset."""
    app.config["TIMEZONE"] = "Asia/Ho_Chi_Minh"
    issuer.save(ISSUER | {"name": "Công ty TNHH Khí đốt Sài Gòn – Chi nhánh Thủ Đức"}, version=issuer.current().version)
    db.session.execute(sa.update(Customer).where(Customer.code == "ACME").values(language="vi"))
    db.session.commit()
    assert send(client, invoice).status_code == 200
    (message,) = smtp.received
    (raw,) = [value for name, value in message.raw_items() if name == "Subject"]
    words = re.findall(r"=\?[^?]+\?[bBqQ]\?[^?]*\?=", raw)
    assert len(words) > 1 and max(len(word) for word in words) <= 75
    assert message["Subject"] == "Hóa đơn INV-11 tháng 11 năm 2026 từ Công ty TNHH Khí đốt Sài Gòn – Chi nhánh Thủ Đức"
    assert message["Date"].datetime.utcoffset().total_seconds() == 7 * 3600


def test_a_server_that_does_not_answer_is_logged_refused(app, client, finance, invoice):
    app.config["SMTP_URL"] = "smtp://127.0.0.1:9"  # nothing listens there
    response = send(client, invoice)
    assert "was not sent to finance@acme.example" in text(response)
    (row,) = logged()
    assert row.outcome is SendingOutcome.REFUSED and re.match(r"\w+Error", row.server_reply)


def test_a_statement_is_sent_for_the_period_its_page_shows(client, finance, smtp, invoice, tmp_path):
    response = client.post(
        "/customers/ACME/billing-statement/send?since=2026-10-01", data={"send-submission": "s" * 20}
    )
    assert response.status_code == 302 and "since=2026-10-01" in response.headers["Location"]
    (message,) = smtp.received
    assert message["Subject"].startswith("Laporan rekening pascabayar periode 1 Okt 2026 – ")
    assert message["Subject"].endswith(" dari PT Gas Nusantara")
    assert "Laporan rekening pascabayar periode 1 Okt 2026 – " in message.get_body(("plain",)).get_content()
    (attachment,) = list(message.iter_attachments())
    (path := tmp_path / "statement.pdf").write_bytes(attachment.get_content())
    said = " ".join(
        subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True, text=True).stdout.split()
    )
    assert "Laporan rekening" in said and "INV-11" in said and "NPWP 01.234.567.8-901.000" in said
    assert "Mandiri 123-00-0456789-0" in said
    (row,) = logged()
    assert (row.kind.value, row.period_start) == ("billing_statement", date(2026, 10, 1))
    assert row.pdf_sha256 == hashlib.sha256(attachment.get_content()).hexdigest()


def test_an_old_invoice_number_with_a_line_end_is_sent_on_one_subject_line(
    client, finance, smtp, invoice, names_from_before
):
    """A number stored before migration 0072 made its columns refuse line ends: its e-mail is sent, never a failed
    header."""
    with db.engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE invoices SET number = E'INV-11\\r\\nBcc: x@example.com' WHERE id = :id"), {"id": invoice.id}
        )
    db.session.expire_all()
    response = send(client, invoice)
    assert response.status_code == 200
    (message,) = smtp.received
    assert message["Subject"].startswith("Faktur INV-11") and "\n" not in message["Subject"]
    assert message["Bcc"] is None
