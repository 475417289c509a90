"""The ``backoffice`` command speaks one language, the installation's (``BACKOFFICE_LANGUAGE``): its own messages,
its tables' headings, the services' refusals, what it reports from the web server, and its help."""

from __future__ import annotations

import os
import re
import subprocess
from decimal import Decimal

import pytest

from backoffice import create_app
from backoffice.platform.extensions import db
from backoffice.services import wallet
from tests import chromium
from tests.checkout import CONSOLE_SCRIPT
from tests.factories import CustomerFactory, MeterFactory, UserFactory

TOKEN = "a-long-enough-token-for-the-api-tests-0123456789"


@pytest.fixture
def hotel(hotel):
    """The hotel (``conftest.hotel``), with Rp1.000.000 in all."""
    wallet.recharge(hotel.id, Decimal("900000"))
    return hotel


@pytest.fixture
def live_server(app):
    """A web server of the same database, with the API token :data:`TOKEN`, from a thread: the running server
    ``backoffice health`` asks (whose token the command may not have)."""
    served = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "SECRET_KEY": "test",
            "API_TOKEN": TOKEN,
            "REDIS_URL": None,
        }
    )
    try:
        with chromium.served(served) as url:
            yield url
    finally:
        with served.app_context():
            db.engine.dispose()


def speaking(app, language: str) -> None:
    app.config["LANGUAGE"] = language


def said(result) -> list[str]:
    """What the command said, without the log lines the server in this process wrote meanwhile."""
    return [line for line in result.output.splitlines() if not re.match(r"\d{4}-\d\d-\d\d \S+ [A-Z]+ ", line)]


def test_a_movement_is_confirmed_in_the_installations_language(app, runner, hotel):
    speaking(app, "id")
    done = runner.invoke(args=["ledger", "recharge", "HOTEL", "1.000", "--value-date", "2026-11-05"])
    assert done.exit_code == 0, done.output
    assert " bertanggal 5 Nov 2026: saldo HOTEL Rp1.001.000,00." in done.output
    assert done.output.startswith("isi ulang #")
    speaking(app, "vi")
    done = runner.invoke(args=["ledger", "recharge", "HOTEL", "1.000", "--value-date", "2026-11-05"])
    assert done.output.startswith("nạp tiền #") and "số dư của HOTEL là Rp1.002.000,00." in done.output


@pytest.mark.parametrize(
    ("language", "line"),
    [
        ("id", "Kesalahan: Saldo tidak cukup: HOTEL memiliki Rp1.000.000,00 tersedia, diperlukan Rp2.000.000,00."),
        ("vi", "Lỗi: Số dư không đủ: HOTEL có Rp1.000.000,00 khả dụng, cần Rp2.000.000,00."),
        ("en", "Error: Insufficient balance: HOTEL has Rp1.000.000,00 available, Rp2.000.000,00 is needed."),
    ],
)
def test_a_refusal_is_one_line_in_one_language_and_exits_non_zero(app, runner, hotel, language, line):
    speaking(app, language)
    refused = runner.invoke(args=["ledger", "charge", "HOTEL", "2.000.000"])
    assert refused.exit_code == 1
    assert refused.output.strip() == line


def test_a_mistake_in_what_was_typed_exits_2_in_the_installations_language(app, runner):
    speaking(app, "vi")
    unknown = runner.invoke(args=["users", "change", "nobody@example.com", "--role", "admin"])
    assert unknown.exit_code == 2 and unknown.output.strip() == "Lỗi: Không có người dùng nobody@example.com."
    speaking(app, "id")
    month = runner.invoke(args=["reconcile", "verify", "--from-month", "11-2026"])
    assert month.exit_code == 2
    assert month.output.strip() == "Kesalahan: --from-month harus YYYY-MM (paling lambat 9999-11), bukan '11-2026'."


def test_only_an_admin_is_refused_in_the_installations_language(app, runner):
    UserFactory(email="clerk@example.com", role="finance")
    CustomerFactory(code="C100")
    speaking(app, "id")
    refused = runner.invoke(args=["customers", "close", "C100", "--user", "clerk@example.com", "--yes"])
    assert refused.exit_code == 1
    assert refused.output.strip() == "Kesalahan: clerk@example.com bukan admin: hanya admin yang menutup pelanggan."


def test_a_confirmation_and_its_question_are_in_the_installations_language(app, runner):
    UserFactory(email="boss@example.com", role="admin")
    MeterFactory(serial="M-1")
    speaking(app, "vi")
    declined = runner.invoke(args=["meters", "retire", "M-1", "--user", "boss@example.com"], input="n\n")
    assert declined.exit_code == 1
    assert "Đồng hồ M-1 không gán cho ai. Khi ngừng sử dụng, đồng hồ không nhận chỉ số hay lần gán mới." in (
        declined.output
    )
    assert "Ngừng sử dụng M-1 vào ngày " in declined.output


def test_the_tables_headings_are_in_the_installations_language(app, runner):
    MeterFactory(serial="M-1")
    speaking(app, "id")
    listed = runner.invoke(args=["meters", "list"])
    assert listed.exit_code == 0
    assert "nomor seri" in listed.output and "tidak ada" in listed.output and "serial" not in listed.output
    speaking(app, "vi")
    checks = runner.invoke(args=["reconcile", "checks"])
    header = checks.output.splitlines()[0]
    assert "đối tượng" in header and "sửa được" in header and "entity" not in header


def test_a_run_is_reported_in_the_installations_language(app, runner):
    speaking(app, "vi")
    verified = runner.invoke(args=["reconcile", "verify", "--check", "order_grand_total"])
    assert verified.exit_code == 0, verified.output
    first = verified.output.splitlines()[0]
    assert first.startswith("Lượt chạy ") and " · kiểm tra · " in first
    assert "đã kiểm tra" in verified.output and "checked" not in verified.output


def test_the_health_check_is_asked_and_reported_in_the_installations_language(app, runner, live_server):
    speaking(app, "id")
    app.config["API_TOKEN"] = TOKEN
    unhealthy = runner.invoke(args=["health", "--url", live_server])
    assert unhealthy.exit_code == 1, unhealthy.output
    first, *reasons = said(unhealthy)
    assert first == "Tidak sehat: saldo tidak dapat dipercaya saat ini." and all(r.startswith("  - ") for r in reasons)
    assert "  - Pemeliharaan malam belum pernah selesai." in unhealthy.output
    assert "never" not in unhealthy.output


@pytest.mark.parametrize(
    ("language", "words", "english"),
    [
        ("id", "menolak pemeriksaan kesehatan dengan HTTP 401: Token bearer tidak sah. (id permintaan ", True),
        ("vi", "từ chối kiểm tra tình trạng với HTTP 401: ", True),
        ("en", "refused the health check with HTTP 401: The bearer token is not valid. (request id ", False),
    ],
)
def test_a_health_check_refused_by_the_server_is_one_line_in_one_language(
    app, runner, live_server, language, words, english
):
    speaking(app, language)
    app.config["API_TOKEN"] = "not-the-server-s"
    refused = runner.invoke(args=["health", "--url", live_server])
    assert refused.exit_code == 2
    (line,) = said(refused)
    assert words in line
    if english:
        for word in ("Error", "refused", "bearer token is not valid", "request id"):
            assert word not in line


def test_a_server_that_cannot_be_reached_is_said_in_the_installations_language(app, runner):
    speaking(app, "id")
    app.config["API_TOKEN"] = TOKEN
    closed = runner.invoke(args=["health", "--url", "http://127.0.0.1:9", "--timeout", "5"])
    assert closed.exit_code == 2
    assert (
        closed.output.strip()
        == "Kesalahan: Tidak dapat menjangkau http://127.0.0.1:9/admin/balance-health/check: " + ("Koneksi ditolak.")
    )


def test_the_console_script_speaks_backoffice_language(app):
    env = os.environ | {
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "SECRET_KEY": "test",
        "BACKOFFICE_LANGUAGE": "vi",
    }
    listed = subprocess.run([CONSOLE_SCRIPT, "reconcile", "checks"], env=env, capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    assert "sửa được" in listed.stdout.splitlines()[0]
    refused = subprocess.run(
        [CONSOLE_SCRIPT, "users", "change", "nobody@example.com", "--role", "admin"],
        env=env | {"BACKOFFICE_LANGUAGE": "id"},
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2 and refused.stderr.strip() == "Kesalahan: Tidak ada pengguna nobody@example.com."


ENGLISH_HELP = (
    "Run and administer the back-office.",
    "Manage customers.",
    "Import FILE (CSV or XLSX) of KIND: every row is checked first",
    "Check the file and say what it would write; write nothing.",
    "The admin importing it (recorded in every row's history).",
)


def helped(language: str, *command: str) -> str:
    """What ``backoffice COMMAND --help`` prints in ``language``, its lines joined as one text: the help is printed
    without the database, which DATABASE_URL names where nothing answers."""
    env = os.environ | {
        "DATABASE_URL": "postgresql://backoffice@127.0.0.1:9/nowhere",
        "SECRET_KEY": "test",
        "BACKOFFICE_LANGUAGE": language,
    }
    shown = subprocess.run([CONSOLE_SCRIPT, *command, "--help"], env=env, capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    return " ".join(shown.stdout.split())


@pytest.mark.parametrize(
    ("language", "root", "importing"),
    [
        (
            "id",
            ("Jalankan dan kelola back-office.", "Kelola pelanggan."),
            (
                "Impor FILE (CSV atau XLSX) berjenis KIND: setiap baris diperiksa lebih dulu",
                "Periksa berkas dan sebutkan apa yang akan ditulis; tidak menulis apa pun.",
                "Admin yang mengimpornya (dicatat di riwayat setiap baris).",
            ),
        ),
        (
            "vi",
            ("Chạy và quản trị back-office.", "Thêm, sửa và đóng khách hàng."),
            (
                "Nhập FILE (CSV hoặc XLSX) thuộc loại KIND: mọi dòng được kiểm tra trước",
                "Kiểm tra tệp và cho biết sẽ ghi những gì; không ghi gì.",
                "Quản trị viên nhập tệp (được ghi nhận trong lịch sử của từng dòng).",
            ),
        ),
        ("en", ENGLISH_HELP[:2], ENGLISH_HELP[2:]),
    ],
)
def test_the_console_scripts_help_speaks_backoffice_language(language, root, importing):
    commands = helped(language)
    assert all(words in commands for words in root), commands
    import_file = helped(language, "import")
    assert all(words in import_file for words in importing), import_file
    if language != "en":
        assert not [words for words in ENGLISH_HELP if words in commands or words in import_file]
