"""The pages in English, Bahasa Indonesia and Vietnamese: complete catalogues, and the language each reader gets."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from click.testing import CliRunner

from backoffice.command import cli
from backoffice.models import User
from backoffice.platform.config import ConfigError, from_environment
from backoffice.platform.extensions import db
from backoffice.platform.i18n import formatting_locale
from backoffice.services import wallet
from tests import factories
from tests.checkout import ROOT

TRANSLATIONS = ROOT / "backoffice" / "translations"
LANGUAGES = ("id", "vi")


def _catalogue(language: str):
    with open(TRANSLATIONS / language / "LC_MESSAGES" / "messages.po", "rb") as po:
        return read_po(po, locale=language)


def _messages(catalogue) -> set:
    return {_key(message.id) for message in catalogue if message.id}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_catalogue_translates_every_text_and_none_is_fuzzy(language):
    catalogue = _catalogue(language)
    untranslated = [
        message.id
        for message in catalogue
        if message.id
        and not (all(message.string) if isinstance(message.string, tuple | list) else message.string.strip())
    ]
    fuzzy = [message.id for message in catalogue if message.id and message.fuzzy]
    assert untranslated == [], f"{language}: translate these, then `make translations`"
    assert fuzzy == [], f"{language}: check these translations and drop their fuzzy flag"
    assert _messages(catalogue) == _messages(_template()), f"{language}: run `make translations`"


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_compiled_catalogues_are_those_of_the_po_files(language):
    with open(TRANSLATIONS / language / "LC_MESSAGES" / "messages.mo", "rb") as mo:
        compiled = {_key(message.id): _key(message.string) for message in read_mo(mo) if message.id}
    written = {_key(message.id): _key(message.string) for message in _catalogue(language) if message.id}
    assert compiled == written, f"{language}: run `make translations` to compile the catalogue"


def test_the_template_holds_every_text_of_the_code_and_templates(tmp_path):
    fresh = tmp_path / "messages.pot"
    subprocess.run(
        [
            Path(sys.executable).with_name("pybabel"),
            "-q",
            "extract",
            "--mapping-file",
            "babel.cfg",
            *("--keywords", "_l", "--keywords", "lazy_gettext", "--keywords", "lazy_ngettext:1,2"),
            "--no-location",
            "--output-file",
            str(fresh),
            ".",
        ],
        cwd=ROOT,
        check=True,
    )
    with open(fresh, "rb") as pot:
        extracted = _messages(read_po(pot))
    committed = _messages(_template())
    assert extracted - committed == set(), "texts in the code but not in messages.pot: run `make translations`"
    assert committed - extracted == set(), "texts in messages.pot no longer in the code: run `make translations`"


def _key(text):
    return tuple(text) if isinstance(text, list | tuple) else text


def _template():
    with open(TRANSLATIONS / "messages.pot", "rb") as pot:
        return read_po(pot)


def test_the_default_language_follows_the_locale_and_an_unknown_one_stops_the_app(tmp_path):
    assert from_environment(str(tmp_path), {})["LANGUAGE"] == "id"
    assert from_environment(str(tmp_path), {"BACKOFFICE_LOCALE": "vi_VN"})["LANGUAGE"] == "vi"
    assert from_environment(str(tmp_path), {"BACKOFFICE_LOCALE": "de_DE"})["LANGUAGE"] == "en"
    assert from_environment(str(tmp_path), {"BACKOFFICE_LANGUAGE": "EN"})["LANGUAGE"] == "en"
    with pytest.raises(ConfigError, match="BACKOFFICE_LANGUAGE='fr'"):
        from_environment(str(tmp_path), {"BACKOFFICE_LANGUAGE": "fr"})


def test_numbers_are_written_the_languages_way_in_the_installations_country():
    assert formatting_locale("en", "id_ID") == "en_ID"
    assert formatting_locale("id", "id_ID") == "id_ID"
    assert formatting_locale("vi", "id_ID") == "vi"
    assert formatting_locale("id", "en_US") == "id"


def test_the_login_page_speaks_the_browsers_language(client):
    page = client.get("/login", headers={"Accept-Language": "id-ID,id;q=0.9,en;q=0.5"}).get_data(as_text=True)
    assert '<html lang="id">' in page and "Masuk" in page
    page = client.get("/login", headers={"Accept-Language": "vi-VN,vi;q=0.9"}).get_data(as_text=True)
    assert '<html lang="vi">' in page and "Đăng nhập" in page
    page = client.get("/login", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert '<html lang="en">' in page and "Log in" in page


def test_without_a_browser_language_the_pages_are_in_the_installations(app, client):
    app.config["LANGUAGE"] = "vi"
    assert '<html lang="vi">' in client.get("/login").get_data(as_text=True)


def test_a_users_choice_wins_over_the_browsers_language(client, auth):
    user = auth.login("finance")
    response = client.post("/account/language", data={"language": "vi"}, headers={"Accept-Language": "id"})
    assert response.status_code == 302
    assert db.session.get(User, user.id).language == "vi"
    page = client.get("/account/password", headers={"Accept-Language": "id"}).get_data(as_text=True)
    assert '<html lang="vi">' in page and "Đổi mật khẩu" in page
    client.post("/account/language", data={"language": ""})
    assert db.session.get(User, user.id).language is None
    assert '<html lang="id">' in client.get("/", headers={"Accept-Language": "id"}).get_data(as_text=True)


def test_an_unknown_language_is_refused(client, auth):
    user = auth.login("finance")
    assert client.post("/account/language", data={"language": "xx"}).status_code == 422
    assert db.session.get(User, user.id).language is None


def test_an_order_form_in_english_reads_english_and_in_indonesian_the_business_terms(client, auth):
    auth.login("finance")
    factories.CustomerFactory(code="C0042")
    english = client.get("/orders/new").get_data(as_text=True)
    assert "Paket awal" not in english and "Penambahan" not in english and "Pengurangan" not in english
    indonesian = client.get("/orders/new", headers={"Accept-Language": "id"}).get_data(as_text=True)
    assert "Paket awal" in indonesian and "Penambahan" in indonesian and "Pengurangan" in indonesian


def test_an_english_page_writes_english_month_names_and_the_installations_amounts(client, auth):
    auth.login("finance")
    customer = factories.CustomerFactory(code="C0042")
    wallet.recharge(customer, Decimal("1234567.25"), value_date=date(2026, 10, 5))
    english = client.get("/ledger").get_data(as_text=True)
    assert "5 Oct 2026" in english and "Okt" not in english and "Rp1.234.567,25" in english
    indonesian = client.get("/ledger", headers={"Accept-Language": "id"}).get_data(as_text=True)
    assert "5 Okt 2026" in indonesian and "Rp1.234.567,25" in indonesian
    vietnamese = client.get("/ledger", headers={"Accept-Language": "vi"}).get_data(as_text=True)
    assert "5 thg 10, 2026" in vietnamese and "1.234.567,25\xa0IDR" in vietnamese


def test_the_commands_speak_english_whatever_the_installations_language(app, monkeypatch):
    monkeypatch.setenv("BACKOFFICE_LANGUAGE", "id")
    monkeypatch.setenv("DATABASE_URL", app.config["SQLALCHEMY_DATABASE_URI"])
    result = CliRunner().invoke(cli, ["users", "create", "clerk@example.com", "--role", "nobody"])
    assert result.exit_code != 0
    assert "role" in result.output.lower() and "peran" not in result.output.lower()
