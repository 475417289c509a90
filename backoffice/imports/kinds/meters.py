"""The import of meters."""

from __future__ import annotations

from dataclasses import replace

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from backoffice.imports.kinds.base import METER, ImportKind, Row, _stored
from backoffice.models import (
    Meter,
    User,
)
from backoffice.services import meter_lifecycle


def _stored_meters(rows: list[Row]) -> dict[tuple, Row]:
    return _stored(select(Meter.serial), [Meter.serial], rows, [(row["serial"],) for row in rows])


def _write_meters(rows: list[Row], user: User | None) -> None:
    meter_lifecycle.add_meters([row["serial"] for row in rows])


METERS = ImportKind(
    "meters",
    _l("Meters"),
    (replace(METER, name="serial"),),
    ("serial",),
    _stored_meters,
    _write_meters,
    customers=lambda rows: set(),
)


# Who held each meter when.
