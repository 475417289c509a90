"""A customer's page: the customer found by its code, and the page drawn on one of its tabs (orders, prepaid
ledger, billing, readings and pricing, monthly balances) with what that tab shows. The screens that act on a
customer draw it again, with what a refused submission typed, from here."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from babel.dates import format_skeleton
from flask import abort, render_template
from flask_babel import gettext as _
from flask_login import current_user
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import ColumnElement, Integer, Row, bindparam, func, select
from sqlalchemy.orm import joinedload, selectinload

from backoffice import jobs
from backoffice.models import (
    Account,
    AccountManager,
    BalanceTransaction,
    Customer,
    CustomerPricing,
    Invoice,
    MeterAssignment,
    MeterReading,
    MonthlyCustomerBalance,
    Order,
    Payment,
    User,
    covers,
)
from backoffice.models.types import Month
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db, page_asked
from backoffice.platform.i18n import number_locale
from backoffice.reconcile import evidence_review
from backoffice.services import allocations, sending, wallet
from backoffice.services.descriptions import account_name
from backoffice.services.metering import NOTHING_PENDING, pending_recalculations, pending_summary, pending_waits
from backoffice.services.vocabulary import Kind, due_sql, meter_customer_net_sql, overpaid_sql, rule_of
from backoffice.web.customers.forms import (
    REASONS,
    AssignMeterForm,
    InvoiceForm,
    MovementForm,
    PaymentForm,
    PricingForm,
    ReadingForm,
    adjust_form,
)
from backoffice.web.oversight.evidence import described, review_form
from backoffice.web.plumbing.choices import open_invoices
from backoffice.web.plumbing.pickers import meters_of

MONTHS_SHOWN = 24
MOVEMENTS_PER_PAGE = 25
SENDINGS_SHOWN = 100
"""The documents sent to a customer shown on its page, the newest first."""
ORDERS_PER_PAGE = 25
WIDTH, HEIGHT, PAD = 720, 220, 24
TENTH = Decimal("0.1")


def customer_or_404(code: str) -> Customer:
    """The customer, with its account manager (every tab of its page names it)."""
    customer = db.session.scalar(_customer(), {"code": code})
    if customer is None:
        abort(404)
    return customer


def customer_page_or_404(code: str) -> tuple[Customer, Row]:
    """The customer (as :func:`customer_or_404`) with what its page asks first (:func:`render_customer`'s
    ``asked``), read together."""
    found = db.session.execute(_customer_asked(), {"code": code}).first()
    if found is None:
        abort(404)
    return found[0], found


def _asked(customer_id: ColumnElement[int]) -> list[ColumnElement[bool]]:
    """Whether a job runs, a recalculation waits or evidence is quarantined, for the customer of ``customer_id`` (a
    column), asked at once: each is read only when so."""
    return [
        jobs.active_job_held("recalculate_customer", {"customer_id": customer_id}).label("running"),
        pending_waits(customer_id).label("pending"),
        evidence_review.findings_open(customer_id).label("tampered"),
    ]


@cache
def _customer():
    """:func:`customer_or_404`'s statement, built once: every screen on a customer reads the customer."""
    return select(Customer).options(joinedload(Customer.account_manager)).where(Customer.code == bindparam("code"))


@cache
def _customer_asked():
    """:func:`customer_page_or_404`'s statement, built once."""
    return (
        select(Customer, *_asked(Customer.id))
        .options(joinedload(Customer.account_manager))
        .where(Customer.code == bindparam("code"))
    )


@cache
def _asked_of():
    """What the page asks of a customer already read, as one statement built once."""
    return select(*_asked(Customer.id)).where(Customer.id == bindparam("customer_id"))


def render_customer(customer: Customer, tab: str, forms: dict | None = None, move=None, asked: Row | None = None):
    """The customer's page on ``tab``; ``forms`` carry what a refused submission typed, ``move`` a meter move
    waiting for confirmation, ``asked`` what :func:`customer_page_or_404` read with the customer."""
    forms = forms or {}
    if asked is None:
        asked = db.session.execute(_asked_of(), {"customer_id": customer.id}).one()
    running, pending, tampered = asked.running, asked.pending, asked.tampered
    job_args = {"customer_id": customer.id}
    context = {
        "customer": customer,
        "tab": tab,
        "forms": forms,
        "move": move,
        "job": jobs.active_job("recalculate_customer", job_args) if running else None,
        "pending": pending_summary(customer.id) if pending else NOTHING_PENDING,
        "tampered": evidence_review.open_findings(customer.id) if tampered else [],
    }
    context["tampered_said"] = described(context["tampered"])
    if context["tampered"] and current_user.is_admin:
        context["review"] = review_form(context["tampered"])
    if context["pending"].requests:
        context["pending_first"] = pending_recalculations(customer.id, limit=5)
    if tab == "orders":
        context["orders"] = _Orders(
            page=page_asked(ORDERS_PER_PAGE), per_page=ORDERS_PER_PAGE, error_out=False, customer_id=customer.id
        )
        context["total"] = context["orders"].summed
    elif tab == "ledger":
        context.update(_ledger(customer, forms))
    elif tab == "billing":
        _billing_forms(customer, forms)
        context.update(_billing(customer))
    elif tab == "monthly":
        context.update(_monthly(customer))
    elif tab == "documents":
        context["sendings"] = sending.sendings_of(customer.id, SENDINGS_SHOWN)
    else:
        context.update(_metering(customer, forms))
    return render_template("customers/show.html", **context)


def posting_of(kind: Kind, signed: Decimal) -> str:
    """The accounts a movement of this kind and sign debits and credits, by name: "Dr Cash / Cr Customer deposits"."""
    rule = rule_of(kind, signed)
    names = {
        code: account_name(code, name)
        for code, name in db.session.execute(
            select(Account.code, Account.name).where(Account.code.in_([rule.debit, rule.credit]))
        )
    }
    return _("Dr %(debit)s / Cr %(credit)s", debit=names[rule.debit], credit=names[rule.credit])


def _ledger(customer: Customer, forms: dict) -> dict:
    """The movements, newest first, each with what reversed it; the forms that move money (adjusting: an admin's)."""
    for name in ("recharge", "charge"):
        forms.setdefault(
            name,
            MovementForm(prefix=name, formdata=None, idempotency_key=uuid.uuid4().hex, value_date=local_today()),
        )
    if current_user.is_admin:
        forms.setdefault("adjust", adjust_form(idempotency_key=uuid.uuid4().hex))
    movements = _Movements(
        page=page_asked(MOVEMENTS_PER_PAGE), per_page=MOVEMENTS_PER_PAGE, error_out=False, customer_id=customer.id
    )
    reversed_by = movements.reversed_by
    shown = {
        "movements": movements,
        "reversed_by": reversed_by,
        "reversible": {m.id for m in movements.items if m.id not in reversed_by and wallet.not_reversible(m) is None},
        "reasons": REASONS,
    }
    if current_user.is_admin:  # the adjusting form says what each direction posts
        shown["adjusts"] = {sign: posting_of(Kind.ADJUSTMENT, Decimal(sign)) for sign in (1, -1)}
    return shown


@cache
def _orders_page():
    """A page of a customer's orders as rows of the columns the orders tab shows (the manager by name), each with
    the count and grand total of them all: built once, when a customer's page is first shown on this tab."""
    orders, managers = Order.__table__, AccountManager.__table__
    return (
        select(
            orders.c.id,
            orders.c.number,
            orders.c.closing_date,
            orders.c.grand_total,
            managers.c.name.label("manager"),
            func.count().over().label("counted"),
            func.sum(orders.c.grand_total).over().label("summed"),
        )
        .join(managers, managers.c.id == orders.c.account_manager_id)
        .where(orders.c.customer_id == bindparam("customer_id"))
        .order_by(orders.c.closing_date.desc(), orders.c.id.desc())
        .limit(bindparam("limit", type_=Integer))
        .offset(bindparam("offset", type_=Integer))
    )


class _Orders(Pagination):
    """A page of the customer's orders, newest first, read in one statement with their count and the sum of their
    grand totals (``summed``)."""

    def _query_items(self) -> list:
        rows = db.session.execute(
            _orders_page(),
            {
                "customer_id": self._query_args["customer_id"],
                "limit": self.per_page,
                "offset": (self.page - 1) * self.per_page,
            },
        ).all()
        self._counted, self.summed = (rows[0].counted, rows[0].summed) if rows else (None, None)
        return rows

    def _query_count(self) -> int:
        if self._counted is not None:
            return self._counted
        customer_id = self._query_args["customer_id"]  # no order, or a page past the last: counted on their own
        count, total = db.session.execute(
            select(func.count(Order.id), func.coalesce(func.sum(Order.grand_total), 0)).where(
                Order.customer_id == customer_id
            )
        ).one()
        self.summed = Decimal(total)
        return count


@cache
def _movements_page():
    """A page of a customer's movements as rows of the columns the ledger shows (who posted each by name, else by
    email), each with the count of them all and the movement that reversed it: built once, as the ledger tab reads it
    at every view."""
    moved, by = BalanceTransaction.__table__, User.__table__
    reversal = moved.alias("reversal")
    return (
        select(
            *(
                moved.c[name]
                for name in (
                    "id",
                    "kind",
                    "signed_amount",
                    "balance_before",
                    "balance_after",
                    "value_date",
                    "reference_type",
                    "reference_id",
                    "description",
                    "reason",
                    "occasion",
                    "reverses_id",
                    "created_at",
                )
            ),
            func.coalesce(func.nullif(by.c.name, ""), by.c.email).label("by"),
            func.count().over().label("counted"),
            select(reversal.c.id).where(reversal.c.reverses_id == moved.c.id).scalar_subquery().label("reversed_by"),
        )
        .outerjoin(by, by.c.id == moved.c.created_by_id)
        .where(moved.c.customer_id == bindparam("customer_id"))
        .order_by(moved.c.id.desc())
        .limit(bindparam("limit", type_=Integer))
        .offset(bindparam("offset", type_=Integer))
    )


class _Movements(Pagination):
    """A page of the customer's movements, newest first, read in one statement with their count and, for each, the
    movement that reversed it (``reversed_by``: a movement is reversed once)."""

    def _query_items(self) -> list:
        rows = db.session.execute(
            _movements_page(),
            {
                "customer_id": self._query_args["customer_id"],
                "limit": self.per_page,
                "offset": (self.page - 1) * self.per_page,
            },
        ).all()
        self.reversed_by = {row.id: row.reversed_by for row in rows if row.reversed_by is not None}
        self._counted = rows[0].counted if rows else None
        return rows

    def _query_count(self) -> int:
        if self._counted is not None:
            return self._counted
        customer_id = self._query_args["customer_id"]  # a page past the last: counted on its own
        return db.session.scalar(select(func.count()).where(BalanceTransaction.customer_id == customer_id))


def _billing_forms(customer: Customer, forms: dict) -> None:
    forms.setdefault("assign", AssignMeterForm(prefix="assign", formdata=None, started_on=local_today()))
    for name, form_class in (("invoice", InvoiceForm), ("payment", PaymentForm)):
        if name not in forms:
            forms[name] = form_class(prefix=name, formdata=None)
            if name == "invoice":
                forms[name].issued_on.data = local_today()
            else:
                forms[name].paid_on.data = local_today()
        meters_of(forms[name].meter_id, customer)
    forms["payment"].invoice_ids.choices = [(o.id, o.label) for o in open_invoices(customer)]


def _billing(customer: Customer) -> dict:
    """The customer's periods with what they owe on each meter, and the invoices and payments dated in them (the
    withdrawn ones too, with who withdrew them)."""
    net = meter_customer_net_sql(MeterAssignment.meter_id, MeterAssignment.customer_id)
    assignments = db.session.execute(
        select(MeterAssignment, due_sql(net), overpaid_sql(net))
        .options(selectinload(MeterAssignment.meter))
        .where(MeterAssignment.customer_id == customer.id)
        .order_by(MeterAssignment.is_active.desc(), MeterAssignment.started_on.desc())
    ).all()
    held = MeterAssignment.__table__.alias("held")

    def in_periods(model, on):
        return select(model).where(
            select(held.c.id)
            .where(held.c.customer_id == customer.id, held.c.meter_id == model.meter_id, covers(held.c, on))
            .exists()
        )

    invoices = db.session.scalars(
        in_periods(Invoice, Invoice.issued_on)
        .options(selectinload(Invoice.meter))
        .order_by(Invoice.issued_on.desc(), Invoice.id.desc())
    ).all()
    payments = db.session.scalars(
        in_periods(Payment, Payment.paid_on)
        .options(selectinload(Payment.meter))
        .order_by(Payment.paid_on.desc(), Payment.id.desc())
    ).all()
    withdrawn_by = {row.withdrawn_by_id for row in (*invoices, *payments)} - {None}
    return {
        "assignments": _owed_once_per_meter(assignments),
        "invoices": invoices,
        "payments": payments,
        "paid_invoices": allocations.by_payment(db.session.connection(), [p.id for p in payments]),
        "today": local_today(),
        "withdrawers": {user.id: user for user in db.session.scalars(select(User).where(User.id.in_(withdrawn_by)))},
    }


def _owed_once_per_meter(assignments) -> list[tuple]:
    """Each period with what the customer owes on its meter, shown on the meter's latest period only: the
    figure covers every period of the meter at the customer's, and is counted once in their totals."""
    shown_for = set()
    rows = []
    for assignment, due, overpaid in assignments:
        first = assignment.meter_id not in shown_for
        shown_for.add(assignment.meter_id)
        rows.append((assignment, Decimal(due) if first else None, Decimal(overpaid) if first else None))
    return rows


def _metering(customer: Customer, forms: dict) -> dict:
    """What the "Readings & pricing" tab shows (``forms["duplicate"]``: the reading already there on the date a
    refused reading was dated, which the form asks to confirm)."""
    reading_form = forms.get("reading") or ReadingForm(prefix="reading", formdata=None, reading_date=local_today())
    meters_of(reading_form.meter_id, customer)
    return {
        "reading_form": reading_form,
        "duplicate": forms.get("duplicate"),
        "pricing_form": forms.get("pricing") or PricingForm(prefix="pricing", formdata=None),
        "pricing_rows": db.session.scalars(
            select(CustomerPricing)
            .where(CustomerPricing.customer_id == customer.id)
            .order_by(CustomerPricing.effective_from.desc())
        ).all(),
        "readings": db.paginate(
            select(MeterReading)
            .options(selectinload(MeterReading.calculation), selectinload(MeterReading.meter))
            .where(MeterReading.customer_id == customer.id)
            .order_by(MeterReading.reading_date.desc(), MeterReading.id.desc()),
            per_page=25,
            error_out=False,
        ),
    }


@dataclass(frozen=True)
class Bar:
    x: Decimal
    y: Decimal
    width: Decimal
    height: Decimal
    month: MonthlyCustomerBalance
    label: str
    """The month under its bar, as the reader writes a month in figures (``8/2026``); every other month when there
    are many."""


@dataclass(frozen=True)
class Chart:
    """Closing balance (a line) and Sm³ volume (bars) per month, in SVG coordinates."""

    width: int
    height: int
    bars: list[Bar]
    points: str
    zero_y: Decimal


def _monthly(customer: Customer) -> dict:
    """What the monthly balances tab shows: the latest months, newest first, and their chart."""
    rows = db.session.scalars(
        select(MonthlyCustomerBalance)
        .where(MonthlyCustomerBalance.customer_id == customer.id)
        .order_by(MonthlyCustomerBalance.year_month.desc())
        .limit(MONTHS_SHOWN)
    ).all()
    return {"months": rows, "chart": chart(list(reversed(rows))) if rows else None}


def chart(rows: list[MonthlyCustomerBalance]) -> Chart:
    """Scale the months into the drawing: bars from the bottom, the line between its lowest and highest value."""
    inner_w, inner_h = Decimal(WIDTH - 2 * PAD), Decimal(HEIGHT - 2 * PAD)
    slot = inner_w / len(rows)
    top_volume = max((r.total_volume_sm3 for r in rows), default=Decimal(0)) or Decimal(1)
    closings = [r.closing_balance for r in rows]
    low, high = min([*closings, Decimal(0)]), max([*closings, Decimal(0)])
    span = (high - low) or Decimal(1)

    def y_of(value: Decimal) -> Decimal:
        return (PAD + inner_h - (value - low) / span * inner_h).quantize(TENTH)

    bars, points, locale = [], [], number_locale()
    for index, row in enumerate(rows):
        height = (row.total_volume_sm3 / top_volume * inner_h).quantize(TENTH)
        x = (PAD + slot * index).quantize(TENTH)
        month = Month.parse(row.year_month)
        label = format_skeleton("yM", month.first_day, locale=locale) if len(rows) <= 12 or index % 2 == 0 else ""
        width = (slot * 3 / 5).quantize(TENTH)
        bars.append(Bar(x + (slot / 5).quantize(TENTH), PAD + inner_h - height, width, height, row, label))
        points.append(f"{(x + slot / 2).quantize(TENTH)},{y_of(row.closing_balance)}")
    return Chart(WIDTH, HEIGHT, bars, " ".join(points), y_of(Decimal(0)))
