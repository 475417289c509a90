"""The issuer: the company as every document names it, saved by an admin on its page with its history; its tax
number checked as its country writes it; a document whose issuer has no name says so and never names a stand-in."""

from __future__ import annotations

import io
import re
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from PIL import Image

from backoffice.models import Issuer
from backoffice.platform.extensions import db
from backoffice.services import meter_invoices, meter_lifecycle
from tests.factories import PASSWORD, CustomerFactory, MeterFactory, UserFactory
from tests.pages import unescaped as text

D = Decimal
GIVEN = {
    "name": "PT Gas Nusantara",
    "address": "Jl. Jend. Sudirman Kav. 1\nJakarta 10220",
    "tax_number": "01.234.567.8-901.000",
    "email": "billing@gasnusantara.example",
    "phone": "+62 21 555 0100",
    "bank_accounts": "Bank Mandiri 123-00-0456789-0 a.n. PT Gas Nusantara\nBCA 987 654 3210 a.n. PT Gas Nusantara",
    "payment_instructions_en": "Quote the invoice number as the transfer's reference.",
}


def picture(kind: str = "PNG", size: tuple[int, int] = (40, 20)) -> bytes:
    kept = io.BytesIO()
    Image.new("RGB", size, (20, 80, 160)).save(kept, kind)
    return kept.getvalue()


def saved() -> Issuer | None:
    db.session.rollback()
    return db.session.get(Issuer, 1)


def issuer_page(client) -> str:
    return client.get("/admin/issuer").get_data(as_text=True)


def version_of(page: str) -> str:
    return re.search(r'name="version" type="hidden" value="(\d*)"', page).group(1)


@pytest.fixture
def invoice(app):
    customer = CustomerFactory(code="ACME", name="Acme Hotel")
    meter = MeterFactory(serial="M-A")
    meter_lifecycle.assign_meter(meter, customer, date(2026, 9, 1))
    return meter_invoices.add_invoice(meter, "INV-1", D("500000"), date(2026, 11, 2), date(2026, 11, 30))


def test_an_admin_saves_the_issuer_and_every_document_names_it(client, admin, invoice):
    response = client.post("/admin/issuer", data=GIVEN | {"version": ""})
    assert response.status_code == 302, text(response)
    row = saved()
    assert (row.name, row.tax_number, row.version) == ("PT Gas Nusantara", "01.234.567.8-901.000", 1)

    page = text(client.get(f"/customers/ACME/invoices/{invoice.id}/print"))
    assert "PT Gas Nusantara" in page and "Jl. Jend. Sudirman Kav. 1 Jakarta 10220" in page
    assert "NPWP 01.234.567.8-901.000" in page and "billing@gasnusantara.example" in page
    assert 'id="issuer-unnamed"' not in page
    statement = text(client.get("/customers/ACME/billing-statement"))
    assert "PT Gas Nusantara" in statement and "NPWP 01.234.567.8-901.000" in statement

    history = text(client.get("/admin/issuer"))
    assert 'id="history"' in history and "PT Gas Nusantara" in history


def test_a_document_whose_issuer_has_no_name_says_so_and_names_no_stand_in(client, finance, invoice):
    page = text(client.get(f"/customers/ACME/invoices/{invoice.id}/print"))
    assert 'id="issuer-unnamed"' in page and "The company's name is not set" in page
    assert "<strong>backoffice</strong>" not in page


@pytest.mark.parametrize(
    ("changed", "field", "message"),
    [
        ({"name": "  "}, "name", "The company's name is printed on every document: write it."),
        ({"name": "x" * 201}, "name", "At most 200 characters."),
        ({"tax_number": "12.345"}, "tax_number", "NPWP is not written so: write it as 01.234.567.8-901.000."),
        ({"address": "Jl. Mawar\x0b1"}, "address", "This text holds a character a document cannot print"),
        ({"bank_accounts": "x" * 2001}, "bank_accounts", "At most 2.000 characters."),
        ({"email": "billing at gasnusantara"}, "email", "is not an email address"),
    ],
)
def test_a_value_documents_cannot_print_is_refused_under_its_field_and_saves_nothing(
    client, admin, changed, field, message
):
    response = client.post("/admin/issuer", data=GIVEN | changed | {"version": ""})
    assert response.status_code == 422
    error = text(response).split(f'id="error-{field}">', 1)[1].split("</div>", 1)[0]
    assert message in error
    assert saved() is None


@pytest.mark.parametrize(
    ("logo", "message"),
    [
        (b"GIF89a not a logo", "A logo is a PNG or JPEG picture."),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "A logo is a PNG or JPEG picture."),
        (b"\x00" * (200 * 1024 + 1), "A logo is at most 200 KB: make it smaller."),
    ],
)
def test_a_logo_that_is_no_picture_or_too_large_is_refused(client, admin, logo, message):
    data = GIVEN | {"version": "", "logo_file": (io.BytesIO(logo), "logo.png")}
    response = client.post("/admin/issuer", data=data, content_type="multipart/form-data")
    assert response.status_code == 422 and message in text(response)
    assert saved() is None


def test_a_logo_is_kept_printed_and_removed_and_its_history_keeps_its_digest(client, admin, invoice):
    data = GIVEN | {"version": "", "logo_file": (io.BytesIO(picture("JPEG")), "logo.jpg")}
    assert client.post("/admin/issuer", data=data, content_type="multipart/form-data").status_code == 302
    row = saved()
    assert row.logo_type == "image/jpeg" and len(row.logo_sha256) == 64
    page = text(client.get(f"/customers/ACME/invoices/{invoice.id}/print"))
    assert 'id="document-logo" src="data:image/jpeg;base64,' in page or 'src="data:image/jpeg;base64,' in page

    kept = client.post("/admin/issuer", data=GIVEN | {"version": "1", "name": "PT Gas Nusantara Tbk"})
    assert kept.status_code == 302 and saved().logo is not None and saved().name == "PT Gas Nusantara Tbk"
    removed = client.post("/admin/issuer", data=GIVEN | {"version": "2", "remove_logo": "y"})
    assert removed.status_code == 302 and saved().logo is None and saved().logo_sha256 == ""
    versions = db.session.execute(sa.text("SELECT logo_sha256 FROM issuer_history ORDER BY transaction_id")).scalars()
    assert [len(digest) for digest in versions] == [64, 64, 0]


def test_a_save_over_another_admin_s_save_is_refused_and_says_what_changed(client, auth, invoice):
    auth.login("admin")
    loaded = version_of(issuer_page(client))
    assert loaded == ""
    assert client.post("/admin/issuer", data=GIVEN | {"version": ""}).status_code == 302
    stale = client.post("/admin/issuer", data=GIVEN | {"version": "", "name": "PT Lain"})
    assert stale.status_code == 409 and 'id="changed-meanwhile"' in text(stale)
    assert saved().name == "PT Gas Nusantara"


def test_only_an_admin_may_open_or_save_the_issuer(client, finance):
    assert client.get("/admin/issuer").status_code == 403
    assert client.post("/admin/issuer", data=GIVEN | {"version": ""}).status_code == 403
    assert saved() is None


@pytest.mark.parametrize(
    ("locale", "name", "good", "bad"),
    [
        ("vi_VN", "MST", "0101234567-001", "01012345"),
        ("en_KE", "KRA PIN", "a012345678z", "A0123456789"),
    ],
)
def test_the_tax_number_is_named_and_checked_as_the_installation_s_country_asks(
    app, client, admin, locale, name, good, bad
):
    app.config["LOCALE"] = locale
    assert f">{name}<" in issuer_page(client)
    refused = client.post("/admin/issuer", data=GIVEN | {"version": "", "tax_number": bad})
    assert refused.status_code == 422 and f"{name} is not written so" in text(refused)
    assert client.post("/admin/issuer", data=GIVEN | {"version": "", "tax_number": good}).status_code == 302
    assert saved().tax_number == (good.upper() if name == "KRA PIN" else good)


def test_another_admin_reads_the_issuer_s_history_naming_who_changed_it(client, auth):
    other = UserFactory(email="controller@example.com", role="admin", name="Rina Controller")
    auth.login("admin")
    client.post("/admin/issuer", data=GIVEN | {"version": ""})
    client.post("/logout")
    client.post("/login", data={"email": other.email, "password": PASSWORD})
    client.post("/admin/issuer", data=GIVEN | {"version": "1", "phone": "+62 21 555 0199"})
    history = text(client.get("/history/issuer/1"))
    assert "PT Gas Nusantara" in history and "Rina Controller" in history and "+62 21 555 0199" in history


def test_the_issuer_page_keeps_the_nitku_checked_in_indonesia_and_coretax_names_the_seller_by_it(app, client, admin):
    app.config["LOCALE"] = "id_ID"
    assert 'name="nitku"' in issuer_page(client)
    refused = client.post("/admin/issuer", data=GIVEN | {"version": "", "nitku": "0123456789012345"})
    assert refused.status_code == 422 and "A NITKU has 22 digits" in text(refused)
    assert saved() is None
    given = GIVEN | {"version": "", "tax_number": "0123456789012345", "nitku": "0123456789012345000001"}
    assert client.post("/admin/issuer", data=given).status_code == 302
    assert saved().nitku == "0123456789012345000001"
    app.config["LOCALE"] = "vi_VN"
    assert 'name="nitku"' not in issuer_page(client)
