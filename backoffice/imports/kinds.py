"""What each kind of import holds: its columns (with the words each is headed by in English, Indonesian and
Vietnamese), its natural key, what is already stored under a key, and how a row is written: by the operation its
form calls, or, for money on the wallet, by the posting core's batch (``post_many``).

A row is a dict of its columns' values, read by :mod:`backoffice.imports.values`; what it refers to (a customer by
its code, a meter by its serial, a manager by their email) is looked up in bulk and added under ``*_id``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Date, Integer, Numeric, String, cast, column, select, tuple_, values

from backoffice.evidence import verifying
from backoffice.imports import values as read
from backoffice.imports.names import KIND_NAMES
from backoffice.imports.values import Refused
from backoffice.models import (
    AccountManager,
    BalanceTransaction,
    Customer,
    CustomerPricing,
    Invoice,
    Meter,
    MeterAssignment,
    MeterReading,
    Order,
    Payment,
    User,
    covers,
)
from backoffice.platform.extensions import db
from backoffice.platform.i18n import LANGUAGES, named_date
from backoffice.posting import months, periods
from backoffice.posting.locking import lock_customers
from backoffice.posting.rules import Kind
from backoffice.posting.wallet import post_many
from backoffice.services import billing, customers, installation, managers, meter_lifecycle, orders
from backoffice.services.customers import CustomerError, Details
from backoffice.services.managers import ManagerError
from backoffice.services.metering import pricing
from backoffice.services.metering.batch import Entry, check_readings, record_readings
from backoffice.services.metering.index import MeterIndex
from backoffice.services.metering.values import MeteringError, checked_correction, checked_volume

Row = dict[str, Any]


@dataclass(frozen=True)
class Field:
    name: str
    label: Any
    """Its header in English (a lazy text): the template's header in the reader's language, and read in any."""
    read: Callable[[object], Any]
    required: bool = False
    default: Any = None
    """Its value where the cell is empty (a column that is not required)."""
    total: bool = False
    """Its sum is a control total: the report gives it for the file and for what was written."""

    def headers(self) -> set[str]:
        """Every header this column is read under: its name, and its label in each language."""
        found = {self.name, self.name.replace("_", " ")}
        for language in LANGUAGES:
            with force_locale(language):
                found.add(str(self.label))
        return found


@dataclass(frozen=True)
class Stated:
    """A figure of the system before that a file may state (a customer's closing balance), compared once the import
    has run with what backoffice derived."""

    field: Field
    by: str
    """The column naming whose figure it is (a customer's code, a meter's serial)."""
    derived: Callable[[list[str]], dict[str, Decimal]]
    """The figure backoffice derived for each of them, by that name."""


@dataclass(frozen=True)
class ImportKind:
    name: str
    label: Any
    fields: tuple[Field, ...]
    key: tuple[str, ...]
    stored: Callable[[list[Row]], dict[tuple, Row]]
    """What is stored under the rows' keys, each as the row of a file that would make it."""
    write: Callable[[list[Row], User | None], None]
    """Write the rows, within the caller's unit of work."""
    refers: Callable[[list[Row]], dict[int, tuple[str, str]]] = lambda rows: {}
    """What the rows refer to, looked up: the ids added to each row; the position of a row whose reference is not
    found, with its column and why."""
    stated: tuple[Stated, ...] = ()
    customers: Callable[[list[Row]], set[int]] = lambda rows: {row["customer_id"] for row in rows}
    """The customers the written rows touch: the verify at the end checks them."""
    compared: tuple[str, ...] = field(default=())
    """The columns a stored record is compared on (the key's aside); a difference is a conflict."""
    rehearsed: bool = False
    """Its rows' write depends on what is stored and on each other (a meter's assignments, in the order they
    started): the check rehearses the write (``services.rehearsal``), so a row the write refuses is refused when
    checked."""
    by_hand: bool = False
    """Its rows' ``amount`` is money moved by hand (an opening balance): beyond the approval limit, one row or in
    total, the import waits for a second admin's approval."""

    def key_of(self, row: Row) -> tuple:
        return tuple(row[name] for name in self.key)

    def field(self, name: str) -> Field:
        return next(f for f in (*self.fields, *(s.field for s in self.stated)) if f.name == name)

    def key_words(self) -> str:
        """Its key, as a clerk reads it ("Customer code", "Meter serial and Started on")."""
        return _(" and ").join(str(self.field(name).label) for name in self.key)

    def columns(self) -> dict[str, set[str]]:
        return {field.name: field.headers() for field in (*self.fields, *(s.field for s in self.stated))}

    def template(self) -> list[str]:
        """The header row of its template, in the reader's language; a required column marked with ``*``."""
        return [str(f.label) + (" *" if f.required else "") for f in (*self.fields, *(s.field for s in self.stated))]


def _text(longest: int, upper: bool = False, *, lines: bool = False) -> Callable[[object], str]:
    def read_text(value: object) -> str:
        written = read.text(value, longest, lines=lines)
        return written.upper() if upper else written

    return read_text


def _email(value: object) -> str:
    try:
        return managers.checked_email(read.text(value, 254))
    except ManagerError as error:
        raise Refused(str(error)) from None


def _correction(value: object) -> Decimal:
    try:
        return checked_correction(read.number(value, 6))
    except MeteringError as error:
        raise Refused(str(error)) from None


def _customer_code(value: object) -> str:
    try:
        return customers.checked_code(read.text(value, 40))
    except CustomerError as error:
        raise Refused(str(error)) from None


def _billed(value: object) -> Decimal:
    """An invoice's or a payment's amount, by the rule their write refuses it by."""
    try:
        return billing.positive_amount(read.amount(value))
    except billing.BillingError as error:
        raise Refused(str(error)) from None


def _signed(value: object) -> Decimal:
    return read.amount(value, signed=True)


def _any_day(value: object) -> date:
    return read.day(value, not_after_today=False)


def _invoice_numbers(value: object) -> tuple[str, ...]:
    written = read.text(value, 2000)
    return tuple(number.strip() for number in written.replace(";", ",").split(",") if number.strip())


# Columns several kinds share.
CUSTOMER = Field("customer", _l("Customer code"), _text(32, upper=True), required=True)
METER = Field("meter", _l("Meter serial"), _text(40, upper=True), required=True)
MANAGER = Field("manager", _l("Account manager email"), _email)


def _ids(model, column, wanted: set) -> dict:
    """The ids of the rows of ``model`` whose ``column`` is one of ``wanted``, by that value."""
    found: dict = {}
    wanted = sorted(wanted)
    for start in range(0, len(wanted), 5000):
        found.update(db.session.execute(select(column, model.id).where(column.in_(wanted[start : start + 5000]))).all())
    return found


def _refer(rows: list[Row], name: str, model, column, missing) -> dict[int, tuple[str, str]]:
    """Add ``{name}_id`` to each row that names one (by ``column``); the rows naming none that exists, refused."""
    found = _ids(model, column, {row[name] for row in rows if row.get(name)})
    refused = {}
    for position, row in enumerate(rows):
        if row.get(name):
            row[f"{name}_id"] = found.get(row[name])
            if row[f"{name}_id"] is None:
                refused[position] = (name, str(missing(row[name])))
        else:
            row[f"{name}_id"] = None
    return refused


def _refer_customers(rows: list[Row]) -> dict[int, tuple[str, str]]:
    return _refer(
        rows, "customer", Customer, Customer.code, lambda code: _("No customer with code %(code)s.", code=code)
    )


def _refer_meters(rows: list[Row]) -> dict[int, tuple[str, str]]:
    return _refer(
        rows, "meter", Meter, Meter.serial, lambda serial: _("No meter with serial %(serial)s.", serial=serial)
    )


def _refer_managers(rows: list[Row]) -> dict[int, tuple[str, str]]:
    return _refer(
        rows,
        "manager",
        AccountManager,
        AccountManager.email,
        lambda email: _("No account manager with email %(email)s.", email=email),
    )


def _open_month(name: str):
    """Refuse a row whose ``name`` date is in a closed month: the posting core would refuse it when written."""

    def refers(rows: list[Row]) -> dict[int, tuple[str, str]]:
        closed_until = periods.last_closed_day(db.session)
        if closed_until is None:
            return {}
        refused = {}
        for position, row in enumerate(rows):
            if row[name] <= closed_until:
                try:
                    periods.refuse_if_closed(db.session, row[name])
                except periods.PeriodClosed as refusal:
                    refused[position] = (name, str(refusal))
        return refused

    return refers


def _held_on(name: str):
    """Refuse a row whose meter nobody held on its ``name`` date, or whose holder then is closed: the billing service
    would refuse it when written (``billing.holder_on``). Looked up for all the rows in one statement."""

    def refers(rows: list[Row]) -> dict[int, tuple[str, str]]:
        asked = [(position, row["meter_id"], row[name]) for position, row in enumerate(rows) if row.get("meter_id")]
        if not asked:
            return {}
        given = values(column("position", Integer), column("meter_id", Integer), column("on", Date), name="asked").data(
            asked
        )
        found = db.session.execute(
            select(given.c.position, MeterAssignment.customer_id, Customer.code, Customer.closed_at)
            .select_from(given)
            .outerjoin(
                MeterAssignment,
                (MeterAssignment.meter_id == given.c.meter_id) & covers(MeterAssignment, given.c.on),
            )
            .outerjoin(Customer, Customer.id == MeterAssignment.customer_id)
        )
        refused = {}
        for position, holder, code, closed_at in found:
            row = rows[position]
            if holder is None:
                refused[position] = (
                    name,
                    _(
                        "Meter %(serial)s was not assigned to any customer on %(date)s: readings, invoices and "
                        "payments are dated in a period when a customer held the meter.",
                        serial=row["meter"],
                        date=named_date(row[name]),
                    ),
                )
            elif closed_at is not None:
                refused[position] = (
                    "meter",
                    _(
                        "Customer %(code)s is closed: it takes no new meter, reading, invoice or payment. An admin "
                        "can reopen it.",
                        code=code,
                    ),
                )
        return refused

    return refers


def _both(*referrers):
    def refers(rows: list[Row]) -> dict[int, tuple[str, str]]:
        refused: dict[int, tuple[str, str]] = {}
        for referrer in referrers:
            for position, why in referrer(rows).items():
                refused.setdefault(position, why)
        return refused

    return refers


def _stored(query, key_columns, rows: list[Row], keys: list[tuple]) -> dict[tuple, Row]:
    """Run ``query`` (its first columns the key's) for the rows' keys, in slices; each record by its key."""
    found: dict[tuple, Row] = {}
    for start in range(0, len(keys), 2000):
        chosen = keys[start : start + 2000]
        condition = (
            tuple_(*key_columns).in_(chosen) if len(key_columns) > 1 else key_columns[0].in_([key[0] for key in chosen])
        )
        for record in db.session.execute(query.where(condition)):
            found[tuple(record[: len(key_columns)])] = dict(record._mapping)
    return found


# Account managers.


def _stored_managers(rows: list[Row]) -> dict[tuple, Row]:
    query = select(AccountManager.email, AccountManager.name, AccountManager.active)
    return _stored(query, [AccountManager.email], rows, [(row["email"],) for row in rows])


def _write_managers(rows: list[Row], user: User | None) -> None:
    for row in rows:
        managers.create_manager(row["name"], row["email"], active=row["active"])


MANAGERS = ImportKind(
    "managers",
    _l("Account managers"),
    (
        Field("name", _l("Name"), _text(120), required=True),
        Field("email", _l("Email"), _email, required=True),
        Field("active", _l("Active"), read.yes_no, default=True),
    ),
    ("email",),
    _stored_managers,
    _write_managers,
    customers=lambda rows: set(),
    compared=("name", "active"),
)


# Customers.


def _details(row: Row) -> Details:
    return Details(
        name=row["name"],
        account_manager_id=row.get("manager_id"),
        suspend_below=row.get("suspend_below") or Decimal(0),
        contact_person=row.get("contact_person") or None,
        email=row.get("email") or None,
        phone=row.get("phone") or None,
        address=row.get("address") or None,
    )


def _refer_customer_details(rows: list[Row]) -> dict[int, tuple[str, str]]:
    refused = _refer_managers(rows)
    for position, row in enumerate(rows):
        if position in refused:
            continue
        try:
            checked = customers.checked_details(_details(row))
        except CustomerError as error:
            refused[position] = ({"account_manager_id": "manager"}.get(error.field, error.field), str(error))
            continue
        row.update(email=checked["email"] or "", phone=checked["phone"] or "")
    return refused


def _stored_customers(rows: list[Row]) -> dict[tuple, Row]:
    query = select(
        Customer.code,
        Customer.name,
        AccountManager.email.label("manager"),
        Customer.suspend_below,
        Customer.contact_person,
        Customer.email,
        Customer.phone,
        Customer.address,
    ).outerjoin(AccountManager, AccountManager.id == Customer.account_manager_id)
    found = _stored(query, [Customer.code], rows, [(row["code"],) for row in rows])
    for record in found.values():
        for name in ("manager", "contact_person", "email", "phone", "address"):
            record[name] = record[name] or ""
    return found


def _write_customers(rows: list[Row], user: User | None) -> None:
    for row in rows:
        customers.create_customer(row["code"], _details(row))


CUSTOMERS = ImportKind(
    "customers",
    _l("Customers"),
    (
        Field("code", _l("Customer code"), _customer_code, required=True),
        Field("name", _l("Name"), _text(200), required=True),
        MANAGER,
        Field("suspend_below", _l("Suspend below"), read.amount, default=Decimal("0.00")),
        Field("contact_person", _l("Contact person"), _text(120)),
        Field("email", _l("Email"), _text(254)),
        Field("phone", _l("Phone"), _text(40)),
        Field("address", _l("Address"), _text(500, lines=True)),
    ),
    ("code",),
    _stored_customers,
    _write_customers,
    refers=_refer_customer_details,
    customers=lambda rows: set(_ids(Customer, Customer.code, {row["code"] for row in rows}).values()),
    compared=("name", "manager", "suspend_below", "contact_person", "email", "phone", "address"),
)


# Meters.


def _stored_meters(rows: list[Row]) -> dict[tuple, Row]:
    return _stored(select(Meter.serial), [Meter.serial], rows, [(row["serial"],) for row in rows])


def _write_meters(rows: list[Row], user: User | None) -> None:
    for row in rows:
        meter_lifecycle.add_meter(row["serial"])


METERS = ImportKind(
    "meters",
    _l("Meters"),
    (Field("serial", _l("Meter serial"), _text(40, upper=True), required=True),),
    ("serial",),
    _stored_meters,
    _write_meters,
    customers=lambda rows: set(),
)


# Who held each meter when.


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
    """Each meter's assignments in the order they started, each written whole: one the file does not end ends when
    the meter's next one in the file starts (a row is written once in a transaction: its history is a version a
    transaction)."""
    ordered = sorted(rows, key=lambda row: (row["meter_id"], row["started_on"]))
    for row, following in zip(ordered, [*ordered[1:], None], strict=True):
        ended_on = row.get("ended_on")
        if ended_on is None and following is not None and following["meter_id"] == row["meter_id"]:
            ended_on = following["started_on"]
        meter, customer = db.session.get(Meter, row["meter_id"]), db.session.get(Customer, row["customer_id"])
        current = billing.active_assignment(meter.id)
        meter_lifecycle.assign_meter(
            meter,
            customer,
            row["started_on"],
            confirm_move_from=current.id if current is not None else None,
            ended_on=ended_on,
        )


ASSIGNMENTS = ImportKind(
    "assignments",
    _l("Meter assignments"),
    (
        METER,
        CUSTOMER,
        Field("started_on", _l("Started on"), read.day, required=True),
        Field("ended_on", _l("Ended on"), read.day),
    ),
    ("meter", "started_on"),
    _stored_assignments,
    _write_assignments,
    refers=_both(_refer_meters, _refer_customers),
    compared=("customer", "ended_on"),
    rehearsed=True,
)


# Prices over time.


def _stored_prices(rows: list[Row]) -> dict[tuple, Row]:
    query = select(
        Customer.code.label("customer"),
        CustomerPricing.effective_from,
        CustomerPricing.price_per_sm3,
        CustomerPricing.meter_correction,
    ).join(Customer, Customer.id == CustomerPricing.customer_id)
    return _stored(
        query,
        [Customer.code, CustomerPricing.effective_from],
        rows,
        [(r["customer"], r["effective_from"]) for r in rows],
    )


def _write_prices(rows: list[Row], user: User | None) -> None:
    for row in rows:
        pricing.set_pricing(
            row["customer_id"], row["effective_from"], row["price_per_sm3"], row["meter_correction"], user=user
        )


PRICES = ImportKind(
    "prices",
    _l("Prices"),
    (
        CUSTOMER,
        Field("effective_from", _l("Effective from"), _any_day, required=True),
        Field("price_per_sm3", _l("Price per Sm³"), read.amount, required=True),
        Field("meter_correction", _l("Meter correction"), _correction, required=True),
    ),
    ("customer", "effective_from"),
    _stored_prices,
    _write_prices,
    refers=_refer_customers,
    compared=("price_per_sm3", "meter_correction"),
)


# Orders.

ORDER_AMOUNTS = ("total_price", "additions", "promo", "reductions")


def _stored_orders(rows: list[Row]) -> dict[tuple, Row]:
    query = (
        select(
            Order.number,
            Customer.code.label("customer"),
            AccountManager.email.label("manager"),
            Order.closing_date,
            *(getattr(Order, name) for name in ORDER_AMOUNTS),
        )
        .join(Customer, Customer.id == Order.customer_id)
        .join(AccountManager, AccountManager.id == Order.account_manager_id)
    )
    return _stored(query, [Order.number], rows, [(row["number"],) for row in rows])


def _write_orders(rows: list[Row], user: User | None) -> None:
    for row in rows:
        orders.save_order(
            Order(
                number=row["number"],
                customer_id=row["customer_id"],
                account_manager_id=row["manager_id"],
                closing_date=row["closing_date"],
                **{name: row.get(name) or Decimal(0) for name in ORDER_AMOUNTS},
            ),
            user=user,
        )


ORDERS = ImportKind(
    "orders",
    _l("Orders"),
    (
        Field("number", _l("Order number"), _text(32), required=True),
        CUSTOMER,
        Field("manager", _l("Account manager email"), _email, required=True),
        Field("closing_date", _l("Closing date"), _any_day, required=True),
        Field("total_price", _l("Total price"), read.amount, required=True, total=True),
        Field("additions", _l("Additions"), read.amount, total=True),
        Field("promo", _l("Promo"), read.amount, total=True),
        Field("reductions", _l("Reductions"), read.amount, total=True),
    ),
    ("number",),
    _stored_orders,
    _write_orders,
    refers=_both(_refer_customers, _refer_managers),
    compared=("customer", "manager", "closing_date", *ORDER_AMOUNTS),
)


# Meter readings, recorded as one batch a chunk (``record_readings``): priced and charged by ``post_many``.


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
    given = None
    if row.get("volume") is None:
        given = MeterIndex(row["index"], rollover_digits=row.get("rollover_digits"), start_index=row.get("start_index"))
    return Entry(row["meter_id"], row["reading_date"], row.get("volume"), given, row.get("note") or "")


def _refer_readings(rows: list[Row]) -> dict[int, tuple[str, str]]:
    """The meters, then every rule a reading is recorded by (:func:`check_readings`), the rows as one batch."""
    refused = _refer_meters(rows)
    for position, row in enumerate(rows):
        if position not in refused and (row.get("volume") is None) == (row.get("index") is None):
            refused[position] = ("volume", _("Give the reading as a volume or as the meter's index, not both."))
    batch = [(position, row) for position, row in enumerate(rows) if position not in refused]
    for refusal in check_readings([_entry(row) for _position, row in batch]):
        position, row = batch[refusal.position - 1]
        refused[position] = ("reading_date", refusal.message)
    return refused


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


def _write_readings(rows: list[Row], user: User | None) -> None:
    record_readings([_entry(row) for row in rows], user=user)


def _readers(rows: list[Row]) -> set[int]:
    return set(
        db.session.scalars(
            select(MeterReading.customer_id).where(
                tuple_(MeterReading.meter_id, MeterReading.reading_date).in_(
                    [(row["meter_id"], row["reading_date"]) for row in rows]
                )
            )
        ).all()
    )


READINGS = ImportKind(
    "readings",
    _l("Meter readings"),
    (
        METER,
        Field("reading_date", _l("Reading date"), read.day, required=True),
        Field("volume", _l("Volume (m³)"), _volume, total=True),
        Field("index", _l("The meter's index"), _index),
        Field("rollover_digits", _l("Rolled over: the meter's digits"), _digits),
        Field("start_index", _l("The start index"), _index),
        Field("note", _l("Note"), _text(300, lines=True)),
    ),
    ("meter", "reading_date"),
    _stored_readings,
    _write_readings,
    refers=_refer_readings,
    customers=_readers,
    compared=("volume", "index"),
)


# Opening wallet balances.


def _meters_due(serials: list[str]) -> dict[str, Decimal]:
    return dict(db.session.execute(select(Meter.serial, Meter.balance).where(Meter.serial.in_(serials))).all())


def _customers_balance(codes: list[str]) -> dict[str, Decimal]:
    return dict(db.session.execute(select(Customer.code, Customer.balance).where(Customer.code.in_(codes))).all())


def _stored_balances(rows: list[Row]) -> dict[tuple, Row]:
    """The customers' opening balances the application posted: an opening movement nothing vouches for (an INSERT by
    SQL, any id; a row whose seal fails) is left to the evidence's review, never taken for the file's."""
    ledger = BalanceTransaction
    openings = ledger.kind == Kind.OPENING.value
    chosen = ledger.customer_id.in_(select(Customer.id).where(Customer.code.in_({row["customer"] for row in rows})))
    unvouched = verifying.untrusted(db.session.connection(), "balance_transactions", openings & chosen)
    query = (
        select(
            Customer.code.label("customer"),
            ledger.signed_amount.label("amount"),
            ledger.value_date.label("on"),
        )
        .join(Customer, Customer.id == ledger.customer_id)
        .where(openings, ledger.id.not_in(unvouched))
    )
    found = _stored(query, [Customer.code], rows, [(row["customer"],) for row in rows])
    for row in rows:
        if row["amount"] == 0:
            # Nothing to post: a customer the system before left at zero is as it should be, however often imported.
            found.setdefault((row["customer"],), {"customer": row["customer"], "amount": Decimal(0), "on": row["on"]})
    return found


_OPENINGS = values(
    column("customer_id", Integer),
    column("position", Integer),
    column("kind", String),
    column("signed_amount", Numeric(15, 2)),
    column("value_date", Date),
    column("reference_type", String),
    column("reference_id", Integer),
    column("description", String),
    name="openings",
)


def _write_balances(rows: list[Row], user: User | None) -> None:
    """Each customer's opening balance, one movement of kind ``opening`` each, posted as one batch."""
    moved = [row for row in rows if row["amount"] != 0]
    if not moved:
        return
    connection = db.session.connection()
    ids = sorted({row["customer_id"] for row in moved})
    lock_customers(connection, ids)
    given = _OPENINGS.data(
        [
            (row["customer_id"], 1, Kind.OPENING.value, row["amount"], row["on"], None, None, "")
            for row in sorted(moved, key=lambda row: row["customer_id"])
        ]
    )
    # Each column cast to its type: a VALUES column of NULLs alone would be text.
    first_dates = post_many(installation(), connection, select(*(cast(c, c.type) for c in given.c)), user=user)
    months.recalculate(connection, ids, months.Month.of(min(first_dates.values())))


BALANCES = ImportKind(
    "balances",
    _l("Opening balances"),
    (
        CUSTOMER,
        Field("amount", _l("Opening balance"), _signed, required=True, total=True),
        Field("on", _l("Cut-over date"), read.day, required=True),
    ),
    ("customer",),
    _stored_balances,
    _write_balances,
    refers=_both(_refer_customers, _open_month("on")),
    stated=(Stated(Field("closing_balance", _l("Closing balance"), _signed), "customer", _customers_balance),),
    compared=("amount", "on"),
    by_hand=True,
)


# Invoices and payments, by the operations of their forms, a chunk posted as one batch.


def _stored_invoices(rows: list[Row]) -> dict[tuple, Row]:
    query = select(Invoice.number, Meter.serial.label("meter"), Invoice.amount, Invoice.issued_on, Invoice.due_on).join(
        Meter, Meter.id == Invoice.meter_id
    )
    return _stored(query, [Invoice.number], rows, [(row["number"],) for row in rows])


def _write_invoices(rows: list[Row], user: User | None) -> None:
    billing.add_invoices(
        [
            billing.NewInvoice(row["meter_id"], row["number"], row["amount"], row["issued_on"], row["due_on"])
            for row in rows
        ],
        user=user,
    )


METER_DUE = Stated(Field("meter_due", _l("Meter's amount due"), read.amount), "meter", _meters_due)


def _holders(rows: list[Row]) -> set[int]:
    meter_ids = {row["meter_id"] for row in rows}
    return set(
        db.session.scalars(select(MeterAssignment.customer_id).where(MeterAssignment.meter_id.in_(meter_ids))).all()
    )


INVOICES = ImportKind(
    "invoices",
    _l("Invoices"),
    (
        Field("number", _l("Invoice number"), _text(40), required=True),
        METER,
        Field("amount", _l("Amount"), _billed, required=True, total=True),
        Field("issued_on", _l("Issued on"), read.day, required=True),
        Field("due_on", _l("Due on"), _any_day, required=True),
    ),
    ("number",),
    _stored_invoices,
    _write_invoices,
    refers=_both(_refer_meters, _open_month("issued_on"), _held_on("issued_on")),
    stated=(METER_DUE,),
    customers=_holders,
    compared=("meter", "amount", "issued_on", "due_on"),
)


def _stored_payments(rows: list[Row]) -> dict[tuple, Row]:
    query = select(Meter.serial.label("meter"), Payment.reference, Payment.amount, Payment.paid_on).join(
        Meter, Meter.id == Payment.meter_id
    )
    return _stored(query, [Meter.serial, Payment.reference], rows, [(r["meter"], r["reference"]) for r in rows])


def _refer_invoices(rows: list[Row]) -> dict[int, tuple[str, str]]:
    wanted = {number for row in rows for number in row.get("invoices") or ()}
    found = dict(_invoice_meters(wanted))
    refused = {}
    for position, row in enumerate(rows):
        row["invoice_ids"] = []
        for number in row.get("invoices") or ():
            if number not in found:
                refused[position] = ("invoices", _("No invoice numbered %(number)s.", number=number))
                break
            invoice_id, serial = found[number]
            if serial != row["meter"]:
                refused[position] = (
                    "invoices",
                    _("Invoice %(number)s is of meter %(serial)s.", number=number, serial=serial),
                )
                break
            row["invoice_ids"].append(invoice_id)
    return refused


def _invoice_meters(numbers: set[str]):
    for number, invoice_id, serial in db.session.execute(
        select(Invoice.number, Invoice.id, Meter.serial)
        .join(Meter, Meter.id == Invoice.meter_id)
        .where(Invoice.number.in_(sorted(numbers)))
    ):
        yield number, (invoice_id, serial)


def _write_payments(rows: list[Row], user: User | None) -> None:
    billing.add_payments(
        [
            billing.NewPayment(row["meter_id"], row["amount"], row["paid_on"], row["reference"], row["invoice_ids"])
            for row in rows
        ],
        user=user,
    )


PAYMENTS = ImportKind(
    "payments",
    _l("Payments"),
    (
        METER,
        Field("reference", _l("Payment reference"), _text(100), required=True),
        Field("amount", _l("Amount"), _billed, required=True, total=True),
        Field("paid_on", _l("Paid on"), read.day, required=True),
        Field("invoices", _l("Invoices paid"), _invoice_numbers),
    ),
    ("meter", "reference"),
    _stored_payments,
    _write_payments,
    refers=_both(_refer_meters, _refer_invoices, _open_month("paid_on"), _held_on("paid_on")),
    stated=(METER_DUE,),
    customers=_holders,
    compared=("amount", "paid_on"),
)

KINDS: dict[str, ImportKind] = {
    kind.name: kind
    for kind in sorted(
        (MANAGERS, CUSTOMERS, METERS, ASSIGNMENTS, PRICES, ORDERS, READINGS, BALANCES, INVOICES, PAYMENTS),
        key=lambda kind: KIND_NAMES.index(kind.name),
    )
}
"""Every kind, in the order an installation is brought in (:data:`KIND_NAMES`)."""
