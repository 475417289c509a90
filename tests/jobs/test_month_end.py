"""The month-end run: an admin chooses a month, what to produce and whether to send it; a real worker, connected as
the runtime role as production's are, writes one PDF per document and a zip of them all, sends them through a real
SMTP server, and reports what it produced and sent, what the server refused and who has no address; run again for
the same month, it sends nothing twice."""

from __future__ import annotations

import csv
import io
import logging
import re
import subprocess
import zipfile
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice.jobs import kinds as jobs_kinds
from backoffice.models import Customer, DocumentSending, JobRecord, JobStatus, SendingOutcome
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.services import issuer, meter_invoices, meter_lifecycle, metering, wallet
from tests.factories import CustomerFactory, MeterFactory
from tests.mailserver import mail_server
from tests.pages import unescaped as text
from tests.workbooks import sheets
from tests.workers import run_worker

pytestmark = pytest.mark.production_path("the month-end")

D = Decimal
OCT = date(2026, 10, 1)


@pytest.fixture
def october(app, tmp_path):
    """ACME (in Indonesian) with a meter read and invoiced in October 2026, BETA (in Vietnamese) with its wallet,
    GAMMA without an e-mail address; the issuer saved; the documents written under ``tmp_path``."""
    app.config["DOCUMENTS_FOLDER"] = str(tmp_path / "documents")
    issuer.save({"name": "PT Gas Nusantara", "email": "tagihan@gasnusantara.example"}, version=None)
    acme = CustomerFactory(code="ACME", name="Acme Hotel", email="finance@acme.example", language="id")
    beta = CustomerFactory(code="BETA", name="Beta Bakery", email="beta@bakery.example", language="vi")
    gamma = CustomerFactory(code="GAMMA", name="Gamma Grill", email=None)
    for customer in (acme, beta, gamma):
        wallet.recharge(customer, D("1000000"), value_date=date(2026, 9, 1))
    meter = MeterFactory(serial="M-A")
    meter_lifecycle.assign_meter(meter, acme, date(2026, 9, 1))
    metering.set_pricing(acme.id, date(2026, 9, 1), D("7500.00"), D("1.000000"))
    metering.record_reading(meter.id, date(2026, 10, 12), D("10"))
    meter_invoices.add_invoice(meter, "INV-10", D("75000"), date(2026, 10, 31), date(2026, 11, 15))
    return tmp_path / "documents" / "month-end-2026-10"


def started(client, **fields) -> JobRecord:
    form = {"month": "2026-10", "statements": "y", "invoices": "y"} | fields
    response = client.post("/admin/month-end", data=form)
    assert response.status_code == 302, text(response)
    job_id = response.headers["Location"].rsplit("/", 1)[1]
    return db.session.get(JobRecord, job_id)


def finished(job_id: str) -> JobRecord:
    db.session.rollback()
    record = db.session.get(JobRecord, job_id)
    assert record.status is JobStatus.FINISHED, (record.status, record.error)
    return record


def test_a_worker_makes_and_sends_the_month_s_documents_once_however_often_it_runs(
    app, client, admin, october, redis_url
):
    with mail_server() as smtp:
        app.config["SMTP_URL"] = smtp.url
        first = started(client, send="y")
        run_worker(app, redis_url, documents_folder=app.config["DOCUMENTS_FOLDER"], smtp_url=smtp.url)
        result = finished(first.id).result
        # Three statements, ACME's postpaid statement and its invoice; GAMMA's statement is written, not sent.
        assert (result["produced"], result["sent"], result["no_address"], result["refused"]) == (5, 4, ["GAMMA"], [])
        # One message a customer, carrying each of its documents, each named in the customer's language.
        acme, beta = sorted(smtp.received, key=lambda message: message["To"], reverse=True)
        assert (acme["To"], beta["To"]) == ("finance@acme.example", "beta@bakery.example")
        assert acme["Subject"] == "Dokumen Anda periode Oktober 2026 dari PT Gas Nusantara"
        assert beta["Subject"] == "Sao kê tài khoản tháng 10 năm 2026 từ PT Gas Nusantara"
        assert sorted(part.get_filename() for part in acme.iter_attachments()) == [
            "faktur-INV-10.pdf",
            "laporan-rekening-ACME-2026-10.pdf",
            "laporan-rekening-pascabayar-ACME-2026-10-01-2026-10-31.pdf",
        ]
        body = acme.get_body(("plain",)).get_content()
        assert "Faktur INV-10: Rp75.000,00 jatuh tempo 15 Nov 2026." in body
        assert "Laporan rekening pascabayar periode Oktober 2026: Rp75.000,00 jatuh tempo." in body
        for message in (acme, beta):
            assert message["Date"] is not None and message["Message-ID"].endswith("@gasnusantara.example>")
        names = sorted(path.relative_to(october).as_posix() for path in october.rglob("*.pdf"))
        assert names == [
            "ACME/faktur-INV-10.pdf",
            "ACME/laporan-rekening-ACME-2026-10.pdf",
            "ACME/laporan-rekening-pascabayar-ACME-2026-10-01-2026-10-31.pdf",
            "BETA/sao-ke-BETA-2026-10.pdf",
            "GAMMA/statement-GAMMA-2026-10.pdf",
        ]
        archive = zipfile.ZipFile(io.BytesIO(client.get("/admin/month-end/2026-10.zip").get_data()))
        assert sorted(archive.namelist()) == sorted([*names, "index.csv", "index.xlsx"])
        index = list(csv.DictReader(io.StringIO(archive.read("index.csv").decode("utf-8-sig"))))
        seen = [(row["customer_code"], row["file"], row["amount"], row["sent_to"], row["outcome"]) for row in index]
        acme_at, beta_at = "finance@acme.example", "beta@bakery.example"
        assert seen == [
            ("ACME", "ACME/laporan-rekening-ACME-2026-10.pdf", "925000.00", acme_at, "sent"),
            ("ACME", "ACME/laporan-rekening-pascabayar-ACME-2026-10-01-2026-10-31.pdf", "75000.00", acme_at, "sent"),
            ("ACME", "ACME/faktur-INV-10.pdf", "75000.00", acme_at, "sent"),
            ("BETA", "BETA/sao-ke-BETA-2026-10.pdf", "1000000.00", beta_at, "sent"),
            ("GAMMA", "GAMMA/statement-GAMMA-2026-10.pdf", "1000000.00", "", "no_address"),
        ]
        (listed,) = sheets(archive.read("index.xlsx"))
        assert len(listed) == 6 and listed[1][5] == 925000
        # The month-end's Indonesian statement is drawn as on demand: no English word of the movements.
        (october / "statement.pdf").write_bytes(archive.read("ACME/laporan-rekening-ACME-2026-10.pdf"))
        said = subprocess.run(["pdftotext", str(october / "statement.pdf"), "-"], capture_output=True, text=True)
        assert "Saldo awal" in said.stdout and "Opening balance" not in said.stdout and "Recharge" not in said.stdout
        assert "Gas, reading" not in said.stdout

        again = started(client, send="y")
        run_worker(app, redis_url, documents_folder=app.config["DOCUMENTS_FOLDER"], smtp_url=smtp.url)
        result = finished(again.id).result
        assert (result["produced"], result["sent"], result["sent_before"]) == (5, 0, 4)
        assert len(smtp.received) == 2
    rows = db.session.scalars(sa.select(DocumentSending).order_by(DocumentSending.id)).all()
    assert [row.outcome for row in rows].count(SendingOutcome.SENT) == 4
    assert {row.run_key for row in rows} == {"month-end 2026-10"}
    page = text(client.get("/admin/month-end"))
    assert f'id="run-{first.id}"' in page and "GAMMA" in page and "Download the zip" in page


def test_without_sending_the_documents_are_written_and_nothing_is_sent(app, client, admin, october, caplog):
    with caplog.at_level(logging.INFO, logger="backoffice.jobs"):
        record = started(client)  # no Redis: the job runs in the request, as make run's does
    result = finished(record.id).result
    assert (result["produced"], result["sent"]) == (5, 0)
    assert db.session.scalar(sa.select(sa.func.count(DocumentSending.id))) == 0
    assert (october / "ACME" / "faktur-INV-10.pdf").read_bytes().startswith(b"%PDF")
    finished_line = "Finished: 5 documents produced, 0 sent, 0 refused, 0 without an e-mail address"
    assert finished_line in caplog.messages, caplog.messages[-3:]
    page = client.get(f"/jobs/{record.id}")
    assert page.status_code == 200
    assert "5 documents produced, 0 sent, 0 refused by the mail server, 0 without an e-mail address." in text(page)


def test_without_redis_a_long_month_end_names_redis_and_a_worker_and_starts_nothing(
    client, admin, october, monkeypatch
):
    monkeypatch.setattr(jobs_kinds, "IN_REQUEST_DOCUMENTS", 4)  # October makes 5
    response = client.post("/admin/month-end", data={"month": "2026-10", "statements": "y", "invoices": "y"})
    page = text(client.get(response.headers["Location"]))
    assert "This month-end makes 5 documents: more than 4 are made by a worker" in page
    assert "REDIS_URL" in page and "make worker" in page
    assert db.session.scalar(sa.select(sa.func.count(JobRecord.id))) == 0
    assert not october.exists()


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"month": "2099-01"}, "month", "This month has not begun"),
        ({"month": "October"}, "month", ""),
        ({"statements": "", "invoices": ""}, "statements", "Choose what to produce"),
        ({"send": "y"}, "send", "No mail server is set"),
    ],
)
def test_a_run_that_cannot_be_done_is_refused_under_its_field_and_no_job_starts(
    client, admin, october, fields, field, message
):
    form = {"month": "2026-10", "statements": "y", "invoices": "y"} | fields
    form = {name: value for name, value in form.items() if value}
    response = client.post("/admin/month-end", data=form)
    assert response.status_code == 422
    error = re.search(rf'id="error-{field}">([^<]*)<', text(response)).group(1)
    assert error and message in error
    assert db.session.scalar(sa.select(sa.func.count(JobRecord.id)).where(JobRecord.kind == "month_end")) == 0


def test_only_an_admin_runs_the_month_end_or_downloads_its_zip(client, finance, october):
    assert client.get("/admin/month-end").status_code == 403
    assert client.post("/admin/month-end", data={"month": "2026-10", "statements": "y"}).status_code == 403
    assert client.get("/admin/month-end/2026-10.zip").status_code == 403


def test_the_month_end_of_the_demo_s_last_month_sends_every_document_once(
    app, client, admin, demo_data, tmp_path, redis_url
):
    app.config["DOCUMENTS_FOLDER"] = str(tmp_path / "documents")
    month = (local_today().replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    with mail_server() as smtp:
        app.config["SMTP_URL"] = smtp.url

        def run() -> dict:
            record = started(client, month=month, send="y")
            run_worker(app, redis_url, documents_folder=app.config["DOCUMENTS_FOLDER"], smtp_url=smtp.url)
            return finished(record.id).result

        first = run()
        customers = db.session.scalars(sa.select(Customer).where(Customer.closed_at.is_(None))).all()
        without = sorted(customer.code for customer in customers if not customer.email)
        assert first["no_address"] == without and first["refused"] == []
        sent_to = db.session.scalars(
            sa.select(sa.func.count(sa.distinct(DocumentSending.customer_id))).where(
                DocumentSending.outcome == SendingOutcome.SENT
            )
        ).one()
        assert first["sent"] > len(smtp.received) == sent_to > 0  # one message a customer, carrying its documents
        folder = tmp_path / "documents" / f"month-end-{month}"
        assert first["produced"] == first["sent"] + sum(len(list((folder / code).glob("*.pdf"))) for code in without)
        again = run()
        assert (again["produced"], again["sent"], again["sent_before"]) == (first["produced"], 0, first["sent"])
        assert len(smtp.received) == sent_to


def test_a_second_run_of_a_month_waiting_or_running_is_the_first_whatever_it_asks(
    app, client, admin, october, redis_url
):
    first = started(client)
    second = started(client, invoices="", send="")
    assert second.id == first.id
    assert db.session.scalar(sa.select(sa.func.count(JobRecord.id)).where(JobRecord.kind == "month_end")) == 1
