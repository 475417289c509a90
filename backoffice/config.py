"""Settings, read from the environment once, when the app is created."""

from __future__ import annotations

import os
import secrets
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.numbers import is_currency
from flask import current_app
from limits import parse_many

from backoffice.i18n import LANGUAGES
from backoffice.money import CENT, MAX_AMOUNT


class ConfigError(RuntimeError):
    """The environment does not describe a runnable installation."""


def from_environment(instance_path: str, environ: os._Environ | dict | None = None) -> dict:
    env = os.environ if environ is None else environ
    production = environment(env) == "production"
    locale = _locale(env.get("BACKOFFICE_LOCALE", "id_ID"))
    return {
        "BACKOFFICE_ENV": "production" if production else "development",
        "SQLALCHEMY_DATABASE_URI": database_url(_database(env, instance_path, production)),
        "SECRET_KEY": env.get("SECRET_KEY") or _secret_key(instance_path, production),
        # The key of the evidence's seals: held by the application, never by the database.
        "SEAL_KEY": _seal_key(env, instance_path, production),
        # Where each night's heads of the sealed chains are anchored: out of the database roles' reach.
        "ANCHORS_FOLDER": env.get("BACKOFFICE_ANCHORS_FOLDER") or str(Path(instance_path) / "anchors"),
        "LOCALE": locale,
        # The language of a page whose reader has chosen none and whose browser asks for none of ours.
        "LANGUAGE": _language(env.get("BACKOFFICE_LANGUAGE"), locale),
        "CURRENCY": _currency(env.get("BACKOFFICE_CURRENCY", "IDR")),
        "TIMEZONE": _timezone(env.get("BACKOFFICE_TIMEZONE", "Asia/Jakarta")),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": production,
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=12),
        "WTF_CSRF_TIME_LIMIT": None,
        "ORDERS_PER_PAGE": 25,
        "PASSWORD_HASH_METHOD": "scrypt",
        # Failed logins allowed per account (email) and per client address before a 429 (limits' notation).
        "LOGIN_LIMIT_PER_ACCOUNT": _rate_limit(env, "BACKOFFICE_LOGIN_LIMIT_PER_ACCOUNT", "5 per minute"),
        "LOGIN_LIMIT_PER_ADDRESS": _rate_limit(env, "BACKOFFICE_LOGIN_LIMIT_PER_ADDRESS", "20 per minute"),
        # Reverse proxies in front of the app whose X-Forwarded-For/-Proto are believed (0: none, use the peer).
        "PROXY_COUNT": _count(env, "BACKOFFICE_PROXY_COUNT", "0", minimum=0),
        "RECONCILE_CHUNK_SIZE": _count(env, "BACKOFFICE_RECONCILE_CHUNK_SIZE", "1000000", minimum=1),
        # An advisory lock each chunk of a split run waits for before it records itself done (tests hold it there).
        "RECONCILE_CHUNK_GATE": _optional_key(env, "BACKOFFICE_RECONCILE_CHUNK_GATE"),
        # A pricing change re-pricing more readings than this is left to a job (a recalculation request).
        "REPRICE_IN_REQUEST_LIMIT": _count(env, "BACKOFFICE_REPRICE_IN_REQUEST_LIMIT", "200", minimum=0),
        # A manual adjustment, journal entry or reversal moving more than this (Rupiah) waits for a second admin.
        "APPROVAL_ABOVE": _limit(env, "BACKOFFICE_APPROVAL_ABOVE", "100000000"),
        # Who sends the printed statements and invoices: the name and address at the top of each.
        "COMPANY_NAME": _text(env, "BACKOFFICE_COMPANY_NAME", "backoffice", longest=200),
        "COMPANY_ADDRESS": _text(env, "BACKOFFICE_COMPANY_ADDRESS", "", longest=500, required=False),
        # The bearer token of the operations API, /metrics and `backoffice health`; outside production, one is made
        # once into the instance folder (so a fresh installation can be asked from its first minute).
        "API_TOKEN": env.get("BACKOFFICE_API_TOKEN")
        or (None if production else _made_once(instance_path, "api_token")),
        "REDIS_URL": env.get("REDIS_URL") or None,
        "JOB_HEARTBEAT_SECONDS": _seconds(env, "BACKOFFICE_JOB_HEARTBEAT_SECONDS", "10"),
        # How often each worker sweeps abandoned jobs and queues again the chunks whose worker died.
        "WORKER_SWEEP_SECONDS": _seconds(env, "BACKOFFICE_WORKER_SWEEP_SECONDS", "60"),
        "JOB_STEP_DELAY_SECONDS": _seconds(env, "BACKOFFICE_JOB_STEP_DELAY_SECONDS", "0"),
        "NIGHTLY_AT": clock(env, "BACKOFFICE_NIGHTLY_AT", "02:00"),
        "MONTHLY_REBUILD_AT": clock(env, "BACKOFFICE_MONTHLY_REBUILD_AT", "03:00"),
        # A check whose last full run, or a nightly maintenance whose last success, is older than this is stale.
        "HEALTH_MAX_AGE": _hours(env, "BACKOFFICE_HEALTH_MAX_AGE_HOURS", "26"),
        "LOG_LEVEL": log_level(env),
        "LOG_FORMAT": log_format(env),
    }


ENVIRONMENTS = ("production", "development")


def environment(env) -> str:
    """``BACKOFFICE_ENV``: ``production`` or ``development`` (the default), in any case. Anything else is refused:
    a misspelt production would otherwise run as development, with its keys made in the instance folder, its
    cookies sent over plain HTTP and its demo data's known passwords."""
    text = env.get("BACKOFFICE_ENV", "development")
    if text.strip().lower() not in ENVIRONMENTS:
        raise ConfigError(f"BACKOFFICE_ENV={text!r} is not an environment: production or development.")
    return text.strip().lower()


def _database(env, instance_path: str, production: bool) -> str:
    """``DATABASE_URL``; outside production, a SQLite file in the instance folder when it is unset."""
    if url := env.get("DATABASE_URL"):
        return url
    if production:
        raise ConfigError(
            "DATABASE_URL must be set when BACKOFFICE_ENV=production (e.g. postgresql://user@host/backoffice)."
        )
    return f"sqlite:///{Path(instance_path) / 'backoffice.sqlite'}"


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("text", "json")


def log_level(env) -> str:
    """The least level of the lines written (``BACKOFFICE_LOG_LEVEL``, INFO by default)."""
    text = env.get("BACKOFFICE_LOG_LEVEL", "INFO")
    if text.strip().upper() not in LOG_LEVELS:
        raise ConfigError(f"BACKOFFICE_LOG_LEVEL={text!r} is not a log level: one of {', '.join(LOG_LEVELS)}.")
    return text.strip().upper()


def log_format(env) -> str:
    """``text`` (lines for people, the default) or ``json`` (a JSON object per line, for a log collector)."""
    text = env.get("BACKOFFICE_LOG_FORMAT", "text")
    if text.strip().lower() not in LOG_FORMATS:
        raise ConfigError(f"BACKOFFICE_LOG_FORMAT={text!r} is not a log format: text or json.")
    return text.strip().lower()


def web_server(env) -> dict:
    """The production web server's settings (read by ``gunicorn.conf.py``, and by ``backoffice health`` for the
    address it asks)."""
    bind = env.get("BACKOFFICE_WEB_BIND", "127.0.0.1:8000").strip()
    if not bind:
        raise ConfigError("BACKOFFICE_WEB_BIND is empty: give HOST:PORT (e.g. 127.0.0.1:8000) or unix:PATH.")
    return {
        "bind": bind,
        "workers": _count(env, "BACKOFFICE_WEB_WORKERS", str(2 * (os.cpu_count() or 1) + 1), minimum=1),
        "threads": _count(env, "BACKOFFICE_WEB_THREADS", "4", minimum=1),
        "timeout": _count(env, "BACKOFFICE_WEB_TIMEOUT", "120", minimum=1),
    }


def local_today() -> date:
    """Today in the installation's time zone (the server's clock may run in another), by :func:`now`."""
    return today_in(current_app.config["TIMEZONE"])


def today_in(zone: str) -> date:
    """Today in the time zone ``zone``, by :func:`now`."""
    return now().astimezone(ZoneInfo(zone)).date()


def now() -> datetime:
    """The clock every dated default and file name reads (a test sets it here)."""
    return datetime.now(UTC)


def engine_options(url: str, given: dict) -> dict:
    """The database engine's options (``given`` first): on PostgreSQL, statements reach psycopg with their
    parameters numbered (``$1``), which its raw cursor sends as they are, rather than with named ones that
    psycopg would parse out of every statement again (it remembers the parsing only of statements under 4 kB
    with 50 parameters at most: a wallet movement, one statement, is longer)."""
    if not url.startswith("postgresql+psycopg"):
        return given
    from psycopg import RawCursor

    connect_args = {"cursor_factory": RawCursor} | given.get("connect_args", {})
    return {"paramstyle": "numeric_dollar"} | given | {"connect_args": connect_args}


def database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs given in the common short form."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _locale(name: str) -> str:
    try:
        return str(Locale.parse(name))
    except (ValueError, UnknownLocaleError):
        raise ConfigError(f"BACKOFFICE_LOCALE={name!r} is not a locale Babel knows (e.g. id_ID, en_US).") from None


def _language(code: str | None, locale: str) -> str:
    """``BACKOFFICE_LANGUAGE``; by default the locale's language when the pages speak it (``id_ID``: ``id``), else
    English."""
    if code is None or not code.strip():
        language = Locale.parse(locale).language
        return language if language in LANGUAGES else "en"
    if code.strip().lower() not in LANGUAGES:
        raise ConfigError(
            f"BACKOFFICE_LANGUAGE={code!r} is not a language the pages are written in: one of {', '.join(LANGUAGES)}."
        )
    return code.strip().lower()


def _currency(code: str) -> str:
    if not is_currency(code):
        raise ConfigError(f"BACKOFFICE_CURRENCY={code!r} is not an ISO 4217 currency code (e.g. IDR, USD).")
    return code


def _seconds(env, name: str, default: str) -> float:  # float-ok: seconds
    text = env.get(name, default)
    try:
        value = float(text)  # float-ok: seconds
    except ValueError:
        raise ConfigError(f"{name}={text!r} is not a number of seconds.") from None
    if value < 0:
        raise ConfigError(f"{name} must not be negative.")
    return value


def _hours(env, name: str, default: str) -> timedelta:
    text = env.get(name, default)
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or value <= 0 or value > 24 * 365:
        raise ConfigError(f"{name}={text!r} is not a number of hours above 0 and at most a year (e.g. 26).")
    return timedelta(seconds=int(value * 3600))


def _count(env, name: str, default: str, *, minimum: int) -> int:
    text = env.get(name, default)
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"{name}={text!r} is not a whole number.") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}.")
    return value


def _optional_key(env, name: str) -> int | None:
    text = env.get(name) or None
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"{name}={text!r} is not a whole number (an advisory lock key).") from None


def _limit(env, name: str, default: str) -> Decimal:
    """An amount of money setting, written as a plain decimal (``100000000`` or ``2500000.50``)."""
    text = env.get(name, default)
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or value < 0 or value > MAX_AMOUNT or value != round(value, 2):
        raise ConfigError(
            f"{name}={text!r} is not an amount from 0 to {MAX_AMOUNT} with at most two decimal places, "
            "written without separators (e.g. 100000000)."
        )
    return value.quantize(CENT)


def _text(env, name: str, default: str, *, longest: int, required: bool = True) -> str:
    """A line of text, trimmed, of at most ``longest`` characters; empty only when not ``required``."""
    text = env.get(name, default).strip()
    if required and not text:
        raise ConfigError(f"{name} is empty: give the text to print (e.g. PT Gas Nusantara).")
    if len(text) > longest:
        raise ConfigError(f"{name} has {len(text)} characters: at most {longest}.")
    return text


def _rate_limit(env, name: str, default: str) -> str:
    text = env.get(name, default)
    try:
        limits = parse_many(text)
    except ValueError:
        limits = []
    if not limits or any(limit.amount < 1 for limit in limits):
        raise ConfigError(f"{name}={text!r} is not a rate limit (e.g. '5 per minute' or '5/minute;50/day').")
    return text


def clock(env, name: str, default: str) -> tuple[int, int]:
    """A time of day setting, ``HH:MM``, as (hour, minute)."""
    text = env.get(name, default)
    try:
        moment = datetime.strptime(text, "%H:%M")
    except ValueError:
        raise ConfigError(f"{name}={text!r} is not a time of day as HH:MM (e.g. 02:00).") from None
    return moment.hour, moment.minute


def _timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"BACKOFFICE_TIMEZONE={name!r} is not an IANA time zone (e.g. Asia/Jakarta).") from None
    return name


def _seal_key(env, instance_path: str, production: bool) -> str:
    """``BACKOFFICE_SEAL_KEY``, or the file ``BACKOFFICE_SEAL_KEY_FILE`` names; outside production, one made once
    into the instance folder."""
    if key := env.get("BACKOFFICE_SEAL_KEY"):
        return _long_enough(key, "BACKOFFICE_SEAL_KEY")
    if name := env.get("BACKOFFICE_SEAL_KEY_FILE"):
        try:
            key = Path(name).read_text().strip()
        except OSError as error:
            raise ConfigError(f"BACKOFFICE_SEAL_KEY_FILE={name!r} cannot be read: {error.strerror}.") from None
        return _long_enough(key, f"The seal key in {name}")
    if production:
        raise ConfigError(
            "BACKOFFICE_SEAL_KEY or BACKOFFICE_SEAL_KEY_FILE must be set when BACKOFFICE_ENV=production: "
            "the evidence is sealed with it."
        )
    return _made_once(instance_path, "seal_key")


def _long_enough(key: str, what: str) -> str:
    if len(key) < 32:
        raise ConfigError(f"{what} must have 32 characters or more (e.g. the output of 'openssl rand -hex 32').")
    return key


def _secret_key(instance_path: str, production: bool) -> str:
    if production:
        raise ConfigError("SECRET_KEY must be set when BACKOFFICE_ENV=production.")
    return _made_once(instance_path, "secret_key")


def _made_once(instance_path: str, name: str) -> str:
    """A random secret kept in the instance folder's file ``name``, readable by its owner only: made the first time
    it is asked for, read back ever after."""
    path = Path(instance_path) / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole under another name, with its mode, then linked in place: of two processes starting at once,
        # one's secret is kept and both read it.
        draft = path.with_name(f".{name}.{os.getpid()}.{secrets.token_hex(4)}")
        with os.fdopen(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
            file.write(secrets.token_hex(32))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()
