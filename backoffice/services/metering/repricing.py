"""Re-pricing readings at the pricing in force now, set-based: a handful of statements however many readings.

The readings are priced again, the difference from what their wallets were charged is posted, dated on each reading's
date so that each month holds what its gas cost, and the customers' months are recalculated. It runs within the
caller's unit of work, which holds the customers' locks.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from babel.numbers import format_decimal
from flask_babel import gettext as _
from sqlalchemy import (
    ColumnElement,
    Date,
    Integer,
    and_,
    bindparam,
    case,
    column,
    func,
    insert,
    literal,
    select,
    table,
    union_all,
    update,
)
from sqlalchemy.engine import Connection

from backoffice.evidence import verifying
from backoffice.models import (
    BalanceTransaction,
    CustomerPricing,
    MeterReading,
    Occasion,
    TransactionCalculation,
    User,
    whose_readings,
)
from backoffice.models.formulas import charged_sql, total_price_sql, volume_sm3_sql
from backoffice.models.history import HistoryOperation, record
from backoffice.models.metering import MAX_VOLUME, READING, pricing_snapshot
from backoffice.models.types import Money, Month, month_of_date, parse_month, utcnow
from backoffice.platform.i18n import named_date, number_locale
from backoffice.platform.money import MAX_AMOUNT, shown, unit_places
from backoffice.posting import months
from backoffice.posting.locking import lock_customers
from backoffice.posting.movement import Movement, Reference
from backoffice.posting.post import post
from backoffice.posting.rules import DELIVERED, Kind, measured
from backoffice.posting.wallet_batches import post_many
from backoffice.services import installation
from backoffice.services.metering.values import MeteringError

readings = MeterReading.__table__
calculations = TransactionCalculation.__table__
pricing = CustomerPricing.__table__
ledger = BalanceTransaction.__table__


def reprice(connection: Connection, reading_ids: list[int], user: User | None = None) -> None:
    """Price these readings again at the pricing in force now (:func:`reprice_readings`)."""
    if reading_ids:
        reprice_readings(connection, readings.c.id.in_(reading_ids), user)


def reprice_readings(
    connection: Connection, chosen: ColumnElement, user: User | None = None, reason: str | None = None
) -> None:
    """Price the readings ``chosen`` (a condition on ``meter_readings``) again at the pricing in force now, posting
    each difference and recalculating the months.

    A reading charged to a customer who did not hold the meter on its date (as readings were once charged
    to whoever held it when they were entered) is first moved to the one who did: what it cost is given
    back where it was charged, and the re-pricing charges its holder. Such readings are few (the
    ``reading_calculation`` check finds them), and each is moved by a ``post`` of its own. ``reason``: the
    movements' (``by_hand.APPROVED`` when an approved request re-prices).
    """
    whose = whose_readings().where(chosen).subquery("whose")
    pairs = connection.execute(select(whose.c.customer_id, whose.c.holder_id).distinct()).all()
    if not pairs:
        return
    customer_ids = sorted({customer_id for pair in pairs for customer_id in pair})
    lock_customers(connection, customer_ids)  # all at once, in id order
    if any(customer_id != holder_id for customer_id, holder_id in pairs):
        moved = connection.execute(
            select(whose).where(whose.c.holder_id != whose.c.customer_id).order_by(whose.c.id)
        ).all()
        for reading in moved:
            _move_to_holder(connection, reading, user, reason)
    reprice_where(connection, chosen, customer_ids, user, reason=reason)


def reprice_where(
    connection: Connection,
    chosen: ColumnElement,
    customer_ids: list[int],
    user: User | None = None,
    since: date | None = None,
    reason: str | None = None,
    occasion: Occasion = Occasion.REPRICING,
) -> None:
    """Re-price the readings ``chosen`` (a condition on ``meter_readings``) of these customers, whose locks the
    caller holds; their months are recalculated from ``since`` or the first month anything changed in.
    ``occasion``: the movements' (``FIRST_CHARGE`` for new readings, nothing charged for them yet: their cost)."""
    in_force = _in_force(customer_ids)
    count, first_counted = _refuse_unpriced(connection, chosen, in_force)
    values = _calculation(in_force)
    rewritten = connection.execute(
        update(calculations)
        .where(calculations.c.reading_id == readings.c.id, chosen, _in_force_on_its_date(in_force))
        .values({name: value for name, value in values.items() if name != "reading_id"})
    ).rowcount
    if rewritten < count:
        uncalculated = ~select(calculations.c.id).where(calculations.c.reading_id == readings.c.id).exists()
        connection.execute(
            insert(calculations).from_select(
                list(values), select(*values.values()).where(chosen, _in_force_on_its_date(in_force), uncalculated)
            )
        )
    chosen_readings = select(readings.c.id, readings.c.customer_id, readings.c.reading_date).where(chosen)
    charged = and_(
        ledger.c.reference_type == READING,
        ledger.c.reference_id.in_(select(readings.c.id).where(chosen)),
        ledger.c.customer_id.in_(customer_ids),
    )
    first_dates = post_many(
        installation(),
        connection,
        _CORRECTIONS.add_cte(chosen_readings.cte("picked")),
        {"customer_ids": customer_ids, "unvouched": sorted(_unvouched(connection, charged))},
        user=user,
        reason=reason,
        occasion=occasion,
    )
    dates = [day for day in (since, first_counted, *first_dates.values()) if day is not None]
    if dates:
        months.recalculate(connection, customer_ids, Month.of(min(dates)))


def charge_reading(
    connection,
    customer_id: int,
    reading_id: int,
    on: date | None,
    cost: Decimal,
    user,
    occasion: Occasion,
    reason: str | None = None,
    *,
    charged: dict[date, Decimal] | None = None,
    delivered: dict[str, Decimal] | None = None,
) -> None:
    """Bring what the customer's ledger has charged for the reading to ``cost`` (nothing for history, dated on or
    before the cut-over: ``formulas.charged_sql``), dated ``on`` (the reading's date):
    what was charged on another date is given back on that date, so that each month holds what its readings cost.
    ``on`` is ``None`` when nothing is to be charged any more; ``occasion`` and ``reason``: the movements'.
    ``charged``: :func:`charged_by_day`, when the caller has read it already.

    ``delivered``: the Sm³ the reading's calculation moves in each month (by ``YYYY-MM``: coming, going, or both
    when its date changed month), counted by the first movement dated in that month, so that each month is written
    once; a month no movement is dated in is shifted by itself."""
    if charged is None:
        charged = charged_by_day(connection, customer_id, reading_id)
    if on is not None:  # history, dated on or before the cut-over, charges nothing
        cost = connection.scalar(select(charged_sql(literal(on, Date), literal(cost, Money))))
    owed = {day: -amount for day, amount in charged.items() if day != on and amount}
    if on is not None:
        owed[on] = cost - charged.get(on, Decimal(0))
    volumes = {month: volume for month, volume in (delivered or {}).items() if volume}
    for day, difference in owed.items():
        if difference == 0:
            continue
        post(
            installation(),
            connection,
            Movement(
                kind=Kind.CHARGE if difference > 0 else Kind.REVERSAL,
                amount=-difference,
                customer_id=customer_id,
                value_date=day,
                reference=Reference(READING, reading_id),
                user=user,
                reason=reason,
                occasion=occasion,
                allow_overdraft=True,
                delivered=volumes.pop(months.month_of(day), Decimal(0)),
            ),
        )
    for month, volume in volumes.items():
        months.shift(connection, customer_id, month, measured(DELIVERED, volume), {"reading_id": reading_id})


def charged_by_day(connection: Connection, customer_id: int, reading_id: int) -> dict[date, Decimal]:
    """What the customer's wallet was charged for the reading on each day, net of what was given back that day, in
    date order: by the movements the application wrote, their seals vouching for them. A row nothing vouches for (an
    INSERT by SQL, a seal that fails) is left to the evidence's review, never given back or charged against."""
    of_reading = and_(
        ledger.c.reference_type == READING,
        ledger.c.reference_id == reading_id,
        ledger.c.customer_id == customer_id,
    )
    rows = connection.execute(
        select(ledger.c.value_date, -func.sum(ledger.c.signed_amount))
        .where(of_reading, ledger.c.id.not_in(_unvouched(connection, of_reading)))
        .group_by(ledger.c.value_date)
        .order_by(ledger.c.value_date)
    )
    return {day: Decimal(amount) for day, amount in rows}


def _unvouched(connection: Connection, charged: ColumnElement) -> set[int]:
    """The ledger rows ``charged`` selects (a reading's charges) that nothing vouches for: an INSERT by SQL (any id,
    negative too) or a row whose seal fails. What a reading was charged is what the application wrote: such a row is
    left to the evidence's review, never given back nor charged against, by one reading's correction
    (:func:`charged_by_day`) or by a re-pricing of many (:func:`reprice_where`)."""
    return verifying.untrusted(connection, "balance_transactions", charged)


def _move_to_holder(connection: Connection, reading, user, reason: str | None = None) -> None:
    """Give back what the reading cost where it was charged, and make it its holder's (whom the re-pricing that
    follows charges, replacing its calculation)."""
    connection.execute(
        update(readings)
        .where(readings.c.id == reading.id)
        .values(customer_id=reading.holder_id, version=readings.c.version + 1)
    )
    record(connection, MeterReading, readings.c.id == reading.id, HistoryOperation.EDIT)
    charge_reading(
        connection,
        reading.customer_id,
        reading.id,
        None,
        Decimal(0),
        user,
        Occasion.HOLDER_MOVE,
        reason,
    )


def _in_force(customer_ids: list[int]):
    """The customers' pricing rows, each with the date it stops applying: the customer's next row's."""
    until = func.lead(pricing.c.effective_from).over(
        partition_by=pricing.c.customer_id, order_by=pricing.c.effective_from
    )
    return select(pricing, until.label("until")).where(pricing.c.customer_id.in_(customer_ids)).subquery("in_force")


def _in_force_on_its_date(in_force) -> ColumnElement:
    """A reading's pricing row: its customer's, in force on its date."""
    return and_(
        in_force.c.customer_id == readings.c.customer_id,
        in_force.c.effective_from <= readings.c.reading_date,
        in_force.c.until.is_(None) | (readings.c.reading_date < in_force.c.until),
    )


def _refuse_unpriced(connection: Connection, chosen: ColumnElement, in_force) -> tuple[int, date | None]:
    """Refuse, before anything is written, a reading no pricing applies to or whose Sm³ or cost would not fit;
    returns how many readings are chosen, and the first date they count on: a reading's date, or the first day of
    its calculation's month. A reading whose date was corrected while its customer was not kept in real time keeps
    its calculation in the month it left until the re-pricing rewrites it, and that month changes even when no
    movement is dated in it (nothing was charged at a price of 0)."""
    volume = readings.c.volume_flow_meter * in_force.c.meter_correction
    cost = volume_sm3_sql(readings.c.volume_flow_meter, in_force.c.meter_correction) * in_force.c.price_per_sm3
    count, first_reading, first_calculated, unpriced_on, too_much_gas, too_dear = connection.execute(
        select(
            func.count(readings.c.id),
            func.min(readings.c.reading_date),
            func.min(calculations.c.year_month),
            func.min(case((in_force.c.id.is_(None), readings.c.reading_date))),
            func.max(case((volume > MAX_VOLUME, 1), else_=0)),
            func.max(case((cost > MAX_AMOUNT, 1), else_=0)),
        )
        .select_from(
            readings.outerjoin(in_force, _in_force_on_its_date(in_force)).outerjoin(
                calculations, calculations.c.reading_id == readings.c.id
            )
        )
        .where(chosen)
    ).one()
    if unpriced_on is not None:
        raise MeteringError(
            _(
                "No pricing applies on %(date)s: add a price effective on or before that date first.",
                date=named_date(unpriced_on),
            )
        )
    if too_much_gas:
        limit = format_decimal(MAX_VOLUME, locale=number_locale())
        raise MeteringError(_("The volume in Sm³ would exceed %(limit)s, the most a reading holds.", limit=limit))
    if too_dear:
        raise MeteringError(
            _("The reading's total would exceed %(limit)s, the most a reading holds.", limit=shown(MAX_AMOUNT))
        )
    calculated_from = parse_month(first_calculated) if first_calculated else None
    return count, min((day for day in (first_reading, calculated_from) if day), default=None)


def _calculation(in_force) -> dict:
    """A reading's calculation at its pricing row (``in_force``), with the row's snapshot: each column's value."""
    volume = volume_sm3_sql(readings.c.volume_flow_meter, in_force.c.meter_correction)
    places = unit_places()
    return {
        "reading_id": readings.c.id,
        "customer_id": readings.c.customer_id,
        "year_month": month_of_date(readings.c.reading_date),
        "transaction_date": readings.c.reading_date,
        "volume_flow_meter": readings.c.volume_flow_meter,
        "meter_correction": in_force.c.meter_correction,
        "volume_sm3": volume,
        "price_per_sm3": in_force.c.price_per_sm3,
        "total_price": total_price_sql(volume, in_force.c.price_per_sm3, places),
        "places": literal(places, calculations.c.places.type),
        "pricing": pricing_snapshot(
            in_force.c.id, in_force.c.effective_from, in_force.c.price_per_sm3, in_force.c.meter_correction
        ),
        "calculated_at": literal(utcnow(), calculations.c.calculated_at.type),
    }


picked = table("picked", column("id", Integer), column("customer_id", Integer), column("reading_date", Date))
"""The chosen readings as the corrections name them: each re-pricing's own select, as a CTE of that name."""


def _corrections():
    """The movements that bring each picked reading's charges to its new cost (``post_many``'s columns), for the
    customers ``customer_ids`` (a parameter), leaving out the ledger rows ``unvouched`` (a parameter,
    :func:`_unvouched`).

    One grouping, by reading and day, of what the ledger charged for each reading (on its customer's wallet)
    and of the reading's new cost (on its date): on another day than the reading's, what was charged there is
    given back; on its day, the charge moves to the cost. Each customer's movements are in reading id order,
    the reading's own day last, as one re-pricing posts them.
    """
    charged = (
        select(
            picked.c.customer_id,
            picked.c.id.label("reading_id"),
            picked.c.reading_date,
            ledger.c.value_date.label("day"),
            (-ledger.c.signed_amount).label("amount"),
        )
        .join_from(
            ledger,
            picked,
            (ledger.c.reference_type == READING)
            & (ledger.c.reference_id == picked.c.id)
            & (ledger.c.customer_id == picked.c.customer_id),
        )
        # read by the customers' index, not the whole ledger
        .where(
            ledger.c.customer_id.in_(bindparam("customer_ids", expanding=True)),
            ledger.c.id.not_in(bindparam("unvouched", expanding=True)),
        )
    )
    cost = select(
        picked.c.customer_id,
        picked.c.id,
        picked.c.reading_date,
        picked.c.reading_date,
        -charged_sql(picked.c.reading_date, calculations.c.total_price),
    ).join_from(picked, calculations, calculations.c.reading_id == picked.c.id)
    items = union_all(charged, cost).subquery("items")
    signed = func.round(func.sum(items.c.amount), 2)
    moves = (
        select(
            items.c.customer_id,
            items.c.reading_id,
            items.c.day.label("value_date"),
            case((items.c.day == items.c.reading_date, 1), else_=0).label("last"),
            signed.label("signed_amount"),
        )
        .group_by(items.c.customer_id, items.c.reading_id, items.c.reading_date, items.c.day)
        .having(signed != 0)
        .subquery("moves")
    )
    signed = moves.c.signed_amount
    return select(
        moves.c.customer_id,
        func.row_number()
        .over(partition_by=moves.c.customer_id, order_by=(moves.c.reading_id, moves.c.last, moves.c.value_date))
        .label("position"),
        case((signed < 0, Kind.CHARGE.value), else_=Kind.REVERSAL.value).label("kind"),
        signed.label("signed_amount"),
        moves.c.value_date,
        literal(READING).label("reference_type"),
        moves.c.reading_id.label("reference_id"),
        literal("").label("description"),
    )


_CORRECTIONS = _corrections()
