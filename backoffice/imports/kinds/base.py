"""What every kind of import is made of: its fields, the parsers of its cells, and the lookups of what its rows
refer to and what is stored under their keys."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import cached_property
from typing import Any

from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Date, Integer, func, select

from backoffice.imports import values as read
from backoffice.imports.values import Refused
from backoffice.models import (
    AccountManager,
    Customer,
    Meter,
    MeterAssignment,
    User,
    covers,
)
from backoffice.models.types import given_rows, one_of
from backoffice.platform.extensions import db
from backoffice.platform.i18n import LANGUAGES, named_date
from backoffice.platform.roles import Role
from backoffice.posting import closed_months
from backoffice.services import billing, customers, managers
from backoffice.services.customers import CustomerError
from backoffice.services.managers import ManagerError
from backoffice.services.metering.values import MeteringError, checked_correction

Row = dict[str, Any]
LINES = "lines"
REFUSED_LINE = "refused_line"


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
    aliases: tuple[str, ...] = ()
    """Other headers it is read under, the likeliest first: the words people write in en, id and vi, and those of
    the systems installations move from (ERPNext's and Odoo's exports)."""
    holds: str = "text"
    """What its cells write: ``number`` (an amount, a volume) or ``date``, read as the file writes them
    (:mod:`~backoffice.imports.written`), else ``text``."""

    def headers(self) -> list[str | tuple[str, int]]:
        """Every header this column is read under: its name and its label in each language, then its aliases, each
        with its rank."""
        found = {self.name, self.name.replace("_", " ")}
        for language in LANGUAGES:
            with force_locale(language):
                found.add(str(self.label))
        return [*sorted(found), *((alias, rank) for rank, alias in enumerate(self.aliases, 1))]


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
    locks: Callable[[list[Row]], None] | None = None
    """What the write of a chunk locks before the chunk is checked again (``refers``): what the check finds then still
    holds when the rows are written, which need not check it again."""
    stated: tuple[Stated, ...] = ()
    customers: Callable[[list[Row]], set[int]] = lambda rows: {row["customer_id"] for row in rows}
    """The customers the written rows touch: the verify at the end checks them."""
    compared: tuple[str, ...] = field(default=())
    """The columns a stored record is compared on (the key's aside); a difference is a conflict."""
    rehearse: Callable[[], Callable[[list[Row]], list[Exception | None]]] | None = None
    """Where its rows' write depends on what is stored and on each other (a meter's assignments, in the order they
    started): the write's checks, made of each chunk in turn without writing (a new one for each check), each row's
    refusal said; so a row the write refuses is refused when checked."""
    by_hand: str = ""
    """What its rows' ``amount`` moves by hand, if it is money moved by hand (``opening``, ``payment``): beyond the
    approval limit, one row
    or in total, or for one customer with what its maker moved by hand for them today (``services.by_hand``), the
    import waits for a second admin's approval."""
    moved_for: str = "customer_id"
    """The row's field naming the customer whose money its ``amount`` moves (a kind :attr:`by_hand`)."""
    role: Role = Role.ADMIN
    """Who imports it: a clerk the kinds a clerk's forms write (readings, payments), an admin every kind."""
    history_of: str | None = None
    """The date a row is history by: on or before the cut-over, recorded but never charged (what its check says)."""
    lined: tuple[str, ...] = ()
    """The fields of a record's lines, where a record may take several rows (an invoice a row per line, as Odoo and
    ERPNext export it): a row whose other columns are all empty, below a record's, is a further line of it, not a
    record without a key. A record's lines are its :data:`LINES`, each its line fields' values and its file line;
    a line whose cell cannot be read is its :data:`REFUSED_LINE` (column, file line, why)."""
    updatable: tuple[str, ...] = ()
    """The fields an import may fill or change on a record that exists, when its user chooses them (never a money
    field, never the key)."""
    update: Callable[[list[tuple[tuple, dict]]], None] | None = None
    """Fill or change records that exist, each ``(key, {field: value})``, within the caller's unit of work."""
    doubtful: Callable[[list[Row]], dict[int, dict]] | None = None
    """The rows to write whose reading a clerk confirms first, as on the route sheet (a rollover, a volume far from
    the usual), each with why: the import writes the others and holds these on its page until confirmed or
    corrected."""
    identify: Callable[[list[Row]], object] | None = None
    """What the report looks up of rows written (the ids :attr:`customers` reads, a row's holder), where
    :attr:`refers`, which checks every rule a new row is written by, does more; else :attr:`refers`."""
    resolve: Callable[[list[Row]], dict[int, tuple[str, str]]] = lambda rows: {}
    """What a row's key needs that the file may leave to be looked up (the meter of a customer who held one), filled
    in before the key is read; the position of a row that cannot be, with its column and why."""

    @cached_property
    def required(self) -> frozenset[str]:
        """Its fields whose cell a new record must give."""
        return frozenset(f.name for f in (*self.fields, *(s.field for s in self.stated)) if f.required)

    def key_of(self, row: Row) -> tuple:
        return tuple(row[name] for name in self.key)

    def field(self, name: str) -> Field:
        return next(f for f in (*self.fields, *(s.field for s in self.stated)) if f.name == name)

    def key_words(self) -> str:
        """Its key, as a clerk reads it ("Customer code", "Meter serial and Started on")."""
        return _(" and ").join(str(self.field(name).label) for name in self.key)

    def columns(self) -> dict[str, list[str | tuple[str, int]]]:
        return {field.name: field.headers() for field in (*self.fields, *(s.field for s in self.stated))}

    def holding(self, what: str) -> list[str]:
        """Its fields whose cells write ``what`` (``number``, ``date``)."""
        return [f.name for f in (*self.fields, *(s.field for s in self.stated)) if f.holds == what]

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
CUSTOMER_WORDS = (
    "customer code",
    "customer",
    "customer id",
    "party",
    "partner",
    "partner_id",
    "customer/vendor",
    "client",
    "client code",
    "kode",
    "id pelanggan",
    "no pelanggan",
    "pelanggan",
    "ma kh",
    "ma khach hang",
    "khach hang",
)
"""The headers naming a customer by its code, as people and peer systems write them."""
CUSTOMER = Field("customer", _l("Customer code"), _text(32, upper=True), required=True, aliases=CUSTOMER_WORDS)
METER = Field(
    "meter",
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
)
HOLDER = Field(
    "customer",
    _l("Customer"),
    _text(200),
    aliases=(*CUSTOMER_WORDS, "customer name", "party name", "partner name", "nama pelanggan", "ten khach hang"),
)
"""The customer an invoice or a payment is of, by its code or its name: the meter may be left to it."""
MANAGER = Field(
    "manager",
    _l("Account manager email"),
    _email,
    aliases=(
        "account manager",
        "manager email",
        "manager",
        "email manajer",
        "email am",
        "email nguoi phu trach",
    ),
)


def _ids(model, column, wanted: set) -> dict:
    """The ids of the rows of ``model`` whose ``column`` is one of ``wanted``, by that value."""
    found: dict = {}
    wanted = sorted(wanted)
    for start in range(0, len(wanted), 5000):
        found.update(
            db.session.execute(select(column, model.id).where(one_of(column, wanted[start : start + 5000]))).all()
        )
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
        closed_until = closed_months.last_closed_day(db.session)
        if closed_until is None:
            return {}
        refused = {}
        for position, row in enumerate(rows):
            if row[name] <= closed_until:
                try:
                    closed_months.refuse_if_closed(db.session, row[name])
                except closed_months.PeriodClosed as refusal:
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
        given = given_rows("asked", asked, position=Integer, meter_id=Integer, on=Date)
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
            row["holder"], row["holder_id"] = code, holder
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
    """Run ``query`` (its first columns the key's) for the rows' keys, in slices; each record by its key. Each of the
    key's columns is matched against an array of the values the keys give it, and the records of other keys (another
    meter's reference) are left out here: pairs given as a list are planned as an ``OR`` of every pair, and as a
    table, joined on the column every key shares (a route book's day) before the other, one pair to every reading of
    that day."""
    found: dict[tuple, Row] = {}
    for start in range(0, len(keys), 2000):
        chosen = set(keys[start : start + 2000])
        condition = [one_of(column, {key[at] for key in chosen}) for at, column in enumerate(key_columns)]
        for record in db.session.execute(query.where(*condition)):
            key = tuple(record[: len(key_columns)])
            if key in chosen:
                found[key] = dict(record._mapping)
    return found


# Account managers.


def _meters_due(serials: list[str]) -> dict[str, Decimal]:
    return dict(db.session.execute(select(Meter.serial, Meter.balance).where(Meter.serial.in_(serials))).all())


METER_DUE = Stated(
    Field(
        "meter_due",
        _l("Meter's amount due"),
        read.amount,
        holds="number",
        aliases=("meter balance", "meter due", "saldo meter"),
    ),
    "meter",
    _meters_due,
)


def _holders(rows: list[Row]) -> set[int]:
    meter_ids = {row["meter_id"] for row in rows}
    return set(
        db.session.scalars(select(MeterAssignment.customer_id).where(one_of(MeterAssignment.meter_id, meter_ids))).all()
    )


def _meter_of_holder(name: str):
    """Fill in the meter of a row that names its customer alone (by code, or by a name no other customer has): the
    one meter the customer held on the row's ``name`` date. A row naming both is refused when the meter was not the
    customer's then; one naming neither, or a customer who held none or several, is refused saying which."""

    def resolve(rows: list[Row]) -> dict[int, tuple[str, str]]:
        named = {row["customer"] for row in rows if row.get("customer")}
        customers = _customers_named(named)
        asked = [
            (position, customers[row["customer"]][0], row[name])
            for position, row in enumerate(rows)
            if row.get("customer") and isinstance(customers.get(row["customer"]), tuple)
        ]
        held: dict[int, list[str]] = {}
        if asked:
            given = given_rows("asked", asked, position=Integer, customer_id=Integer, on=Date)
            for position, serial in db.session.execute(
                select(given.c.position, Meter.serial)
                .select_from(given)
                .join(
                    MeterAssignment,
                    (MeterAssignment.customer_id == given.c.customer_id) & covers(MeterAssignment, given.c.on),
                )
                .join(Meter, Meter.id == MeterAssignment.meter_id)
                .order_by(given.c.position, Meter.serial)
            ):
                held.setdefault(position, []).append(serial)
        refused = {}
        for position, row in enumerate(rows):
            if not row.get("customer"):
                if not row.get("meter"):
                    refused[position] = ("meter", _("Name the meter's serial, or the customer who held it."))
                continue
            found = customers.get(row["customer"])
            if not isinstance(found, tuple):
                refused[position] = ("customer", found)
                continue
            serials, code = held.get(position, []), found[1]
            day = named_date(row[name])
            if row.get("meter"):
                if row["meter"] not in serials:
                    refused[position] = (
                        "meter",
                        _(
                            "Meter %(serial)s was not customer %(code)s's on %(date)s.",
                            serial=row["meter"],
                            code=code,
                            date=day,
                        ),
                    )
            elif not serials:
                refused[position] = ("customer", _("Customer %(code)s held no meter on %(date)s.", code=code, date=day))
            elif len(serials) > 1:
                refused[position] = (
                    "customer",
                    _(
                        "Customer %(code)s held meters %(serials)s on %(date)s: name the meter's serial.",
                        code=code,
                        serials=", ".join(serials),
                        date=day,
                    ),
                )
            else:
                row["meter"] = serials[0]
        return refused

    return resolve


def _customers_named(named: set[str]) -> dict[str, tuple[int, str] | str]:
    """Each text a file names a customer by: its id and code (the customer whose code it is, else the one customer
    of that name), or why none is (a sentence)."""
    found: dict[str, tuple[int, str] | str] = {}
    wanted = sorted(named)
    for start in range(0, len(wanted), 5000):
        chosen = wanted[start : start + 5000]
        by_code = {text.upper(): text for text in chosen}
        for customer_id, code in db.session.execute(
            select(Customer.id, Customer.code).where(Customer.code.in_(list(by_code)))
        ):
            found[by_code[code]] = (customer_id, code)
        by_name = {text.casefold(): text for text in chosen if text not in found}
        matches: dict[str, list[tuple[int, str]]] = {}
        if by_name:
            for customer_id, code, name in db.session.execute(
                select(Customer.id, Customer.code, Customer.name).where(func.lower(Customer.name).in_(list(by_name)))
            ):
                matches.setdefault(by_name.get(name.casefold(), name), []).append((customer_id, code))
        for text in chosen:
            if text in found:
                continue
            same = matches.get(text, [])
            if len(same) == 1:
                found[text] = same[0]
            elif same:
                found[text] = _(
                    "%(count)s customers are named %(name)s (%(codes)s): name the customer by its code.",
                    count=len(same),
                    name=text,
                    codes=", ".join(sorted(code for _id, code in same)),
                )
            else:
                found[text] = _("No customer with code or name %(name)s.", name=text)
    return found
