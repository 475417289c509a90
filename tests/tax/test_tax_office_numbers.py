"""The numbers a tax office gives our invoices back (Coretax's tax invoice numbers, a Vietnamese e-invoice's code,
an eTIMS receipt's number and signature), brought back by the ``tax_office_numbers`` import through the one service
that writes them: each recorded with its history and printed on its invoice; each refusal said per row, in the
reader's language, and nothing written."""

from __future__ import annotations

import html
import io
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy_continuum import version_class

from backoffice.models import Import, ImportStatus, Invoice
from backoffice.platform.extensions import db
from backoffice.services import authority, meter_invoices
from backoffice.services.authority import Action, AuthorityError, Given
from tests.billing.test_vat import DAY, DUE, held_meter, rate
from tests.imports.test_moving_in import imported, run_on_the_page
from tests.pages import INDONESIAN, shown

D = Decimal


def invoices() -> dict[str, Invoice]:
    rate("11")
    meter = held_meter(code="CAFE", name="Café")
    made = {number: meter_invoices.add_invoice(meter, number, D("1000000"), DAY, DUE) for number in ("F-1", "F-2")}
    made["F-W"] = meter_invoices.withdraw_invoice(
        meter_invoices.add_invoice(meter, "F-W", D("1000"), DAY, DUE), "issued twice"
    )
    return made


def numbers() -> dict[str, tuple]:
    rows = db.session.execute(
        sa.select(Invoice.number, Invoice.authority_number, Invoice.authority_signature).order_by(Invoice.number)
    )
    return {number: (authority_number, signature) for number, authority_number, signature in rows}


def test_coretax_s_numbers_are_recorded_with_their_history_and_print_on_the_invoice(
    app, runner, tmp_path, client, finance
):
    made = invoices()
    file = "Referensi;Nomor Faktur Pajak\nF-1;04002600000000001\nF-2;04002600000000002\n"
    result = imported(runner, tmp_path, "tax_office_numbers", "coretax.csv", file.encode())
    assert result.exit_code == 0, result.output + result.stderr
    assert "  Referensi → Invoice number (invoice)" in result.output
    assert "  Nomor Faktur Pajak → Tax office number (authority_number)" in result.output
    assert numbers() == {"F-1": ("04002600000000001", None), "F-2": ("04002600000000002", None), "F-W": (None, None)}
    recorded = db.session.get(Invoice, made["F-1"].id)
    db.session.refresh(recorded)
    assert recorded.authority_recorded_at is not None
    history = version_class(Invoice)
    versions = db.session.scalars(
        sa.select(history.authority_number).where(history.id == recorded.id).order_by(history.transaction_id)
    ).all()
    assert versions == [None, "04002600000000001"]
    again = imported(runner, tmp_path, "tax_office_numbers", "coretax.csv", file.encode())
    assert again.exit_code == 0 and "0 to write, 2 unchanged, 0 rejected" in again.output
    printed = shown(client.get(f"/customers/CAFE/invoices/{recorded.id}/print"))
    assert "Tax office number 04002600000000001" in printed


def test_an_etims_receipt_s_number_and_signature_are_recorded_alike(app):
    made = invoices()
    authority.record_numbers([Given("F-1", "KRA-0001/5", "V2ZB-QXHR-7LMD")])
    assert numbers()["F-1"] == ("KRA-0001/5", "V2ZB-QXHR-7LMD")
    assert authority.action_needed(db.session.connection(), made["F-1"].id) is None


REFUSED = {
    "unknown invoice": ("F-9;0400-1", "No invoice numbered F-9."),
    "withdrawn invoice": ("F-W;0400-1", "Invoice F-W was withdrawn on"),
    "number another invoice has": ("F-2;0400-TAKEN", "The tax office's number 0400-TAKEN is invoice F-1's already."),
    "a second number for a numbered invoice": ("F-1;0400-NEW", "it takes another only as its replacement"),
    "no number": ("F-2;", "Tax office number is required"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_each_refusal_is_said_per_row_and_nothing_is_written(app, runner, tmp_path, case):
    invoices()
    authority.record_numbers([Given("F-1", "0400-TAKEN")])
    before = numbers()
    row, message = REFUSED[case]
    result = imported(
        runner, tmp_path, "tax_office_numbers", "n.csv", f"Invoice number;Tax office number\n{row}\n".encode()
    )
    assert result.exit_code == 1
    assert message in result.stderr
    assert numbers() == before


def test_two_numbers_for_one_invoice_in_a_file_are_refused_and_the_service_writes_none(app):
    invoices()
    with pytest.raises(AuthorityError, match="Invoice F-1 is given two numbers: A-1 and A-2.") as refused:
        authority.record_numbers([Given("F-2", "A-0"), Given("F-1", "A-1"), Given("F-1", "A-2")])
    assert refused.value.field == "authority_number"
    db.session.rollback()
    assert numbers() == {"F-1": (None, None), "F-2": (None, None), "F-W": (None, None)}


SAID_IN_INDONESIAN = {
    "unknown invoice": "Tidak ada faktur bernomor F-9.",
    "withdrawn invoice": "Faktur F-W ditarik pada",
    "number another invoice has": "Nomor 0400-TAKEN dari kantor pajak sudah milik faktur F-1.",
    "a second number for a numbered invoice": "nomor lain hanya untuk penggantinya",
    "no number": "wajib diisi",
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_each_refusal_is_said_in_the_reader_s_language_on_the_imports_page(app, client, finance, case):
    invoices()
    authority.record_numbers([Given("F-1", "0400-TAKEN")])
    before = numbers()
    row, _english = REFUSED[case]
    sent = client.post(
        "/imports",
        data={
            "kind": "tax_office_numbers",
            "file": (io.BytesIO(f"Referensi;Nomor Faktur Pajak\n{row}\n".encode()), "n.csv"),
        },
        content_type="multipart/form-data",
        headers=INDONESIAN,
    )
    assert sent.status_code == 302
    page = html.unescape(client.get(sent.headers["Location"], headers=INDONESIAN).get_data(as_text=True))
    assert SAID_IN_INDONESIAN[case] in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Import)) == 1
    assert numbers() == before


def test_corrected_after_its_number_an_invoice_needs_a_replacement_and_takes_a_new_number(app):
    made = invoices()
    authority.record_numbers([Given("F-1", "0400-1"), Given("F-2", "0400-2")])
    connection = db.session.connection()
    assert authority.action_needed(connection, made["F-1"].id) is None
    changed = meter_invoices.change_invoice(db.session.get(Invoice, made["F-1"].id), "F-1", D("900000"), DUE)
    assert authority.action_needed(db.session.connection(), changed.id) is Action.REPLACE
    meter_invoices.change_invoice(db.session.get(Invoice, made["F-2"].id), "F-2", D("1000000"), date(2026, 12, 31))
    assert authority.action_needed(db.session.connection(), made["F-2"].id) is None  # its due date alone
    authority.record_numbers([Given("F-1", "0400-1R")])
    assert authority.action_needed(db.session.connection(), changed.id) is None
    meter_invoices.withdraw_invoice(db.session.get(Invoice, made["F-2"].id), "twice")
    assert authority.action_needed(db.session.connection(), made["F-2"].id) is Action.CANCEL


@pytest.mark.production_path("real workers")
def test_numbers_import_through_the_page_and_a_real_worker_as_the_runtime_role(app, client, admin, redis_url):
    invoices()
    file = "Referensi;Nomor Faktur Pajak\nF-1;04002600000000001\nF-2;04002600000000002\n"
    _address, record = run_on_the_page(app, client, redis_url, "tax_office_numbers", "coretax.csv", file.encode())
    assert record.status == ImportStatus.DONE, record.error
    assert numbers() == {"F-1": ("04002600000000001", None), "F-2": ("04002600000000002", None), "F-W": (None, None)}
