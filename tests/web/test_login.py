"""Logging in: failed logins are throttled, unknown emails cost a hash, sessions end for good."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa
from limits import parse_many
from redis import Redis

from backoffice import create_app
from backoffice.models import Role, User
from backoffice.models import users as users_module
from backoffice.platform.config import ConfigError, declared, from_environment
from backoffice.platform.extensions import db
from tests.factories import PASSWORD, UserFactory
from tests.logins import is_logged_in


def log_in(client, email: str, password: str, address: str = "127.0.0.1", forwarded_for: str | None = None):
    return client.post(
        "/login",
        data={"email": email, "password": password},
        environ_base={"REMOTE_ADDR": address},
        headers={"X-Forwarded-For": forwarded_for} if forwarded_for else {},
    )


def fail(client, email: str, times: int, address: str = "127.0.0.1") -> None:
    for _ in range(times):
        assert log_in(client, email, "wrong password", address).status_code == 422


# Throttling failed logins


def test_after_five_failures_the_account_is_refused_with_429_and_retry_after(client, caplog):
    UserFactory(email="clerk@example.com")
    fail(client, "clerk@example.com", 5)
    with caplog.at_level(logging.WARNING, logger="backoffice.web.plumbing.auth"):
        refused = log_in(client, "clerk@example.com", PASSWORD)
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert "Too many failed logins" in refused.get_data(as_text=True)
    assert not is_logged_in(client)
    (record,) = [r for r in caplog.records if "refused" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert "clerk@example.com" in record.getMessage() and "127.0.0.1" in record.getMessage()


def test_the_account_limit_holds_whatever_the_address_and_spelling(client):
    UserFactory(email="clerk@example.com")
    for number in range(5):
        fail(client, " Clerk@Example.com", 1, address=f"198.51.100.{number}")
    assert log_in(client, "clerk@example.com", PASSWORD, address="203.0.113.9").status_code == 429


def test_the_address_limit_holds_across_accounts_and_other_addresses_still_log_in(client):
    UserFactory(email="clerk@example.com")
    for number in range(20):
        fail(client, f"guess{number}@example.com", 1)
    assert log_in(client, "clerk@example.com", PASSWORD).status_code == 429
    assert log_in(client, "clerk@example.com", PASSWORD, address="192.0.2.2").status_code == 302


def test_successful_logins_leave_the_budget_whole(client):
    UserFactory(email="clerk@example.com")
    for _ in range(10):
        assert log_in(client, "clerk@example.com", PASSWORD).status_code == 302
        client.post("/logout")
    fail(client, "clerk@example.com", 5)
    assert log_in(client, "clerk@example.com", PASSWORD).status_code == 429


def test_the_limits_are_settings(app, client):
    app.config["LOGIN_LIMIT_PER_ACCOUNT"] = "2 per minute"
    UserFactory(email="clerk@example.com")
    fail(client, "clerk@example.com", 2)
    assert log_in(client, "clerk@example.com", PASSWORD).status_code == 429


@pytest.mark.parametrize("text", ["five a minute", "", "0 per minute"])
@pytest.mark.parametrize("name", ["BACKOFFICE_LOGIN_LIMIT_PER_ACCOUNT", "BACKOFFICE_LOGIN_LIMIT_PER_ADDRESS"])
def test_a_limit_that_cannot_be_read_is_a_configuration_error(tmp_path, name, text):
    assert from_environment(str(tmp_path), {name: "3 per hour; 10/day"})
    with pytest.raises(ConfigError, match=name):
        from_environment(str(tmp_path), {name: text})


@pytest.mark.parametrize("name", ["BACKOFFICE_LOGIN_LIMIT_PER_ACCOUNT", "BACKOFFICE_LOGIN_LIMIT_PER_ADDRESS"])
def test_a_default_limit_is_a_limit_the_setting_accepts(tmp_path, name):
    default = next(setting.default for setting in declared() if setting.name == name)
    assert parse_many(default)
    assert from_environment(str(tmp_path), {name: default})


def test_forwarded_addresses_count_only_behind_a_trusted_proxy(app):
    UserFactory(email="clerk@example.com")
    proxy = "10.0.0.1"
    direct = app.test_client()
    for number in range(20):
        log_in(direct, f"guess{number}@example.com", "wrong", proxy, forwarded_for=f"192.0.2.{number}")
    assert log_in(direct, "clerk@example.com", PASSWORD, proxy, forwarded_for="192.0.2.99").status_code == 429

    proxied = create_app(app.config | {"PROXY_COUNT": 1}).test_client()
    for number in range(20):
        log_in(proxied, f"guess{number}@example.com", "wrong", proxy, forwarded_for="192.0.2.1")
    assert log_in(proxied, "clerk@example.com", PASSWORD, proxy, forwarded_for="192.0.2.1").status_code == 429
    assert log_in(proxied, "clerk@example.com", PASSWORD, proxy, forwarded_for="192.0.2.2").status_code == 302


def test_with_redis_the_failures_outlive_the_process(app, redis_url):
    UserFactory(email="clerk@example.com")
    fail(create_app(app.config | {"REDIS_URL": redis_url}).test_client(), "clerk@example.com", 5)
    assert Redis.from_url(redis_url).keys("LIMITS:*")
    restarted = create_app(app.config | {"REDIS_URL": redis_url}).test_client()
    assert log_in(restarted, "clerk@example.com", PASSWORD).status_code == 429


def test_with_redis_down_logins_still_work_unthrottled(app):
    UserFactory(email="clerk@example.com")
    client = create_app(app.config | {"REDIS_URL": "redis://127.0.0.1:1/0"}).test_client()
    fail(client, "clerk@example.com", 6)
    assert log_in(client, "clerk@example.com", PASSWORD).status_code == 302


# Unknown emails cost as much as known ones


@pytest.fixture
def checked_hashes(monkeypatch):
    """The stored hashes each password check compared against (the real check still runs)."""
    checked = []
    real = users_module.check_password_hash

    def check(stored, password):
        checked.append(stored)
        return real(stored, password)

    monkeypatch.setattr(users_module, "check_password_hash", check)
    return checked


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("nobody@example.com", PASSWORD),
        ("clerk@example.com", "wrong password"),
        ("gone@example.com", PASSWORD),
    ],
    ids=["unknown email", "wrong password", "deactivated user"],
)
def test_every_refused_login_checks_one_hash_made_the_configured_way(client, checked_hashes, email, password):
    UserFactory(email="clerk@example.com")
    UserFactory(email="gone@example.com", active=False)
    assert log_in(client, email, password).status_code == 422
    (stored,) = checked_hashes
    assert stored.startswith("pbkdf2:sha256:1000$")


# Sessions end for good


def test_a_session_cookie_captured_before_logout_is_refused_after_it(app, client):
    UserFactory(email="clerk@example.com")
    log_in(client, "clerk@example.com", PASSWORD)
    captured = client.get_cookie("session").value
    token = db.session.scalar(sa.select(User.session_token))
    assert client.post("/logout").status_code == 302

    replay = app.test_client()
    replay.set_cookie("session", captured)
    response = replay.get("/orders")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    db.session.expire_all()
    assert db.session.scalar(sa.select(User.session_token)) != token


def test_logging_out_ends_the_users_sessions_elsewhere(app):
    UserFactory(email="clerk@example.com")
    office, laptop = app.test_client(), app.test_client()
    log_in(office, "clerk@example.com", PASSWORD)
    log_in(laptop, "clerk@example.com", PASSWORD)
    office.post("/logout")
    assert not is_logged_in(laptop)


@pytest.mark.parametrize(
    "change",
    [
        lambda user: user.set_password("another long password"),
        lambda user: setattr(user, "role", Role.ADMIN),
        lambda user: setattr(user, "active", False),
    ],
    ids=["password", "role", "deactivation"],
)
def test_what_grants_access_changing_ends_the_users_sessions(client, change):
    user = UserFactory(email="clerk@example.com")
    log_in(client, "clerk@example.com", PASSWORD)
    token = user.session_token
    change(user)
    db.session.commit()
    assert user.session_token != token
    assert not is_logged_in(client)


def test_saving_a_user_unchanged_keeps_the_sessions(client):
    user = UserFactory(email="clerk@example.com")
    log_in(client, "clerk@example.com", PASSWORD)
    user.role, user.active, user.name = user.role, True, "Renamed"
    db.session.commit()
    assert is_logged_in(client)


def test_a_session_naming_the_user_without_a_token_is_anonymous(client):
    user = UserFactory(email="clerk@example.com")
    log_in(client, "clerk@example.com", PASSWORD)
    with client.session_transaction() as session:
        session["_user_id"] = str(user.id)
    assert not is_logged_in(client)


def test_a_session_token_forged_in_the_database_with_foreign_letters_logs_nobody_in(client):
    user = UserFactory(email="clerk@example.com")
    log_in(client, "clerk@example.com", PASSWORD)
    db.session.execute(sa.update(User).where(User.id == user.id).values(session_token="é" * 32))
    db.session.commit()
    assert client.get("/").status_code == 302
    assert not is_logged_in(client)
