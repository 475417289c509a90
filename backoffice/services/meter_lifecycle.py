"""Meters' lifecycle: a meter added, put at a customer's site from a date (a move from another customer's confirmed
with what is due there), its period ended or opened again, the meter retired. Each is one unit of work under the
locks of the meter and of every customer who has held it, and recomputes the billing totals the period moves.

A period never starts or ends where it would take a reading, an invoice or a payment dated in it away from its
customer (:func:`refuse_to_cut`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import joinedload

from backoffice.models import (
    Customer,
    HistoryOperation,
    Invoice,
    Meter,
    MeterAssignment,
    MeterReading,
    MeterStatus,
    Payment,
    User,
    record,
)
from backoffice.platform.extensions import db
from backoffice.platform.i18n import named_date
from backoffice.platform.lines import NotOneLine, one_line
from backoffice.platform.money import shown
from backoffice.services import allocations, billing, transaction
from backoffice.services.billing import BillingError, Owed

assignments = MeterAssignment.__table__


class RetireNotConfirmed(BillingError):
    """The meter is not where the clerk saw it when they asked to retire it: they are asked again."""

    def __init__(self, meter: Meter, current: MeterAssignment | None) -> None:
        self.meter, self.current = meter, current
        if current is not None:
            refusal = _(
                "Meter %(serial)s is now at %(code)s since %(date)s: confirm its retirement again.",
                serial=meter.serial,
                code=current.customer.code,
                date=named_date(current.started_on),
            )
        else:
            refusal = _("Meter %(serial)s is now at nobody's: confirm its retirement again.", serial=meter.serial)
        super().__init__(refusal)


class MoveNotConfirmed(BillingError):
    """The meter is at another customer's: moving it needs a confirmation of where it is and what is due there."""

    def __init__(self, current: MeterAssignment, owed: Owed) -> None:
        self.current, self.owed = current, owed
        super().__init__(
            _(
                "Meter %(serial)s is at %(code)s since %(date)s, where %(due)s is due and %(overpaid)s overpaid: "
                "confirm the move.",
                serial=current.meter.serial,
                code=current.customer.code,
                date=named_date(current.started_on),
                due=shown(owed.due),
                overpaid=shown(owed.overpaid),
            )
        )


def add_meter(serial: str) -> Meter:
    """Add one meter (:func:`add_meters` of one)."""
    (meter,) = add_meters([serial])
    return meter


def add_meters(serials: list[str]) -> list[Meter]:
    """Add meters by their serials, in one write: every serial checked before any is added."""
    checked = [_checked_serial(serial) for serial in serials]
    with transaction() as session:
        taken = session.scalars(select(Meter.serial).where(Meter.serial.in_(checked))).all()
        repeated = [serial for serial, times in Counter(checked).items() if times > 1]
        if taken or repeated:
            raise BillingError(_("Meter %(serial)s already exists.", serial=sorted([*taken, *repeated])[0]))
        meters = [Meter(serial=serial) for serial in checked]
        session.add_all(meters)
    return meters


def _checked_serial(serial: str) -> str:
    serial = serial.strip().upper()
    if not serial or len(serial) > 40:
        raise BillingError(_("A meter needs a serial of at most 40 characters."))
    try:
        one_line(serial, _("A meter's serial"))
    except NotOneLine as refusal:
        raise BillingError(str(refusal)) from None
    return serial


def meter_by_serial(serial: str) -> Meter:
    """The meter with this serial; an unknown serial is refused, never a new meter."""
    serial = serial.strip().upper()
    meter = db.session.scalar(select(Meter).where(Meter.serial == serial))
    if meter is None:
        raise BillingError(
            _(
                "Meter %(serial)s does not exist. Check the serial, or add the meter first (Meters → Add meter, or: "
                "backoffice meters add %(serial)s).",
                serial=serial,
            )
        )
    return meter


def assign_meter(
    meter: Meter,
    customer: Customer,
    started_on: date,
    *,
    confirm_move_from: int | None = None,
    ended_on: date | None = None,
) -> MeterAssignment:
    """Put the meter at the customer's site from a date (until ``ended_on``, for an assignment of the past, as an
    import brings the history of who held each meter).

    When it is at another customer's, this is a move: ``confirm_move_from`` must be the id of
    that assignment (the clerk saw where the meter is and what is due there), which then ends
    on ``started_on``. What was invoiced and paid there stays with that customer.
    """
    (assignment,) = assign_meters([NewAssignment(meter, customer, started_on, confirm_move_from, ended_on)])
    return assignment


@dataclass(frozen=True)
class NewAssignment:
    meter: Meter
    customer: Customer
    started_on: date
    confirm_move_from: int | None = None
    ended_on: date | None = None
    moves: bool = False
    """Any assignment the meter is at is ended by this one, as a file of who held each meter when says (the admin
    confirmed the moves by importing it)."""


def assign_meters(given: list[NewAssignment]) -> list[MeterAssignment]:
    """Assign each meter as :func:`assign_meter` does, in the order given, in one write: every meter and customer
    locked first, what the checks need read once for all of them, each assignment checked against those before it,
    and the billing of every meter touched that has anything billed, and of its holders, recomputed once at the
    end."""
    for new in given:
        _check_dates(new.started_on, new.ended_on)
    with transaction() as session:
        # Read under the locks: a close or a retirement committed meanwhile is seen, not the page's snapshot.
        connection = session.connection()
        meter_ids = {new.meter.id for new in given}
        customer_ids = {new.customer.id for new in given}
        allocations.lock(connection, sorted(meter_ids), also=sorted(customer_ids))
        held = _Held()
        held.read(session, meter_ids, customer_ids)
        for new in given:
            held.assign(new)
        made = held.write(session)
        # A meter nothing was billed on moves no figure of its own or of its holders.
        if billed := set(allocations.billed(connection, sorted(meter_ids))):
            billing.recompute_billing(connection, billed, {new.customer.id for new in given if new.meter.id in billed})
    return made


class AssignmentsCheck:
    """The checks :func:`assign_meters` makes, of batches of assignments given one after the other (an import's
    chunks, each after those before it), made without writing anything: whether each would be refused, and why."""

    def __init__(self) -> None:
        self.held = _Held()

    def refusals(self, given: list[NewAssignment]) -> list[BillingError | None]:
        """Each assignment's refusal, in order (``None``: it would be written); one refused leaves the state as
        it was, so those after it are checked as the write of the others would take them."""
        self.held.read(db.session, {new.meter.id for new in given}, {new.customer.id for new in given})
        found: list[BillingError | None] = []
        for new in given:
            try:
                _check_dates(new.started_on, new.ended_on)
                self.held.assign(new)
            except BillingError as refusal:
                found.append(refusal)
            else:
                found.append(None)
        return found


def _check_dates(started_on: date, ended_on: date | None) -> None:
    billing.not_after_today(started_on, _l("An assignment"))
    if ended_on is not None:
        billing.not_after_today(ended_on, _l("An assignment's end"))
        if ended_on < started_on:
            raise BillingError(_("An assignment cannot end before it started."))


@dataclass
class _Held:
    """Where each meter of a batch is and since when nothing of it can start, read once (under the batch's locks,
    when it is written) and kept in step as the batch adds its assignments. A stored assignment is never changed
    here: the write ends it."""

    meters: set[int] = field(default_factory=set)
    """The meters read."""
    closed: dict[int, str] = field(default_factory=dict)
    """The closed customers among those read, by id: their codes."""
    customers: set[int] = field(default_factory=set)
    """The customers read."""
    current: dict[int, MeterAssignment] = field(default_factory=dict)
    """Each meter's active assignment."""
    last_end: dict[int, date] = field(default_factory=dict)
    """The day each meter's last ended period ended: nothing of it can start or end before."""
    added: list[MeterAssignment] = field(default_factory=list)
    """The assignments the batch adds, in its order (written by :meth:`write`)."""
    ended: dict[int, tuple[MeterAssignment, date]] = field(default_factory=dict)
    """Each stored assignment the batch ends, by its id, with the day it ends."""

    def read(self, session, meter_ids: set[int], customer_ids: set[int]) -> None:
        """Read what the checks need of the meters and customers not read yet."""
        meter_ids, customer_ids = meter_ids - self.meters, customer_ids - self.customers
        self.meters |= meter_ids
        self.customers |= customer_ids
        self.closed |= billing.closed_customers(customer_ids)
        if not meter_ids:
            return
        session.scalars(select(Meter).where(Meter.id.in_(meter_ids)).execution_options(populate_existing=True)).all()
        active = session.scalars(
            select(MeterAssignment)
            .options(joinedload(MeterAssignment.customer), joinedload(MeterAssignment.meter))
            .where(MeterAssignment.meter_id.in_(meter_ids), MeterAssignment.is_active)
        )
        self.current |= {assignment.meter_id: assignment for assignment in active}
        ends = session.execute(
            select(MeterAssignment.meter_id, func.max(MeterAssignment.ended_on))
            .where(MeterAssignment.meter_id.in_(meter_ids), MeterAssignment.ended_on.is_not(None))
            .group_by(MeterAssignment.meter_id)
        )
        self.last_end |= dict(ends.all())

    def assign(self, new: NewAssignment) -> None:
        """Add the assignment, checked as :func:`assign_meter` says."""
        meter, customer, started_on = new.meter, new.customer, new.started_on
        billing.refuse_retired(meter, _l("it takes no new assignment"))
        if customer.id in self.closed:
            raise billing.closed_refusal(self.closed[customer.id])
        current = self.current.get(meter.id)
        if current is not None and current.customer_id == customer.id:
            raise BillingError(
                _("Meter %(serial)s is already assigned to %(code)s.", serial=meter.serial, code=customer.code)
            )
        last_end = self.last_end.get(meter.id)
        if last_end is not None and started_on < last_end:
            raise BillingError(
                _(
                    "Meter %(serial)s was at another customer until %(date)s: an assignment cannot start before that.",
                    serial=meter.serial,
                    date=named_date(last_end),
                )
            )
        if current is not None:
            if started_on <= current.started_on:
                raise BillingError(
                    _(
                        "Meter %(serial)s has been at %(code)s since %(date)s: a move must be dated after that.",
                        serial=meter.serial,
                        code=current.customer.code,
                        date=named_date(current.started_on),
                    )
                )
            refuse_to_cut(current, started_on, _("they would move to %(code)s", code=customer.code))
            if new.confirm_move_from != current.id and not new.moves:
                raise MoveNotConfirmed(current, billing.owed(current))
            if current.id is None:
                current.is_active, current.ended_on = False, started_on
            else:
                self.ended[current.id] = (current, started_on)
            del self.current[meter.id]
            self._ended(meter.id, started_on)
        assignment = MeterAssignment(
            customer_id=customer.id,
            meter_id=meter.id,
            customer=customer,
            meter=meter,
            started_on=started_on,
            is_active=new.ended_on is None,
            ended_on=new.ended_on,
        )
        self.added.append(assignment)
        if new.ended_on is None:
            self.current[meter.id] = assignment
        else:
            self._ended(meter.id, new.ended_on)

    def write(self, session) -> list[MeterAssignment]:
        """End the stored assignments the batch ends, then add its own, each a statement for all of them and a version
        in the history; the assignments added, as stored."""
        connection = session.connection()
        if self.ended:
            ending = update(assignments).where(assignments.c.id == bindparam("ending_id"))
            connection.execute(
                ending.values(is_active=False, ended_on=bindparam("ending_on")),
                [{"ending_id": ended, "ending_on": on} for ended, (_stored, on) in self.ended.items()],
            )
            record(connection, MeterAssignment, assignments.c.id.in_(list(self.ended)), HistoryOperation.EDIT)
            for stored, _on in self.ended.values():
                session.expire(stored)
        added = connection.execute(
            insert(assignments).returning(assignments.c.id, sort_by_parameter_order=True),
            [
                {
                    "customer_id": one.customer_id,
                    "meter_id": one.meter_id,
                    "started_on": one.started_on,
                    "is_active": one.is_active,
                    "ended_on": one.ended_on,
                }
                for one in self.added
            ],
        )
        ids = list(added.scalars())
        record(connection, MeterAssignment, assignments.c.id.in_(ids), HistoryOperation.CREATE)
        stored = session.scalars(select(MeterAssignment).where(MeterAssignment.id.in_(ids)))
        by_id = {one.id: one for one in stored}
        return [by_id[one] for one in ids]

    def _ended(self, meter_id: int, on: date) -> None:
        self.last_end[meter_id] = max(self.last_end.get(meter_id, on), on)


def deactivate(assignment: MeterAssignment, ended_on: date) -> None:
    """The meter leaves the customer's site on ``ended_on``: what is dated from then on is nobody's."""
    if ended_on < assignment.started_on:
        raise BillingError(_("An assignment cannot end before it started."))
    billing.not_after_today(ended_on, _l("An assignment's end"))
    with transaction() as session:
        billing.locked(session, assignment.meter_id)
        session.refresh(assignment)
        if not assignment.is_active:
            raise BillingError(_("This assignment is already inactive."))
        refuse_to_cut(assignment, ended_on, _("nobody would hold the meter on their dates"))
        assignment.is_active, assignment.ended_on = False, ended_on
        session.flush()
        billing.recompute_billing(session.connection(), {assignment.meter_id}, {assignment.customer_id})


def reactivate(assignment: MeterAssignment) -> None:
    """Undo a deactivation: the period is open again, unless the meter has been assigned since."""
    with transaction() as session:
        billing.locked(session, assignment.meter_id)
        session.refresh(assignment)
        session.refresh(assignment.meter)
        if assignment.is_active:
            raise BillingError(_("This assignment is already active."))
        billing.refuse_retired(assignment.meter, _l("it takes no new assignment"))
        billing.refuse_closed(assignment.customer_id)
        later = session.scalar(
            select(MeterAssignment.started_on)
            .where(
                MeterAssignment.meter_id == assignment.meter_id,
                MeterAssignment.id != assignment.id,
                MeterAssignment.started_on >= assignment.started_on,
            )
            .order_by(MeterAssignment.started_on)
            .limit(1)
        )
        if later is not None:
            raise BillingError(
                _(
                    "The meter has been assigned to another customer since %(date)s; assign it here again instead.",
                    date=named_date(later),
                )
            )
        assignment.is_active, assignment.ended_on = True, None
        session.flush()
        billing.recompute_billing(session.connection(), {assignment.meter_id}, {assignment.customer_id})


def retire_meter(meter: Meter, retired_on: date, *, user: User | None = None, confirm_from: int | None = None) -> Meter:
    """Take the meter out of service on ``retired_on``: its assignment, if it has one, ends that day (as a
    deactivation would), and it takes no new reading or assignment. What was dated at its customers stays theirs.

    ``confirm_from``: the id of the assignment the clerk was shown (``None``: they were shown the meter at nobody's);
    raises :class:`RetireNotConfirmed` when the meter is elsewhere now.
    """
    billing.not_after_today(retired_on, _l("A retirement"))
    with transaction() as session:
        billing.locked(session, meter.id)
        session.refresh(meter)
        billing.refuse_retired(meter, _l("it is retired once"))
        current = billing.active_assignment(meter.id)
        if (current.id if current else None) != confirm_from:
            raise RetireNotConfirmed(meter, current)
        last_end = _last_end(meter.id)
        if last_end is not None and retired_on < last_end:
            raise BillingError(
                _(
                    "Meter %(serial)s was at a customer's until %(date)s: it cannot be retired before that.",
                    serial=meter.serial,
                    date=named_date(last_end),
                )
            )
        if current is not None:
            if retired_on < current.started_on:
                raise BillingError(
                    _(
                        "Meter %(serial)s has been at %(code)s since %(date)s: it cannot be retired before that.",
                        serial=meter.serial,
                        code=current.customer.code,
                        date=named_date(current.started_on),
                    )
                )
            refuse_to_cut(current, retired_on, _("the meter would be retired before them"))
            current.is_active, current.ended_on = False, retired_on
        meter.status, meter.retired_on, meter.retired_by_id = MeterStatus.RETIRED, retired_on, user.id if user else None
        session.flush()
        if current is not None:
            billing.recompute_billing(session.connection(), {meter.id}, {current.customer_id})
    return meter


def _last_end(meter_id: int) -> date | None:
    """The day the meter's last ended period ended: nothing of it can start or end before."""
    return db.session.scalar(select(func.max(MeterAssignment.ended_on)).where(MeterAssignment.meter_id == meter_id))


def refuse_to_cut(assignment: MeterAssignment, ends_on: date, consequence: str) -> None:
    """Refuse to end the period on ``ends_on`` when a reading, invoice or payment of it is dated from then on."""
    dated = {
        _l("%(count)s reading(s)"): select(func.count(MeterReading.id)).where(
            MeterReading.meter_id == assignment.meter_id, MeterReading.reading_date >= ends_on
        ),
        _l("%(count)s invoice(s)"): select(func.count(Invoice.id)).where(
            Invoice.meter_id == assignment.meter_id, Invoice.issued_on >= ends_on
        ),
        _l("%(count)s payment(s)"): select(func.count(Payment.id)).where(
            Payment.meter_id == assignment.meter_id, Payment.paid_on >= ends_on
        ),
    }
    found = [str(what) % {"count": count} for what, query in dated.items() if (count := db.session.scalar(query))]
    if found:
        raise BillingError(
            _(
                "Meter %(serial)s has %(found)s dated on or after %(date)s at %(code)s; %(consequence)s. Date it "
                "after them, or correct them first.",
                serial=assignment.meter.serial,
                found=", ".join(found),
                date=named_date(ends_on),
                code=assignment.customer.code,
                consequence=consequence,
            ),
            "date",
        )
