"""A tariff change: a new price per Sm³ and/or meter correction factor from a date, for every customer or some.

Each open customer chosen gets a pricing row from that date, what is not given taken from their pricing in force then.
Saving commits the rows with recalculation requests; :func:`reprice_tariff` then re-prices the readings, at once when
the change is small, else in a job.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import ColumnElement, and_, case, func, insert, literal, select, update

from backoffice.evidence import quarantine
from backoffice.models import (
    AccountManager,
    ApprovalKind,
    ApprovalRequest,
    Customer,
    CustomerPricing,
    MeterReading,
    RecalculationReason,
    RecalculationRequest,
    TransactionCalculation,
    User,
)
from backoffice.models.formulas import total_price_sql, volume_sm3_sql
from backoffice.models.history import HistoryOperation, record
from backoffice.models.metering import Correction
from backoffice.models.types import Money, Month, utcnow
from backoffice.models.users import normal_email
from backoffice.platform.extensions import db
from backoffice.platform.i18n import count_text, named_date
from backoffice.platform.money import MAX_AMOUNT, round_money, shown, unit_places
from backoffice.posting.locking import lock_customers
from backoffice.services import transaction
from backoffice.services.metering import held
from backoffice.services.metering.requests import process_recalculations
from backoffice.services.metering.values import MeteringError, checked_correction, checked_price

customers = Customer.__table__
pricing = CustomerPricing.__table__
readings = MeterReading.__table__
calculations = TransactionCalculation.__table__
requests = RecalculationRequest.__table__


class TariffInputError(MeteringError):
    """What was asked names nothing that exists or asks nothing (an unknown manager or customer, no price
    and no factor): a mistake in what was typed rather than a change the data refuses."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field
        """The argument of :func:`checked_tariff` it is about."""


class NoCustomer(MeteringError):
    """The tariff would give its pricing row to no customer: nothing to save."""

    field = "customer_codes"


@dataclass(frozen=True)
class Tariff:
    """What a tariff change sets, and for whom (all customers when neither filter is given; both: both apply)."""

    effective_from: date
    price_per_sm3: Decimal | None = None
    meter_correction: Decimal | None = None
    manager_email: str | None = None
    """Only the customers of this account manager."""
    customer_codes: tuple[str, ...] = ()
    """Only these customers."""

    def describe(self) -> str:
        """The tariff as the reader's language says it (English outside a request: the commands)."""
        values = {
            "from": named_date(self.effective_from),
            "price": shown(self.price_per_sm3) if self.price_per_sm3 is not None else "",
            "correction": self.meter_correction,
        }
        if self.price_per_sm3 is not None and self.meter_correction is not None:
            return _("Tariff from %(from)s, price %(price)s per Sm³, correction %(correction)s") % values
        if self.price_per_sm3 is not None:
            return _("Tariff from %(from)s, price %(price)s per Sm³") % values
        if self.meter_correction is not None:
            return _("Tariff from %(from)s, correction %(correction)s") % values
        return _("Tariff from %(from)s") % values


@dataclass(frozen=True)
class TariffImpact:
    """What a tariff change would change."""

    customers: int
    """Customers who get the new pricing row."""
    left_out: int
    """Customers chosen but left out: no pricing in force on the date to take the missing price or factor from."""
    repriced_customers: int
    """Customers with readings the new rows re-price."""
    readings: int
    from_month: str | None
    purchases_before: Decimal
    purchases_after: Decimal
    deferred: bool
    """Saving leaves the re-pricing to a job: more readings than a request re-prices."""
    held: ApprovalRequest | None = None
    """Not saved: it gives back more than the approval limit to a customer, and waits for a second admin as this
    request."""

    @property
    def purchases_change(self) -> Decimal:
        return self.purchases_after - self.purchases_before


def checked_tariff(
    effective_from: date | None,
    price_per_sm3: Decimal | None,
    meter_correction: Decimal | None,
    manager_email: str | None = None,
    customer_codes: Sequence[str] = (),
) -> Tariff:
    """The tariff asked for, its values checked and its filters found; :class:`MeteringError` says what is wrong."""
    if effective_from is None:
        raise TariffInputError(_("Enter the date the tariff applies from."), "effective_from")
    if price_per_sm3 is None and meter_correction is None:
        raise TariffInputError(_("Give a price per Sm³, a meter correction factor, or both."), "price_per_sm3")
    price = checked_price(price_per_sm3) if price_per_sm3 is not None else None
    correction = checked_correction(meter_correction) if meter_correction is not None else None
    email = normal_email(manager_email) if manager_email and manager_email.strip() else None
    if email is not None and db.session.scalar(select(AccountManager.id).where(AccountManager.email == email)) is None:
        raise TariffInputError(_("No account manager with email %(email)s.", email=email), "manager_email")
    codes = tuple(dict.fromkeys(code.strip().upper() for code in customer_codes if code.strip()))
    if codes:
        found = select(Customer.code, Customer.closed_at).where(Customer.code.in_(codes))
        known = dict(db.session.execute(found).all())
        if unknown := [code for code in codes if code not in known]:
            raise TariffInputError(
                _("Unknown customer code(s): %(codes)s.", codes=", ".join(unknown)), "customer_codes"
            )
        if closed := [code for code in codes if known[code] is not None]:
            message = _("Closed customer(s), which take no new pricing: %(codes)s.", codes=", ".join(closed))
            raise TariffInputError(message, "customer_codes")
    return Tariff(effective_from, price, correction, email, codes)


def tariff_impact(tariff: Tariff) -> TariffImpact:
    """What :func:`change_tariff` would change, computed in the database; nothing is written."""
    with db.engine.connect() as connection:
        return _impact(connection, tariff)


def change_tariff(tariff: Tariff, *, user: User | None = None) -> TariffImpact:
    """Save the tariff's pricing rows and a recalculation request for each customer whose readings they re-price,
    in one transaction that holds the customers' locks. The re-pricing is :func:`reprice_tariff`'s.

    A tariff whose re-pricing gives back to any one customer's wallet more than the approval limit (``held``: what
    the customer's readings cost now less what they cost at the tariff) is not saved at all: the whole change
    waits for a second admin as one request, listing every customer it gives money back to and how much, in the
    impact's ``held``; :func:`apply_request` saves it when approved. A tariff is one decision for all the
    customers it prices: holding some of them only would apply a tariff nobody decided.
    """
    with transaction() as session:
        return _change_tariff(session.connection(), tariff, user)


def _change_tariff(connection, tariff: Tariff, user: User | None, approving=None) -> TariffImpact:
    lock_customers(connection, connection.execute(select(_chosen(tariff).c.id)).scalars().all())
    impact = _impact(connection, tariff)
    if not impact.customers:
        raise NoCustomer(
            _(
                "No customer gets this tariff: none is chosen, or none has a pricing in force on %(date)s to take "
                "what is not given from.",
                date=named_date(tariff.effective_from),
            )
        )
    credits = _credits(connection, tariff)
    if approving is not None:
        held.as_asked(approving, credits)
    elif held.beyond_the_limit(credits):
        return replace(impact, held=_hold(tariff, impact, credits, user))
    targets = _targets(tariff).subquery("targets")
    connection.execute(
        update(pricing)
        .where(pricing.c.customer_id == targets.c.id, pricing.c.effective_from == tariff.effective_from)
        .values(
            price_per_sm3=targets.c.price_per_sm3,
            meter_correction=targets.c.meter_correction,
            version=pricing.c.version + 1,
        )
    )
    chosen = pricing.c.customer_id.in_(select(targets.c.id)) & (pricing.c.effective_from == tariff.effective_from)
    record(connection, CustomerPricing, chosen, HistoryOperation.EDIT)
    taken = select(pricing.c.id).where(
        pricing.c.customer_id == targets.c.id, pricing.c.effective_from == tariff.effective_from
    )
    connection.execute(
        insert(pricing).from_select(
            ["customer_id", "effective_from", "price_per_sm3", "meter_correction"],
            select(
                targets.c.id, literal(tariff.effective_from), targets.c.price_per_sm3, targets.c.meter_correction
            ).where(~taken.exists()),
        )
    )
    record(connection, CustomerPricing, chosen & (pricing.c.version == 1), HistoryOperation.CREATE)
    repriced = select(readings.c.customer_id).where(_priced_by_new_rows(tariff, targets)).distinct()
    connection.execute(
        insert(requests).from_select(
            ["customer_id", "from_date", "reason", "description", "requested_at", "requested_by_id"],
            select(
                repriced.subquery().c.customer_id,
                literal(tariff.effective_from),
                literal(RecalculationReason.PRICING_CHANGE.value),
                literal(tariff.describe()[:300]),
                literal(utcnow(), requests.c.requested_at.type),
                literal(user.id if user else None, requests.c.requested_by_id.type),
            ),
        )
    )
    return impact


def said_request(request: ApprovalRequest) -> str:
    """What a held tariff change does, in the reader's language, from what it asked (one asked before the customers
    it prices were counted with it: as its description was written)."""
    asked = request.correction
    if "customers" not in asked:
        return request.description
    given_back = held.asked_credits(request)
    codes = dict(db.session.execute(select(Customer.id, Customer.code).where(Customer.id.in_(given_back))).all())
    return _(
        "%(tariff)s for %(customers)s customer(s); gives back: %(listed)s",
        tariff=asked_tariff(request).describe(),
        customers=count_text(asked["customers"]),
        listed=_listed(given_back, codes),
    )


def apply_request(connection, request: ApprovalRequest, user: User) -> TariffImpact:
    """Save the tariff the request asked for, by ``user``, in the caller's transaction (the approving one), with
    its recalculation requests (:func:`reprice_tariff` does them); refuses with ``held.ChangedSinceAsked`` when
    what it gives back changed since it was asked."""
    return _change_tariff(connection, asked_tariff(request), user, approving=request)


def asked_tariff(request: ApprovalRequest) -> Tariff:
    """The tariff a request asks for."""
    asked = request.correction
    return Tariff(
        effective_from=date.fromisoformat(asked["effective_from"]),
        price_per_sm3=Decimal(asked["price_per_sm3"]) if asked["price_per_sm3"] is not None else None,
        meter_correction=Decimal(asked["meter_correction"]) if asked["meter_correction"] is not None else None,
        manager_email=asked["manager_email"],
        customer_codes=tuple(asked["customer_codes"]),
    )


def _hold(tariff: Tariff, impact: TariffImpact, credits: dict[int, Decimal], user: User | None) -> ApprovalRequest:
    given_back = {customer: credit for customer, credit in credits.items() if credit > 0}
    codes = dict(db.session.execute(select(Customer.id, Customer.code).where(Customer.id.in_(given_back))).all())
    asked = {
        "effective_from": tariff.effective_from.isoformat(),
        "price_per_sm3": str(tariff.price_per_sm3) if tariff.price_per_sm3 is not None else None,
        "meter_correction": str(tariff.meter_correction) if tariff.meter_correction is not None else None,
        "manager_email": tariff.manager_email,
        "customer_codes": list(tariff.customer_codes),
        "customers": impact.customers,
    }
    return held.ask(
        ApprovalKind.TARIFF_CHANGE,
        asked,
        credits,
        user=user,
        description=f"{_in_english(tariff.describe)} for {impact.customers:,} customer(s); gives back: "
        f"{_listed(given_back, codes)}",
        where=_("the tariff page"),
    )


def _listed(given_back: dict[int, Decimal], codes: dict[int, str]) -> str:
    """Each customer given back money and how much, the most first."""
    return ", ".join(
        f"{codes[customer]} {shown(credit)}"
        for customer, credit in sorted(given_back.items(), key=lambda item: (-item[1], codes[item[0]]))
    )


def _in_english(say) -> str:
    """What ``say()`` says, in English: the words a record keeps, whoever's request wrote it."""
    with force_locale("en"):
        return say()


def _credits(connection, tariff: Tariff) -> dict[int, Decimal]:
    """What the tariff gives back to each customer whose readings it re-prices: what they cost now less what they
    cost at the tariff (negative: it takes more)."""
    targets = _targets(tariff).subquery("targets")
    volume = volume_sm3_sql(readings.c.volume_flow_meter, targets.c.meter_correction)
    total = total_price_sql(volume, targets.c.price_per_sm3, unit_places())
    rows = connection.execute(
        select(
            targets.c.id,
            func.coalesce(func.sum(calculations.c.total_price), 0) - func.coalesce(func.sum(total), 0),
        )
        .select_from(targets)
        .join(readings, _priced_by_new_rows(tariff, targets))
        .outerjoin(calculations, calculations.c.reading_id == readings.c.id)
        .group_by(targets.c.id)
    ).all()
    return {customer: round_money(Decimal(credit)) for customer, credit in rows}


def reprice_tariff(
    effective_from: date, user: User | None = None, progress: Callable[[int, int], None] | None = None
) -> int:
    """Do the re-pricing the tariff changes from ``effective_from`` left pending (the job's and the command's work);
    returns how many recalculation requests were done (each customer's other pending requests with them).

    A tariff change from the same date saved meanwhile is done too: what it asked for is looked for again at the end.
    A quarantined customer's re-pricing is left waiting (``left_quarantined(from_date=effective_from)`` names them).
    """
    done = 0
    while waiting := db.session.scalars(
        select(requests.c.customer_id)
        .where(
            requests.c.done_at.is_(None),
            requests.c.reason == RecalculationReason.PRICING_CHANGE.value,
            requests.c.from_date == effective_from,
            requests.c.customer_id.not_in(quarantine.quarantined_ids()),
        )
        .distinct()
    ).all():
        done += process_recalculations(sorted(waiting), user, progress)
    return done


def _chosen(tariff: Tariff):
    """The open customers the filters choose (a closed customer takes no new pricing, nor its re-pricing)."""
    conditions = [customers.c.closed_at.is_(None)]
    if tariff.manager_email is not None:
        manager = select(AccountManager.id).where(AccountManager.email == tariff.manager_email).scalar_subquery()
        conditions.append(customers.c.account_manager_id == manager)
    if tariff.customer_codes:
        conditions.append(customers.c.code.in_(tariff.customer_codes))
    return select(customers.c.id).where(*conditions).subquery("chosen")


def _targets(tariff: Tariff):
    """Each chosen customer with the price and factor of its new row (what is not given: its pricing in force on
    the date; none when it has none) and the date of its next row, which the new row prices up to.

    One pass over the chosen customers' pricing rows, each with the date the next one starts, grouped by customer.
    """
    chosen = _chosen(tariff)
    on = tariff.effective_from
    rows = select(
        pricing.c.customer_id,
        pricing.c.effective_from,
        pricing.c.price_per_sm3,
        pricing.c.meter_correction,
        func.lead(pricing.c.effective_from)
        .over(partition_by=pricing.c.customer_id, order_by=pricing.c.effective_from)
        .label("until"),
    ).subquery("rows")
    in_force = (rows.c.effective_from <= on) & (rows.c.until.is_(None) | (rows.c.until > on))

    def value(name: str, given: Decimal | None, type_):
        if given is not None:
            return literal(given, type_).label(name)
        return func.max(case((in_force, rows.c[name]))).label(name)

    values = (
        select(
            chosen.c.id,
            value("price_per_sm3", tariff.price_per_sm3, Money),
            value("meter_correction", tariff.meter_correction, Correction),
            func.min(case((rows.c.effective_from > on, rows.c.effective_from))).label("until"),
        )
        .select_from(chosen.outerjoin(rows, rows.c.customer_id == chosen.c.id))
        .group_by(chosen.c.id)
        .subquery("values")
    )
    return select(values).where(values.c.price_per_sm3.is_not(None), values.c.meter_correction.is_not(None))


def _priced_by_new_rows(tariff: Tariff, targets) -> ColumnElement:
    """A reading the targets' new rows price: its customer's, from the date up to the customer's next row."""
    return and_(
        readings.c.customer_id == targets.c.id,
        readings.c.reading_date >= tariff.effective_from,
        targets.c.until.is_(None) | (readings.c.reading_date < targets.c.until),
    )


def _impact(connection, tariff: Tariff) -> TariffImpact:
    chosen = connection.execute(select(func.count()).select_from(_chosen(tariff))).scalar_one()
    targets = _targets(tariff).subquery("targets")
    targeted = connection.execute(select(func.count()).select_from(targets)).scalar_one()
    volume = volume_sm3_sql(readings.c.volume_flow_meter, targets.c.meter_correction)
    total = total_price_sql(volume, targets.c.price_per_sm3, unit_places())
    repriced, count, before, after, largest, first = connection.execute(
        select(
            func.count(readings.c.customer_id.distinct()),
            func.count(readings.c.id),
            func.coalesce(func.sum(calculations.c.total_price), 0),
            func.coalesce(func.sum(total), 0),
            func.max(total),
            func.min(readings.c.reading_date),
        )
        .select_from(targets)
        .join(readings, _priced_by_new_rows(tariff, targets))
        .outerjoin(calculations, calculations.c.reading_id == readings.c.id)
    ).one()
    if largest is not None and Decimal(largest) > MAX_AMOUNT:
        raise MeteringError(
            _("At this tariff a reading's total would exceed %(limit)s, the most one holds.", limit=shown(MAX_AMOUNT))
        )
    return TariffImpact(
        customers=targeted,
        left_out=chosen - targeted,
        repriced_customers=repriced,
        readings=count,
        from_month=str(Month.of(first)) if first else None,
        purchases_before=round_money(Decimal(before)),
        purchases_after=round_money(Decimal(after)),
        deferred=count > current_app.config["REPRICE_IN_REQUEST_LIMIT"],
    )
