"""payments applied to the invoices they pay; what each invoice still asks and each payment leaves unapplied

Revision ID: 0042
Revises: 0041
Create Date: 2026-11-24 22:30:00.000000

- ``payment_allocations``: part of a payment applied to an invoice of the same meter and holder; append-only (a
  re-allocation reverses the row and appends a new one), each with its history, sealed per meter as a chain.
- ``invoices.outstanding`` (the amount less its allocations) with ``invoices.status`` generated from it (open,
  partly paid, paid, withdrawn), and ``payments.unapplied`` (the amount no invoice takes: the meter's credit).
- Existing payments are applied oldest first to the oldest invoices of the same holder, as the lists showed them:
  an installation keeps the figures it shows.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0042"
down_revision = "0041"
branch_labels = None
depends_on = None

ACTOR = "migration 0042"
HOW = sa.Enum("chosen", "oldest", "reversal", name="allocation_how", native_enum=False, length=20)
SETTLED = (
    "CASE WHEN withdrawn_at IS NOT NULL THEN 'withdrawn' WHEN outstanding = 0 THEN 'paid' "
    "WHEN outstanding < amount THEN 'partly_paid' ELSE 'open' END"
)
COLUMNS = (
    "id",
    "meter_id",
    "customer_id",
    "payment_id",
    "invoice_id",
    "amount",
    "how",
    "reverses_id",
    "reason",
    "created_by_id",
    "created_at",
)


def upgrade():
    _tables()
    for table, column in (("invoices", "outstanding"), ("payments", "unapplied")):
        op.add_column(
            table, sa.Column(column, sa.Numeric(precision=15, scale=2), server_default=sa.text("0"), nullable=False)
        )
    _allocate_oldest_first()
    op.add_column(
        "invoices", sa.Column("status", sa.String(length=12), sa.Computed(SETTLED, persisted=True), nullable=False)
    )
    op.create_index("ix_invoices_open", "invoices", ["status", "due_on"], unique=False)
    for statement in _guards():
        op.execute(statement)

    from backoffice.evidence import sealing  # with the key the application runs with: the upgrade runs in its context

    sealing.seal(op.get_bind(), [("payment_allocations", sa.true()), ("payment_allocations_history", sa.true())])


def downgrade():
    for table in ("payment_allocations", "payment_allocations_history"):
        op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
        op.execute(f"DROP TRIGGER {table}_no_truncate ON {table}")
    op.execute("DROP FUNCTION payment_allocations_append_only()")
    _forget_seals()
    op.drop_index("ix_invoices_open", table_name="invoices")
    for table, column in (("invoices", "status"), ("invoices", "outstanding"), ("payments", "unapplied")):
        op.drop_column(table, column)
    op.drop_table("payment_allocations")
    op.drop_table("payment_allocations_history")


def _forget_seals():
    """The seals of the rows the downgrade drops go with them, by the owner: left behind, they would vouch for rows
    that no longer exist, and meet the rows of an upgrade again under the same ids."""
    op.execute("ALTER TABLE seals DISABLE TRIGGER seals_append_only")
    op.execute("DELETE FROM seals WHERE kind IN ('payment_allocations', 'payment_allocations_history')")
    op.execute("ALTER TABLE seals ENABLE TRIGGER seals_append_only")


def _tables():
    op.create_table(
        "payment_allocations_history",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("meter_id", sa.Integer(), autoincrement=False, nullable=True),
        sa.Column("customer_id", sa.Integer(), autoincrement=False, nullable=True),
        sa.Column("payment_id", sa.Integer(), autoincrement=False, nullable=True),
        sa.Column("invoice_id", sa.Integer(), autoincrement=False, nullable=True),
        sa.Column("amount", sa.Numeric(precision=15, scale=2), autoincrement=False, nullable=True),
        sa.Column("how", HOW, autoincrement=False, nullable=True),
        sa.Column("reverses_id", sa.Integer(), autoincrement=False, nullable=True),
        sa.Column("reason", sa.String(length=300), autoincrement=False, nullable=True),
        sa.Column("created_by_id", sa.Integer(), autoincrement=False, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), autoincrement=False, nullable=True),
        sa.Column("transaction_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("operation_type", sa.SmallInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["transaction_id"], ["history_transactions.id"], name=op.f("fk_payment_allocations_history_transaction")
        ),
        sa.PrimaryKeyConstraint("id", "transaction_id", name=op.f("pk_payment_allocations_history")),
    )
    with op.batch_alter_table("payment_allocations_history", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_payment_allocations_history_operation_type"), ["operation_type"], unique=False
        )
        batch_op.create_index(
            "ix_payment_allocations_history_pk_transaction_id",
            ["id", sa.literal_column("transaction_id DESC")],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_payment_allocations_history_transaction_id"), ["transaction_id"], unique=False
        )
    op.create_table(
        "payment_allocations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meter_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("payment_id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=15, scale=2), nullable=False),
        sa.Column("how", HOW, nullable=False),
        sa.Column("reverses_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=300), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(reverses_id IS NULL) = (how <> 'reversal')", name=op.f("ck_payment_allocations_reversal_how")
        ),
        sa.CheckConstraint(
            "(reverses_id IS NULL) = (amount > 0)", name=op.f("ck_payment_allocations_reversal_negative")
        ),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_payment_allocations_amount_not_zero")),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_payment_allocations_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_payment_allocations_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_payment_allocations_invoice_id_invoices")
        ),
        sa.ForeignKeyConstraint(["meter_id"], ["meters.id"], name=op.f("fk_payment_allocations_meter_id_meters")),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_payment_allocations_payment_id_payments")
        ),
        sa.ForeignKeyConstraint(
            ["reverses_id"],
            ["payment_allocations.id"],
            name=op.f("fk_payment_allocations_reverses_id_payment_allocations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_allocations")),
        sa.UniqueConstraint("reverses_id", name="uq_payment_allocations_reverses_id"),
    )
    with op.batch_alter_table("payment_allocations", schema=None) as batch_op:
        batch_op.create_index("ix_payment_allocations_invoice_id", ["invoice_id"], unique=False)
        batch_op.create_index("ix_payment_allocations_meter_id", ["meter_id"], unique=False)
        batch_op.create_index("ix_payment_allocations_payment_id", ["payment_id"], unique=False)


def _dated(table: str, on: str) -> str:
    """The table's rows not withdrawn, each with its holder on its date and its running total per meter and holder
    (oldest first): the end of the span of the holder's amounts it covers."""
    return (
        f"SELECT t.id, t.meter_id, held.customer_id AS holder, t.amount, "
        f"SUM(t.amount) OVER (PARTITION BY t.meter_id, held.customer_id ORDER BY t.{on}, t.id) AS upto "
        f"FROM {table} t LEFT JOIN meter_assignments held ON held.meter_id = t.meter_id "
        f"AND held.started_on <= t.{on} AND (held.ended_on IS NULL OR t.{on} < held.ended_on) "
        "WHERE t.withdrawn_at IS NULL"
    )


def _allocate_oldest_first():
    """Each payment's span of its holder's payments on the meter meets each invoice's span of their invoices:
    where they overlap, that much of the payment pays that invoice. Then what each invoice asks and what each
    payment leaves."""
    bind = op.get_bind()
    overlap = "ROUND(LEAST(i.upto, p.upto) - GREATEST(i.upto - i.amount, p.upto - p.amount), 2)"
    bind.execute(
        sa.text(
            "INSERT INTO payment_allocations (meter_id, customer_id, payment_id, invoice_id, amount, how, created_at) "
            f"SELECT p.meter_id, p.holder, p.id, i.id, {overlap}, 'oldest', CURRENT_TIMESTAMP "
            f"FROM ({_dated('payments', 'paid_on')}) p JOIN ({_dated('invoices', 'issued_on')}) i "
            "ON i.meter_id = p.meter_id AND (i.holder = p.holder OR (i.holder IS NULL AND p.holder IS NULL)) "
            f"WHERE {overlap} > 0 "
            "ORDER BY p.meter_id, p.upto, i.upto"
        )
    )
    if bind.execute(sa.text("SELECT 1 FROM payment_allocations LIMIT 1")).first() is not None:
        transaction_id = bind.execute(
            sa.text(
                "INSERT INTO history_transactions (issued_at, actor) VALUES (CURRENT_TIMESTAMP, :actor) RETURNING id"
            ),
            {"actor": ACTOR},
        ).scalar_one()
        copied = ", ".join(COLUMNS)
        bind.execute(
            sa.text(
                f"INSERT INTO payment_allocations_history ({copied}, transaction_id, operation_type) "
                f"SELECT {copied}, :transaction_id, 0 FROM payment_allocations"
            ),
            {"transaction_id": transaction_id},
        )
    applied = "SELECT COALESCE(SUM(a.amount), 0) FROM payment_allocations a WHERE a.{column} = {table}.id"
    for table, column, left in (("invoices", "invoice_id", "outstanding"), ("payments", "payment_id", "unapplied")):
        bind.execute(
            sa.text(
                f"UPDATE {table} SET {left} = CASE WHEN withdrawn_at IS NULL "
                f"THEN ROUND(amount - ({applied.format(column=column, table=table)}), 2) ELSE 0 END"
            )
        )


def _guards():
    yield """
        CREATE FUNCTION payment_allocations_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'an allocation is reversed, never changed: % of payment_allocations is refused', TG_OP
                USING ERRCODE = 'restrict_violation';
        END
        $$
    """
    for table, function in (
        ("payment_allocations", "payment_allocations_append_only"),
        ("payment_allocations_history", "history_append_only"),
    ):
        yield (
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {function}()"
        )
        yield (
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION evidence_no_truncate()"
        )
