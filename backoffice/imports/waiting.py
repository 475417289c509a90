"""The readings an import holds for a clerk's confirmation, as the route sheet does (a rollover, a volume far from the
usual): confirmed as the file gave them (a rollover with the meter's digits), or corrected, each written by the same
batch of readings as the import's other rows, its history naming the import; once, however often the form is sent."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import select

from backoffice.models import Import, Meter, User
from backoffice.models.history import acting
from backoffice.platform.extensions import db
from backoffice.services import ChangedMeanwhile, one_unit
from backoffice.services.metering import Entry, MeterIndex, record_readings


class NotWaiting(ValueError):
    """No reading of the import waits at that line (confirmed or corrected already, or never held)."""


def waiting(record: Import) -> list[dict]:
    """The import's readings still waiting, in the file's order."""
    return [held for held in (record.report or {}).get("waiting", []) if not held.get("done")]


def confirm(
    record: Import,
    line: int,
    user: User,
    *,
    version: int,
    digits: int | None = None,
    volume: Decimal | None = None,
    index: Decimal | None = None,
) -> int:
    """Write the reading held at ``line``: as the file gave it (a rollover read with the meter's ``digits``), or with
    the clerk's ``volume`` or ``index`` instead; the import's row marked, at the ``version`` its page showed
    (:class:`ChangedMeanwhile` otherwise). Returns the reading's id; raises :class:`NotWaiting`, or what the readings'
    batch refuses, having written nothing."""
    held = next((held for held in waiting(record) if held["line"] == line), None)
    if held is None:
        raise NotWaiting(_("No reading of this import waits at line %(line)s.", line=line))
    meter_id = db.session.scalar(select(Meter.id).where(Meter.serial == held["meter"]))
    corrected = volume is not None or index is not None
    given = {name: None if held.get(name) is None else Decimal(held[name]) for name in ("volume", "index")}
    if corrected:
        given = {"volume": volume, "index": index}
    reading = None
    if given["index"] is not None:
        rollover = digits if held["waits"]["why"] == "rollover" and not corrected else None
        start = None if corrected or held.get("start_index") is None else Decimal(held["start_index"])
        reading = MeterIndex(given["index"], rollover_digits=rollover, start_index=start)
    entry = Entry(
        meter_id,
        date.fromisoformat(held["reading_date"]),
        None if reading is not None else given["volume"],
        reading,
        held.get("note") or "",
    )
    with acting(user.id, record.actor), one_unit():
        if record.version != version:
            raise ChangedMeanwhile
        (reading_id,) = record_readings([entry], user=user)
        marked = {"done": "corrected" if corrected else "confirmed", "by": user.id, "reading_id": reading_id}
        report = dict(record.report)
        report["waiting"] = [{**kept, **marked} if kept["line"] == line else kept for kept in report.get("waiting", [])]
        record.report = report
    return reading_id
