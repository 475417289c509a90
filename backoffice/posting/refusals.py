"""What the posting core refuses, each said once: a movement it refuses writes nothing. The balance's and the totals'
limits are the wallet's specification's (``posting.wallet``); a closed month's is ``posting.periods``'."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from flask_babel import gettext as _

from backoffice.models import BalanceTransaction
from backoffice.platform.i18n import named_date
from backoffice.platform.money import shown

KEY_LENGTH = BalanceTransaction.__table__.c.idempotency_key.type.length


class WalletError(ValueError):
    """A movement refused; nothing was written."""


class InsufficientBalance(WalletError):
    def __init__(self, code: str, available: Decimal, amount: Decimal) -> None:
        super().__init__(
            _(
                "Insufficient balance: %(code)s has %(available)s available, %(needed)s is needed.",
                code=code,
                available=shown(available),
                needed=shown(amount),
            )
        )
        self.available = available
        self.amount = amount


class IdempotencyKeyTooLong(WalletError):
    def __init__(self) -> None:
        super().__init__(_("An idempotency key has at most %(length)s characters.", length=KEY_LENGTH))


class IdempotencyKeyReserved(WalletError):
    def __init__(self, prefix: str) -> None:
        super().__init__(
            _(
                "An idempotency key cannot start with %(prefix)s: such keys are the application's own. Use another "
                "key.",
                prefix=repr(prefix),
            )
        )


class IdempotencyConflict(WalletError):
    def __init__(self, key: str) -> None:
        super().__init__(
            _(
                "Idempotency key %(key)s was already used for a different operation; use a new key for a new "
                "operation.",
                key=repr(key),
            )
        )


class CustomerClosed(WalletError):
    def __init__(self, code: str) -> None:
        super().__init__(
            _(
                "Customer %(code)s is closed: it takes no new movement. Its history stays; an admin can reopen it.",
                code=code,
            )
        )


class DatedAfterToday(WalletError):
    def __init__(self, today: date, zone: str) -> None:
        super().__init__(
            _("A movement cannot be dated after today (%(today)s in %(zone)s).", today=named_date(today), zone=zone)
        )
