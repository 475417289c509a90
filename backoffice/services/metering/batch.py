"""Many readings recorded as one batch, set-based: a route sheet's, an import's.

:func:`check_readings` says what is wrong with each entry, by its position, and writes nothing. :func:`record_readings`
records a batch with no refused entry in one transaction, each reading as ``readings.record_reading`` would. Both read
the database in a handful of statements however many entries there are.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Date, Integer, String, cast, func, insert, literal, select, true
from sqlalchemy.engine import Connection

from backoffice.evidence.quarantine import Quarantined, quarantined_ids
from backoffice.models import (
    Customer,
    CustomerPricing,
    Meter,
    MeterAssignment,
    MeterReading,
    Occasion,
    RecalculationReason,
    RecalculationRequest,
    User,
    covers,
    total_price_of,
    volume_sm3_of,
)
from backoffice.models.history import HistoryOperation, record
from backoffice.models.metering import ReadingOutOfRange
from backoffice.models.types import given_rows, one_of, utcnow
from backoffice.platform.extensions import db
from backoffice.platform.i18n import named_date, number_locale
from backoffice.platform.lines import described
from backoffice.platform.money import format_number, unit_places
from backoffice.posting.closed_months import PeriodClosed, last_closed_day, refuse_if_closed
from backoffice.posting.locking import lock_customers
from backoffice.services import ChangedMeanwhile, billing, transaction
from backoffice.services.metering.index import NO_INDEX, LastIndex, MeterIndex, around, checked, derive, refuse_later
from backoffice.services.metering.repricing import reprice_where
from backoffice.services.metering.values import MeteringError, checked_volume

readings = MeterReading.__table__
assignments = MeterAssignment.__table__
pricing = CustomerPricing.__table__
customers = Customer.__table__
requests = RecalculationRequest.__table__

LARGEST_ID = 2**31 - 1


@dataclass(frozen=True)
class Entry:
    """One reading of a batch: the meter's id, the reading's date, and either its volume (``volume_flow_meter``, m³)
    or the meter's ``index`` as read (with a rollover or a replacement said, :class:`MeterIndex`); a note (at most
    300 characters are kept)."""

    meter_id: int
    reading_date: date
    volume_flow_meter: Decimal | None = None
    index: MeterIndex | None = None
    note: str = ""


@dataclass(frozen=True)
class Refusal:
    """Why an entry of a batch is refused: its ``position`` in the batch (1 for the first) and the message."""

    position: int
    message: str


class ReadingsRefused(MeteringError):
    """Entries of a batch refused (``refusals``, in their order): nothing was written."""

    def __init__(self, refusals: list[Refusal]) -> None:
        self.refusals = refusals
        super().__init__(
            " ".join(_("Row %(position)s: %(message)s", position=r.position, message=r.message) for r in refusals)
        )


@dataclass(frozen=True)
class Examined:
    """An entry as :func:`examine` found it: refused (``refusal``), or to be recorded for ``customer_id`` with its
    volume and what it keeps of its index (``given``)."""

    position: int
    refusal: str | None = None
    customer_id: int | None = None
    volume: Decimal | None = None
    given: dict = field(default_factory=lambda: dict(NO_INDEX))
    of_index: bool = False
    """Refused for its index (lower than the reading before's without a rollover said, or beyond a later one)."""
    rolled_from: LastIndex | None = None
    """Refused for an index lower than the reading before's, ``rolled_from``, with no rollover said: the meter may have
    rolled over, for a person to confirm."""


def check_readings(entries: Sequence[Entry]) -> list[Refusal]:
    """What is wrong with each entry of the batch, by its position (1 for the first), in order; empty when the batch
    can be recorded. Writes nothing."""
    return refusals_of(examine(db.session.connection(), entries))


def record_readings(
    entries: Sequence[Entry], *, user: User | None = None, examined: Sequence[Examined] | None = None
) -> list[int]:
    """Record the batch's readings in one transaction, each for the customer who held its meter on its date; returns
    their ids, in the entries' order. Raises :class:`ReadingsRefused` with every entry refused (by position, as
    :func:`check_readings` says them) before anything is written.

    ``examined``: the entries as :func:`examine` found them in this transaction, under the locks
    :func:`lock_holders` took of their holders before (an import's chunk, checked as it is written): not examined
    again."""
    entries = list(entries)
    if not entries:
        return []
    with transaction() as session:
        connection = session.connection()
        holders, locked = lock_holders(connection, [(entry.meter_id, entry.reading_date) for entry in entries])
        # Under the customers' locks: what was recorded meanwhile (the same meter and date, a later index) is seen.
        examined = examine(connection, entries) if examined is None else list(examined)
        if refused := refusals_of(examined):
            raise ReadingsRefused(refused)
        if {found.customer_id for found in examined} - holders:
            raise ChangedMeanwhile
        ids = _insert(connection, entries, examined, user)
        realtime = {customer.id for customer in locked if customer.use_realtime_calculation}
        charged = [reading_id for reading_id, found in zip(ids, examined, strict=True) if found.customer_id in realtime]
        if charged:
            reprice_where(
                connection,
                readings.c.id.in_(charged),
                sorted(holders & realtime),
                user,
                occasion=Occasion.FIRST_CHARGE,
            )
        if deferred := sorted(set(ids) - set(charged)):
            _defer(connection, deferred, user)
    return ids


def refusals_of(examined: Iterable[Examined]) -> list[Refusal]:
    """The refused entries of an examination, by position."""
    return [Refusal(found.position, found.refusal) for found in examined if found.refusal is not None]


def _insert(connection: Connection, entries: list[Entry], examined: list[Examined], user) -> list[int]:
    """The readings inserted in one statement, with their history versions; their ids in the entries' order."""
    moment = utcnow()
    rows = [
        {
            "meter_id": entry.meter_id,
            "customer_id": found.customer_id,
            "reading_date": entry.reading_date,
            "volume_flow_meter": found.volume,
            "note": described(entry.note),
            "created_at": moment,
            "created_by_id": user.id if user else None,
            **found.given,
        }
        for entry, found in zip(entries, examined, strict=True)
    ]
    ids = list(
        connection.execute(insert(readings).returning(readings.c.id, sort_by_parameter_order=True), rows).scalars()
    )
    record(connection, MeterReading, one_of(readings.c.id, ids), HistoryOperation.CREATE)
    return ids


def lock_holders(connection: Connection, read: list[tuple[int, date]]) -> tuple[set[int], list]:
    """Lock the customers who held the meters on the days they are read (``(meter_id, reading_date)``), found in one
    statement: what a batch locks before it is examined (a pair that names no meter or date is refused by the
    examination). Returns their ids, and their wallet columns as :func:`lock_customers` returns them."""
    keys = given_rows(
        "keys",
        [(meter_id, on) for meter_id, on in read if _is_id(meter_id) and isinstance(on, date)],
        meter_id=Integer,
        reading_date=Date,
    )
    holders = set(
        connection.scalars(
            select(assignments.c.customer_id)
            .select_from(keys)
            .join(
                assignments,
                (assignments.c.meter_id == keys.c.meter_id) & covers(assignments.c, keys.c.reading_date),
            )
        )
    )
    return holders, lock_customers(connection, holders)


def _defer(connection: Connection, reading_ids: list[int], user) -> None:
    """A recalculation request for each reading of a customer not kept in real time, as one reading's recording
    leaves one: from its date."""
    connection.execute(
        insert(requests).from_select(
            ["customer_id", "from_date", "reason", "description", "requested_at", "requested_by_id"],
            select(
                readings.c.customer_id,
                readings.c.reading_date,
                literal(RecalculationReason.DEFERRED, requests.c.reason.type),
                func.concat("Reading #", cast(readings.c.id, String)),
                literal(utcnow(), requests.c.requested_at.type),
                literal(user.id if user else None, Integer),
            )
            .where(readings.c.id.in_(reading_ids))
            .order_by(readings.c.id),
        )
    )


# --- What each entry is found to be ------------------------------------------------------------------------------


def examine(connection: Connection, entries: Sequence[Entry]) -> list[Examined]:
    """Each entry, in order, refused with why, or with whose reading it is and its volume: the database read in a
    handful of statements, whatever the number of entries."""
    entries = list(entries)
    found: dict[int, Examined] = {}
    meters = _meters(entries)
    keyed = []
    for position, entry in enumerate(entries, 1):
        if (problem := _entry_problem(entry, meters)) is not None:
            found[position] = Examined(position, problem)
        else:
            keyed.append((position, entry))
    facts = _facts(connection, keyed)
    held = {row.customer_id for row in facts.values() if row.customer_id is not None}
    people = _customers(connection, held)
    closed_through = last_closed_day(connection)
    indexes = around(connection, [(entry.meter_id, entry.reading_date) for _position, entry in keyed])
    earlier_in_batch: dict[tuple[int, date], int] = {}
    by_index = defaultdict(list)
    for position, entry in sorted(keyed, key=lambda keyed: (keyed[1].meter_id, keyed[1].reading_date, keyed[0])):
        if entry.index is not None:
            by_index[entry.meter_id].append((entry.reading_date, position, entry.index.value))
    for position, entry in keyed:
        meter = meters[entry.meter_id]
        day = (entry.meter_id, entry.reading_date)
        of_index, rolled_from = False, None
        first = earlier_in_batch.setdefault(day, position)
        try:
            if closed_through is not None and entry.reading_date <= closed_through:
                refuse_if_closed(connection, entry.reading_date)
            customer = people.get(facts[position].customer_id)
            _refuse_whose(meter, entry, customer)
            _refuse_same_day(meter, entry, first, position, facts[position])
            given = dict(NO_INDEX)
            volume = entry.volume_flow_meter
            if entry.index is not None:
                of_index = True
                previous, later = indexes[day]
                refuse_later(later, meter.serial)
                previous = _latest(previous, by_index[entry.meter_id], entry.reading_date)
                if previous is not None and entry.index.rollover_digits is None and entry.index.start_index is None:
                    rolled_from = previous if entry.index.value < previous.index else None
                counted = derive(entry.index, previous, meter.serial)
                volume, given = counted.volume, counted.columns()
                of_index = False
            _refuse_unpriced(entry, volume, facts[position])
        except (MeteringError, PeriodClosed, Quarantined) as problem:
            found[position] = Examined(position, str(problem), of_index=of_index, rolled_from=rolled_from)
        else:
            found[position] = Examined(position, None, customer.id, volume, given)
    return [found[position] for position in range(1, len(entries) + 1)]


def _meters(entries: list[Entry]) -> dict[int, Meter]:
    ids = {entry.meter_id for entry in entries if _is_id(entry.meter_id)}
    return {meter.id: meter for meter in db.session.scalars(select(Meter).where(one_of(Meter.id, ids)))} if ids else {}


def _is_id(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= LARGEST_ID


def _entry_problem(entry: Entry, meters: dict[int, Meter]) -> str | None:
    """What is wrong with the entry itself (its meter, date and volume or index as given), before the database is
    asked anything of it; ``None`` when nothing is."""
    meter = meters.get(entry.meter_id) if _is_id(entry.meter_id) else None
    if meter is None:
        return _("No meter %(id)s.", id=entry.meter_id)
    if not isinstance(entry.reading_date, date):
        return _("Enter the reading date.")
    try:
        billing.refuse_retired(meter, _l("it takes no new reading"))
        billing.not_after_today(entry.reading_date, _l("A reading"))
    except billing.BillingError as error:
        return str(error)
    if (entry.volume_flow_meter is None) == (entry.index is None):
        return _("Give the reading as a volume or as the meter's index.")
    try:
        if entry.volume_flow_meter is not None:
            checked_volume(entry.volume_flow_meter)
        else:
            checked(entry.index)
    except MeteringError as error:
        return str(error)
    return None


@dataclass(frozen=True)
class _Facts:
    customer_id: int | None
    price_per_sm3: Decimal | None
    meter_correction: Decimal | None
    same_day_id: int | None
    same_day_volume: Decimal | None


def _facts(connection: Connection, keyed: list[tuple[int, Entry]]) -> dict[int, _Facts]:
    """For each entry (by position): who held its meter on its date, their pricing in force then, and the meter's
    latest reading of that date, if any; in one statement."""
    if not keyed:
        return {}
    keys = given_rows(
        "keys",
        [(position, entry.meter_id, entry.reading_date) for position, entry in keyed],
        position=Integer,
        meter_id=Integer,
        reading_date=Date,
    )
    holder = (
        select(assignments.c.customer_id)
        .where(assignments.c.meter_id == keys.c.meter_id, covers(assignments.c, keys.c.reading_date))
        .limit(1)
        .lateral("holder")
    )
    priced = (
        select(pricing.c.price_per_sm3, pricing.c.meter_correction)
        .where(pricing.c.customer_id == holder.c.customer_id, pricing.c.effective_from <= keys.c.reading_date)
        .order_by(pricing.c.effective_from.desc())
        .limit(1)
        .lateral("priced")
    )
    same_day = (
        select(readings.c.id, readings.c.volume_flow_meter)
        .where(readings.c.meter_id == keys.c.meter_id, readings.c.reading_date == keys.c.reading_date)
        .order_by(readings.c.id.desc())
        .limit(1)
        .lateral("same_day")
    )
    rows = connection.execute(
        select(
            keys.c.position,
            holder.c.customer_id,
            priced.c.price_per_sm3,
            priced.c.meter_correction,
            same_day.c.id,
            same_day.c.volume_flow_meter,
        ).select_from(
            keys.outerjoin(holder, true()).outerjoin(priced, true()).outerjoin(same_day, true()),
        )
    )
    return {position: _Facts(*facts) for position, *facts in rows}


@dataclass(frozen=True)
class _Holder:
    id: int
    code: str
    closed: bool
    realtime: bool
    quarantined: bool


def _customers(connection: Connection, ids: set[int]) -> dict[int, _Holder]:
    """The customers, by id: their code, whether closed, kept in real time and quarantined."""
    if not ids:
        return {}
    rows = connection.execute(
        select(
            customers.c.id,
            customers.c.code,
            customers.c.closed_at,
            customers.c.use_realtime_calculation,
            customers.c.id.in_(quarantined_ids()).label("quarantined"),
        ).where(one_of(customers.c.id, ids))
    )
    return {
        row.id: _Holder(row.id, row.code, row.closed_at is not None, row.use_realtime_calculation, row.quarantined)
        for row in rows
    }


def _refuse_whose(meter: Meter, entry: Entry, customer: _Holder | None) -> None:
    """Refuse a reading nobody's on its date, or a closed customer's, or, charged at once, a quarantined one's."""
    if customer is None:
        raise MeteringError(
            _(
                "Meter %(serial)s was not assigned to any customer on %(date)s: readings, invoices and payments are "
                "dated in a period when a customer held the meter.",
                serial=meter.serial,
                date=named_date(entry.reading_date),
            )
        )
    if customer.closed:
        raise MeteringError(
            _(
                "Customer %(code)s is closed: it takes no new meter, reading, invoice or payment. An admin can reopen "
                "it.",
                code=customer.code,
            )
        )
    if customer.quarantined and customer.realtime:
        raise Quarantined(customer.code)


def _refuse_same_day(meter: Meter, entry: Entry, first: int, position: int, facts: _Facts) -> None:
    """Refuse a second reading of the meter on the date: earlier in the batch, or in the database."""
    if first != position:
        raise MeteringError(
            _(
                "Meter %(serial)s is read on %(date)s in row %(first)s already: a meter has one reading a day.",
                serial=meter.serial,
                date=named_date(entry.reading_date),
                first=first,
            )
        )
    if facts.same_day_id is not None:
        raise MeteringError(
            _(
                "Meter %(serial)s already has a reading on %(date)s: #%(id)s, %(volume)s m³.",
                serial=meter.serial,
                date=named_date(entry.reading_date),
                id=facts.same_day_id,
                volume=format_number(facts.same_day_volume, number_locale(), "#,##0.0000"),
            )
        )


def _latest(previous: LastIndex | None, in_batch: list[tuple[date, int, Decimal]], on: date) -> LastIndex | None:
    """The meter's latest index before ``on``: its reading by index in the database (``previous``), or an entry by
    index of the batch dated before ``on`` and after it."""
    for day, _position, index in reversed(in_batch):
        if day < on:
            if previous is None or day >= previous.reading_date:
                return LastIndex(day, index)
            break
    return previous


def _refuse_unpriced(entry: Entry, volume: Decimal, facts: _Facts) -> None:
    """Refuse a reading no pricing applies to, or whose Sm³ or cost would not fit."""
    if facts.price_per_sm3 is None:
        raise MeteringError(
            _(
                "No pricing applies on %(date)s: add a price effective on or before that date first.",
                date=named_date(entry.reading_date),
            )
        )
    try:
        total_price_of(
            volume_sm3_of(checked_volume(volume), facts.meter_correction), facts.price_per_sm3, unit_places()
        )
    except ReadingOutOfRange as error:
        raise MeteringError(str(error)) from None
