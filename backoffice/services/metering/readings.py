"""Readings that are purchases: recording, correcting and deleting them, each charged to the wallet.

A reading is the purchase of the customer who held the meter on its date, not of whoever holds it now. A correction or
a deletion posts the difference rather than rewriting the ledger, so the ledger stays append-only and ``total_spent``
is always the gas sold.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, insert, select, update

from backoffice.models import (
    ApprovalKind,
    ApprovalRequest,
    Customer,
    Meter,
    MeterReading,
    Occasion,
    RecalculationReason,
    TransactionCalculation,
    User,
)
from backoffice.models.history import HistoryOperation, record
from backoffice.models.types import Month, utcnow
from backoffice.platform.extensions import db
from backoffice.platform.i18n import named_date, number_locale
from backoffice.platform.lines import described
from backoffice.platform.money import format_number
from backoffice.posting import months
from backoffice.posting.closed_months import refuse_if_closed
from backoffice.posting.locking import lock_customers
from backoffice.services import ChangedMeanwhile, billing, by_hand, transaction
from backoffice.services.metering import held
from backoffice.services.metering.index import NO_INDEX, MeterIndex, counted_by_index
from backoffice.services.metering.pricing import Priced, price
from backoffice.services.metering.repricing import charge_reading, charged_by_day
from backoffice.services.metering.values import MeteringError

readings = MeterReading.__table__
calculations = TransactionCalculation.__table__


class DuplicateReading(MeteringError):
    """The meter already has a reading on that date: a second one is recorded only when the clerk confirmed it,
    knowing which (``confirm_duplicate_of``: the id of :attr:`existing`, the latest reading of that date)."""

    def __init__(self, existing: MeterReading) -> None:
        self.existing = existing
        who = _recorded_by(existing)
        super().__init__(
            f"Meter {existing.meter.serial} already has a reading on {existing.reading_date:%Y-%m-%d}: "
            f"#{existing.id}, {existing.volume_flow_meter:.4f} m³, recorded by {who}. "
            "Confirm to record a second reading of that day."
        )


def record_reading(
    meter_id: int,
    reading_date: date,
    volume_flow_meter: Decimal | None,
    *,
    customer_id: int | None = None,
    note: str = "",
    user: User | None = None,
    confirm_duplicate_of: int | None = None,
    index: MeterIndex | None = None,
) -> int:
    """Record a reading of the meter for the customer who held it on ``reading_date``; returns the reading's id.

    The reading is given as its volume, or as the meter's ``index`` (``volume_flow_meter`` then ``None``): its volume
    is then the index less the one it counts from (:mod:`backoffice.services.metering.index`), and the reading keeps
    both. Given ``customer_id`` (the customer the clerk is recording for), a reading another customer's is refused; so
    is a reading of a retired meter. When the meter already has a reading of that date, :class:`DuplicateReading` is
    raised unless ``confirm_duplicate_of`` is the id of the latest of them (the one the clerk was shown).
    """
    if (volume_flow_meter is None) == (index is None):
        raise MeteringError(_("Give the reading as a volume or as the meter's index."))
    refuse_retired(meter_id)
    customer_id = reading_customer(meter_id, reading_date, customer_id)
    with transaction() as session:
        connection = session.connection()
        (customer,) = lock_customers(connection, [customer_id])
        # Under the customer's lock (a meter's readings of a day are its holder's): two clerks recording the same
        # reading at once are asked in turn.
        existing = same_day_reading(meter_id, reading_date)
        if existing is not None and existing.id != confirm_duplicate_of:
            raise DuplicateReading(existing)
        given = NO_INDEX
        if index is not None:
            serial = db.session.get(Meter, meter_id).serial
            counted = counted_by_index(connection, meter_id, reading_date, index, serial)
            volume_flow_meter, given = counted.volume, counted.columns()
        priced = price(connection, customer_id, reading_date, volume_flow_meter)
        reading_id = connection.execute(
            insert(readings).returning(readings.c.id),
            {
                "meter_id": meter_id,
                "customer_id": customer_id,
                "reading_date": reading_date,
                "volume_flow_meter": priced.volume_flow_meter,
                "note": described(note),
                "created_at": utcnow(),
                "created_by_id": user.id if user else None,
                **given,
            },
        ).scalar_one()
        record(connection, MeterReading, readings.c.id == reading_id, HistoryOperation.CREATE)
        if customer.use_realtime_calculation:
            _insert_calculation(connection, customer_id, reading_id, reading_date, priced)
            charge_reading(
                connection,
                customer_id,
                reading_id,
                reading_date,
                priced.total_price,
                user,
                Occasion.FIRST_CHARGE,
                delivered={months.month_of(reading_date): priced.volume_sm3},
            )
        else:
            _defer(connection, customer_id, reading_date, f"Reading #{reading_id}", user)
    return reading_id


def correct_reading(
    reading_id: int,
    reading_date: date,
    volume_flow_meter: Decimal,
    *,
    note: str = "",
    user: User | None = None,
    version: int | None = None,
) -> ApprovalRequest | None:
    """Change a reading's date or volume; the difference in cost is posted to the wallet.

    The new date must be one when the reading's customer held the meter. ``version``: the one the reading's form was
    loaded at; raises ``ChangedMeanwhile`` if it is not the reading's now.
    A correction that gives back more than the approval limit is not applied: it is saved as a pending request,
    returned (``held``); ``None``: applied.
    """
    reading = _reading(reading_id)
    reading_customer(reading.meter_id, reading_date, reading.customer_id)
    with transaction() as session:
        correction = {"reading_date": reading_date.isoformat(), "volume_flow_meter": str(volume_flow_meter)}
        return _correct(session.connection(), reading, correction | {"note": note}, user, version)


def _correct(connection, reading, asked: dict, user, version: int | None, approving=None) -> ApprovalRequest | None:
    reading_id = reading.id
    reading_date, note = date.fromisoformat(asked["reading_date"]), asked["note"]
    (customer,) = lock_customers(connection, [reading.customer_id])
    current = connection.execute(select(readings).where(readings.c.id == reading_id)).one_or_none()
    if current is None or (version is not None and current.version != version):
        raise ChangedMeanwhile
    priced = price(connection, reading.customer_id, reading_date, Decimal(asked["volume_flow_meter"]))
    charged = charged_by_day(connection, customer.id, reading_id)
    credits = {customer.id: sum(charged.values(), Decimal(0)) - priced.total_price}
    if approving is not None:
        held.as_asked(approving, credits)
    elif held.beyond_the_limit(credits):
        return _hold(
            reading,
            asked | {"version": current.version},
            credits,
            user,
            f"Correct reading #{reading_id}: {reading_date:%Y-%m-%d}, {priced.volume_flow_meter} m³",
        )
    reason = by_hand.APPROVED if approving is not None else None
    # A volume corrected is no longer what the meter's index made it: the reading is then given as a volume.
    given = {} if priced.volume_flow_meter == current.volume_flow_meter else NO_INDEX
    connection.execute(
        update(readings)
        .where(readings.c.id == reading_id)
        .values(
            reading_date=reading_date,
            volume_flow_meter=priced.volume_flow_meter,
            note=described(note),
            version=readings.c.version + 1,
            **given,
        )
    )
    record(connection, MeterReading, readings.c.id == reading_id, HistoryOperation.EDIT)
    if not customer.use_realtime_calculation:
        _defer(connection, customer.id, min(reading.reading_date, reading_date), f"Reading #{reading_id}", user)
        return None
    delivered = _replace_calculation(connection, reading.customer_id, reading_id, reading_date, priced)
    charge_reading(
        connection,
        customer.id,
        reading_id,
        reading_date,
        priced.total_price,
        user,
        Occasion.CORRECTION,
        reason,
        charged=charged,
        delivered=delivered,
    )
    return None


def _hold(reading, asked: dict, credits: dict, user, description: str) -> ApprovalRequest:
    """The correction of the reading saved as a pending request (or the one already pending, asked the same)."""
    asked = {"reading_id": reading.id} | asked
    if (earlier := held.pending_for_reading(reading.id)) is not None:
        if {key: value for key, value in earlier.correction.items() if key != "credits"} == asked:
            return earlier
        raise MeteringError(
            _(
                "Reading #%(id)s has a correction waiting for approval (request #%(request)s): it is approved or "
                "rejected first.",
                id=reading.id,
                request=earlier.id,
            )
        )
    return held.ask(
        ApprovalKind.READING_CORRECTION,
        asked,
        credits,
        user=user,
        description=description,
        where=_("the reading's page"),
        customer_id=reading.customer_id,
    )


def said_request(request: ApprovalRequest) -> str:
    """What a held correction of a reading does, in the reader's language, from what it asked (a deletion asked
    before its reading's date was kept with it: as its description was written)."""
    asked = request.correction
    if "reading_date" not in asked:
        return request.description
    values = {"id": asked["reading_id"], "date": named_date(date.fromisoformat(asked["reading_date"]))}
    if asked.get("delete"):
        return _("Delete reading #%(id)s of %(date)s", **values)
    volume = format_number(Decimal(asked["volume_flow_meter"]), number_locale(), "#,##0.0000")
    return _("Correct reading #%(id)s: %(date)s, %(volume)s m³", volume=volume, **values)


def apply_request(connection, request: ApprovalRequest, user: User) -> None:
    """Apply the reading's correction or deletion the request asked for, by ``user``, in the caller's transaction
    (the approving one); refuses with ``held.ChangedSinceAsked`` when the reading changed since it was asked."""
    asked = request.correction
    reading = db.session.get(MeterReading, asked["reading_id"])
    if reading is None:
        raise held.ChangedSinceAsked(request, _("reading #%(id)s, deleted since,", id=asked["reading_id"]))
    current = connection.execute(select(readings).where(readings.c.id == reading.id)).one()
    if current.version != asked["version"] or reading.customer_id != request.customer_id:
        raise held.ChangedSinceAsked(request, _("reading #%(id)s", id=reading.id))
    if asked.get("delete"):
        _refuse_deleting(reading)
        _delete(connection, reading, user, approving=request)
        return
    reading_customer(reading.meter_id, date.fromisoformat(asked["reading_date"]), reading.customer_id)
    _correct(connection, reading, asked, user, asked["version"], approving=request)


def same_day_reading(meter_id: int, reading_date: date) -> MeterReading | None:
    """The latest reading of the meter dated ``reading_date``, if it has any."""
    return db.session.scalar(
        select(MeterReading)
        .where(MeterReading.meter_id == meter_id, MeterReading.reading_date == reading_date)
        .order_by(MeterReading.id.desc())
        .limit(1)
    )


def _recorded_by(reading: MeterReading) -> str:
    user = db.session.get(User, reading.created_by_id) if reading.created_by_id else None
    if user is None:
        return "nobody named (an import or a command)"
    return f"{user.name} ({user.email})" if user.name else user.email


def reading_customer(meter_id: int, reading_date: date, customer_id: int | None = None) -> int:
    """Whose a reading of the meter dated so is: the customer who held the meter that day (``customer_id``,
    if given). A reading dated after today, in a closed month, or when nobody held the meter, is refused."""
    refuse_if_closed(db.session, reading_date)
    try:
        billing.not_after_today(reading_date, _l("A reading"))
        return billing.holder_on(meter_id, reading_date, customer_id).customer_id
    except billing.BillingError as error:
        raise MeteringError(str(error)) from None


def refuse_retired(meter_id: int) -> None:
    """Refuse a new reading of a retired meter."""
    meter = db.session.get(Meter, meter_id)
    try:
        if meter is not None:
            billing.refuse_retired(meter, _l("it takes no new reading"))
    except billing.BillingError as error:
        raise MeteringError(str(error)) from None


def delete_reading(reading_id: int, *, user: User | None = None) -> ApprovalRequest | None:
    """Remove a reading; what it cost is given back by a reversal. Giving back more than the approval limit, it is
    not deleted: the deletion is saved as a pending request, returned (``held``); ``None``: deleted."""
    reading = _reading(reading_id)
    _refuse_deleting(reading)
    with transaction() as session:
        return _delete(session.connection(), reading, user)


def _refuse_deleting(reading) -> None:
    refuse_if_closed(db.session, reading.reading_date)
    customer = db.session.get(Customer, reading.customer_id)
    if customer.closed:
        raise MeteringError(
            _(
                "Customer %(code)s is closed: its readings stay as they are (an admin can reopen it).",
                code=customer.code,
            )
        )


def _delete(connection, reading, user, approving=None) -> ApprovalRequest | None:
    reading_id = reading.id
    (customer,) = lock_customers(connection, [reading.customer_id])
    charged = charged_by_day(connection, customer.id, reading_id)
    credits = {customer.id: sum(charged.values(), Decimal(0))}
    if approving is not None:
        held.as_asked(approving, credits)
    elif held.beyond_the_limit(credits):
        current = connection.execute(select(readings).where(readings.c.id == reading_id)).one_or_none()
        if current is None:
            raise MeteringError(_("No reading %(id)s.", id=reading_id))
        asked = {"delete": True, "version": current.version, "reading_date": reading.reading_date.isoformat()}
        return _hold(reading, asked, credits, user, f"Delete reading #{reading_id} of {reading.reading_date:%Y-%m-%d}")
    removed = _deleted_calculation(connection, reading_id)
    delivered = {}
    if customer.use_realtime_calculation:
        if removed is not None:
            delivered[removed.year_month] = -removed.volume_sm3
    else:
        _defer(connection, customer.id, reading.reading_date, f"Deleted reading #{reading_id}", user)
    record(connection, MeterReading, readings.c.id == reading_id, HistoryOperation.DELETE)
    connection.execute(delete(readings).where(readings.c.id == reading_id))
    reason = by_hand.APPROVED if approving is not None else None
    charge_reading(
        connection,
        customer.id,
        reading_id,
        None,
        Decimal(0),
        user,
        Occasion.DELETION,
        reason,
        charged=charged,
        delivered=delivered,
    )
    return None


def _replace_calculation(connection, customer_id, reading_id, reading_date, priced: Priced) -> dict[str, Decimal]:
    """Replace the reading's calculation with the new one; returns the Sm³ it moves in each month: the difference,
    or, when its date moved to another month, what each of the two months gains and loses."""
    removed = _deleted_calculation(connection, reading_id)
    _insert_calculation(connection, customer_id, reading_id, reading_date, priced)
    moved = {months.month_of(reading_date): priced.volume_sm3}
    if removed is not None:
        moved[removed.year_month] = moved.get(removed.year_month, Decimal(0)) - removed.volume_sm3
    return moved


def _insert_calculation(connection, customer_id, reading_id, reading_date, priced: Priced) -> None:
    connection.execute(
        insert(calculations),
        {
            "customer_id": customer_id,
            "reading_id": reading_id,
            "year_month": str(Month.of(reading_date)),
            "transaction_date": reading_date,
            "volume_flow_meter": priced.volume_flow_meter,
            "meter_correction": priced.meter_correction,
            "volume_sm3": priced.volume_sm3,
            "price_per_sm3": priced.price_per_sm3,
            "total_price": priced.total_price,
            "places": priced.places,
            "pricing": priced.pricing,
            "calculated_at": utcnow(),
        },
    )


def _deleted_calculation(connection, reading_id: int):
    """Delete the reading's calculation; returns its customer, month and Sm³ (``None``: it had none)."""
    return connection.execute(
        delete(calculations)
        .where(calculations.c.reading_id == reading_id)
        .returning(calculations.c.customer_id, calculations.c.year_month, calculations.c.volume_sm3)
    ).one_or_none()


def _defer(connection, customer_id: int, from_date: date, what: str, user) -> None:
    months.request(connection, customer_id, from_date, RecalculationReason.DEFERRED, what, user)


def _reading(reading_id: int) -> MeterReading:
    reading = db.session.get(MeterReading, reading_id)
    if reading is None:
        raise MeteringError(_("No reading %(id)s.", id=reading_id))
    return reading
