"""What a person reads besides the pages' fixed texts, in their language: a flash, a form's errors (WTForms' own and
the services'), the API's errors, an export's header row; and the commands, in the installation's language."""

from __future__ import annotations

import csv
import io
import os
from decimal import Decimal

import pytest
from babel.messages.pofile import read_po
from wtforms.i18n import messages_path

from backoffice.services import wallet
from backoffice.web.plumbing.forms import WTFORMS_MESSAGES
from tests.checkout import ROOT
from tests.factories import CustomerFactory
from tests.pages import INDONESIAN, VIETNAMESE

TRANSLATIONS = ROOT / "backoffice" / "translations"
TOKEN = "a-long-enough-token-for-the-api-tests-0123456789"


@pytest.fixture
def hotel_melati(finance):
    """Hotel Melati (HOTEL) with Rp1.000.000 prepaid, once a finance clerk is logged in."""
    customer = CustomerFactory(code="HOTEL", name="Hotel Melati")
    wallet.recharge(customer.id, Decimal("1000000"))
    return customer


def page(response) -> str:
    """The response's text, as a spreadsheet reads a download: its byte-order mark, if any, left out."""
    return response.get_data().decode("utf-8-sig")


def test_a_money_confirmation_names_the_amount_and_customer_in_the_readers_language(client, hotel_melati):
    indonesian = client.post(
        "/customers/HOTEL/recharge", data={"recharge-amount": "1.000"}, headers=INDONESIAN, follow_redirects=True
    )
    assert "Isi ulang sebesar Rp1.000,00 dibukukan ke HOTEL — Hotel Melati: mutasi #" in page(indonesian)
    vietnamese = client.post(
        "/customers/HOTEL/recharge", data={"recharge-amount": "2.000"}, headers=VIETNAMESE, follow_redirects=True
    )
    assert "Đã ghi sổ nạp tiền 2.000,00\xa0IDR cho HOTEL — Hotel Melati: biến động #" in page(vietnamese)
    english = client.post("/customers/HOTEL/recharge", data={"recharge-amount": "3.000"}, follow_redirects=True)
    assert "Recharge of Rp3.000,00 posted to HOTEL — Hotel Melati: movement #" in page(english)


def test_a_refusal_of_the_services_is_said_under_its_field_in_the_readers_language(client, hotel_melati):
    charge = {"charge-amount": "2.000.000"}
    indonesian = client.post("/customers/HOTEL/charge", data=charge, headers=INDONESIAN)
    assert indonesian.status_code == 422
    assert "Saldo tidak cukup: HOTEL memiliki Rp1.000.000,00 tersedia, diperlukan Rp2.000.000,00." in page(indonesian)
    vietnamese = client.post("/customers/HOTEL/charge", data=charge, headers=VIETNAMESE)
    assert "Số dư không đủ: HOTEL có 1.000.000,00\xa0IDR khả dụng, cần 2.000.000,00\xa0IDR." in page(vietnamese)
    english = client.post("/customers/HOTEL/charge", data=charge)
    assert "Insufficient balance: HOTEL has Rp1.000.000,00 available, Rp2.000.000,00 is needed." in page(english)


def test_an_amount_that_cannot_be_read_is_said_in_the_readers_language(client, hotel_melati):
    indonesian = client.post("/customers/HOTEL/recharge", data={"recharge-amount": "1,000"}, headers=INDONESIAN)
    assert indonesian.status_code == 422
    assert "Ambigu: tulis 1.000 untuk Rp1.000,00 atau 1 untuk Rp1,00" in page(indonesian)
    english = client.post("/customers/HOTEL/recharge", data={"recharge-amount": "1,000"})
    assert "Ambiguous: write 1.000 for one thousand or 1 for one" in page(english)


def test_wtforms_own_messages_are_in_the_readers_language(client, auth):
    auth.login("admin")
    empty = {"email": "", "name": "", "role": "finance", "password": ""}
    indonesian = client.post("/admin/users", data=empty, headers=INDONESIAN)
    assert indonesian.status_code == 422 and "Isian ini wajib diisi." in page(indonesian)
    assert "This field is required." not in page(indonesian)
    vietnamese = client.post("/admin/users", data=empty, headers=VIETNAMESE)
    assert "Trường này là bắt buộc." in page(vietnamese)
    assert "This field is required." in page(client.post("/admin/users", data=empty))

    too_long = {**empty, "email": "clerk@example.com", "name": "x" * 121, "password": "correct horse battery"}
    indonesian = client.post("/admin/users", data=too_long, headers=INDONESIAN)
    assert "Isian tidak boleh lebih dari 120 karakter." in page(indonesian)
    vietnamese = client.post("/admin/users", data=too_long, headers=VIETNAMESE)
    assert "Trường không được dài quá 120 ký tự." in page(vietnamese)

    refused = client.post("/account/language", data={"language": "xx"}, headers=VIETNAMESE)
    assert refused.status_code == 422 and "Không phải lựa chọn hợp lệ." in page(refused)


def test_the_catalogue_holds_every_message_wtforms_makes():
    def ids(path) -> set:
        with open(path, "rb") as catalogue:
            return {m.id if isinstance(m.id, str) else tuple(m.id) for m in read_po(catalogue) if m.id}

    wtforms = ids(os.path.join(messages_path(), "wtforms.pot"))
    assert wtforms and wtforms <= ids(TRANSLATIONS / "messages.pot")
    assert len(WTFORMS_MESSAGES) == len(wtforms)


def test_the_apis_errors_are_in_the_requests_language(app, client):
    app.config["API_TOKEN"] = TOKEN
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    missing = client.get("/admin/jobs/nope", headers={**bearer, **INDONESIAN})
    assert missing.status_code == 404 and missing.get_json()["message"] == "Tidak ada tugas nope."
    missing = client.get("/admin/jobs/nope", headers={**bearer, **VIETNAMESE})
    assert missing.get_json()["message"] == "Không có tác vụ nope."
    assert client.get("/admin/jobs/nope", headers=bearer).get_json()["message"] == "No job nope."
    refused = client.get("/admin/balance-health/check", headers={"Authorization": "Bearer wrong", **INDONESIAN})
    assert refused.status_code == 401 and refused.get_json()["message"] == "Token bearer tidak sah."
    unknown = client.get("/admin/jobs/nope/more", headers=VIETNAMESE)
    assert unknown.status_code == 404
    assert unknown.get_json()["message"] == "Không có gì ở địa chỉ này. Có thể nó đã bị xóa."


def header_row(response) -> list[str]:
    return next(csv.reader(io.StringIO(page(response))))


def test_an_exports_header_is_in_the_readers_language_and_its_code_names_in_english(client, auth):
    auth.login("finance")
    assert header_row(client.get("/orders/export.csv", headers=INDONESIAN)) == [
        "Nomor",
        "Kode pelanggan",
        "Nama pelanggan",
        "Manajer akun",
        "Tanggal penutupan",
        "Paket awal",
        "Penambahan",
        "Promo",
        "Pengurangan",
        "Total keseluruhan",
    ]
    assert header_row(client.get("/orders/export.csv", headers=VIETNAMESE))[:3] == [
        "Số",
        "Mã khách hàng",
        "Tên khách hàng",
    ]
    assert header_row(client.get("/orders/export.csv"))[:3] == ["number", "customer_code", "customer_name"]


def test_a_statements_csv_gives_header_opening_and_closing_in_the_readers_language(client, hotel_melati):
    rows = list(csv.reader(io.StringIO(page(client.get("/customers/HOTEL/statement.csv", headers=INDONESIAN)))))
    assert rows[0] == ["Tanggal", "Mutasi", "Jenis", "Keterangan", "Referensi", "Jumlah", "Saldo"]
    assert rows[1][2:4] == ["saldo awal", "Saldo awal"] and rows[-1][2:4] == ["saldo akhir", "Saldo akhir"]
    rows = list(csv.reader(io.StringIO(page(client.get("/customers/HOTEL/statement.csv", headers=VIETNAMESE)))))
    assert rows[0][:2] == ["Ngày", "Biến động"] and rows[1][3] == "Số dư đầu kỳ"


def test_the_commands_say_the_services_refusals_in_the_installations_language(app, runner, hotel_melati):
    app.config["LANGUAGE"] = "id"
    charged = runner.invoke(args=["ledger", "charge", "HOTEL", "2.000.000"])
    assert charged.exit_code != 0
    assert "Saldo tidak cukup: HOTEL memiliki Rp1.000.000,00 tersedia" in charged.output
    assert "Insufficient balance" not in charged.output
    ambiguous = runner.invoke(args=["ledger", "recharge", "HOTEL", "1,000"])
    assert ambiguous.exit_code == 2 and "Ambigu: tulis 1.000 untuk Rp1.000,00 atau 1 untuk Rp1,00" in ambiguous.output
    app.config["LANGUAGE"] = "en"
    charged = runner.invoke(args=["ledger", "charge", "HOTEL", "2.000.000"])
    assert "Insufficient balance: HOTEL has" in charged.output and "Saldo" not in charged.output


def test_every_download_s_column_has_a_heading_in_each_language():
    """A column without a heading would be downloaded under its code name in Indonesian and Vietnamese: the aging's
    buckets, a month's volume, the customers' and the month-end index's columns each have one."""
    from backoffice.services import month_end, receivables
    from backoffice.services.exports import HEADINGS
    from backoffice.web.customers import monthly, records

    columns = {*receivables.BUCKETS, *monthly.CSV_COLUMNS, *records.CSV_COLUMNS, *month_end.INDEX_HEADER}
    ranges = {bucket for bucket in receivables.BUCKETS if bucket[0].isdigit()}  # "1-30" reads alike in each
    assert columns - ranges - set(HEADINGS) == set()
