"""The import of meter readings."""

from __future__ import annotations

from decimal import Decimal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Date, Integer, select, tuple_

from backoffice.imports import values as read
from backoffice.imports.kinds.base import METER, Field, ImportKind, Row, _refer_meters, _stored, _text
from backoffice.imports.values import Refused
from backoffice.models import (
    Meter,
    MeterReading,
    User,
)
from backoffice.models.types import given_rows, one_of
from backoffice.platform.extensions import db
from backoffice.platform.i18n import number_locale
from backoffice.platform.money import format_plain
from backoffice.platform.roles import Role
from backoffice.services.metering.batch import Entry, examine, lock_holders, record_readings
from backoffice.services.metering.index import MeterIndex
from backoffice.services.metering.route import far_from_usual, route_sheet
from backoffice.services.metering.values import MeteringError, checked_volume


def _volume(value: object) -> Decimal:
    try:
        return checked_volume(read.number(value, 4))
    except MeteringError as error:
        raise Refused(str(error)) from None


def _index(value: object) -> Decimal:
    found = read.number(value, 4)
    if found < 0:
        raise Refused(_("The index must not be negative."))
    return found


def _digits(value: object) -> int:
    found = read.number(value, 0)
    if not 1 <= found <= 14:
        raise Refused(_("A meter's digits are a whole number from 1 to 14."))
    return int(found)


def _entry(row: Row) -> Entry:
    """The reading a row gives: by the meter's index where it gives one (its use, if given too, only checked against
    it), else by its volume."""
    given = None
    if row.get("index") is not None:
        given = MeterIndex(row["index"], rollover_digits=row.get("rollover_digits"), start_index=row.get("start_index"))
    volume = row.get("volume") if given is None else None
    return Entry(row["meter_id"], row["reading_date"], volume, given, row.get("note") or "")


def _refer_readings(rows: list[Row]) -> dict[int, tuple[str, str]]:
    """The meters, then every rule a reading is recorded by (:func:`examine`, as the write does), the rows as one
    batch; a row giving both the meter's index and its use, the use the index gives since the reading before."""
    refused = _refer_meters(rows)
    for position, row in enumerate(rows):
        if position not in refused and row.get("volume") is None and row.get("index") is None:
            refused[position] = ("volume", _("Give the reading as a volume or as the meter's index."))
    batch = [(position, row) for position, row in enumerate(rows) if position not in refused]
    examined = examine(db.session.connection(), [_entry(row) for _position, row in batch])
    for found, (position, row) in zip(examined, batch, strict=True):
        row["waits"], row[EXAMINED] = None, found
        if found.rolled_from is not None:
            previous = found.rolled_from
            row["waits"] = {
                "why": "rollover",
                "previous": str(previous.index),
                "previous_on": previous.reading_date.isoformat(),
                "digits": len(str(int(previous.index))),
            }
        elif found.refusal is not None:
            refused[position] = ("index" if found.of_index else "reading_date", found.refusal)
        elif row.get("index") is not None and row.get("volume") is not None and found.volume != row["volume"]:
            refused[position] = (
                "volume",
                _(
                    "The index %(index)s gives a use of %(counted)s m³ since the reading before; the file says "
                    "%(given)s m³.",
                    index=format_plain(row["index"], number_locale(), 4),
                    counted=format_plain(found.volume, number_locale(), 4),
                    given=format_plain(row["volume"], number_locale(), 4),
                ),
            )
        else:
            row["counted"] = found.volume
    _far_from_usual([row for position, row in batch if position not in refused and row.get("counted") is not None])
    return refused


def _far_from_usual(rows: list[Row]) -> None:
    """Mark each row whose volume is far from what its meter usually uses by then (``route.far_from_usual``, the
    route sheet's rule): it waits for a clerk's confirmation, as on the sheet."""
    by_day: dict = {}
    for row in rows:
        by_day.setdefault(row["reading_date"], []).append(row)
    for on, dated in by_day.items():
        usual = {found.meter_id: found.usual for found in route_sheet(on, meter_ids=[r["meter_id"] for r in dated])}
        for row in dated:
            if far_from_usual(row["counted"], usual.get(row["meter_id"])):
                row["waits"] = {"why": "far", "volume": str(row["counted"]), "usual": str(usual[row["meter_id"]])}


def _doubtful(rows: list[Row]) -> dict[int, dict]:
    return {position: row["waits"] for position, row in enumerate(rows) if row.get("waits")}


def _stored_readings(rows: list[Row]) -> dict[tuple, Row]:
    query = select(
        Meter.serial.label("meter"),
        MeterReading.reading_date,
        MeterReading.volume_flow_meter.label("volume"),
        MeterReading.meter_index.label("index"),
    ).join(Meter, Meter.id == MeterReading.meter_id)
    return _stored(
        query, [Meter.serial, MeterReading.reading_date], rows, [(r["meter"], r["reading_date"]) for r in rows]
    )


def _lock_holders(rows: list[Row]) -> None:
    """Before a chunk is checked as it is written: its meters' holders on the days read, locked (as the write locks
    them); the readings are then examined once, as they are checked."""
    serials = {row["meter"] for row in rows if row.get("meter")}
    meter_ids = dict(db.session.execute(select(Meter.serial, Meter.id).where(one_of(Meter.serial, serials))).all())
    lock_holders(db.session.connection(), [(meter_ids.get(row.get("meter")), row.get("reading_date")) for row in rows])


def _write_readings(rows: list[Row], user: User | None) -> None:
    """The readings, as examined when the chunk was checked under their holders' locks (:func:`_lock_holders`)."""
    examined = [row.get(EXAMINED) for row in rows]
    record_readings([_entry(row) for row in rows], user=user, examined=None if None in examined else examined)


EXAMINED = "_examined"
"""Where a row keeps what :func:`examine` found of it, when checked."""


def _readers(rows: list[Row]) -> set[int]:
    return set(
        db.session.scalars(
            select(MeterReading.customer_id).where(
                tuple_(MeterReading.meter_id, MeterReading.reading_date).in_(
                    select(
                        *given_rows(
                            "read",
                            [(row["meter_id"], row["reading_date"]) for row in rows],
                            meter_id=Integer,
                            reading_date=Date,
                        ).c
                    )
                )
            )
        ).all()
    )


READINGS = ImportKind(
    "readings",
    _l("Meter readings"),
    (
        METER,
        Field(
            "reading_date",
            _l("Reading date"),
            read.day,
            holds="date",
            required=True,
            aliases=(
                "date",
                "read on",
                "reading",
                "tgl catat",
                "tgl baca",
                "tgl pencatatan",
                "tgl",
                "ngay doc",
                "ngay ghi",
                "ngay",
            ),
        ),
        Field(
            "volume",
            _l("Volume (m³)"),
            _volume,
            holds="number",
            total=True,
            aliases=(
                "volume",
                "usage",
                "consumption",
                "m3",
                "pemakaian",
                "pemakaian m3",
                "penggunaan",
                "luong tieu thu",
                "san luong",
                "khoi luong",
            ),
        ),
        Field(
            "index",
            _l("The meter's index"),
            _index,
            holds="number",
            aliases=(
                "index",
                "meter reading",
                "reading value",
                "current reading",
                "stand",
                "stand akhir",
                "angka meter",
                "chi so",
                "chi so moi",
                "chi so cuoi",
            ),
        ),
        Field(
            "rollover_digits",
            _l("Rolled over: the meter's digits"),
            _digits,
            holds="number",
            aliases=(
                "rollover",
                "rolled over",
                "digits",
                "putaran",
                "berputar",
                "quay vong",
            ),
        ),
        Field(
            "start_index",
            _l("The start index"),
            _index,
            holds="number",
            aliases=(
                "start index",
                "previous reading",
                "opening reading",
                "stand lalu",
                "stand sebelumnya",
                "chi so cu",
                "chi so dau",
            ),
        ),
        Field(
            "note",
            _l("Note"),
            _text(300, lines=True),
            aliases=(
                "notes",
                "remark",
                "remarks",
                "comment",
                "keterangan",
                "ket",
                "catatan",
                "ghi chu",
            ),
        ),
    ),
    ("meter", "reading_date"),
    _stored_readings,
    _write_readings,
    role=Role.FINANCE,
    refers=_refer_readings,
    locks=_lock_holders,
    identify=_refer_meters,
    doubtful=_doubtful,
    history_of="reading_date",
    customers=_readers,
    compared=("volume", "index"),
)
