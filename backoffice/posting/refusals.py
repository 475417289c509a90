"""What the posting core refuses, each said once: a movement it refuses writes nothing. The balance's and the totals'
limits are the wallet's specification's (``posting.wallet_batches``); a closed month's is ``posting.closed_months``'."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from backoffice.models import BalanceTransaction
from backoffice.platform.i18n import named_date
from backoffice.platform.lines import NotOneLine
from backoffice.platform.money import MoneyError, shown

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
    """A key sent in a namespace that is not the sender's: the application's own, or (``clients``) the API clients'."""

    def __init__(self, prefix: str, *, clients: bool = False) -> None:
        if clients:
            said = _(
                "An idempotency key cannot start with %(prefix)s: such keys are the API clients'. Use another key.",
                prefix=repr(prefix),
            )
        else:
            said = _(
                "An idempotency key cannot start with %(prefix)s: such keys are the application's own. Use another "
                "key.",
                prefix=repr(prefix),
            )
        super().__init__(said)


class IdempotencyConflict(WalletError):
    def __init__(self, key: str) -> None:
        super().__init__(
            _(
                "Idempotency key %(key)s was already used for a different operation; use a new key for a new "
                "operation.",
                key=repr(key),
            )
        )


WRITTEN = {
    "balance_transactions": _l("wallet movement"),
    "journal_entries": _l("journal entry"),
    "approval_requests": _l("request"),
}
"""What a key's sending writes, as its refusal names it."""


class KeySentByAnother(IdempotencyConflict):
    """A key another maker sent first: a key names its maker, and no one else's sending is answered with what it
    wrote."""

    def __init__(self, key: str, writes: str) -> None:
        WalletError.__init__(
            self,
            _(
                "Key %(key)s was sent by another user: your %(what)s was not saved. Send it again with a new key.",
                key=repr(key),
                what=str(WRITTEN[writes]),
            ),
        )


class CustomerClosed(WalletError):
    def __init__(self, code: str) -> None:
        super().__init__(
            _(
                "Customer %(code)s is closed: it takes no new movement. Its history stays; an admin can reopen it.",
                code=code,
            )
        )
        self.code = code


class DatedAfterToday(WalletError):
    def __init__(self, today: date, zone: str) -> None:
        super().__init__(
            _("A movement cannot be dated after today (%(today)s in %(zone)s).", today=named_date(today), zone=zone)
        )


class AlreadyRecorded(ValueError):
    """A money source, or a record an import keys, that the database holds once, written again by another writer
    meanwhile (two imports of one file, an import and a clerk): nothing was written. ``str()`` says what."""


_RECORDED_ONCE = {
    "uq_payments_meter_reference": _l("A payment with that reference is already recorded on the meter."),
    "uq_balance_transactions_opening": _l(
        "The customer's opening balance is already set; a correction of it is an adjustment."
    ),
    "uq_invoices_number": _l("An invoice with that number is already recorded."),
    "uq_customers_code": _l("A customer with that code is already recorded."),
    "uq_meters_serial": _l("A meter with that serial is already recorded."),
    "uq_orders_number": _l("An order with that number is already recorded."),
    "uq_account_managers_email": _l("An account manager with that e-mail address is already recorded."),
    "uq_customer_pricing_customer_from": _l("The customer already has a price from that date."),
    "uq_meter_assignments_active_meter": _l("The meter is already assigned to a customer."),
}
"""What each key the database holds once says when a second writer meets it."""


def already_recorded(error: IntegrityError) -> ValueError | None:
    """The refusal a key the database holds once (:data:`_RECORDED_ONCE`), a column that holds one line
    (``ck_<table>_<column>_one_line``), or an amount the database holds in the currency's unit
    (``ck_<table>_amount_in_unit``) says when ``error`` is its violation; else ``None``."""
    diagnosis = getattr(error.orig, "diag", None)
    name = getattr(diagnosis, "constraint_name", None) or ""
    if name.endswith("_amount_in_unit"):
        return MoneyError(_("%(what)s Nothing was written.", what=_("The amount is finer than the currency's unit.")))
    if name.endswith("_one_line"):
        return NotOneLine(getattr(diagnosis, "column_name", None) or name.removeprefix("ck_").removesuffix("_one_line"))
    said = _RECORDED_ONCE.get(name)
    if said is None:
        return None
    return AlreadyRecorded(_("%(what)s Nothing was written.", what=said))
