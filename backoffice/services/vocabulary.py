"""What a screen or a command catches or shows of the posting core: its refusals, its kinds of movement and the
formulas of the figures a list shows beside its rows (what a customer owes on a meter, an invoice's status).

The services are the screens' vocabulary: a screen names what it catches from here, never from the posting core,
which no screen imports (tests/docs/test_layers.py).
"""

from backoffice.models.formulas import due_sql, invoice_status_sql, meter_customer_net_sql, overpaid_sql
from backoffice.posting.closed_months import PeriodClosed
from backoffice.posting.refusals import (
    CustomerClosed,
    DatedAfterToday,
    IdempotencyKeyReserved,
    IdempotencyKeyTooLong,
    WalletError,
    already_recorded,
)
from backoffice.posting.rules import Kind, rule_of

__all__ = [
    "due_sql",
    "invoice_status_sql",
    "meter_customer_net_sql",
    "overpaid_sql",
    "CustomerClosed",
    "DatedAfterToday",
    "IdempotencyKeyReserved",
    "IdempotencyKeyTooLong",
    "Kind",
    "PeriodClosed",
    "WalletError",
    "already_recorded",
    "rule_of",
]
