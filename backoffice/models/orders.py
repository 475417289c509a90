from datetime import date, datetime
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from backoffice.models.customers import AccountManager, Customer
from backoffice.models.types import Balance, Money, nearest_index, trigram_index, utcnow
from backoffice.models.users import User
from backoffice.platform.extensions import db
from backoffice.platform.money import MAX_AMOUNT, check_amount, round_money, shown

COMPONENTS = ("total_price", "additions", "promo", "reductions")


def grand_total_of(total_price, additions, promo, reductions):
    """The order formula, for ``Decimal`` values and SQL column expressions alike."""
    return total_price + additions - promo - reductions


def checked_grand_total(total_price: Decimal, additions: Decimal, promo: Decimal, reductions: Decimal) -> Decimal:
    """The grand total to store; raises :class:`NegativeGrandTotal` when the discounts exceed the rest, and
    :class:`GrandTotalTooLarge` beyond the column (which would refuse the row)."""
    total = round_money(grand_total_of(total_price, additions, promo, reductions))
    if total < 0:
        raise NegativeGrandTotal(discounts=promo + reductions, gross=total_price + additions)
    if total > MAX_AMOUNT:
        raise GrandTotalTooLarge(
            _("The grand total would exceed %(limit)s, the most an order holds.", limit=shown(MAX_AMOUNT))
        )
    return total


class GrandTotalTooLarge(ValueError):
    pass


class NegativeGrandTotal(ValueError):
    def __init__(self, discounts: Decimal, gross: Decimal) -> None:
        super().__init__(
            _(
                "Promo and reductions (%(discounts)s) exceed total price plus additions (%(gross)s): the grand "
                "total cannot be negative.",
                discounts=shown(discounts),
                gross=shown(gross),
            )
        )
        self.discounts = discounts
        self.gross = gross


class Order(db.Model):
    __versioned__ = {"exclude": ["version", "updated_at", "updated_by_id"]}
    __tablename__ = "orders"
    __table_args__ = (
        *(CheckConstraint(f"{name} >= 0", name=f"{name}_not_negative") for name in COMPONENTS),
        CheckConstraint("grand_total >= 0", name="grand_total_not_negative"),
        Index("ix_orders_manager_closing_total", "account_manager_id", "closing_date", "grand_total"),
        Index("ix_orders_grand_total", "grand_total"),
        # The list's usual order, newest first: its first page is read straight off the index.
        Index("ix_orders_closing_date_id", "closing_date", "id"),
        # The list's other orders by an order's own figures, each with the id that breaks its ties.
        *(Index(f"ix_orders_{name}_id", name, "id") for name in COMPONENTS),
        trigram_index("orders", "number"),
        nearest_index("orders", "number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    # Old values are loaded before a change so the hooks can update the target the order leaves.
    account_manager_id: Mapped[int] = mapped_column(ForeignKey("account_managers.id"), active_history=True)
    # Indexed with the id, in the list's order (ix_orders_closing_date_id), which serves every read by date.
    closing_date: Mapped[date] = mapped_column(Date, active_history=True)
    total_price: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"), server_default=text("0"))
    additions: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"), server_default=text("0"))
    promo: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"), server_default=text("0"))
    reductions: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"), server_default=text("0"))
    grand_total: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"), server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(server_default=text("1"))
    """Moved by every save; a save over another version than the one its form loaded is refused."""

    customer: Mapped[Customer] = relationship()
    account_manager: Mapped[AccountManager] = relationship()
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    updated_by: Mapped[User | None] = relationship(foreign_keys=[updated_by_id])

    __mapper_args__ = {"version_id_col": version}

    @validates(*COMPONENTS)
    def _check_component(self, _key: str, value: Decimal) -> Decimal:
        return check_amount(value)

    def components(self) -> list[Decimal]:
        return [getattr(self, name) or Decimal("0.00") for name in COMPONENTS]


class OrderMonthTotal(db.Model):
    """How many orders an account manager's month holds and the sum of their grand totals, kept by the hooks: the
    orders list reads its count and total here when it is filtered by manager and/or month only. A month without
    orders has no row."""

    __tablename__ = "order_month_totals"
    __table_args__ = (
        CheckConstraint("order_count > 0", name="order_count_positive"),
        CheckConstraint("grand_total >= 0", name="grand_total_not_negative"),
    )

    account_manager_id: Mapped[int] = mapped_column(ForeignKey("account_managers.id"), primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    """The first day of the month the orders close in."""
    order_count: Mapped[int]
    grand_total: Mapped[Decimal] = mapped_column(Balance)
