"""Idempotency keys: a clerk's (or a command's), an API client's and the application's own, which never meet.

Both kinds share the unique key column. The application derives its keys from what it posts (approving request 7), so
that a retry finds the first result; they start with :data:`OWN`, which a clerk's key may not, and end with an HMAC
under ``SECRET_KEY``, so that no clerk can take one first and block what the application posts.
"""

from __future__ import annotations

import hashlib
import hmac

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from backoffice.models import SentKey
from backoffice.models.types import utcnow
from backoffice.posting.installation import Installation
from backoffice.posting.refusals import (
    KEY_LENGTH,
    IdempotencyConflict,
    IdempotencyKeyReserved,
    IdempotencyKeyTooLong,
    KeySentByAnother,
)

sent_keys = SentKey.__table__

OWN = "~"
"""The first character of the application's keys, and only of theirs."""
CLIENT = "api:"
"""The first characters of an API client's keys, and only of theirs: a client's key is kept as ``api:<client id>:``
and the key it sent (:func:`clerk_key`), so that no user, command or other client sends one of them."""


def own_key(installation: Installation, purpose: str, id_: int) -> str:
    """The application's key for ``purpose`` (e.g. ``"approval"``) of the row ``id_``."""
    return OWN + keyed_digest(installation, f"idempotency:{purpose}:{id_}")


def keyed_digest(installation: Installation, message: str) -> str:
    """HMAC-SHA256 of ``message`` under the installation's ``SECRET_KEY``, in hex: only who holds the key makes it."""
    return hmac.new(installation.secret_key, message.encode(), hashlib.sha256).hexdigest()


def clerk_key(key: str | None, *, client_id: int | None = None) -> str | None:
    """A key a clerk, a command or a client sent, checked before anything is written, as it is kept: ``None`` for
    none; a client's (``client_id``) in its own namespace, ``api:<client id>:<key>``, which names its maker;
    :class:`IdempotencyKeyReserved` for anyone else's key in the application's or the clients' namespace,
    :class:`IdempotencyKeyTooLong` beyond the column."""
    if not key:
        return None
    if key.startswith(OWN):
        raise IdempotencyKeyReserved(OWN)
    if client_id is not None:
        key = f"{CLIENT}{client_id}:{key}"
    elif key.startswith(CLIENT):
        raise IdempotencyKeyReserved(CLIENT, clients=True)
    if len(key) > KEY_LENGTH:
        raise IdempotencyKeyTooLong()
    return key


def refuse_unless_theirs(connection: Connection, key: str | None, *, maker_id: int | None, writes: str) -> None:
    """Refuse ``key`` for ``maker_id`` writing a row of ``writes`` (a table's name) when another maker sent it
    (:class:`KeySentByAnother`) or it wrote something else (:class:`IdempotencyConflict`). What a key of theirs wrote
    is read from the row that holds it (sealed with it), never from this table: a row here proves no write."""
    if not key or key.startswith(OWN):
        return
    found = connection.execute(select(sent_keys).where(sent_keys.c.key == key)).one_or_none()
    if found is None:
        return
    if found.maker_id != maker_id:
        raise KeySentByAnother(key, writes)
    if found.wrote != writes:
        raise IdempotencyConflict(key)


def kept(connection: Connection, key: str) -> bool:
    """Whether ``key`` is kept as sent."""
    return connection.scalar(select(sent_keys.c.key).where(sent_keys.c.key == key)) is not None


def claim(connection: Connection, key: str | None, *, maker_id: int | None, writes: str, written_id: int) -> None:
    """Keep that ``key``, sent by ``maker_id``, wrote the row ``written_id`` of ``writes``, in the transaction that
    wrote it: a key another sending claimed meanwhile raises the unique key's ``IntegrityError`` (the caller looks
    again, :func:`refuse_unless_theirs`). The application's own keys are not kept: the rows they write hold them."""
    if not key or key.startswith(OWN):
        return
    connection.execute(
        insert(sent_keys).values(key=key, maker_id=maker_id, sent_at=utcnow(), wrote=writes, wrote_id=written_id)
    )
