import enum
from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Column, DateTime, ForeignKey, Index, String, Text, column, func, text, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backoffice.models.types import Balance, Money, nearest_index, str_enum, trigram_index, utcnow
from backoffice.models.users import User
from backoffice.platform.extensions import db
from backoffice.platform.money import ZERO


class AccountManager(db.Model):
    """A salesperson who owns customers and orders and has monthly targets."""

    __tablename__ = "account_managers"
    __versioned__ = {"exclude": ["version"]}
    __table_args__ = (
        trigram_index("account_managers", "name", "email"),
        nearest_index("account_managers", "name"),
        nearest_index("account_managers", "email"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    active: Mapped[bool] = mapped_column(default=True)
    """An inactive manager keeps their customers, orders and targets, and gets no new targets."""
    version: Mapped[int] = mapped_column(server_default=text("1"))

    __mapper_args__ = {"version_id_col": version}

    def __str__(self) -> str:
        return self.name


DERIVED = (
    "status",
    "balance",
    "total_recharged",
    "total_spent",
    "balance_last_updated_at",
    "amount_due",
    "overpayment",
)
"""A customer's columns the posting core keeps; the rest is what people maintain."""


class CustomerStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class TaxStatus(enum.StrEnum):
    """How the tax office treats what the customer is sold: VAT charged at the rate in force (``taxed``), none
    (``exempt``), or charged at 0 % (``zero_rated``, reported as such)."""

    TAXED = "taxed"
    EXEMPT = "exempt"
    ZERO_RATED = "zero_rated"


SUSPENDED = text(f"status = '{CustomerStatus.SUSPENDED}'")
"""The suspended customers, a few of them: a list of them reads an index of them alone (the home page counts them
off a tally, ``models.tallies``)."""


class Customer(db.Model):
    __tablename__ = "customers"
    # The wallet's and the postpaid figures are the posting core's, not a person's edit.
    __versioned__ = {"exclude": [*DERIVED, "version"]}
    __table_args__ = (
        Index("ix_customers_balance", "balance"),
        Index("ix_customers_route", "route", "route_stop", "code"),  # a route sheet, in the order of its round
        CheckConstraint("route_stop > 0", name="route_stop_positive"),
        Index("ix_customers_suspended", "id", postgresql_where=SUSPENDED),
        trigram_index("customers", "code", "name", "contact_person", "email", "phone"),
        nearest_index("customers", "code"),
        nearest_index("customers", "name"),
        *(nearest_index("customers", name, optional=True) for name in ("contact_person", "email", "phone")),
        CheckConstraint("tax_status IN ('exempt', 'zero_rated')", name="tax_status_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    account_manager_id: Mapped[int | None] = mapped_column(ForeignKey("account_managers.id"), index=True)
    status: Mapped[CustomerStatus] = mapped_column(
        str_enum(CustomerStatus, "customer_status"), default=CustomerStatus.ACTIVE
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The prepaid wallet, kept by the wallet service from the ledger (balance_transactions).
    balance: Mapped[Decimal] = mapped_column(Balance, default=ZERO, server_default=text("0"))
    total_recharged: Mapped[Decimal] = mapped_column(Balance, default=ZERO, server_default=text("0"))
    total_spent: Mapped[Decimal] = mapped_column(Balance, default=ZERO, server_default=text("0"))
    balance_last_updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    suspend_below: Mapped[Decimal] = mapped_column(Money, default=ZERO, server_default=text("0"))
    use_realtime_calculation: Mapped[bool] = mapped_column(default=True, server_default=true())
    # Postpaid: per meter the customer has held, what is dated in their periods of it; kept by the hooks.
    amount_due: Mapped[Decimal] = mapped_column(Balance, default=ZERO, server_default=text("0"))
    overpayment: Mapped[Decimal] = mapped_column(Balance, default=ZERO, server_default=text("0"))
    contact_person: Mapped[str | None] = mapped_column(String(120))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    address: Mapped[str | None] = mapped_column(String(500))
    city: Mapped[str | None] = mapped_column(String(100))
    tax_number: Mapped[str | None] = mapped_column(String(40))
    """As the tax office writes it: NPWP in Indonesia, MST in Vietnam, KRA PIN in Kenya."""
    nitku: Mapped[str | None] = mapped_column(String(22))
    """Indonesia: the buyer's place of business as the tax office numbers it (NITKU, 22 digits); none: its NPWP's
    16 digits and 000000, the head office."""
    route: Mapped[str | None] = mapped_column(String(60))
    """The meter reader's round (or area) its meters are read on, as the readers name it."""
    route_stop: Mapped[int | None]
    """Its place on the round, from 1: a route sheet lists its customers in that order."""
    tax_status: Mapped[str | None] = mapped_column(String(12))
    """A :class:`TaxStatus`' value; none: ``taxed``, as every customer is unless told (a customer's versions before
    the column were written keep their seals: a NULL column is left out of a seal)."""
    language: Mapped[str | None] = mapped_column(String(5))
    """The language the customer's documents and e-mails are written in (``id``, ``vi``, ``en``); none: the
    installation's."""
    # A closed customer takes no new movement (the posting core refuses them); its history stays.
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(server_default=text("1"))
    """Moved by every save of the customer's own fields; the money columns, moved by the posting core, leave it."""

    account_manager: Mapped[AccountManager | None] = relationship()
    closed_by: Mapped[User | None] = relationship()

    __mapper_args__ = {"version_id_col": version}

    def __str__(self) -> str:
        return f"{self.code} — {self.name}"

    @property
    def closed(self) -> bool:
        return self.closed_at is not None


class CustomerWord(db.Model):
    """A word of what the search matches of a customer (its code, name, contact person, e-mail and phone), folded and
    split as ``search_words`` splits them (migration 0086), kept by the database with every write of those columns: the
    customers holding a word, or a word beginning with what was typed, are a range of its key (``services.search``)."""

    __tablename__ = "customer_words"
    __table_args__ = (Index("ix_customer_words_customer_id", "customer_id"),)

    word: Mapped[str] = mapped_column(Text(collation="C"), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)


customer_vocabulary = db.Table(
    "customer_vocabulary",
    Column("word", Text(collation="C"), nullable=False),
    Index("ix_customer_vocabulary_word", "word"),
    Index(
        "ix_customer_vocabulary_search",
        func.lower(column("word")).label("word"),
        postgresql_using="gin",
        postgresql_ops={"word": "gin_trgm_ops"},
    ),
)
"""The words of letters alone that what the search matches of a customer holds or held (migration 0086), with a GIN
index of their trigrams: the likest to a word typed with a slip is read in its place (``services.search``). No unique
key: a writer never waits for another's new word, and a word two writers added at once is there twice."""
