"""The settings: each an environment variable, declared once, in :class:`Settings` (its name, its type, its default,
what it does, and the message an invalid value gets), and read once, when a process starts: by the app (see
:func:`from_environment`, whose config is made of the settings' fields), gunicorn's master process and the scheduler
(see :func:`read`). This is the one module of the project that reads the environment. The clock is
``platform.clock``; where the database is, ``platform.databases``; the secrets made once,
``platform.instance_secrets``."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.numbers import is_currency
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from backoffice.platform.databases import database_url, embedded_folder, embedded_url
from backoffice.platform.i18n import LANGUAGES
from backoffice.platform.instance_secrets import made_once
from backoffice.platform.money import CENT, MAX_AMOUNT, decimal_places


class ConfigError(RuntimeError):
    """The environment does not describe a runnable installation."""


def from_environment(instance_path: str, environ: Mapping[str, str] | None = None) -> dict:
    """The app's settings, read from the environment (the process' own unless ``environ`` is given); outside
    production, the database is the embedded server's (``backoffice embedded``), and the secrets not set are kept in
    the instance folder, made once."""
    return _app_config(read(environ), instance_path)


def read(environ: Mapping[str, str] | None = None) -> Settings:
    """The settings of the environment (the process' own unless ``environ`` is given); a :class:`ConfigError` with
    the message of the first setting refused, in the order they are declared, when any is invalid."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    try:
        for one in fields(Settings):
            setting: Setting = one.metadata[SETTING]
            values[one.name] = setting.read(environ, Reading(setting.name, values))
        return Settings(**values)
    except ValueError as error:
        raise ConfigError(str(error)) from None


def share_metrics_directory(path: str) -> None:
    """Make ``path`` the directory of the web processes' metrics (``PROMETHEUS_MULTIPROC_DIR``) in this process'
    environment, which the processes it starts inherit: gunicorn's workers read it with the other settings, and
    prometheus_client, in each of them, from the environment."""
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path


_NOT_THE_APPS = ("environment", "database_url", "seal_key_in_file", "web_workers", "web_threads", "web_timeout")
"""The settings the app's config does not hold as they are read: the environment and the database's URL (held as
what they make of it), the seal key's file (held as the key), and gunicorn's own (read by gunicorn.conf.py)."""

FIXED = {
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "REMEMBER_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_SAMESITE": "Lax",
    "PERMANENT_SESSION_LIFETIME": timedelta(hours=12),
    "WTF_CSRF_TIME_LIMIT": None,
    "ORDERS_PER_PAGE": 25,
    "PASSWORD_HASH_METHOD": "scrypt",
    "MAX_CONTENT_LENGTH": 51 * 1024 * 1024,
}
"""What the app's config holds whatever the environment says."""


def _app_config(settings: Settings, instance_path: str) -> dict:
    """The app's config of the settings: each under its name in capitals (``login_limit_per_account`` as
    ``LOGIN_LIMIT_PER_ACCOUNT``), but those the app holds as what it makes of them; and :data:`FIXED`. What production
    is not given stops it (see :class:`Settings`); outside production, the secrets not given are made once into the
    instance folder, and the database is the embedded server's, whose data is there too."""
    instance = Path(instance_path)
    production = settings.environment == "production"
    # Where the API token is kept when the environment gives none: outside production only (production has none).
    api_token_file = None if settings.api_token or production else instance / "api_token"
    as_read = {
        one.name.upper(): getattr(settings, one.name) for one in fields(Settings) if one.name not in _NOT_THE_APPS
    }
    made = {
        "BACKOFFICE_ENV": settings.environment,
        "SQLALCHEMY_DATABASE_URI": (
            database_url(settings.database_url) if settings.database_url else embedded_url(embedded_folder(instance))
        ),
        "DATABASE_EMBEDDED": settings.database_url is None,
        "READ_DATABASE_URL": database_url(settings.read_database_url) if settings.read_database_url else None,
        "SECRET_KEY": settings.secret_key or made_once(instance, "secret_key"),
        "SEAL_KEY": settings.seal_key or settings.seal_key_in_file or made_once(instance, "seal_key"),
        "ANCHORS_FOLDER": settings.anchors_folder or str(instance / "anchors"),
        "DOCUMENTS_FOLDER": settings.documents_folder or str(instance / "documents"),
        "LANGUAGE": settings.language or _language_of(settings.locale),
        "API_TOKEN": made_once(instance, api_token_file.name) if api_token_file else settings.api_token,
        "API_TOKEN_FILE": api_token_file,
        "SESSION_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_SECURE": production,
    }
    return as_read | made | FIXED


@dataclass(frozen=True)
class Reading:
    """What a setting's parser is told: the setting's environment variable, and the settings read before it."""

    name: str
    data: Mapping[str, Any]


Parse = Callable[[str | None, Reading], Any]
"""A setting's parser: the text of the environment (or of the default) to the value, or a ``ValueError`` whose
message is the operator's."""


@dataclass(frozen=True)
class Setting:
    """A setting as :class:`Settings` declares it (see :func:`_setting`)."""

    name: str
    default: str | None
    does: str
    parse: Parse
    default_in_words: str | None = None
    default_factory: Callable[[], str] | None = None
    validate_default: bool = True

    def read(self, environ: Mapping[str, str], reading: Reading) -> Any:
        if self.name in environ:
            return self.parse(environ[self.name], reading)
        if self.default_factory is not None:
            return self.parse(self.default_factory(), reading)
        return self.parse(self.default, reading) if self.validate_default else self.default


SETTING = "setting"
"""The key of a :class:`Settings` field's metadata that holds its :class:`Setting`."""


def declared() -> list[Setting]:
    """Every setting, in the order :class:`Settings` declares them."""
    return [one.metadata[SETTING] for one in fields(Settings)]


# The kinds of setting: each reads the text of the environment (or the default, spelt as the environment would spell
# it) and refuses what it cannot read with a message naming the setting, the value and what it should be.


def _one_of(what: str, choices: tuple[str, ...], spelt: Callable[[str], str], *, blank_unset: bool = False) -> Parse:
    """One of ``choices``, in any case (``spelt`` writes it as they are written) and between any spaces; with
    ``blank_unset``, nothing but spaces is unset."""
    listed = " or ".join(choices) if len(choices) == 2 else f"one of {', '.join(choices)}"

    def parse(text: str | None, info: Reading) -> str | None:
        if blank_unset and (text is None or not text.strip()):
            return None
        if spelt(text.strip()) not in choices:
            raise ValueError(f"{info.name}={text!r} is not {what}: {listed}.")
        return spelt(text.strip())

    return parse


def _switch(text: str, info: Reading) -> bool:
    """``true`` or ``false``, in any case and between any spaces."""
    spelt = text.strip().lower()
    if spelt not in ("true", "false"):
        raise ValueError(f"{info.name}={text!r} is not true or false.")
    return spelt == "true"


def _whole_number(minimum: int) -> Parse:
    """A whole number of at least ``minimum``."""

    def parse(text: str, info: Reading) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"{info.name}={text!r} is not a whole number.") from None
        if value < minimum:
            raise ValueError(f"{info.name} must be at least {minimum}.")
        return value

    return parse


def _lock_key(text: str | None, info: Reading) -> int | None:
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{info.name}={text!r} is not a whole number (an advisory lock key).") from None


def _seconds(text: str, info: Reading) -> float:  # float-ok: seconds
    try:
        value = float(text)  # float-ok: seconds
    except ValueError:
        raise ValueError(f"{info.name}={text!r} is not a number of seconds.") from None
    if not math.isfinite(value):
        raise ValueError(f"{info.name}={text!r} is not a number of seconds.")
    if value < 0:
        raise ValueError(f"{info.name} must not be negative.")
    return value


def _hours(text: str, info: Reading) -> timedelta:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or value <= 0 or value > 24 * 365:
        raise ValueError(f"{info.name}={text!r} is not a number of hours above 0 and at most a year (e.g. 26).")
    return timedelta(seconds=int(value * 3600))


def _amount(text: str, info: Reading) -> Decimal:
    """An amount of money, written as a plain decimal (``100000000`` or ``2500000.50``)."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or value < 0 or value > MAX_AMOUNT or value != round(value, 2):
        raise ValueError(
            f"{info.name}={text!r} is not an amount from 0 to {MAX_AMOUNT} with at most two decimal places, "
            "written without separators (e.g. 100000000)."
        )
    return value.quantize(CENT)


def _line(longest: int, *, required: bool = True) -> Parse:
    """A line of text, trimmed, of at most ``longest`` characters; empty only when not ``required``."""

    def parse(text: str, info: Reading) -> str:
        text = text.strip()
        if required and not text:
            raise ValueError(f"{info.name} is empty: give the text to print (e.g. PT Gas Nusantara).")
        if len(text) > longest:
            raise ValueError(f"{info.name} has {len(text)} characters: at most {longest}.")
        return text

    return parse


def _rate_limit(text: str, info: Reading) -> str:
    # Imported only for a limit that is set: the notation's parser brings its package's storages along, a
    # twentieth of a short command's processor time, and the defaults are constants known to parse.
    from limits import parse_many

    try:
        limits = parse_many(text)
    except ValueError:
        limits = []
    if not limits or any(limit.amount < 1 for limit in limits):
        raise ValueError(f"{info.name}={text!r} is not a rate limit (e.g. '5 per minute' or '5/minute;50/day').")
    return text


def _time_of_day(text: str, info: Reading) -> tuple[int, int]:
    """``HH:MM``, as (hour, minute)."""
    try:
        moment = datetime.strptime(text, "%H:%M")
    except ValueError:
        raise ValueError(f"{info.name}={text!r} is not a time of day as HH:MM (e.g. 02:00).") from None
    return moment.hour, moment.minute


def _time_zone(text: str, info: Reading) -> str:
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{info.name}={text!r} is not an IANA time zone (e.g. Asia/Jakarta).") from None
    return text


def _locale(text: str, info: Reading) -> str:
    try:
        return str(Locale.parse(text))
    except (ValueError, UnknownLocaleError):
        raise ValueError(f"{info.name}={text!r} is not a locale Babel knows (e.g. id_ID, en_US).") from None


def _currency(text: str, info: Reading) -> str:
    if not is_currency(text):
        raise ValueError(f"{info.name}={text!r} is not an ISO 4217 currency code (e.g. IDR, USD).")
    return text


def _currency_places(text: str | None, info: Reading) -> int:
    if text is None or text == "":
        return decimal_places(info.data["currency"])
    if text not in ("0", "1", "2"):
        raise ValueError(f"{info.name}={text!r} is not 0, 1 or 2 (the decimal places of the currency's unit).")
    return int(text)


def _address(text: str, info: Reading) -> str:
    """Where gunicorn listens, trimmed."""
    if not text.strip():
        raise ValueError(f"{info.name} is empty: give HOST:PORT (e.g. 127.0.0.1:8000) or unix:PATH.")
    return text.strip()


def _unset_if_empty(text: str | None, _info: Reading) -> str | None:
    return text or None


def _smtp_url(text: str | None, info: Reading) -> str | None:
    """A mail server's address: ``smtp://`` or ``smtps://``, a host, a port if not the scheme's; empty: unset."""
    if not text:
        return None
    parts = urlsplit(text)
    try:
        parts.port  # noqa: B018 -- read to check it is a number
    except ValueError:
        raise ValueError(f"{info.name} has a port that is not a number.") from None
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError(f"{info.name} is not smtp://host[:port] or smtps://host[:port] (user:password@ first).")
    return text


def _postgresql_url(text: str | None, info: Reading) -> str | None:
    """A PostgreSQL URL that psycopg 3 reads (see :func:`database_url`); empty: unset. Read when the process starts: a
    URL of another database, or of a driver not installed, would otherwise fail each process that builds the app."""
    if not text:
        return None
    example = "(e.g. postgresql://backoffice_app@standby/backoffice)"
    try:
        url = make_url(database_url(text))
    except (ArgumentError, ValueError):
        raise ValueError(f"{info.name} is not a URL SQLAlchemy can read {example}.") from None
    if url.drivername != "postgresql+psycopg":
        shown = url.render_as_string(hide_password=True)
        raise ValueError(f"{info.name}={shown!r} is not a PostgreSQL URL read with psycopg 3 {example}.")
    return text


def _database_url(text: str | None, info: Reading) -> str | None:
    """The database's URL: a PostgreSQL one (:func:`_postgresql_url`); a SQLite one is told what to use instead."""
    try:
        return _postgresql_url(text, info)
    except ValueError as refused:
        if not text.startswith("sqlite:"):
            raise
        raise ValueError(
            f"{refused} backoffice keeps its data in PostgreSQL only: leave {info.name} unset to use the embedded "
            "PostgreSQL (`backoffice embedded start`, which `make run` runs), or give a PostgreSQL server's URL."
        ) from None


def _key(text: str | None, info: Reading) -> str | None:
    return _long_enough(text, info.name) if text else None


def _key_in_file(text: str | None, info: Reading) -> str | None:
    """The key the file holds, trimmed; not read when the key itself is given."""
    if not text or info.data.get("seal_key"):
        return None
    try:
        key = Path(text).read_text().strip()
    except OSError as error:
        raise ValueError(f"{info.name}={text!r} cannot be read: {error.strerror}.") from None
    return _long_enough(key, f"The seal key in {text}")


def _long_enough(key: str, what: str) -> str:
    if len(key) < 32:
        raise ValueError(f"{what} must have 32 characters or more (e.g. the output of 'openssl rand -hex 32').")
    return key


def _setting(
    parse: Parse,
    name: str,
    default: str | None,
    does: str,
    *,
    default_in_words: str | None = None,
    default_factory: Callable[[], str] | None = None,
    validate_default: bool = True,
) -> Any:
    """A setting's field: read by ``parse`` from the environment variable ``name``, or from its ``default``, spelt as
    the environment would spell it (None: unset), or made by ``default_factory``; what it ``does`` and, for a default
    that is no one value, the default in words, as its row in docs/operators.md says them (tests/docs/test_docs.py holds
    the page to them). A default that is costly to validate and constant may skip it (``validate_default=False``)
    when a test validates it."""
    setting = Setting(name, default, does, parse, default_in_words, default_factory, validate_default)
    return field(metadata={SETTING: setting})


ENVIRONMENTS = ("production", "development")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("text", "json")


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Every setting of an installation, each read from its environment variable (and only from there: no ``.env``
    file, no secrets folder), with its default and what it does; an invalid value is refused with a message naming
    the setting, the value and what it should be. In the order of docs/operators.md's settings tables.

    Made by :func:`read`, which reads each field's environment variable, spelt as set, with the field's parser; its
    defaults, spelt as the environment would spell them, are read as a value set would be. A dataclass, not a
    pydantic model: each setting's parser is its own (pydantic's words never reached an operator), and pydantic's
    import was a seventh of a short command's processor time."""

    environment: str = _setting(
        _one_of("an environment", ENVIRONMENTS, str.lower),
        "BACKOFFICE_ENV",
        "development",
        "`production` makes the session and remember-me cookies Secure (sent over HTTPS only), requires "
        "`DATABASE_URL`, `SECRET_KEY` and a seal key, makes no API token, and refuses demo data; `development` "
        "makes the secrets it lacks in the instance folder. Either in any case (`Production`, `DEVELOPMENT`)",
    )
    database_url: str | None = _setting(
        _database_url,
        "DATABASE_URL",
        None,
        "the database, as an SQLAlchemy URL; `postgresql://…` and `postgres://…` are used with psycopg 3. A primary "
        "and its standbys: each server a `host=HOST:PORT`, and `target_session_attrs=read-write` (see [high "
        "availability](#high-availability)). In production, the runtime role's; in `owner.env`, the owner's",
        default_in_words="outside production, the embedded PostgreSQL whose data is the instance folder's `postgres` "
        "(`backoffice embedded start`, which `make run` runs), as its runtime role; in production none",
    )
    read_database_url: str | None = _setting(
        _postgresql_url,
        "BACKOFFICE_READ_DATABASE_URL",
        None,
        "a read-only replica of the database (a PostgreSQL hot standby), as a PostgreSQL URL (`postgresql://…`, used "
        "with psycopg 3): every download and export, the statements, the reports, the lists' counts and sums and the "
        "scans of a verification read it while it is fit to (see [Scaling out](#scaling-out)); never a fix",
        default_in_words="unset: everything reads `DATABASE_URL`",
    )
    read_max_lag_seconds: float = _setting(  # float-ok: seconds
        _seconds,
        "BACKOFFICE_READ_MAX_LAG_SECONDS",
        "30",
        "how far behind the primary the replica may be and still be read; further behind, down or not receiving, the "
        "reads go to the primary, and the health check and `backoffice_replica_lag_seconds` say so",
    )
    database_prepared_statements: bool = _setting(
        _switch,
        "BACKOFFICE_DATABASE_PREPARED_STATEMENTS",
        "true",
        "on PostgreSQL, whether psycopg prepares on the server each statement a connection has run five times, "
        "sparing the server its planning: a charge takes about a third less time, and less than half the database "
        "server's processor time. `false` behind a pooler in transaction mode that keeps no prepared statements, as "
        "Debian 12's pgbouncer 1.18 (see [behind a connection pooler](#behind-a-connection-pooler)). Either in any "
        "case",
    )
    redis_url: str | None = _setting(
        _unset_if_empty,
        "REDIS_URL",
        None,
        "Redis for the job queues and the failed-login counts, `redis://host:6379/0`; also the scheduler's (`--url`)",
        default_in_words="unset: jobs run in the request that starts them (a month-end of more than 50 documents is "
        "refused then, its message naming `REDIS_URL` and `make worker`: it would hold the page for minutes), and "
        "failed logins are counted in each process's memory",
    )
    secret_key: str | None = _setting(
        _unset_if_empty,
        "SECRET_KEY",
        None,
        "signs the sessions; the same on every machine",
        default_in_words="outside production, made once into the instance folder's `secret_key`",
    )
    seal_key: str | None = _setting(
        _key,
        "BACKOFFICE_SEAL_KEY",
        None,
        "the key of the evidence's seals (HMAC-SHA256 over every wallet movement, posted entry, history version, "
        "approval and finished run): held by the application, never by the database. The same on every machine "
        "and for the migrations",
        default_in_words="outside production, made once into the instance folder's `seal_key`",
    )
    seal_key_in_file: str | None = _setting(
        _key_in_file,
        "BACKOFFICE_SEAL_KEY_FILE",
        None,
        "a file holding the seal key (its content, trimmed), read when `BACKOFFICE_SEAL_KEY` is unset; in "
        "production a root-owned file readable by the `backoffice` group, made with `openssl rand -hex 32`",
    )
    anchors_folder: str | None = _setting(
        _unset_if_empty,
        "BACKOFFICE_ANCHORS_FOLDER",
        None,
        "where each nightly maintenance that succeeded anchors the heads of the sealed chains (`<date>.json`, and "
        "`latest.json` with their digest), out of the database roles' reach; the next nightly proves each chain "
        "against `latest.json`. One folder per database, writable by the workers, readable by the web processes "
        "(`/metrics`); back it up off the machine",
        default_in_words="the instance folder's `anchors`",
    )
    seal_sweep_days: int = _setting(
        _whole_number(1),
        "BACKOFFICE_SEAL_SWEEP_DAYS",
        "7",
        "the nights over which the nightly maintenance re-verifies the seals of all the older evidence, and the "
        "checks that grow with the journal all the older rows: each night verifies in full what was added or sealed "
        "since the latest anchor (for those checks, what was added or changed since their last clean night), and "
        "one slice of the rest by id, so that every row is verified again at least once in so many nights; a row "
        "changed in place past the guards is found within them. A verification started by hand or through the API "
        "verifies every row (see [the nightly sweep of the seals](#the-nightly-sweep-of-the-seals))",
    )
    api_token: str | None = _setting(
        _unset_if_empty,
        "BACKOFFICE_API_TOKEN",
        None,
        "the bearer token of the [operations API](#operations-api), `/metrics` and `backoffice health`",
        default_in_words="outside production, made once into the instance folder's `api_token`; in production unset",
    )
    runtime_role: str | None = _setting(
        _unset_if_empty,
        "BACKOFFICE_RUNTIME_ROLE",
        None,
        "the role the web server, the workers and the scheduler connect as (`backoffice_app`), set in `owner.env`: "
        "`backoffice-migrate.service` grants it what it needs with `backoffice db grant-runtime`, and `backoffice db "
        "restore-check` checks that a restored database grants it that",
    )
    timezone: str = _setting(
        _time_zone,
        "BACKOFFICE_TIMEZONE",
        "Asia/Jakarta",
        'the installation\'s time zone: "today" (no value date lies after it), the month a movement falls into, '
        "the times shown, the scheduler's clock (its unit and `make scheduler` set `TZ` to it), and the value "
        "dates an upgrade from before migration `0015` gives existing movements",
    )
    locale: str = _setting(
        _locale,
        "BACKOFFICE_LOCALE",
        "id_ID",
        "how amounts, numbers and dates are written and read, in the pages and on the command line (`100.000` is "
        "a hundred thousand in `id_ID`); any locale Babel knows (`en_US`, `vi_VN`)",
    )
    currency: str = _setting(
        _currency, "BACKOFFICE_CURRENCY", "IDR", "the installation's one currency, an ISO 4217 code"
    )
    currency_places: int = _setting(
        _currency_places,
        "BACKOFFICE_CURRENCY_PLACES",
        None,
        "the decimal places of the currency's unit, 0, 1 or 2: every amount is stored as a whole number of it (a "
        "computed one rounded once to it; one given with more places, by any door, refused)",
        default_in_words="2 for `IDR` and `KES`, 0 for `VND`; another currency's ISO 4217 minor units, at most 2",
    )
    language: str | None = _setting(
        _one_of("a language the pages are written in", LANGUAGES, str.lower, blank_unset=True),
        "BACKOFFICE_LANGUAGE",
        None,
        "the pages' language for a reader who has chosen none and whose browser asks for none of the three (in "
        "either case); the language of the `backoffice` commands (see [the command line](#command-line))",
        default_in_words="the locale's language if the pages speak it (`en`, `id` or `vi`), else `en`",
    )
    approval_above: Decimal = _setting(
        _amount,
        "BACKOFFICE_APPROVAL_ABOVE",
        "100000000",
        "an amount, written as a plain decimal (`2500000.50`): money moved by hand (a recharge typed, an adjustment, "
        "a reversal, an opening, a payment recorded by hand or imported, a journal entry) that takes its maker's sum "
        "for a customer's day past it waits for a second admin's approval (see [admins](admins.md))",
    )
    company_name: str = _setting(
        _line(200, required=False),
        "BACKOFFICE_COMPANY_NAME",
        "",
        "the company's name at the top of every invoice and statement (what customers receive) until an admin "
        "saves the issuer on its page (**Issuer**, with its tax number and bank accounts), which then names it",
        default_in_words="unset: a document says on screen that the company's name is not set",
    )
    company_address: str = _setting(
        _line(500, required=False),
        "BACKOFFICE_COMPANY_ADDRESS",
        "",
        "the company's address under its name on those documents, as one line (`Jl. Jend. Sudirman Kav. 1, "
        "Jakarta 10220`), until the issuer is saved on its page",
        default_in_words="unset: no address printed",
    )
    smtp_url: str | None = _setting(
        _smtp_url,
        "BACKOFFICE_SMTP_URL",
        None,
        "the mail server invoices and statements are sent through: `smtp://user:password@host:587` (STARTTLS "
        "when the server offers it), `smtps://user:password@host:465` (TLS from the start), `smtp://host:25` (no "
        "login)",
        default_in_words="unset: documents are printed and downloaded, never sent",
    )
    mail_from: str | None = _setting(
        _unset_if_empty,
        "BACKOFFICE_MAIL_FROM",
        None,
        "the address documents are sent from (`Tagihan PT Gas Nusantara <tagihan@gasnusantara.co.id>`); each "
        "message's `Message-ID` is of its domain, and carries a `Date`",
        default_in_words="unset: the issuer's e-mail address (**Issuer**)",
    )
    documents_folder: str | None = _setting(
        _unset_if_empty,
        "BACKOFFICE_DOCUMENTS_FOLDER",
        None,
        "where a month-end run writes its documents, one PDF each and a zip of them all (`month-end-2026-10/`): "
        "writable by the workers, readable by the web processes (the zip is downloaded from the Month-end page)",
        default_in_words="the instance folder's `documents`",
    )
    web_bind: str = _setting(
        _address,
        "BACKOFFICE_WEB_BIND",
        "127.0.0.1:8000",
        "where gunicorn listens: `HOST:PORT`, or `unix:PATH`; also where `backoffice health` and `backoffice "
        "api-token` ask by default",
    )
    web_workers: int = _setting(
        _whole_number(1),
        "BACKOFFICE_WEB_WORKERS",
        None,
        "gunicorn's worker processes",
        default_in_words="2 × the machine's cores + 1",
        default_factory=lambda: str(2 * (os.cpu_count() or 1) + 1),
    )
    web_threads: int = _setting(
        _whole_number(1), "BACKOFFICE_WEB_THREADS", "4", "the requests each worker process serves at once"
    )
    web_timeout: int = _setting(
        _whole_number(1),
        "BACKOFFICE_WEB_TIMEOUT",
        "120",
        "seconds: a worker process silent that long is replaced, and a reload or stop waits that long for the "
        "requests under way",
    )
    proxy_count: int = _setting(
        _whole_number(0),
        "BACKOFFICE_PROXY_COUNT",
        "0",
        "the reverse proxies in front of the app whose `X-Forwarded-For` and `X-Forwarded-Proto` are believed: "
        "`1` behind one proxy. With 0 the client's address is the connection's peer, and a forged "
        "`X-Forwarded-For` is ignored",
    )
    login_limit_per_account: str = _setting(
        _rate_limit,
        "BACKOFFICE_LOGIN_LIMIT_PER_ACCOUNT",
        "5 per minute",
        "the failed logins allowed per account (the email, however it is spelt) before `POST /login` answers 429, "
        "in the limits notation (`5 per minute`, `5/minute;50/day`)",
        validate_default=False,
    )
    login_limit_per_address: str = _setting(
        _rate_limit,
        "BACKOFFICE_LOGIN_LIMIT_PER_ADDRESS",
        "20 per minute",
        "the failed logins allowed per client address, likewise",
        validate_default=False,
    )
    prometheus_multiproc_dir: str | None = _setting(
        _unset_if_empty,
        "PROMETHEUS_MULTIPROC_DIR",
        None,
        "the directory where each web process writes its request latencies, for `/metrics` to add them all up; "
        "`gunicorn.conf.py` makes a fresh one at each start of the server, replacing any value given, and removes "
        "it when the server stops",
        default_in_words="unset; set by `gunicorn.conf.py`",
    )
    nightly_at: tuple[int, int] = _setting(
        _time_of_day, "BACKOFFICE_NIGHTLY_AT", "02:00", "the local time (`HH:MM`) of the nightly verify-and-fix"
    )
    monthly_rebuild_at: tuple[int, int] = _setting(
        _time_of_day, "BACKOFFICE_MONTHLY_REBUILD_AT", "03:00", "the local time of the monthly rebuild, on the 1st"
    )
    health_max_age: timedelta = _setting(
        _hours,
        "BACKOFFICE_HEALTH_MAX_AGE_HOURS",
        "26",
        "hours, decimals allowed: a check whose last successful full run, or a nightly maintenance whose last "
        "success, is older is stale: [the health check](#health) answers false and the metrics say stale",
    )
    reconcile_chunk_size: int = _setting(
        _whole_number(1),
        "BACKOFFICE_RECONCILE_CHUNK_SIZE",
        "1000000",
        "the keys of a table a check reads at a time; a verification [split into "
        "jobs](#verifications-split-into-jobs) makes one job per chunk",
    )
    chunk_parallel_workers: int = _setting(
        _whole_number(0),
        "BACKOFFICE_CHUNK_PARALLEL_WORKERS",
        "0",
        "the parallel workers of PostgreSQL a statement of a job of a verification [split into "
        "jobs](#verifications-split-into-jobs) may plan (its `max_parallel_workers_per_gather`): none, where the job "
        "workers are as many as the cores and keep them busy with chunks of their own (a parallel plan takes a core "
        "from another chunk, and costs more in all); raise it where cores are idle beside the workers",
    )
    reprice_in_request_limit: int = _setting(
        _whole_number(0),
        "BACKOFFICE_REPRICE_IN_REQUEST_LIMIT",
        "200",
        "the readings a pricing or tariff change re-prices in the request; beyond, it leaves them to a job "
        "(recalculation requests)",
    )
    job_heartbeat_seconds: float = _setting(  # float-ok: seconds
        _seconds,
        "BACKOFFICE_JOB_HEARTBEAT_SECONDS",
        "10",
        "how often a worker beats in Redis for the job it runs (RQ's job heartbeat, rounded up to whole seconds, at "
        "least 1); two beats missed and the next sweep marks the job abandoned, or queues a split run's chunk again",
    )
    worker_sweep_seconds: float = _setting(  # float-ok: seconds
        _seconds,
        "BACKOFFICE_WORKER_SWEEP_SECONDS",
        "60",
        "how often each worker, between jobs and when idle, sweeps: RQ's registries cleaned, the jobs whose worker "
        "died marked abandoned and the chunks of a split run whose worker died queued again, the jobs the queue lost "
        "released (rounded to whole seconds, at least 1)",
    )
    log_level: str = _setting(
        _one_of("a log level", LOG_LEVELS, str.upper),
        "BACKOFFICE_LOG_LEVEL",
        "INFO",
        "the least level of the lines written: `DEBUG`, `INFO`, `WARNING`, `ERROR` or `CRITICAL` (in either case)",
    )
    log_format: str = _setting(
        _one_of("a log format", LOG_FORMATS, str.lower),
        "BACKOFFICE_LOG_FORMAT",
        "text",
        "`text`, lines for people, or `json`, a JSON object per line for a log collector (see "
        "[logs](#logs-request-ids-and-errors))",
    )
    reconcile_chunk_gate: int | None = _setting(
        _lock_key,
        "BACKOFFICE_RECONCILE_CHUNK_GATE",
        None,
        "an advisory lock key (on PostgreSQL) that every chunk of a split run waits for, shared, just before it "
        "records itself done: the tests hold the lock to kill a worker whose chunk has written and not committed",
    )
    job_step_delay_seconds: float = _setting(  # float-ok: seconds
        _seconds,
        "BACKOFFICE_JOB_STEP_DELAY_SECONDS",
        "0",
        "seconds a job sleeps after each progress step, so that a test can watch it run and kill its worker mid-job",
    )

    def __post_init__(self) -> None:
        """Production makes nothing for itself: its database and its keys are given."""
        if self.environment != "production":
            return
        if not self.database_url:
            raise ValueError(
                "DATABASE_URL must be set when BACKOFFICE_ENV=production (e.g. postgresql://user@host/backoffice)."
            )
        if not self.secret_key:
            raise ValueError("SECRET_KEY must be set when BACKOFFICE_ENV=production.")
        if not (self.seal_key or self.seal_key_in_file):
            raise ValueError(
                "BACKOFFICE_SEAL_KEY or BACKOFFICE_SEAL_KEY_FILE must be set when BACKOFFICE_ENV=production: "
                "the evidence is sealed with it."
            )


def _language_of(locale: str) -> str:
    """The locale's language when the pages are written in it (``id_ID``: ``id``), else English."""
    language = Locale.parse(locale).language
    return language if language in LANGUAGES else "en"
