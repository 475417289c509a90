import os
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from psycopg import RawCursor

from backoffice.platform.config import ConfigError, declared, from_environment, read
from backoffice.platform.databases import binds, database_url, engine_options
from tests.checkout import ROOT


def test_the_default_is_the_instance_s_embedded_postgresql_as_its_runtime_role(tmp_path):
    config = from_environment(str(tmp_path), {})
    socket = tmp_path.resolve() / "postgres"
    assert config["SQLALCHEMY_DATABASE_URI"] == f"postgresql+psycopg://backoffice_runtime@/backoffice?host={socket}"
    assert config["DATABASE_EMBEDDED"]
    assert (config["LOCALE"], config["CURRENCY"]) == ("id_ID", "IDR")


def test_the_embedded_server_is_reached_on_the_socket_its_pid_file_names(tmp_path):
    (tmp_path / "postgres").mkdir()
    (tmp_path / "postgres" / "postmaster.pid").write_text("4242\n/data\n1764120000\n5432\n/run/short\n\n  1 2\nready\n")
    config = from_environment(str(tmp_path), {})
    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://backoffice_runtime@/backoffice?host=/run/short"
    given = from_environment(str(tmp_path), {"DATABASE_URL": "postgresql://u@h/d"})
    assert (given["SQLALCHEMY_DATABASE_URI"], given["DATABASE_EMBEDDED"]) == ("postgresql+psycopg://u@h/d", False)


@pytest.mark.parametrize("given", ["sqlite:////tmp/x.sqlite", "sqlite://", "mysql://u@h/d"])
def test_a_database_other_than_postgresql_is_refused_saying_what_to_use(tmp_path, given):
    with pytest.raises(ConfigError, match=r"^DATABASE_URL=.* is not a PostgreSQL URL read with psycopg 3") as refused:
        from_environment(str(tmp_path), {"DATABASE_URL": given})
    if given.startswith("sqlite"):
        assert "backoffice keeps its data in PostgreSQL only: leave DATABASE_URL unset to use the embedded" in str(
            refused.value
        )


def test_a_secret_key_is_generated_once_and_kept(tmp_path):
    first = from_environment(str(tmp_path), {})["SECRET_KEY"]
    assert len(first) == 64
    assert from_environment(str(tmp_path), {})["SECRET_KEY"] == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


PRODUCTION_DATABASE = {"DATABASE_URL": "postgresql://backoffice@db/backoffice"}


def test_production_requires_a_secret_key_and_secure_cookies(tmp_path):
    with pytest.raises(ConfigError, match="SECRET_KEY must be set"):
        from_environment(str(tmp_path), {"BACKOFFICE_ENV": "production"} | PRODUCTION_DATABASE)
    config = from_environment(
        str(tmp_path),
        {"BACKOFFICE_ENV": "production", "SECRET_KEY": "s", "BACKOFFICE_SEAL_KEY": "k" * 64} | PRODUCTION_DATABASE,
    )
    assert config["SESSION_COOKIE_SECURE"] and config["REMEMBER_COOKIE_SECURE"]
    assert config["SESSION_COOKIE_HTTPONLY"] and config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert not (tmp_path / "secret_key").exists()


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgres://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgresql://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),
    ],
)
def test_postgres_urls_use_psycopg_3(given, used):
    assert database_url(given) == used


@pytest.mark.parametrize(
    "given",
    [
        "postgresql://bo@/bo?host=10.0.0.1:5442&host=10.0.0.2:5443&target_session_attrs=read-write",
        "postgresql://bo@/bo?host=10.0.0.1:5442,10.0.0.2:5443&target_session_attrs=read-write",
        "postgres://bo@/bo?host=10.0.0.1,10.0.0.2&port=5442,5443&target_session_attrs=read-write",
    ],
)
def test_a_primary_and_its_standby_in_one_url_reach_psycopg_as_libpq_lists_of_hosts(tmp_path, given):
    """A multi-host DATABASE_URL, in each of its spellings: psycopg tries the servers in turn and keeps the one that
    takes writes (see docs/operators.md, "High availability")."""
    used = from_environment(str(tmp_path), {"DATABASE_URL": given})["SQLALCHEMY_DATABASE_URI"]
    engine = sa.create_engine(used)
    _args, options = engine.dialect.create_connect_args(engine.url)
    assert engine.dialect.driver == "psycopg"
    assert (options["host"], options["port"]) == ("10.0.0.1,10.0.0.2", "5442,5443")
    assert (options["dbname"], options["user"], options["target_session_attrs"]) == ("bo", "bo", "read-write")


def test_postgresql_statements_reach_psycopg_with_numbered_parameters_and_options():
    given = {"connect_args": {"connect_timeout": 2}, "pool_size": 3}
    assert engine_options(given) == {
        "paramstyle": "numeric_dollar",
        "pool_size": 3,
        "connect_args": {"cursor_factory": RawCursor, "connect_timeout": 2},
    }


def test_reads_go_to_the_database_without_a_replica_and_through_psycopg_3_with_one(tmp_path):
    unset = from_environment(str(tmp_path), {})
    assert (unset["READ_DATABASE_URL"], unset["READ_MAX_LAG_SECONDS"], binds(unset)) == (None, 30, {})
    given = {"BACKOFFICE_READ_DATABASE_URL": "postgresql://u@replica/d", "BACKOFFICE_READ_MAX_LAG_SECONDS": "2.5"}
    config = from_environment(str(tmp_path), given)
    assert (config["READ_DATABASE_URL"], config["READ_MAX_LAG_SECONDS"]) == ("postgresql+psycopg://u@replica/d", 2.5)
    assert binds(config) == {
        "replica": {
            "url": "postgresql+psycopg://u@replica/d",
            "paramstyle": "numeric_dollar",
            "connect_args": {"cursor_factory": RawCursor, "connect_timeout": 2},
        }
    }


def test_statements_are_prepared_on_the_server_unless_a_pooler_keeps_none():
    assert "prepare_threshold" not in engine_options({})["connect_args"]
    unprepared = engine_options({}, prepared=False)["connect_args"]
    assert unprepared == {"cursor_factory": RawCursor, "prepare_threshold": None}


@pytest.mark.parametrize(("given", "prepared"), [(None, True), ("false", False), (" FALSE ", False), ("True", True)])
def test_prepared_statements_are_a_switch_on_by_default(tmp_path, given, prepared):
    environ = {} if given is None else {"BACKOFFICE_DATABASE_PREPARED_STATEMENTS": given}
    assert from_environment(str(tmp_path), environ)["DATABASE_PREPARED_STATEMENTS"] is prepared


@pytest.mark.parametrize("given", ["off", "0", "", "yes"])
def test_prepared_statements_other_than_true_or_false_are_refused_at_start(given):
    with pytest.raises(ConfigError, match=r"^BACKOFFICE_DATABASE_PREPARED_STATEMENTS=.* is not true or false\.$"):
        read({"BACKOFFICE_DATABASE_PREPARED_STATEMENTS": given})


def test_locale_and_currency_come_from_the_environment(tmp_path):
    config = from_environment(str(tmp_path), {"BACKOFFICE_LOCALE": "en_US", "BACKOFFICE_CURRENCY": "USD"})
    assert (config["LOCALE"], config["CURRENCY"]) == ("en_US", "USD")


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"BACKOFFICE_LOCALE": "xx_YY"}, "BACKOFFICE_LOCALE"),
        ({"BACKOFFICE_CURRENCY": "RUPIAH"}, "BACKOFFICE_CURRENCY"),
        ({"BACKOFFICE_REPRICE_IN_REQUEST_LIMIT": "many"}, "not a whole number"),
        ({"BACKOFFICE_RECONCILE_CHUNK_SIZE": "0"}, "at least 1"),
    ],
)
def test_an_unknown_locale_or_currency_is_refused_at_start(tmp_path, environ, message):
    with pytest.raises(ConfigError, match=message):
        from_environment(str(tmp_path), environ)


def test_the_health_max_age_is_26_hours_unless_set(tmp_path):
    assert from_environment(str(tmp_path), {})["HEALTH_MAX_AGE"] == timedelta(hours=26)
    given = {"BACKOFFICE_HEALTH_MAX_AGE_HOURS": "49.5"}
    assert from_environment(str(tmp_path), given)["HEALTH_MAX_AGE"] == timedelta(hours=49, minutes=30)


def test_the_seal_sweep_takes_seven_nights_unless_set(tmp_path):
    assert from_environment(str(tmp_path), {})["SEAL_SWEEP_DAYS"] == 7
    assert from_environment(str(tmp_path), {"BACKOFFICE_SEAL_SWEEP_DAYS": " 3 "})["SEAL_SWEEP_DAYS"] == 3


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("0", "BACKOFFICE_SEAL_SWEEP_DAYS must be at least 1."),
        ("-7", "BACKOFFICE_SEAL_SWEEP_DAYS must be at least 1."),
        ("a week", "BACKOFFICE_SEAL_SWEEP_DAYS='a week' is not a whole number."),
        ("7.5", "BACKOFFICE_SEAL_SWEEP_DAYS='7.5' is not a whole number."),
        ("", "BACKOFFICE_SEAL_SWEEP_DAYS='' is not a whole number."),
    ],
)
def test_a_seal_sweep_that_is_not_a_whole_number_of_nights_is_refused_at_start(tmp_path, given, message):
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        from_environment(str(tmp_path), {"BACKOFFICE_SEAL_SWEEP_DAYS": given})


@pytest.mark.parametrize("given", ["0", "-3", "a day", "", "nan", "inf", "9000"])
def test_a_health_max_age_that_is_not_a_positive_number_of_hours_is_refused_at_start(tmp_path, given):
    with pytest.raises(ConfigError, match=r"BACKOFFICE_HEALTH_MAX_AGE_HOURS=.* is not a number of hours above 0"):
        from_environment(str(tmp_path), {"BACKOFFICE_HEALTH_MAX_AGE_HOURS": given})


def test_an_api_token_is_generated_once_and_kept_outside_production(tmp_path):
    first = from_environment(str(tmp_path), {})["API_TOKEN"]
    assert len(first) == 64 and first != from_environment(str(tmp_path / "other"), {})["API_TOKEN"]
    assert from_environment(str(tmp_path), {})["API_TOKEN"] == first
    assert (tmp_path / "api_token").stat().st_mode & 0o077 == 0
    assert sorted(path.name for path in tmp_path.iterdir() if path.is_file()) == ["api_token", "seal_key", "secret_key"]
    assert from_environment(str(tmp_path), {"BACKOFFICE_API_TOKEN": "given"})["API_TOKEN"] == "given"


def test_production_makes_no_api_token_of_its_own(tmp_path):
    production = {"BACKOFFICE_ENV": "production", "SECRET_KEY": "s", "BACKOFFICE_SEAL_KEY": "k" * 64}
    production |= PRODUCTION_DATABASE
    assert from_environment(str(tmp_path), production)["API_TOKEN"] is None
    assert from_environment(str(tmp_path), production | {"BACKOFFICE_API_TOKEN": "t"})["API_TOKEN"] == "t"
    assert not (tmp_path / "api_token").exists()


@pytest.mark.parametrize("given", ["production", "Production", "PRODUCTION", " production "])
def test_production_is_production_in_any_case(tmp_path, given):
    production = {"BACKOFFICE_ENV": given, "SECRET_KEY": "s", "BACKOFFICE_SEAL_KEY": "k" * 64} | PRODUCTION_DATABASE
    config = from_environment(str(tmp_path), production)
    assert config["BACKOFFICE_ENV"] == "production"
    assert config["SESSION_COOKIE_SECURE"] and config["REMEMBER_COOKIE_SECURE"]
    assert config["API_TOKEN"] is None
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("given", ["development", "Development", "DEVELOPMENT"])
def test_development_is_development_in_any_case(tmp_path, given):
    assert from_environment(str(tmp_path), {"BACKOFFICE_ENV": given})["BACKOFFICE_ENV"] == "development"


@pytest.mark.parametrize("given", ["prod", "staging", "", "production1", "test"])
def test_an_environment_neither_production_nor_development_is_refused_at_start(tmp_path, given):
    with pytest.raises(ConfigError, match=r"BACKOFFICE_ENV=.* is not an environment: production or development"):
        from_environment(str(tmp_path), {"BACKOFFICE_ENV": given})
    assert not any(tmp_path.iterdir())


def test_production_refuses_to_start_without_a_database_url(tmp_path):
    production = {"BACKOFFICE_ENV": "production", "SECRET_KEY": "s", "BACKOFFICE_SEAL_KEY": "k" * 64}
    with pytest.raises(ConfigError, match="DATABASE_URL must be set when BACKOFFICE_ENV=production"):
        from_environment(str(tmp_path), production)
    assert not any(tmp_path.iterdir())


def test_the_company_printed_on_statements_and_invoices_comes_from_the_environment(tmp_path):
    config = from_environment(str(tmp_path), {})
    assert (config["COMPANY_NAME"], config["COMPANY_ADDRESS"]) == ("", "")  # unset: documents say so, never a stand-in
    given = {"BACKOFFICE_COMPANY_NAME": " PT Gas Nusantara ", "BACKOFFICE_COMPANY_ADDRESS": "Jl. Sudirman 1, Jakarta"}
    config = from_environment(str(tmp_path), given)
    assert (config["COMPANY_NAME"], config["COMPANY_ADDRESS"]) == ("PT Gas Nusantara", "Jl. Sudirman 1, Jakarta")
    assert from_environment(str(tmp_path), {"BACKOFFICE_COMPANY_ADDRESS": ""})["COMPANY_ADDRESS"] == ""
    assert from_environment(str(tmp_path), {"BACKOFFICE_COMPANY_NAME": "  "})["COMPANY_NAME"] == ""


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"BACKOFFICE_COMPANY_NAME": "x" * 201}, "BACKOFFICE_COMPANY_NAME has 201 characters: at most 200"),
        ({"BACKOFFICE_COMPANY_ADDRESS": "x" * 501}, "BACKOFFICE_COMPANY_ADDRESS has 501 characters: at most 500"),
    ],
)
def test_a_company_name_or_address_that_cannot_be_printed_is_refused_at_start(tmp_path, environ, message):
    with pytest.raises(ConfigError, match=message):
        from_environment(str(tmp_path), environ)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mail.example:587", "BACKOFFICE_SMTP_URL is not smtp://host"),
        ("http://mail.example", "BACKOFFICE_SMTP_URL is not smtp://host"),
        ("smtp://", "BACKOFFICE_SMTP_URL is not smtp://host"),
        ("smtp://mail.example:submission", "BACKOFFICE_SMTP_URL has a port that is not a number"),
    ],
)
def test_a_mail_server_that_cannot_be_reached_so_is_refused_at_start(tmp_path, url, message):
    with pytest.raises(ConfigError, match=message):
        from_environment(str(tmp_path), {"BACKOFFICE_SMTP_URL": url})
    given = {"BACKOFFICE_SMTP_URL": "smtps://tagihan:rahasia@mail.example:465"}
    assert from_environment(str(tmp_path), given)["SMTP_URL"] == "smtps://tagihan:rahasia@mail.example:465"
    assert from_environment(str(tmp_path), {})["SMTP_URL"] is None


def test_the_settings_are_read_from_the_process_environment_unless_one_is_given(monkeypatch):
    monkeypatch.setenv("BACKOFFICE_WEB_THREADS", "7")
    assert read().web_threads == 7
    assert read({}).web_threads == 4


def test_the_web_server_defaults_to_the_loopback_and_2_per_core_plus_1_processes(tmp_path):
    settings = read({})
    assert (settings.web_bind, settings.web_threads, settings.web_timeout) == ("127.0.0.1:8000", 4, 120)
    assert settings.web_workers == 2 * (os.cpu_count() or 1) + 1
    assert from_environment(str(tmp_path), {"BACKOFFICE_WEB_BIND": " unix:/run/web.sock "})["WEB_BIND"] == (
        "unix:/run/web.sock"
    )


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"BACKOFFICE_PROXY_COUNT": "-1"}, "BACKOFFICE_PROXY_COUNT must be at least 0."),
        ({"BACKOFFICE_WEB_WORKERS": "many"}, "BACKOFFICE_WEB_WORKERS='many' is not a whole number."),
        (
            {"BACKOFFICE_WEB_BIND": " "},
            "BACKOFFICE_WEB_BIND is empty: give HOST:PORT (e.g. 127.0.0.1:8000) or unix:PATH.",
        ),
        ({"BACKOFFICE_JOB_HEARTBEAT_SECONDS": "-1"}, "BACKOFFICE_JOB_HEARTBEAT_SECONDS must not be negative."),
        (
            {"BACKOFFICE_READ_MAX_LAG_SECONDS": "half a minute"},
            "BACKOFFICE_READ_MAX_LAG_SECONDS='half a minute' is not a number of seconds.",
        ),
        ({"BACKOFFICE_READ_MAX_LAG_SECONDS": "-5"}, "BACKOFFICE_READ_MAX_LAG_SECONDS must not be negative."),
        (
            {"BACKOFFICE_READ_MAX_LAG_SECONDS": "nan"},
            "BACKOFFICE_READ_MAX_LAG_SECONDS='nan' is not a number of seconds.",
        ),
        (
            {"BACKOFFICE_JOB_HEARTBEAT_SECONDS": "inf"},
            "BACKOFFICE_JOB_HEARTBEAT_SECONDS='inf' is not a number of seconds.",
        ),
        ({"BACKOFFICE_NIGHTLY_AT": "2am"}, "BACKOFFICE_NIGHTLY_AT='2am' is not a time of day as HH:MM (e.g. 02:00)."),
        (
            {"BACKOFFICE_RECONCILE_CHUNK_GATE": "x"},
            "BACKOFFICE_RECONCILE_CHUNK_GATE='x' is not a whole number (an advisory lock key).",
        ),
        (
            {"BACKOFFICE_TIMEZONE": "Asia/Nowhere"},
            "BACKOFFICE_TIMEZONE='Asia/Nowhere' is not an IANA time zone (e.g. Asia/Jakarta).",
        ),
        # Of two invalid settings, the first in the settings' order is named.
        (
            {"BACKOFFICE_LOG_LEVEL": "LOUD", "BACKOFFICE_ENV": "prod"},
            "BACKOFFICE_ENV='prod' is not an environment: production or development.",
        ),
    ],
)
def test_an_invalid_setting_is_refused_with_its_own_message_nothing_of_pydantic_s(environ, message):
    with pytest.raises(ConfigError) as refused:
        read(environ)
    assert str(refused.value) == message


def test_any_text_in_any_setting_is_read_or_refused_with_the_settings_own_message():
    for name in (setting.name for setting in declared()):
        for text in ("", " ", "x", "1", "-1", "[1, 2]", '{"a": 1}', "01:30", "null"):
            try:
                read({name: text})
            except ConfigError as refused:
                assert name in str(refused), (name, text, str(refused))
                assert not re.search(r"pydantic|validation error|Value error|type=", str(refused)), str(refused)


def test_only_the_settings_module_reads_the_environment():
    """Everything else asks backoffice.platform.config for its settings: no other file of the package, nor a
    migration, the worker or gunicorn's settings, so much as mentions the environment."""
    root = ROOT
    settings_module = root / "backoffice" / "platform" / "config.py"
    files = [*sorted((root / "backoffice").rglob("*.py")), *sorted((root / "migrations").rglob("*.py"))]
    files += [root / "worker.py", root / "gunicorn.conf.py"]
    reading = re.compile(r"os\.environ|getenv|from os import[^\n]*\benviron")
    readers = [
        str(path.relative_to(root)) for path in files if path != settings_module and reading.search(path.read_text())
    ]
    assert readers == []
