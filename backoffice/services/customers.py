"""Customers: adding one, editing what a clerk keeps of it, closing and reopening it, calculating it in real time
or not.

A customer is never deleted, since the ledger, readings, invoices and orders refer to it. It is closed only once
nothing is left open (no meter, no balance, nothing due, no recalculation waiting); a closed customer takes no new
movement, and an admin can reopen it.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, fields
from decimal import Decimal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import bindparam, column, func, insert, literal, select, update, values
from sqlalchemy.orm import joinedload

from backoffice.models import (
    Account,
    AccountManager,
    Customer,
    HistoryOperation,
    MeterAssignment,
    RecalculationRequest,
    TaxStatus,
    User,
    record,
)
from backoffice.models.formulas import status_sql
from backoffice.models.types import Money, utcnow
from backoffice.platform.addresses import NotAnAddress, email_address
from backoffice.platform.extensions import db
from backoffice.platform.i18n import LANGUAGES, count_text
from backoffice.platform.lines import NotOneLine, one_line
from backoffice.platform.money import ZERO, MoneyError, check_amount, shown
from backoffice.posting.locking import lock_customers, lock_rows
from backoffice.posting.rules import CUSTOMER_DEPOSITS
from backoffice.services import efaktur, expect_version, transaction

PHONE = re.compile(r"\+?[0-9][0-9 ().-]*")


class CustomerError(ValueError):
    """A customer that cannot be added, changed, closed or reopened as asked; nothing was written.

    ``field`` names the input at fault."""

    def __init__(self, message: str, field: str = "code") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Details:
    """What a clerk keeps of a customer besides its code, which is set once."""

    name: str
    account_manager_id: int | None = None
    suspend_below: Decimal = ZERO
    """The balance under which the customer is suspended."""
    contact_person: str | None = None
    email: str | None = None
    phone: str | None = None
    address: str | None = None
    city: str | None = None
    tax_number: str | None = None
    nitku: str | None = None
    """Indonesia: the buyer's place of business (NITKU, 22 digits); none: its TIN's and ``000000``."""
    route: str | None = None
    """The meter reader's round its meters are read on."""
    route_stop: int | str | None = None
    """Its place on the round, from 1 (as typed: a text is read as a whole number, or refused)."""
    tax_status: str | None = TaxStatus.TAXED.value
    """How the tax office treats what the customer is sold (:class:`TaxStatus`; none: taxed)."""
    language: str | None = None
    """The language of the customer's documents; none: the installation's."""


def checked_code(code: str) -> str:
    """A customer's code as it is stored (upper case); :class:`CustomerError` if it is not one."""
    code = code.strip().upper()
    if not code or len(code) > 32 or not code.replace("-", "").replace("_", "").isalnum():
        raise CustomerError(
            _("%(code)s is not a customer code: use up to 32 letters, digits, '-' or '_'.", code=repr(code))
        )
    return code


def create_customer(code: str, details: Details) -> Customer:
    """Create one customer (:func:`create_customers` of one)."""
    (customer,) = create_customers([(code, details)])
    return customer


def create_customers(given: list[tuple[str, Details]]) -> list[Customer]:
    """Add customers, each by its code and details, in one write: every one is checked before any is added, and
    they are flushed together."""
    checked = [(checked_code(code), checked_details(details)) for code, details in given]
    codes = [code for code, _values in checked]
    with transaction() as session:
        for manager_id in sorted({values["account_manager_id"] for _code, values in checked} - {None}):
            _refuse_inactive_manager(session, manager_id)
        repeated = {code for code, times in Counter(codes).items() if times > 1}
        used = repeated or set(session.scalars(select(Customer.code).where(Customer.code.in_(codes))))
        if used:
            raise CustomerError(_("Customer code %(code)s is already used.", code=min(used)))
        status = _new_status(session, {values["suspend_below"] for _code, values in checked})
        table = Customer.__table__
        connection = session.connection()
        added = connection.execute(
            insert(table).returning(table.c.id, sort_by_parameter_order=True),
            [{"code": code, "status": status[values["suspend_below"]], **values} for code, values in checked],
        )
        ids = list(added.scalars())
        record(connection, Customer, table.c.id.in_(ids), HistoryOperation.CREATE)
        made = {customer.id: customer for customer in session.scalars(select(Customer).where(Customer.id.in_(ids)))}
    return [made[customer_id] for customer_id in ids]


UPDATED_BY_IMPORT = (
    "name",
    "contact_person",
    "email",
    "phone",
    "address",
    "city",
    "route",
    "route_stop",
    "tax_number",
    "tax_status",
)
"""What an import may fill or change of a customer that exists: never its code, nor its money (its suspension
threshold)."""


def update_customers(changed: list[tuple[str, dict]]) -> None:
    """Fill or change details of customers that exist, each by its code with ``{field: value}`` of
    :data:`UPDATED_BY_IMPORT`, in one write: the customers locked first, each as stored with the fields given checked
    as its form checks it (:class:`CustomerError` names the field at fault), each change a history version of its
    own."""
    for _code, given in changed:
        if not set(given) <= set(UPDATED_BY_IMPORT):
            raise CustomerError(_("An import changes a customer's details alone, never its code or money."))
    table = Customer.__table__
    with transaction() as session:
        connection = session.connection()
        codes = [code for code, _fields in changed]
        ids = dict(connection.execute(select(table.c.code, table.c.id).where(table.c.code.in_(codes))).all())
        lock_customers(connection, sorted(ids.values()))
        stored = {row.code: row for row in connection.execute(select(table).where(table.c.id.in_(list(ids.values()))))}
        by_fields: dict[tuple[str, ...], list[dict]] = defaultdict(list)
        for code, given in changed:
            kept = {name: getattr(stored[code], name) for name in DETAILS}
            values = checked_details(Details(**(kept | given)))
            by_fields[tuple(sorted(given))].append({"changed_id": ids[code], **{name: values[name] for name in given}})
        for names, rows in by_fields.items():
            connection.execute(
                update(table)
                .where(table.c.id == bindparam("changed_id"))
                .values(version=table.c.version + 1, **{name: bindparam(name) for name in names}),
                rows,
            )
        record(connection, Customer, table.c.id.in_(list(ids.values())), HistoryOperation.EDIT)


DETAILS = tuple(field.name for field in fields(Details))
"""What :class:`Details` holds, each a customer's column of the same name."""


def _new_status(session, thresholds: set[Decimal]) -> dict[Decimal, str]:
    """The status of a new customer, whose balance is nothing yet, under each threshold: as the one rule
    (``status_sql``) gives it, asked once for every threshold of a batch."""
    given = values(column("suspend_below", Money), name="given").data([(threshold,) for threshold in thresholds])
    found = session.execute(select(given.c.suspend_below, status_sql(literal(ZERO, Money), given.c.suspend_below)))
    return dict(found.all())


def change_customer(customer: Customer, details: Details, *, version: int | None = None) -> Customer:
    """Save the customer's details; a new suspension threshold sets its status at once, from its balance now.

    ``version``: the one the customer's form was loaded at; raises ``ChangedMeanwhile`` if it is not the customer's now.
    """
    values = checked_details(details)
    with transaction() as session:
        _refuse_inactive_manager(session, values["account_manager_id"], keeps=customer.account_manager_id)
        lock_customers(session.connection(), [customer.id])
        expect_version(customer, version)
        for name, value in values.items():
            setattr(customer, name, value)
        _set_status(customer, values["suspend_below"])
    return customer


def _set_status(customer: Customer, suspend_below: Decimal) -> None:
    """The customer's status as its threshold and its balance give it: suspended while the balance is below it.

    Written with the row, as SQL: the balance it compares is the one stored when the row is written (under the
    customer's lock), not one loaded before. The threshold is the one being written, not the row's previous one.
    """
    customer.status = status_sql(Customer.balance, literal(suspend_below, Money))


def _refuse_inactive_manager(session, manager_id: int | None, *, keeps: int | None = None) -> None:
    """Refuse an inactive account manager, unless the customer has them already (``keeps``). The manager's row is
    locked first, so a deactivation committing meanwhile is seen (or waits for this write)."""
    if manager_id is None or manager_id == keeps:
        return
    lock_rows(session.connection(), AccountManager.__table__, [manager_id])
    found = session.execute(
        select(AccountManager.active, AccountManager.name).where(AccountManager.id == manager_id)
    ).one_or_none()
    if found is None:
        raise CustomerError(_("There is no such account manager."), "account_manager_id")
    active, name = found
    if not active:
        raise CustomerError(
            _("%(name)s is inactive: choose an active account manager.", name=name), "account_manager_id"
        )


def checked_details(details: Details) -> dict:
    """The details as they are stored; :class:`CustomerError` names the field at fault. Whether the account manager
    exists and is active is checked when the customer is written, under the manager's lock."""
    name = details.name.strip()
    if not name or len(name) > 200:
        raise CustomerError(_("A customer needs a name of at most 200 characters."), "name")
    _one_line(name, "name", _l("A customer's name"))
    try:
        suspend_below = check_amount(details.suspend_below)
    except MoneyError as error:
        raise CustomerError(str(error), "suspend_below") from None
    manager_id = details.account_manager_id
    return {
        "name": name,
        "account_manager_id": manager_id,
        "suspend_below": suspend_below,
        "contact_person": _one_line(
            _text(details.contact_person, 120, "contact_person", _l("A contact person's name")),
            "contact_person",
            _l("A contact person's name"),
        ),
        "email": _email(details.email),
        "phone": _phone(details.phone),
        "address": _text(details.address, 500, "address", _l("An address")),
        "city": _one_line(_text(details.city, 100, "city", _l("A city")), "city", _l("A city")),
        "tax_number": _one_line(
            _text(details.tax_number, 40, "tax_number", _l("A tax number")), "tax_number", _l("A tax number")
        ),
        "nitku": _nitku(details.nitku),
        **_route(details.route, details.route_stop),
        "tax_status": _tax_status(details.tax_status),
        "language": _language(details.language),
    }


def _nitku(text: str | None) -> str | None:
    """A NITKU as it is kept: 22 digits (none where blank)."""
    try:
        return efaktur.checked_nitku(text)
    except efaktur.TinError as error:
        raise CustomerError(str(error), "nitku") from None


ROUTE_STOPS = 1_000_000
"""The last stop a round may have."""


def _route(route: str | None, stop: int | str | None) -> dict:
    """A route and its stop as they are stored: a route of one line, at most 60 characters (none when blank); a stop,
    a whole number from 1, only on a route."""
    route = _one_line(_text(route, 60, "route", _l("A route")), "route", _l("A route")) or None
    if isinstance(stop, str):
        stop = int(stop.strip()) if stop.strip().isdecimal() and len(stop.strip()) < 9 else (stop.strip() or None)
    if stop is not None and not (isinstance(stop, int) and 1 <= stop <= ROUTE_STOPS):
        raise CustomerError(
            _("A stop is a whole number from 1 to %(last)s.", last=count_text(ROUTE_STOPS)), "route_stop"
        )
    if stop is not None and route is None:
        raise CustomerError(_("A stop is a place on a route: give the route too."), "route_stop")
    return {"route": route, "route_stop": stop}


def closing_blockers(customer: Customer) -> list[str]:
    """What keeps the customer from being closed, each with what to do about it (nothing: it can be closed)."""
    held = [assignment.meter.serial for assignment in _held(customer)]
    waiting = db.session.scalar(
        select(func.count(RecalculationRequest.id)).where(
            RecalculationRequest.customer_id == customer.id, RecalculationRequest.done_at.is_(None)
        )
    )
    blockers = []
    if held:
        blockers.append(
            ngettext(
                'It holds meter %(meters)s: end the assignment on its "Meters & billing" tab first.',
                'It holds meters %(meters)s: end the assignment on its "Meters & billing" tab first.',
                len(held),
                meters=", ".join(held),
            )
        )
    if customer.balance:
        blockers.append(
            _(
                "Its prepaid balance is %(balance)s: bring it to zero first (a charge for a refund, or an adjustment).",
                balance=shown(customer.balance),
            )
        )
    if customer.amount_due:
        blockers.append(
            _(
                "%(amount)s is due on its meters: record the payment (or withdraw the invoice) first.",
                amount=shown(customer.amount_due),
            )
        )
    if customer.overpayment:
        blockers.append(
            _(
                "It overpaid %(amount)s on its meters: invoice it (or withdraw the payment) first.",
                amount=shown(customer.overpayment),
            )
        )
    if waiting:
        blockers.append(
            _(
                "%(count)s recalculation request(s) wait: let the job do them (or run Recalculate customer) first.",
                count=waiting,
            )
        )
    return blockers


def wallets_total() -> Decimal:
    """The sum of every customer's prepaid balance as the ledger keeps it: the Customer deposits account's balance,
    read without reading the customers (the nightly's ``wallet_ledger_agreement`` proves the two equal; a closed
    customer's balance is zero)."""
    return db.session.scalar(select(Account.balance).where(Account.code == CUSTOMER_DEPOSITS))


def close_customer(customer: Customer, *, user: User | None = None) -> Customer:
    """Close the customer: no new movement from now on; its history stays. Refused with what keeps it open."""
    with transaction() as session:
        lock_customers(session.connection(), [customer.id])
        session.refresh(customer)
        if customer.closed:
            raise CustomerError(_("Customer %(code)s is closed already.", code=customer.code), "close")
        if blockers := closing_blockers(customer):
            refusal = _("Customer %(code)s cannot be closed yet.", code=customer.code)
            raise CustomerError(" ".join([refusal, *blockers]), "close")
        customer.closed_at, customer.closed_by_id = utcnow(), user.id if user else None
    return customer


def reopen_customer(customer: Customer) -> Customer:
    """Reopen a closed customer: it takes movements again."""
    with transaction() as session:
        lock_customers(session.connection(), [customer.id])
        session.refresh(customer)
        if not customer.closed:
            raise CustomerError(_("Customer %(code)s is not closed.", code=customer.code), "close")
        customer.closed_at, customer.closed_by_id = None, None
    return customer


def set_realtime(customer_id: int, on: bool) -> None:
    """Calculate the customer's readings in real time, or leave them to a recalculation request (the nightly run);
    its history keeps the change."""
    with transaction() as session:
        session.execute(update(Customer).where(Customer.id == customer_id).values(use_realtime_calculation=on))
        record(session.connection(), Customer, Customer.id == customer_id, HistoryOperation.EDIT)


def _held(customer: Customer) -> list[MeterAssignment]:
    return list(
        db.session.scalars(
            select(MeterAssignment)
            .options(joinedload(MeterAssignment.meter))
            .where(MeterAssignment.customer_id == customer.id, MeterAssignment.is_active)
            .order_by(MeterAssignment.meter_id)
        )
    )


def _text(value: str | None, longest: int, field: str, what: str) -> str | None:
    text = (value or "").strip()
    if len(text) > longest:
        raise CustomerError(_("%(what)s has at most %(length)s characters.", what=what, length=longest), field)
    return text or None


def _one_line(text: str | None, field: str, what: str) -> str | None:
    try:
        return one_line(text, what) if text else text
    except NotOneLine as refusal:
        raise CustomerError(str(refusal), field) from None


def _tax_status(value: str | None) -> str | None:
    """The status as it is stored: none for taxed (the rule), else exempt or zero-rated."""
    if value and value not in {status.value for status in TaxStatus}:
        raise CustomerError(_("Choose taxed, exempt or zero-rated."), "tax_status")
    return None if value in (None, "", TaxStatus.TAXED.value) else value


def _language(value: str | None) -> str | None:
    if value and value not in LANGUAGES:
        raise CustomerError(_("Choose one of the languages offered."), "language")
    return value or None


def _email(value: str | None) -> str | None:
    text = (value or "").strip()
    if not text:
        return None
    try:
        email = email_address(text).lower()
    except NotAnAddress as error:
        raise CustomerError(str(error), "email") from None
    if len(email) > 254:
        raise CustomerError(_("An email address has at most 254 characters."), "email")
    return email


def _phone(value: str | None) -> str | None:
    text = " ".join((value or "").split())
    if not text:
        return None
    digits = sum(character.isdigit() for character in text)
    if len(text) > 40 or not PHONE.fullmatch(text) or not 6 <= digits <= 20:
        raise CustomerError(
            _(
                "Not a phone number: write 6 to 20 digits, with spaces, dashes, dots or brackets if you like and a "
                "leading + for another country (e.g. +62 21 555-0123)."
            ),
            "phone",
        )
    return text
