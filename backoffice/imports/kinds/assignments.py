"""The import of meters assigned to customers."""

from __future__ import annotations

from collections.abc import Callable

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from backoffice.imports import values as read
from backoffice.imports.kinds.base import (
    CUSTOMER,
    METER,
    Field,
    ImportKind,
    Row,
    _both,
    _refer_customers,
    _refer_meters,
    _stored,
)
from backoffice.models import (
    Customer,
    Meter,
    MeterAssignment,
    User,
)
from backoffice.platform.extensions import db
from backoffice.services import meter_lifecycle


def _stored_assignments(rows: list[Row]) -> dict[tuple, Row]:
    query = (
        select(Meter.serial.label("meter"), MeterAssignment.started_on, Customer.code.label("customer"))
        .add_columns(MeterAssignment.ended_on)
        .join(Meter, Meter.id == MeterAssignment.meter_id)
        .join(Customer, Customer.id == MeterAssignment.customer_id)
    )
    return _stored(
        query, [Meter.serial, MeterAssignment.started_on], rows, [(r["meter"], r["started_on"]) for r in rows]
    )


def _write_assignments(rows: list[Row], user: User | None) -> None:
    """Each meter's assignments in the order they started, written as one batch (:func:`_given`)."""
    meter_lifecycle.assign_meters([new for _row, new in _given(rows)])


def _rehearse() -> Callable[[list[Row]], list[Exception | None]]:
    """The write's checks of each chunk of rows, in turn, made without writing: each row's refusal, if any."""
    check = meter_lifecycle.AssignmentsCheck()

    def refusals(rows: list[Row]) -> list[Exception | None]:
        given = _given(rows)
        found = dict(zip((id(row) for row, _new in given), check.refusals([new for _row, new in given]), strict=True))
        return [found[id(row)] for row in rows]

    return refusals


def _given(rows: list[Row]) -> list[tuple[Row, meter_lifecycle.NewAssignment]]:
    """Each row's assignment, each meter's in the order they started: one the file does not end ends when the
    meter's next one in the file starts, and one a meter is at when its row starts is ended by it."""
    ordered = sorted(rows, key=lambda row: (row["meter_id"], row["started_on"]))
    meters = {
        meter.id: meter
        for meter in db.session.scalars(select(Meter).where(Meter.id.in_({r["meter_id"] for r in rows})))
    }
    customers = {
        customer.id: customer
        for customer in db.session.scalars(select(Customer).where(Customer.id.in_({r["customer_id"] for r in rows})))
    }
    given = []
    for row, following in zip(ordered, [*ordered[1:], None], strict=True):
        ended_on = row.get("ended_on")
        if ended_on is None and following is not None and following["meter_id"] == row["meter_id"]:
            ended_on = following["started_on"]
        new = meter_lifecycle.NewAssignment(
            meters[row["meter_id"]], customers[row["customer_id"]], row["started_on"], ended_on=ended_on, moves=True
        )
        given.append((row, new))
    return given


ASSIGNMENTS = ImportKind(
    "assignments",
    _l("Meter assignments"),
    (
        METER,
        CUSTOMER,
        Field(
            "started_on",
            _l("Started on"),
            read.day,
            holds="date",
            required=True,
            aliases=(
                "start date",
                "installed on",
                "installation date",
                "from",
                "tgl pasang",
                "tgl mulai",
                "mulai",
                "dari",
                "ngay lap dat",
                "tu ngay",
            ),
        ),
        Field(
            "ended_on",
            _l("Ended on"),
            read.day,
            holds="date",
            aliases=(
                "end date",
                "removed on",
                "until",
                "to",
                "tgl cabut",
                "tgl selesai",
                "sampai",
                "den ngay",
                "ngay thao",
            ),
        ),
    ),
    ("meter", "started_on"),
    _stored_assignments,
    _write_assignments,
    refers=_both(_refer_meters, _refer_customers),
    compared=("customer", "ended_on"),
    rehearse=_rehearse,
)


# Prices over time.
