"""Idempotency keys: a clerk's (or an API client's) and the application's own, which never meet.

Both kinds share the unique key column. The application derives its keys from what it posts (approving request 7), so
that a retry finds the first result; they start with :data:`OWN`, which a clerk's key may not, and end with an HMAC
under ``SECRET_KEY``, so that no clerk can take one first and block what the application posts.
"""

from __future__ import annotations

import hashlib
import hmac

from backoffice.posting.installation import Installation
from backoffice.posting.refusals import KEY_LENGTH, IdempotencyKeyReserved, IdempotencyKeyTooLong

OWN = "~"
"""The first character of the application's keys, and only of theirs."""


def own_key(installation: Installation, purpose: str, id_: int) -> str:
    """The application's key for ``purpose`` (e.g. ``"approval"``) of the row ``id_``."""
    return OWN + keyed_digest(installation, f"idempotency:{purpose}:{id_}")


def keyed_digest(installation: Installation, message: str) -> str:
    """HMAC-SHA256 of ``message`` under the installation's ``SECRET_KEY``, in hex: only who holds the key makes it."""
    return hmac.new(installation.secret_key, message.encode(), hashlib.sha256).hexdigest()


def clerk_key(key: str | None) -> str | None:
    """A key a clerk or a client sent, checked before anything is written: ``None`` for none; raises
    :class:`IdempotencyKeyReserved` for one in the application's namespace, :class:`IdempotencyKeyTooLong`
    beyond the column."""
    if not key:
        return None
    if key.startswith(OWN):
        raise IdempotencyKeyReserved(OWN)
    if len(key) > KEY_LENGTH:
        raise IdempotencyKeyTooLong()
    return key
