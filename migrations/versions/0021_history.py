"""history of every change: a history table per versioned record, who changed it, append-only

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-29 09:00:00.000000

SQLAlchemy-Continuum's tables: ``history_transactions`` (when, which user, which command or job) and a
``<table>_history`` table for each record people maintain, one row per create, edit and delete with the
record's values. The versions are only ever inserted: the database refuses UPDATE, DELETE and TRUNCATE of
them (the suite empties them as a superuser under ``session_replication_role = replica``).

Existing records get one baseline version each, in one transaction by "migration 0021": the values they had
when history began, so that their first edit shows what it changed.
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

VERSIONED = (
    "account_managers",
    "customer_pricing",
    "customers",
    "invoices",
    "meter_assignments",
    "meter_readings",
    "meters",
    "orders",
    "payments",
    "targets",
    "users",
)
BASELINE_ACTOR = "migration 0021"


def upgrade():
    op.create_table(
        "account_managers_history",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=120), autoincrement=False, nullable=True),
        sa.Column("email", sa.String(length=254), autoincrement=False, nullable=True),
        sa.Column("active", sa.Boolean(), autoincrement=False, nullable=True),
        sa.Column("transaction_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("operation_type", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", "transaction_id", name=op.f("pk_account_managers_history")),
    )
    with op.batch_alter_table("account_managers_history", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_account_managers_history_operation_type"), ["operation_type"], unique=False
        )
        batch_op.create_index(
            "ix_account_managers_history_pk_transaction_id",
            ["id", sa.literal_column("transaction_id DESC")],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_account_managers_history_transaction_id"), ["transaction_id"], unique=False
        )

    op.create_table(
        "customer_pricing_history",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("customer_id", sa.Integer(), autoincrement=False, nullable=True),
        sa.Column("effective_from", sa.Date(), autoincrement=False, nullable=True),
        sa.Column("price_per_sm3", sa.Numeric(precision=15, scale=2), autoincrement=False, nullable=True),
        sa.Column("meter_correction", sa.Numeric(precision=12, scale=6), autoincrement=False, nullable=True),
        sa.Column("transaction_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("operation_type", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", "transaction_id", name=op.f("pk_customer_pricing_history")),
    )
    with op.batch_alter_table("customer_pricing_history", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_customer_pricing_history_operation_type"), ["operation_type"], unique=False
        )
        batch_op.create_index(
            "ix_customer_pricing_history_pk_transaction_id",
            ["id", sa.literal_column("transaction_id DESC")],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_customer_pricing_history_transaction_id"), ["transaction_id"], unique=False
        )

    op.create_table(
        "customers_history",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("code", sa.String(length=32), autoincrement=False, nullable=True),
        sa.Column("name", sa.String(length=200), autoincrement=False, nullable=True),
        sa.Column("account_manager_id", sa.Integer(), autoincrement=False, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), autoincrement=False, nullable=True),
        sa.Column(
            "suspend_below",
            sa.Numeric(precision=15, scale=2),
            server_default=sa.text("0"),
            autoincrement=False,
            nullable=True,
        ),
        sa.Column(
            "use_realtime_calculation", sa.Boolean(), server_default=sa.true(), autoincrement=False, nullable=True
        ),
        sa.Column("contact_person", sa.String(length=120), autoincrement=False, nullable=True),
        sa.Column("email", sa.String(length=254), autoincrement=False, nullable=True),
        sa.Column("phone", sa.String(length=40), autoincrement=False, nullable=True),
        sa.Column("address", sa.String(length=500), autoincrement=False, nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), autoincrement=False, nullable=True),
        sa.Column("closed_by_id", sa.Integer(), autoincrement=False, nullable=True),
        sa.Column("transaction_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("operation_type", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", "transaction_id", name=op.f("pk_customers_history")),
    )
    with op.batch_alter_table("customers_history", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_customers_history_account_manager_id"), ["account_manager_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_customers_history_name"), ["name"], unique=False)
        batch_op.create_index(batch_op.f("ix_customers_history_operation_type"), ["operation_type"], unique=False)
        batch_op.create_index(
            "ix_customers_history_pk_transaction_id", ["id", sa.literal_column("transaction_id DESC")], unique=False
        )
        batch_op.create_index(batch_op.f("ix_customers_history_transaction_id"), ["transaction_id"], unique=False)

    op.create_table(
        "invoices_history",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("meter_id", sa.Integer(), autoincrement=False, nullable=True),
        sa.Column("number", sa.String(length=40), autoincrement=False, nullable=True),
        sa.Column("amount", sa.Numeric(precision=15, scale=2), autoincrement=False, nullable=True),
        sa.Column("issued_on", sa.Date(), autoincrement=False, nullable=True),
        sa.Column("due_on", sa.Date(), autoincrement=False, nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), autoincrement=False, nullable=True),
        sa.Column("withdrawn_by_id", sa.Integer(), autoincrement=False, nullable=True),
        sa.Column("withdrawal_reason", sa.String(length=300), autoincrement=False, nullable=True),
        sa.Column("withdrawal_entry_id", sa.Integer(), autoincrement=False, nullable=True),
        sa.Column("entry_id", sa.Integer(), autoincrement=False, nullable=True),
        sa.Column("transaction_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("operation_type", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", "transaction_id", name=op.f("pk_invoices_history")),
    )
    with op.batch_alter_table("invoices_history", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_invoices_history_operation_type"), ["operation_type"], unique=False)
        batch_op.create_index(
            "ix_invoices_history_pk_transaction_id", ["id", sa.literal_column("transaction_id DESC")], unique=False
        )
        batch_op.create_index(batch_op.f("ix_invoices_history_transaction_id"), ["transaction_id"], unique=False)

    op.create_table(
        "meter_assignments_history",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("customer_id", sa.Integer(), autoincrement=False, nullable=True),
        sa.Column("meter_id", sa.Integer(), autoincrement=False, nullable=True),
        sa.Column("is_active", sa.Boolean(), autoincrement=False, nullable=True),
        sa.Column("started_on", sa.Date(), autoincrement=False, nullable=True),
        sa.Column("ended_on", sa.Date(), autoincrement=False, nullable=True),
        sa.Column("transaction_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("operation_type", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", "transaction_id", name=op.f("pk_meter_assignments_history")),
    )
    with op.batch_alter_table("meter_assignments_history", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_meter_assignments_history_operation_type"), ["operation_type"], unique=False
        )
        batch_op.create_index(
            "ix_meter_assignments_history_pk_transaction_id",
            ["id", sa.literal_column("transaction_id DESC")],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_meter_assignments_history_transaction_id"), ["transaction_id"], unique=False
        )

    op.create_table(
        "meter_readings_history",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("meter_id", sa.Integer(), autoincrement=False, nullable=True),
        sa.Column("customer_id", sa.Integer(), autoincrement=False, nullable=True),
        sa.Column("reading_date", sa.Date(), autoincrement=False, nullable=True),
        sa.Column("volume_flow_meter", sa.Numeric(precision=18, scale=4), autoincrement=False, nullable=True),
        sa.Column("note", sa.String(length=300), autoincrement=False, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), autoincrement=False, nullable=True),
        sa.Column("created_by_id", sa.Integer(), autoincrement=False, nullable=True),
        sa.Column("transaction_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("operation_type", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", "transaction_id", name=op.f("pk_meter_readings_history")),
    )
    with op.batch_alter_table("meter_readings_history", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_meter_readings_history_operation_type"), ["operation_type"], unique=False)
        batch_op.create_index(
            "ix_meter_readings_history_pk_transaction_id",
            ["id", sa.literal_column("transaction_id DESC")],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_meter_readings_history_transaction_id"), ["transaction_id"], unique=False)

    op.create_table(
        "meters_history",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("serial", sa.String(length=40), autoincrement=False, nullable=True),
        sa.Column(
            "status",
            sa.Enum("active", "retired", name="meter_status", native_enum=False, length=20),
            autoincrement=False,
            nullable=True,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), autoincrement=False, nullable=True),
        sa.Column("retired_on", sa.Date(), autoincrement=False, nullable=True),
        sa.Column("retired_by_id", sa.Integer(), autoincrement=False, nullable=True),
        sa.Column("transaction_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("operation_type", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", "transaction_id", name=op.f("pk_meters_history")),
    )
    with op.batch_alter_table("meters_history", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_meters_history_operation_type"), ["operation_type"], unique=False)
        batch_op.create_index(
            "ix_meters_history_pk_transaction_id", ["id", sa.literal_column("transaction_id DESC")], unique=False
        )
        batch_op.create_index(batch_op.f("ix_meters_history_transaction_id"), ["transaction_id"], unique=False)

    op.create_table(
        "orders_history",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("number", sa.String(length=32), autoincrement=False, nullable=True),
        sa.Column("customer_id", sa.Integer(), autoincrement=False, nullable=True),
        sa.Column("account_manager_id", sa.Integer(), autoincrement=False, nullable=True),
        sa.Column("closing_date", sa.Date(), autoincrement=False, nullable=True),
        sa.Column(
            "total_price",
            sa.Numeric(precision=15, scale=2),
            server_default=sa.text("0"),
            autoincrement=False,
            nullable=True,
        ),
        sa.Column(
            "additions",
            sa.Numeric(precision=15, scale=2),
            server_default=sa.text("0"),
            autoincrement=False,
            nullable=True,
        ),
        sa.Column(
            "promo", sa.Numeric(precision=15, scale=2), server_default=sa.text("0"), autoincrement=False, nullable=True
        ),
        sa.Column(
            "reductions",
            sa.Numeric(precision=15, scale=2),
            server_default=sa.text("0"),
            autoincrement=False,
            nullable=True,
        ),
        sa.Column(
            "grand_total",
            sa.Numeric(precision=15, scale=2),
            server_default=sa.text("0"),
            autoincrement=False,
            nullable=True,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), autoincrement=False, nullable=True),
        sa.Column("created_by_id", sa.Integer(), autoincrement=False, nullable=True),
        sa.Column("transaction_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("operation_type", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", "transaction_id", name=op.f("pk_orders_history")),
    )
    with op.batch_alter_table("orders_history", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_orders_history_closing_date"), ["closing_date"], unique=False)
        batch_op.create_index(batch_op.f("ix_orders_history_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_orders_history_operation_type"), ["operation_type"], unique=False)
        batch_op.create_index(
            "ix_orders_history_pk_transaction_id", ["id", sa.literal_column("transaction_id DESC")], unique=False
        )
        batch_op.create_index(batch_op.f("ix_orders_history_transaction_id"), ["transaction_id"], unique=False)

    op.create_table(
        "payments_history",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("meter_id", sa.Integer(), autoincrement=False, nullable=True),
        sa.Column("amount", sa.Numeric(precision=15, scale=2), autoincrement=False, nullable=True),
        sa.Column("paid_on", sa.Date(), autoincrement=False, nullable=True),
        sa.Column("reference", sa.String(length=100), autoincrement=False, nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), autoincrement=False, nullable=True),
        sa.Column("withdrawn_by_id", sa.Integer(), autoincrement=False, nullable=True),
        sa.Column("withdrawal_reason", sa.String(length=300), autoincrement=False, nullable=True),
        sa.Column("withdrawal_entry_id", sa.Integer(), autoincrement=False, nullable=True),
        sa.Column("entry_id", sa.Integer(), autoincrement=False, nullable=True),
        sa.Column("transaction_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("operation_type", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", "transaction_id", name=op.f("pk_payments_history")),
    )
    with op.batch_alter_table("payments_history", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payments_history_operation_type"), ["operation_type"], unique=False)
        batch_op.create_index(
            "ix_payments_history_pk_transaction_id", ["id", sa.literal_column("transaction_id DESC")], unique=False
        )
        batch_op.create_index(batch_op.f("ix_payments_history_transaction_id"), ["transaction_id"], unique=False)

    op.create_table(
        "targets_history",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("account_manager_id", sa.Integer(), autoincrement=False, nullable=True),
        sa.Column("period_start", sa.Date(), autoincrement=False, nullable=True),
        sa.Column("target_amount", sa.Numeric(precision=15, scale=2), autoincrement=False, nullable=True),
        sa.Column("transaction_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("operation_type", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", "transaction_id", name=op.f("pk_targets_history")),
    )
    with op.batch_alter_table("targets_history", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_targets_history_operation_type"), ["operation_type"], unique=False)
        batch_op.create_index(
            "ix_targets_history_pk_transaction_id", ["id", sa.literal_column("transaction_id DESC")], unique=False
        )
        batch_op.create_index(batch_op.f("ix_targets_history_transaction_id"), ["transaction_id"], unique=False)

    op.create_table(
        "users_history",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("email", sa.String(length=254), autoincrement=False, nullable=True),
        sa.Column("name", sa.String(length=120), autoincrement=False, nullable=True),
        sa.Column(
            "role",
            sa.Enum("finance", "admin", name="user_role", native_enum=False, length=20),
            autoincrement=False,
            nullable=True,
        ),
        sa.Column("active", sa.Boolean(), autoincrement=False, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), autoincrement=False, nullable=True),
        sa.Column("transaction_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("operation_type", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", "transaction_id", name=op.f("pk_users_history")),
    )
    with op.batch_alter_table("users_history", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_users_history_operation_type"), ["operation_type"], unique=False)
        batch_op.create_index(
            "ix_users_history_pk_transaction_id", ["id", sa.literal_column("transaction_id DESC")], unique=False
        )
        batch_op.create_index(batch_op.f("ix_users_history_transaction_id"), ["transaction_id"], unique=False)

    op.create_table(
        "history_transactions",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_history_transactions_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_history_transactions")),
    )
    with op.batch_alter_table("history_transactions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_history_transactions_user_id"), ["user_id"], unique=False)
    _baseline()
    _append_only()


def downgrade():
    _drop_guards()
    with op.batch_alter_table("history_transactions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_history_transactions_user_id"))

    op.drop_table("history_transactions")
    with op.batch_alter_table("users_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_history_transaction_id"))
        batch_op.drop_index("ix_users_history_pk_transaction_id")
        batch_op.drop_index(batch_op.f("ix_users_history_operation_type"))

    op.drop_table("users_history")
    with op.batch_alter_table("targets_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_targets_history_transaction_id"))
        batch_op.drop_index("ix_targets_history_pk_transaction_id")
        batch_op.drop_index(batch_op.f("ix_targets_history_operation_type"))

    op.drop_table("targets_history")
    with op.batch_alter_table("payments_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payments_history_transaction_id"))
        batch_op.drop_index("ix_payments_history_pk_transaction_id")
        batch_op.drop_index(batch_op.f("ix_payments_history_operation_type"))

    op.drop_table("payments_history")
    with op.batch_alter_table("orders_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_orders_history_transaction_id"))
        batch_op.drop_index("ix_orders_history_pk_transaction_id")
        batch_op.drop_index(batch_op.f("ix_orders_history_operation_type"))
        batch_op.drop_index(batch_op.f("ix_orders_history_customer_id"))
        batch_op.drop_index(batch_op.f("ix_orders_history_closing_date"))

    op.drop_table("orders_history")
    with op.batch_alter_table("meters_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meters_history_transaction_id"))
        batch_op.drop_index("ix_meters_history_pk_transaction_id")
        batch_op.drop_index(batch_op.f("ix_meters_history_operation_type"))

    op.drop_table("meters_history")
    with op.batch_alter_table("meter_readings_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meter_readings_history_transaction_id"))
        batch_op.drop_index("ix_meter_readings_history_pk_transaction_id")
        batch_op.drop_index(batch_op.f("ix_meter_readings_history_operation_type"))

    op.drop_table("meter_readings_history")
    with op.batch_alter_table("meter_assignments_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meter_assignments_history_transaction_id"))
        batch_op.drop_index("ix_meter_assignments_history_pk_transaction_id")
        batch_op.drop_index(batch_op.f("ix_meter_assignments_history_operation_type"))

    op.drop_table("meter_assignments_history")
    with op.batch_alter_table("invoices_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invoices_history_transaction_id"))
        batch_op.drop_index("ix_invoices_history_pk_transaction_id")
        batch_op.drop_index(batch_op.f("ix_invoices_history_operation_type"))

    op.drop_table("invoices_history")
    with op.batch_alter_table("customers_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customers_history_transaction_id"))
        batch_op.drop_index("ix_customers_history_pk_transaction_id")
        batch_op.drop_index(batch_op.f("ix_customers_history_operation_type"))
        batch_op.drop_index(batch_op.f("ix_customers_history_name"))
        batch_op.drop_index(batch_op.f("ix_customers_history_account_manager_id"))

    op.drop_table("customers_history")
    with op.batch_alter_table("customer_pricing_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_pricing_history_transaction_id"))
        batch_op.drop_index("ix_customer_pricing_history_pk_transaction_id")
        batch_op.drop_index(batch_op.f("ix_customer_pricing_history_operation_type"))

    op.drop_table("customer_pricing_history")
    with op.batch_alter_table("account_managers_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_account_managers_history_transaction_id"))
        batch_op.drop_index("ix_account_managers_history_pk_transaction_id")
        batch_op.drop_index(batch_op.f("ix_account_managers_history_operation_type"))

    op.drop_table("account_managers_history")


def _baseline():
    bind = op.get_bind()
    transactions = sa.table(
        "history_transactions",
        sa.column("id", sa.BigInteger),
        sa.column("issued_at", sa.DateTime(timezone=True)),
        sa.column("actor", sa.String),
    )
    if not any(bind.execute(sa.text(f"SELECT 1 FROM {table} LIMIT 1")).first() for table in VERSIONED):
        return
    transaction_id = bind.execute(
        sa.insert(transactions)
        .values(issued_at=sa.func.current_timestamp(), actor=BASELINE_ACTOR)
        .returning(transactions.c.id)
    ).scalar_one()
    inspector = sa.inspect(bind)
    for table in VERSIONED:
        names = [c["name"] for c in inspector.get_columns(f"{table}_history")]
        copied = ", ".join(n for n in names if n not in ("transaction_id", "operation_type"))
        bind.execute(
            sa.text(
                f"INSERT INTO {table}_history ({copied}, transaction_id, operation_type) "
                f"SELECT {copied}, :transaction_id, 0 FROM {table}"
            ),
            {"transaction_id": transaction_id},
        )


def _append_only():
    tables = ["history_transactions", *(f"{table}_history" for table in VERSIONED)]
    op.execute(
        """
        CREATE FUNCTION history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'history is append-only: % of % is refused', TG_OP, TG_TABLE_NAME
                USING ERRCODE = 'restrict_violation';
        END
        $$
        """
    )
    for table in tables:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION history_append_only()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION evidence_no_truncate()"
        )


def _drop_guards():
    op.execute("DROP FUNCTION history_append_only() CASCADE")
