"""The API's clients: issued a token by an admin, named, revoked; found by the token a call names; each call logged;
and a client's charge of a customer's wallet, posted once under the client's idempotency key.

A token is shown once, when it is issued; the database keeps only its SHA-256 and its first characters. A client's
idempotency keys are its own (``api:<client id>:<key>``), so that two clients using the same key never meet.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from backoffice.models import BalanceTransaction, Customer, User
from backoffice.models.api_clients import ApiCall, ApiClient
from backoffice.models.metering import READING
from backoffice.models.types import utcnow
from backoffice.platform.extensions import db
from backoffice.posting import keys
from backoffice.posting.movement import Reference
from backoffice.posting.rules import Kind
from backoffice.services import expect_version, transaction, wallet

TOKEN_PREFIX = "bo_"
SHOWN = len(TOKEN_PREFIX) + 8
"""The characters of a token kept to recognise it by: the prefix and eight of its random ones."""
LONGEST_TOKEN = 200
NAME_LENGTH = ApiClient.__table__.c.name.type.length
KEY = re.compile(r"[A-Za-z0-9._:-]{1,64}")
"""What a client's ``Idempotency-Key`` may be: a UUID, a hex digest, the client's own reference."""
SERVICE_TYPE = re.compile(r"[a-z][a-z0-9_]{0,39}")
OWN_REFERENCES = frozenset({READING, "balance_transaction", *(kind.value for kind in Kind)})
"""The references of the movements the application posts itself (a reading's charge, a reversal, an invoice): a
client's charge never names one, or it would pass for one of them."""
LARGEST_REFERENCE = 2**31 - 1
"""The largest reference a movement keeps (``reference_id``, an ``integer``)."""
DESCRIPTION_LENGTH = BalanceTransaction.__table__.c.description.type.length
CALLS_SHOWN = 100


class ApiClientError(ValueError):
    """A client that cannot be issued, named or revoked as asked, or a charge's field that cannot be read; ``field``
    names the input at fault. Nothing was written."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class KeyUsed(ValueError):
    """The client's idempotency key posted another charge (another customer, amount, service type, reference or
    description): nothing was written."""

    def __init__(self, key: str) -> None:
        super().__init__(
            _(
                "Idempotency-Key %(key)s was already used for another charge; use a new key for a new charge.",
                key=repr(key),
            )
        )


@dataclass(frozen=True)
class Charged:
    """A client's charge: the movement its key posted, and whether this call posted it (``False``: a retry, answered
    with what the first call posted)."""

    movement: BalanceTransaction
    first: bool


def issue(name: str, *, by: User | None) -> tuple[ApiClient, str]:
    """A new client named ``name``, and its token, which is shown now and never again."""
    name = checked_name(name)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    try:
        with transaction() as session:
            _refuse_taken(name)
            client = ApiClient(
                name=name,
                token_hash=digest(token),
                token_prefix=token[:SHOWN],
                issued_by_id=by.id if by else None,
                issued_at=utcnow(),
            )
            session.add(client)
    except IntegrityError:
        raise _taken(name) from None
    return client, token


def rename(client: ApiClient, name: str, *, version: int | None) -> ApiClient:
    """Name the client ``name``; refused (``ChangedMeanwhile``) when it changed since ``version``."""
    name = checked_name(name)
    try:
        with transaction():
            expect_version(client, version)
            _refuse_taken(name, keeps=client.id)
            client.name = name
    except IntegrityError:
        raise _taken(name) from None
    return client


def revoke(client_id: int, *, by: User | None) -> ApiClient:
    """Revoke the client's token: its next call is refused."""
    with transaction() as session:
        client = session.scalar(
            select(ApiClient)
            .where(ApiClient.id == client_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if client is None:
            raise ApiClientError("name", _("No API client #%(id)s.", id=client_id))
        if client.revoked:
            raise ApiClientError("name", _("API client %(name)s is revoked already.", name=client.name))
        client.revoked_at = utcnow()
        client.revoked_by_id = by.id if by else None
    return client


def by_name(name: str) -> ApiClient:
    """The client named ``name`` (in any case); refused when there is none."""
    found = db.session.scalar(select(ApiClient).where(func.lower(ApiClient.name) == name.strip().lower()))
    if found is None:
        raise ApiClientError("name", _("No API client named %(name)s.", name=name.strip()))
    return found


def clients() -> list[ApiClient]:
    """Every client, those in use first, by name."""
    return list(db.session.scalars(select(ApiClient).order_by(ApiClient.revoked_at.is_not(None), ApiClient.name)))


def calls(client_id: int | None = None, limit: int = CALLS_SHOWN) -> list[ApiCall]:
    """The latest calls, newest first: of one client, or of them all."""
    query = select(ApiCall).order_by(ApiCall.id.desc()).limit(limit)
    if client_id is not None:
        query = query.where(ApiCall.client_id == client_id)
    return list(db.session.scalars(query))


def caller(token: str) -> ApiClient | None:
    """The client whose token this is, revoked or not; ``None`` for a token nobody was issued."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > LONGEST_TOKEN:
        return None
    return db.session.scalar(select(ApiClient).where(ApiClient.token_hash == digest(token)))


def log_call(
    client_id: int, method: str, path: str, status: int, idempotency_key: str | None, request_id: str | None
) -> None:
    """Log a call of the client, in a transaction of its own, and note when it was last used."""
    now = utcnow()
    with transaction() as session:
        session.execute(
            insert(ApiCall).values(
                client_id=client_id,
                method=method[:10],
                path=path[:2000],
                status=status,
                called_at=now,
                idempotency_key=idempotency_key[:100] if idempotency_key else None,
                request_id=request_id,
            )
        )
        session.execute(update(ApiClient.__table__).where(ApiClient.id == client_id).values(last_used_at=now))


def charge(
    client_id: int,
    customer: Customer,
    amount: Decimal,
    *,
    service_type: str,
    reference: int,
    description: str,
    key: str,
) -> Charged:
    """Charge the customer's wallet for what the client's service sold, as the charge form does (refused beyond the
    balance, a closed customer, a quarantined one), once under the client's ``key``: a retry is answered with what
    the first call posted; the key with another charge is refused (:class:`KeyUsed`)."""
    refuse_own(service_type)
    key = checked_key(key)
    try:
        posted = wallet.charge_once(
            customer,
            amount,
            description=description,
            reference=Reference(service_type, reference),
            idempotency_key=key,
            client_id=client_id,
        )
    except wallet.IdempotencyConflict:
        raise KeyUsed(key) from None
    return Charged(posted.transaction, first=not posted.repeated)


def client_key(movement: BalanceTransaction, client_id: int) -> str | None:
    """The idempotency key the client charged the movement under, as it sent it."""
    own = f"{keys.CLIENT}{client_id}:"
    stored = movement.idempotency_key or ""
    return stored.removeprefix(own) if stored.startswith(own) else None


def checked_name(name: str) -> str:
    """An API client's name, trimmed; refused if empty, too long or more than one line."""
    name = (name or "").strip()
    if not name:
        raise ApiClientError("name", _("Name the client: the system that will call with the token."))
    if len(name) > NAME_LENGTH:
        raise ApiClientError("name", _("A client's name has at most %(length)s characters.", length=NAME_LENGTH))
    if not name.isprintable():
        raise ApiClientError("name", _("A client's name is one line of text."))
    return name


def checked_key(key: str | None) -> str:
    """A charge's Idempotency-Key header; refused if missing or not a key."""
    if not key:
        raise ApiClientError(
            "Idempotency-Key", _("Send an Idempotency-Key header: the charge is posted once under it.")
        )
    if not KEY.fullmatch(key):
        raise ApiClientError(
            "Idempotency-Key",
            _("An Idempotency-Key is 1 to 64 letters, digits, dots, colons, hyphens or underscores, like a UUID."),
        )
    return key


def refuse_own(service_type: str) -> None:
    """Refuse a charge's service type that names the back-office's own movements (the API's shape reads its form:
    a short lowercase identifier, ``SERVICE_TYPE``)."""
    if service_type in OWN_REFERENCES:
        raise ApiClientError(
            "service_type",
            _(
                "%(type)s is a service type of the back-office's own movements: name your service another way.",
                type=service_type,
            ),
        )


def digest(token: str) -> str:
    """The SHA-256 of the token, in hex: what the database keeps of it."""
    return hashlib.sha256(token.encode()).hexdigest()


def _refuse_taken(name: str, *, keeps: int | None = None) -> None:
    query = select(ApiClient.id).where(func.lower(ApiClient.name) == name.lower())
    if keeps is not None:
        query = query.where(ApiClient.id != keeps)
    if db.session.scalar(query) is not None:
        raise _taken(name)


def _taken(name: str) -> ApiClientError:
    return ApiClientError("name", _("There is an API client named %(name)s already: choose another name.", name=name))
