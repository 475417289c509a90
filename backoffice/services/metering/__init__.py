"""Metering: pricing rows, readings that are purchases, re-pricing them, and the recalculation requests left to jobs.

- ``values``: what a clerk types (volumes, prices, correction factors), checked; :class:`MeteringError`.
- ``pricing``: a customer's effective-dated pricing, setting it with a preview of what it changes.
- ``tariff``: a new price or correction factor from a date for many customers at once.
- ``readings``: recording, correcting and deleting readings, each charged to the wallet.
- ``repricing``: readings priced again and their differences posted, set-based.
- ``requests``: the recalculation requests a job does.
"""

from backoffice.services.metering.pricing import Impact, Priced, price, pricing_impact, set_pricing
from backoffice.services.metering.readings import (
    correct_reading,
    delete_reading,
    reading_customer,
    reading_version,
    record_reading,
    refuse_retired,
)
from backoffice.services.metering.repricing import reprice, reprice_where
from backoffice.services.metering.requests import (
    Pending,
    pending_recalculations,
    pending_summary,
    process_recalculations,
)
from backoffice.services.metering.tariff import (
    Tariff,
    TariffImpact,
    TariffInputError,
    change_tariff,
    checked_tariff,
    reprice_tariff,
    tariff_impact,
)
from backoffice.services.metering.values import MeteringError, checked_correction, checked_price, checked_volume

__all__ = [
    "Impact",
    "MeteringError",
    "Pending",
    "Priced",
    "Tariff",
    "TariffImpact",
    "TariffInputError",
    "checked_correction",
    "change_tariff",
    "checked_price",
    "checked_tariff",
    "checked_volume",
    "correct_reading",
    "delete_reading",
    "pending_recalculations",
    "pending_summary",
    "price",
    "pricing_impact",
    "process_recalculations",
    "reading_customer",
    "reading_version",
    "record_reading",
    "refuse_retired",
    "reprice",
    "reprice_tariff",
    "reprice_where",
    "set_pricing",
    "tariff_impact",
]
