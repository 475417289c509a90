"""Metering: pricing rows, readings that are purchases, re-pricing them, and the recalculation requests left to jobs.

Its modules: ``values`` (what a clerk types), ``pricing`` and ``tariff`` (one customer's prices, and many customers' at
once), ``readings``, ``index`` and ``batch`` (recording readings), ``repricing``, ``requests`` (the recalculations a
job does) and ``held`` (corrections that wait for a second admin).
"""

from backoffice.models import ApprovalKind, ApprovalRequest, User
from backoffice.services.metering import pricing, readings, tariff
from backoffice.services.metering.batch import Entry, ReadingsRefused, Refusal, check_readings, record_readings
from backoffice.services.metering.held import ChangedSinceAsked, NeedsApproval, pending_for_reading
from backoffice.services.metering.index import (
    Counted,
    MeterIndex,
    checked_digits,
    checked_meter_index,
    checked_start_index,
    counted_by_index,
)
from backoffice.services.metering.pricing import Impact, Priced, price, pricing_impact, set_pricing
from backoffice.services.metering.readings import (
    DuplicateReading,
    correct_reading,
    delete_reading,
    reading_customer,
    record_reading,
    refuse_retired,
    same_day_reading,
)
from backoffice.services.metering.repricing import reprice, reprice_where
from backoffice.services.metering.requests import (
    NOTHING_PENDING,
    Pending,
    left_quarantined,
    pending_recalculations,
    pending_summary,
    pending_waits,
    process_recalculations,
)
from backoffice.services.metering.tariff import (
    Tariff,
    TariffImpact,
    TariffInputError,
    asked_tariff,
    change_tariff,
    checked_tariff,
    reprice_tariff,
    tariff_impact,
)
from backoffice.services.metering.values import MeteringError, checked_correction, checked_price, checked_volume

_SERVICES = {
    ApprovalKind.READING_CORRECTION: readings,
    ApprovalKind.PRICING_CHANGE: pricing,
    ApprovalKind.TARIFF_CHANGE: tariff,
}
"""The service each source correction is asked of, applied by and said by."""


def apply_request(connection, request: ApprovalRequest, user: User) -> None:
    """Apply the source correction an approval request asked for, by ``user``, through the service it was asked
    of, in the caller's (the approving) transaction; raises :class:`ChangedSinceAsked` or what the service refuses."""
    _SERVICES[request.kind].apply_request(connection, request, user)


def said_request(request: ApprovalRequest) -> str:
    """What a source correction an approval request asks for does, in the reader's language."""
    return _SERVICES[request.kind].said_request(request)


__all__ = [
    "ChangedSinceAsked",
    "Counted",
    "DuplicateReading",
    "Entry",
    "Impact",
    "MeterIndex",
    "MeteringError",
    "NeedsApproval",
    "Pending",
    "Priced",
    "ReadingsRefused",
    "Refusal",
    "Tariff",
    "TariffImpact",
    "TariffInputError",
    "apply_request",
    "said_request",
    "asked_tariff",
    "check_readings",
    "checked_correction",
    "checked_digits",
    "checked_meter_index",
    "checked_start_index",
    "change_tariff",
    "checked_price",
    "checked_tariff",
    "checked_volume",
    "correct_reading",
    "counted_by_index",
    "delete_reading",
    "left_quarantined",
    "pending_for_reading",
    "pending_recalculations",
    "pending_summary",
    "pending_waits",
    "NOTHING_PENDING",
    "price",
    "pricing_impact",
    "process_recalculations",
    "reading_customer",
    "record_reading",
    "record_readings",
    "refuse_retired",
    "reprice",
    "reprice_tariff",
    "reprice_where",
    "same_day_reading",
    "set_pricing",
    "tariff_impact",
]
