"""The formulas of the derived figures, as SQL: each one defined once, for the write path that stores a figure, the
check that verifies it and the rebuild that writes it again.

The wallet's own (what a movement adds to a customer's totals and its month, which accounts it moves) are the rule
table's (:mod:`backoffice.posting.sql`); these are the others: a customer's status, what a meter and a customer owe,
what an invoice still asks and a payment leaves unapplied, an account's balance from its lines and the balance sheet,
a reading's volume and price, an invoice's VAT and the rate in force, a manager's month of orders and a target's
achieved amount.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import ColumnElement, Select, String, and_, case, func, literal, or_, select

from backoffice.models import (
    Account,
    AccountBalanceBucket,
    AccountType,
    Customer,
    CustomerPricing,
    CutOver,
    EntryStatus,
    Invoice,
    JournalEntry,
    JournalLine,
    LineKind,
    Meter,
    MeterAssignment,
    Order,
    Payment,
    PaymentAllocation,
    Resolution,
    TamperedEvidence,
    Target,
    VatRate,
    normal_amount,
)
from backoffice.models.billing import ASKING, covers
from backoffice.models.metering import Volume, pricing_in_force
from backoffice.models.types import Balance, Money, first_of_month, next_month, rounded_product

_findings = TamperedEvidence.__table__


def status_sql(balance, suspend_below):
    """A customer's status as its balance makes it, as SQL: ``customer_status_v1`` (migration ``0054``), suspended
    while the balance is below the customer's threshold, else active. The wallet's function stores it with each
    movement, a batch and a threshold's change through this; the ``customer_status`` check verifies it."""
    return func.customer_status_v1(balance, suspend_below, type_=String)


def meter_net_sql(meters=Meter.__table__):
    """Invoices less payments of each meter row, as a correlated SQL expression."""
    invoices, payments = Invoice.__table__, Payment.__table__
    invoiced = select(func.coalesce(func.sum(invoices.c.amount), 0)).where(
        invoices.c.meter_id == meters.c.id, invoices.c.withdrawn_at.is_(None)
    )
    paid = select(func.coalesce(func.sum(payments.c.amount), 0)).where(
        payments.c.meter_id == meters.c.id, payments.c.withdrawn_at.is_(None)
    )
    return invoiced.scalar_subquery() - paid.scalar_subquery()


def receivables_sql():
    """All invoices less all payments, neither withdrawn: what account 1100 Receivables must hold, one SQL scalar."""
    invoices, payments = Invoice.__table__, Payment.__table__
    invoiced = select(func.coalesce(func.sum(invoices.c.amount), 0)).where(invoices.c.withdrawn_at.is_(None))
    paid = select(func.coalesce(func.sum(payments.c.amount), 0)).where(payments.c.withdrawn_at.is_(None))
    return func.round(invoiced.scalar_subquery() - paid.scalar_subquery(), 2, type_=Balance)


def due_sql(net):
    """What is due of a net (invoices less payments): ``max(net, 0)``, the net computed once (a ``CASE`` would
    compute its subqueries twice)."""
    return func.greatest(net, 0)


def overpaid_sql(net):
    """What was overpaid of a net (invoices less payments): ``max(-net, 0)``, the net computed once."""
    return func.greatest(-net, 0)


def meter_balance_sql(meters=Meter.__table__):
    """What the meter row is owed (its invoices less its payments, never below zero), rounded: one SQL expression."""
    return func.round(due_sql(meter_net_sql(meters)), 2, type_=Balance)


def meter_overpayment_sql(meters=Meter.__table__):
    """What the meter row was paid beyond its invoices (never below zero), rounded: one SQL expression."""
    return func.round(overpaid_sql(meter_net_sql(meters)), 2, type_=Balance)


def counted_allocation(allocations=PaymentAllocation.__table__) -> ColumnElement[bool]:
    """Whether an allocation counts in what its invoice still asks and its payment leaves: not when it, or the
    allocation it reverses, is tampered evidence still open or reversed by an admin's review."""
    flagged = select(_findings.c.row_id).where(
        _findings.c.kind == "payment_allocations",
        or_(_findings.c.resolution.is_(None), _findings.c.resolution == Resolution.REVERSED.value),
    )
    return and_(
        allocations.c.id.not_in(flagged),
        or_(allocations.c.reverses_id.is_(None), allocations.c.reverses_id.not_in(flagged)),
    )


def _applied(allocated_by) -> ColumnElement:
    allocations = PaymentAllocation.__table__
    return (
        select(func.coalesce(func.sum(allocations.c.amount), 0))
        .where(allocated_by(allocations), counted_allocation(allocations))
        .scalar_subquery()
    )


def invoice_outstanding_sql(invoices=Invoice.__table__) -> ColumnElement:
    """The invoice's amount less every allocation to it that counts (:func:`counted_allocation`; a reversal counts
    against the row it reverses); 0 once withdrawn."""
    left = invoices.c.amount - _applied(lambda allocations: allocations.c.invoice_id == invoices.c.id)
    return func.round(case((invoices.c.withdrawn_at.is_(None), left), else_=0), 2, type_=Money)


def payment_unapplied_sql(payments=Payment.__table__) -> ColumnElement:
    """The payment's amount less every allocation of it that counts; 0 once withdrawn."""
    left = payments.c.amount - _applied(lambda allocations: allocations.c.payment_id == payments.c.id)
    return func.round(case((payments.c.withdrawn_at.is_(None), left), else_=0), 2, type_=Money)


def invoice_status_sql(today: date, invoices=Invoice.__table__) -> ColumnElement:
    """The invoice's status as read on ``today``: its stored one, or *overdue* when open or partly paid after its
    due date."""
    asking = invoices.c.status.in_(ASKING)
    return case((asking & (invoices.c.due_on < today), literal("overdue")), else_=invoices.c.status)


def meter_customer_net_sql(meter_id, customer_id):
    """What the customer owes on the meter (negative: was overpaid): its invoices less its payments, of those
    dated in the customer's periods of the meter. Values or correlated columns."""
    held = MeterAssignment.__table__.alias("held")

    def dated_in_periods(table, on):
        return (
            select(func.coalesce(func.sum(table.c.amount), 0))
            .select_from(table.join(held, (held.c.meter_id == table.c.meter_id) & covers(held.c, on)))
            .where(table.c.meter_id == meter_id, held.c.customer_id == customer_id, table.c.withdrawn_at.is_(None))
            .scalar_subquery()
        )

    invoices, payments = Invoice.__table__, Payment.__table__
    return dated_in_periods(invoices, invoices.c.issued_on) - dated_in_periods(payments, payments.c.paid_on)


def customer_meter_sums_sql(customers=Customer.__table__) -> dict:
    """The customer's ``amount_due`` and ``overpayment``: per meter they have held, :func:`due_sql` and
    :func:`overpaid_sql` of :func:`meter_customer_net_sql`, summed over those meters."""
    pair, period = MeterAssignment.__table__.alias("pair"), MeterAssignment.__table__.alias("period")
    # One row per (customer, meter), however many times the meter came back to the customer.
    first_period = (
        select(func.min(period.c.id))
        .where(period.c.customer_id == pair.c.customer_id, period.c.meter_id == pair.c.meter_id)
        .scalar_subquery()
    )
    net = meter_customer_net_sql(pair.c.meter_id, pair.c.customer_id)

    def summed(value):
        per_pair = select(func.sum(value)).where(pair.c.customer_id == customers.c.id, pair.c.id == first_period)
        return func.round(func.coalesce(per_pair.scalar_subquery(), 0), 2, type_=Balance)

    return {"amount_due": summed(due_sql(net)), "overpayment": summed(overpaid_sql(net))}


def volume_sm3_sql(volume_flow_meter, meter_correction):
    """A reading's volume in Sm³: its flow-meter volume times the meter correction, rounded to 4 places."""
    return rounded_product(volume_flow_meter, meter_correction, 4, type_=Volume)


def total_price_sql(volume_sm3, price_per_sm3, places):
    """What a reading costs, rounded once to ``places``: the currency's unit, or a calculation's own ``places``."""
    return rounded_product(volume_sm3, price_per_sm3, places, type_=Money)


def rate_in_force_sql(on, kind=LineKind.GAS.value):
    """The VAT rate in force for a ``kind`` of invoice line on the day ``on`` (each a value or a column), in per
    cent: the latest saved of its latest rates applying from that day or before; none before any."""
    rates = VatRate.__table__
    return (
        select(rates.c.rate)
        .where(rates.c.kind == kind, rates.c.applies_from <= on)
        .order_by(rates.c.applies_from.desc(), rates.c.id.desc())
        .limit(1)
        .correlate_except(rates)
        .scalar_subquery()
    )


def vat_rate_sql(on, kind=LineKind.GAS.value):
    """:func:`rate_in_force_sql`, 0 before any rate."""
    return func.coalesce(rate_in_force_sql(on, kind), 0)


def line_vat_sql(invoice, position, base, rate, held=None):
    """A line's share of its invoice's VAT at its ``rate``, as a window over the invoice's lines (``invoice`` the
    column that names the invoice, ``position`` the line's place): the invoice's VAT at a rate is charged on the sum
    of its lines at that rate, rounded once (:func:`vat_sql`), or is the VAT it ``held`` in its total at that rate
    (:func:`charged_vat_sql`); each line takes its own base's VAT, the last line of the rate what rounding leaves.
    None where the line's rate is none."""
    at_rate = {"partition_by": [invoice, rate]}
    own = vat_sql(base, rate)
    charged = vat_sql(func.sum(base).over(**at_rate), rate)
    if held is not None:
        charged = func.coalesce(held, charged)
    last = func.row_number().over(**at_rate, order_by=position.desc()) == 1
    return case((last, charged - (func.sum(own).over(**at_rate) - own)), else_=own)


def vat_sql(net, rate):
    """The VAT on ``net`` at ``rate`` per cent, rounded once, half up, to the currency's unit (``currency_places_v1()``,
    the unit the database holds amounts in)."""
    return rounded_product(net, rate / 100, func.currency_places_v1(), type_=Money)


def charged_sql(reading_date, cost):
    """What a reading charges its holder's wallet: its cost, or nothing where it is dated on or before the day the
    installation took over (``cut_over``): history, which the opening balance brought in holds already."""
    cut_over = select(CutOver.day).scalar_subquery()
    return case((reading_date <= cut_over, literal(0, Money)), else_=cost)


def charged_vat_sql(given, rate, included):
    """The VAT an invoice charges at ``rate`` per cent on what it was ``given``: its net (:func:`vat_sql`), or, where
    ``included`` (an old system's total, which holds its VAT), that total less its net, the total ÷ (1 + rate)
    rounded once, half up, to the currency's unit: never VAT on VAT."""
    net_of_total = func.round(given * 100 / (100 + rate), func.currency_places_v1(), type_=Money)
    return case((included.is_(True), given - net_of_total), else_=vat_sql(given, rate))


def pricing_of(column, customer_id, on_date):
    """One column of the pricing in force, as a correlated SQL expression."""
    return (
        pricing_in_force(customer_id, on_date).with_only_columns(CustomerPricing.__table__.c[column]).scalar_subquery()
    )


def posted_lines(*columns, where=()):
    """The posted lines (of the entries ``where`` selects): ``columns`` of them, of their entries', or of the
    tables ``where`` joins by correlation. What an account's balance sums, whole or in part."""
    lines, entries = JournalLine.__table__, JournalEntry.__table__
    return (
        select(*columns)
        .select_from(lines.join(entries, entries.c.id == lines.c.entry_id))
        .where(entries.c.status == EntryStatus.POSTED.value, *where)
    )


def posted_sums():
    """Each account's posted lines, their debits and their credits summed apart: one pass over the journal, grouped
    by account, where a sum correlated to each account read every entry again for each of them."""
    lines = JournalLine.__table__
    debit, credit = func.sum(lines.c.debit).label("debit"), func.sum(lines.c.credit).label("credit")
    return posted_lines(lines.c.account_id, debit, credit).group_by(lines.c.account_id).subquery("posted")


def posted_balance_sql(account_type, posted):
    """An account's balance as its posted lines make it, on its normal side, from its row of :func:`posted_sums`
    (joined to it; none for an account without posted lines)."""
    return func.round(func.coalesce(normal_amount(account_type, posted.c.debit, posted.c.credit), 0), 2, type_=Balance)


def sheet_totals():
    """One row: the accounts' balances (their buckets) summed by type, and current earnings (revenue − expenses)."""
    accounts, buckets = Account.__table__, AccountBalanceBucket.__table__

    def total(*types: AccountType):
        summed = func.sum(case((accounts.c.type.in_([t.value for t in types]), buckets.c.balance), else_=0))
        return func.round(func.coalesce(summed, 0), 2, type_=Balance)

    return select(
        total(AccountType.ASSET).label("assets"),
        total(AccountType.LIABILITY).label("liabilities"),
        total(AccountType.EQUITY).label("equity"),
        (total(AccountType.REVENUE) - total(AccountType.EXPENSE)).label("earnings"),
    ).select_from(buckets.join(accounts, accounts.c.id == buckets.c.account_id))


def order_month_totals_sql() -> Select:
    """The rows ``order_month_totals`` must hold, as the orders make them: per account manager and closing month,
    how many orders and the sum of their grand totals. A grouped select over ``orders``; callers narrow it (``where``,
    ``join``) to the months they need."""
    orders = Order.__table__
    month = first_of_month(orders.c.closing_date)
    return select(
        orders.c.account_manager_id,
        month.label("month"),
        func.count().label("order_count"),
        func.round(func.sum(orders.c.grand_total), 2, type_=Balance).label("grand_total"),
    ).group_by(orders.c.account_manager_id, month)


def achieved_amount_sql(targets=Target.__table__):
    """The achieved amount of each target row, as a correlated SQL expression over ``orders``."""
    orders = Order.__table__
    total = (
        select(func.coalesce(func.sum(orders.c.grand_total), 0))
        .where(
            orders.c.account_manager_id == targets.c.account_manager_id,
            orders.c.closing_date >= targets.c.period_start,
            orders.c.closing_date < next_month(targets.c.period_start),
        )
        .scalar_subquery()
    )
    return func.round(total, 2, type_=Balance)
