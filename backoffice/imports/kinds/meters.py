"""The import of meters."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from backoffice.imports.kinds.base import Field, ImportKind, Row, _stored, _text
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
    (
        Field(
            "serial",
            _l("Meter serial"),
            _text(40, upper=True),
            required=True,
            aliases=(
                "serial",
                "serial number",
                "serial no",
                "meter serial number",
                "meter no",
                "meter",
                "no seri",
                "seri meter",
                "no meter",
                "nomor meter",
                "so seri",
                "so cong to",
                "ma dong ho",
                "dong ho",
                "cong to",
            ),
        ),
    ),
    ("serial",),
    _stored_meters,
    _write_meters,
    customers=lambda rows: set(),
)


# Who held each meter when.
