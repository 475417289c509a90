"""Meters and postpaid billing: invoices and payments per meter, and the balances they give.

An invoice or a payment belongs to the customer who held the meter on its date, not the one holding it now, and only
what is not withdrawn counts. Each balance's formula is defined here once, as SQL, for the write-path hooks and the
checks alike.
"""

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    Computed,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Numeric,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backoffice.models.customers import Customer
from backoffice.models.types import Balance, Money, Rate, nearest_index, str_enum, trigram_index, utcnow
from backoffice.platform.extensions import db
from backoffice.platform.lines import DESCRIPTION_LENGTH
from backoffice.platform.money import ZERO


class MeterStatus(enum.StrEnum):
    ACTIVE = "active"
    RETIRED = "retired"


class Meter(db.Model):
    __tablename__ = "meters"
    __versioned__ = {"exclude": ["balance", "overpayment"]}
    __table_args__ = (trigram_index("meters", "serial"), nearest_index("meters", "serial"))

    id: Mapped[int] = mapped_column(primary_key=True)
    serial: Mapped[str] = mapped_column(String(40), unique=True)
    status: Mapped[MeterStatus] = mapped_column(str_enum(MeterStatus, "meter_status"), default=MeterStatus.ACTIVE)
    balance: Mapped[Decimal] = mapped_column(Balance, default=ZERO, server_default=text("0"))
    overpayment: Mapped[Decimal] = mapped_column(Balance, default=ZERO, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # A retired meter takes no new reading or assignment; what was dated at its customers stays theirs.
    retired_on: Mapped[date | None] = mapped_column(Date)
    retired_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    def __str__(self) -> str:
        return self.serial

    @property
    def retired(self) -> bool:
        return self.status is MeterStatus.RETIRED


class MeterAssignment(db.Model):
    """A meter at a customer's site over a period: from ``started_on`` up to, not including, ``ended_on``.

    A move on 2025-06-01 ends the old period and starts the new one that day, so what is dated
    2025-06-01 is the new holder's. The period of the active assignment is open (no ``ended_on``).
    """

    __tablename__ = "meter_assignments"
    __versioned__: dict = {}
    __table_args__ = (
        # A meter is at one customer at a time.
        Index(
            "uq_meter_assignments_active_meter",
            "meter_id",
            unique=True,
            postgresql_where=text("is_active"),
        ),
        Index("ix_meter_assignments_customer_id", "customer_id"),
        # Who held a meter on a date: its periods in order.
        Index("ix_meter_assignments_meter_period", "meter_id", "started_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    meter_id: Mapped[int] = mapped_column(ForeignKey("meters.id"))
    is_active: Mapped[bool] = mapped_column(default=True, active_history=True)
    started_on: Mapped[date] = mapped_column(Date)
    ended_on: Mapped[date | None] = mapped_column(Date)

    customer: Mapped[Customer] = relationship()
    meter: Mapped[Meter] = relationship()


class Withdrawable:
    """An invoice or a payment is withdrawn, never deleted: the withdrawal is recorded, with why, and posted."""

    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    withdrawn_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    withdrawal_reason: Mapped[str | None] = mapped_column(String(DESCRIPTION_LENGTH))
    withdrawal_entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entries.id"), unique=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"), unique=True)
    """Its journal entry, written with it by the billing service: a row without one was not posted."""

    @property
    def withdrawn(self) -> bool:
        return self.withdrawn_at is not None


def _withdrawal_posted() -> CheckConstraint:
    return CheckConstraint("(withdrawn_at IS NULL) = (withdrawal_entry_id IS NULL)", name="withdrawal_posted")


class InvoiceStatus(enum.StrEnum):
    """What an invoice's payments leave of it, as stored; *overdue* is read beside it: open or partly paid with
    its due date passed (see :func:`invoice_status_sql`)."""

    OPEN = "open"
    PARTLY_PAID = "partly_paid"
    PAID = "paid"
    WITHDRAWN = "withdrawn"


ASKING = (InvoiceStatus.OPEN.value, InvoiceStatus.PARTLY_PAID.value)
"""The stored statuses of an invoice that still asks something: outstanding above 0, not withdrawn."""
SETTLED = (
    "CASE WHEN withdrawn_at IS NOT NULL THEN 'withdrawn' WHEN outstanding = 0 THEN 'paid' "
    "WHEN outstanding < amount THEN 'partly_paid' ELSE 'open' END"
)


class Invoice(Withdrawable, db.Model):
    __tablename__ = "invoices"
    __versioned__ = {"exclude": ["version", "outstanding", "status"]}
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("vat >= 0 AND vat < amount", name="vat_within_amount"),
        CheckConstraint("vat_included IS NULL OR (vat_included AND vat IS NOT NULL)", name="vat_included_is_vat"),
        _withdrawal_posted(),
        Index("ix_invoices_meter_id", "meter_id"),
        Index("ix_invoices_open", "status", "due_on"),
        # The list's orders, each with the id that breaks its ties: a page is read off an index, whichever is chosen.
        Index("ix_invoices_issued_on_id", "issued_on", "id"),
        Index("ix_invoices_due_on_id", "due_on", "id"),
        Index("ix_invoices_amount_id", "amount", "id"),
        Index("ix_invoices_outstanding_id", "outstanding", "id"),
        trigram_index("invoices", "number"),
        nearest_index("invoices", "number"),
        # What the tax office numbers is one invoice's.
        Index(
            "uq_invoices_authority_number",
            "authority_number",
            unique=True,
            postgresql_where=text("authority_number IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    meter_id: Mapped[int] = mapped_column(ForeignKey("meters.id"))
    number: Mapped[str] = mapped_column(String(40), unique=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    """What the customer owes, pays and is aged on: its net and its VAT."""
    vat: Mapped[Decimal | None] = mapped_column(Money)
    """The VAT charged on its net at ``vat_rate``, rounded once to the currency's unit (``formulas.vat_sql``); none
    when it is charged none (no rate in force on its issue date, a customer not taxed, or made before VAT was kept):
    its amount is all net."""
    vat_rate: Mapped[Decimal | None] = mapped_column(Rate)
    """The rate its lines are charged, in per cent, where they share one (none where they have several: its totals
    by rate are its lines')."""
    vat_included: Mapped[bool | None] = mapped_column()
    """True where its amount was given with its VAT in it (an old system's total): its VAT is the amount less its net,
    the amount ÷ (1 + rate) (``formulas.charged_vat_sql``); none where its net was given and charged VAT."""
    issued_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    version: Mapped[int] = mapped_column(server_default=text("1"))
    outstanding: Mapped[Decimal] = mapped_column(Money, server_default=text("0"))
    """What the invoice still asks: its amount less what payments are applied to it (0 once withdrawn)."""
    status: Mapped[str] = mapped_column(String(12), Computed(SETTLED, persisted=True))
    authority_number: Mapped[str | None] = mapped_column(String(64))
    """The number the tax office gave it: Coretax's tax invoice number, a Vietnamese e-invoice's authority code, an
    eTIMS receipt's number; none until it is brought back."""
    authority_signature: Mapped[str | None] = mapped_column(String(200))
    """What the tax office signed it with, where it signs (an eTIMS receipt's signature)."""
    authority_recorded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    meter: Mapped[Meter] = relationship()
    lines: Mapped[list["InvoiceLine"]] = relationship(
        order_by="InvoiceLine.position", viewonly=True, back_populates="invoice"
    )

    __mapper_args__ = {"version_id_col": version}

    @hybrid_property
    def net(self) -> Decimal:
        """What it charges before VAT: its amount less its VAT (none: all of it)."""
        return self.amount - (self.vat or ZERO)

    @net.inplace.expression
    @classmethod
    def _net_sql(cls):
        return cls.amount - func.coalesce(cls.vat, 0)

    def status_on(self, today: date) -> str:
        """Its status as read on ``today``: *overdue* when it still asks something after its due date."""
        if self.status in ASKING and self.due_on < today:
            return "overdue"
        return self.status


class LineKind(enum.StrEnum):
    """What a line of an invoice bills, each kind taxed at its own rate."""

    GAS = "gas"
    METER_RENTAL = "meter_rental"
    CONNECTION_FEE = "connection_fee"


class InvoiceLine(db.Model):
    """A line of an invoice: what kind of thing it bills, its base (its amount before VAT), the rate it is charged
    at and its VAT; and, as the system before wrote it (Odoo's and ERPNext's a row per line), how many at what unit
    price under which tax. Every invoice has at least one. Written with its invoice; its words and rate never
    change (the database refuses), its base and VAT only with the correction of its one-line invoice."""

    __tablename__ = "invoice_lines"
    __table_args__ = (
        UniqueConstraint("invoice_id", "position"),
        CheckConstraint("position > 0", name="position_positive"),
        CheckConstraint("(vat IS NULL) = (vat_rate IS NULL)", name="vat_with_its_rate"),
        CheckConstraint("vat = round(vat, currency_places_v1())", name="vat_in_unit"),
        Index("ix_invoice_lines_invoice_id", "invoice_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"))
    position: Mapped[int] = mapped_column()
    """Its place on the invoice, from 1."""
    description: Mapped[str] = mapped_column(String(200), server_default=text("''"))
    quantity: Mapped[Decimal | None] = mapped_column(Numeric(18, 6))
    unit_price: Mapped[Decimal | None] = mapped_column(Numeric(18, 6))
    tax: Mapped[str] = mapped_column(String(60), server_default=text("''"))
    """The tax the line names, as written ("PPN 11%", "VAT 8%")."""
    amount: Mapped[Decimal] = mapped_column(Money)
    """The line's base, its amount before VAT: as typed or as the file gives it, else its quantity × unit price
    rounded once."""
    kind: Mapped[LineKind] = mapped_column(str_enum(LineKind, "line_kind"), server_default=text("'gas'"))
    vat_rate: Mapped[Decimal | None] = mapped_column(Rate)
    """The rate in force for its kind on its invoice's issue date, in per cent (0 for a customer not taxed); none
    where no rate was in force."""
    vat: Mapped[Decimal | None] = mapped_column(Money)
    """Its share of its invoice's VAT at its rate (``formulas.line_vat_sql``)."""

    invoice: Mapped[Invoice] = relationship(back_populates="lines")


class Payment(Withdrawable, db.Model):
    __tablename__ = "payments"
    __versioned__ = {"exclude": ["version", "unapplied"]}
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("settled_before IS NULL OR settled_before", name="settled_before_true_or_null"),
        _withdrawal_posted(),
        Index("ix_payments_meter_id", "meter_id"),
        # The list's orders, each with the id that breaks its ties: a page is read off an index, whichever is chosen.
        Index("ix_payments_paid_on_id", "paid_on", "id"),
        Index("ix_payments_reference_id", "reference", "id"),
        Index("ix_payments_amount_id", "amount", "id"),
        # A payment's reference (a bank transfer's) is recorded once on its meter, whoever records it.
        Index(
            "uq_payments_meter_reference",
            "meter_id",
            "reference",
            unique=True,
            postgresql_where=text("reference <> '' AND id > 0"),
        ),
        trigram_index("payments", "reference"),
        nearest_index("payments", "reference"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    meter_id: Mapped[int] = mapped_column(ForeignKey("meters.id"))
    amount: Mapped[Decimal] = mapped_column(Money)
    paid_on: Mapped[date] = mapped_column(Date)
    reference: Mapped[str] = mapped_column(String(100), default="")
    settled_before: Mapped[bool | None] = mapped_column()
    """True for what the system before said was paid of an invoice before the move-in, recorded as settled there
    (its reference the invoice's number, applied to it, posted against opening balance equity, never cash); none for
    a payment received."""
    version: Mapped[int] = mapped_column(server_default=text("1"))
    """Moved by every change of the payment itself (the billing service moves it by hand: it writes with Core); not
    by what its allocations or ``unapplied`` become as the meter's other invoices and payments change."""
    unapplied: Mapped[Decimal] = mapped_column(Money, server_default=text("0"))
    """What of the payment no invoice takes: the meter's credit (0 once withdrawn)."""

    meter: Mapped[Meter] = relationship()

    __mapper_args__ = {"version_id_col": version}


class AllocationHow(enum.StrEnum):
    CHOSEN = "chosen"
    """The clerk chose the invoice."""
    OLDEST = "oldest"
    """Applied to the oldest open invoice of the same holder: what the clerk's choice left, or credit that waited."""
    REVERSAL = "reversal"


class PaymentAllocation(db.Model):
    """Part of a payment applied to an invoice of the same meter and the same holder (the customer who held the
    meter on both dates). Only ever appended: a re-allocation reverses the row (its opposite, with why) and
    appends a new one, so what a payment pays is the sum of its rows per invoice."""

    __tablename__ = "payment_allocations"
    __versioned__: dict = {}
    __table_args__ = (
        CheckConstraint("amount <> 0", name="amount_not_zero"),
        CheckConstraint("(reverses_id IS NULL) = (amount > 0)", name="reversal_negative"),
        CheckConstraint("(reverses_id IS NULL) = (how <> 'reversal')", name="reversal_how"),
        UniqueConstraint("reverses_id", name="uq_payment_allocations_reverses_id"),
        Index("ix_payment_allocations_meter_id", "meter_id"),
        Index("ix_payment_allocations_payment_id", "payment_id"),
        Index("ix_payment_allocations_invoice_id", "invoice_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    meter_id: Mapped[int] = mapped_column(ForeignKey("meters.id"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"))
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"))
    amount: Mapped[Decimal] = mapped_column(Money)
    how: Mapped[AllocationHow] = mapped_column(str_enum(AllocationHow, "allocation_how"))
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("payment_allocations.id"))
    reason: Mapped[str | None] = mapped_column(String(DESCRIPTION_LENGTH))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    payment: Mapped[Payment] = relationship()
    invoice: Mapped[Invoice] = relationship()


def covers(period, on):
    """The one boundary rule: a period covers the days from its start up to, not including, its end.

    ``period`` is :class:`MeterAssignment` or the columns of an alias of its table; ``on`` a date or a column.
    """
    return (period.started_on <= on) & (period.ended_on.is_(None) | (on < period.ended_on))
