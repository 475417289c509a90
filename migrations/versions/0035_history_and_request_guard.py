"""approval requests: a history of each request, and a guard on what was asked and on the decision

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-06 09:00:00.000000

- ``approval_requests_history``: SQLAlchemy-Continuum's versions of each request (who asked, who decided, when),
  append-only like the other history tables. Existing requests get one baseline version each, in one transaction
  by "migration 0035".
- ``approval_requests`` guarded, whoever writes: what was asked (kind, amounts, customer, movement, entry, reasons,
  value date, key, entry seal, correction, who asked and when) never changes after the insert; the decision is made once:
  status goes from pending to approved or rejected only, in the UPDATE that sets who decided and when, and none of
  the decision's columns changes after it; a request is never deleted nor truncated. A column
  not named here (a seal the application fills in later) is not guarded by it.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0035"
down_revision = "0034"
branch_labels = None
depends_on = None

BASELINE_ACTOR = "migration 0035"
ASKED = (
    "id",
    "kind",
    "amount",
    "signed_amount",
    "customer_id",
    "movement_id",
    "entry_id",
    "adjustment_reason",
    "description",
    "value_date",
    "reason",
    "idempotency_key",
    "entry_seal",
    "correction",
    "requested_by_id",
    "requested_at",
)
"""What was asked: never changed after the insert."""
JSON_COLUMNS = ("correction",)
DECISION = ("status", "decided_by_id", "decided_at", "rejection_reason", "result_movement_id", "result_entry_id")
"""The decision: changed once, from pending, to approved or rejected with who decided and when."""


def upgrade():
    op.create_table(
        "approval_requests_history",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "adjustment",
                "wallet_reversal",
                "journal_entry",
                "entry_reversal",
                name="approval_kind",
                native_enum=False,
                length=20,
            ),
            autoincrement=False,
            nullable=True,
        ),
        sa.Column(
            "status",
            sa.Enum("pending", "approved", "rejected", name="approval_status", native_enum=False, length=20),
            autoincrement=False,
            nullable=True,
        ),
        sa.Column("amount", sa.Numeric(precision=20, scale=2), autoincrement=False, nullable=True),
        sa.Column("signed_amount", sa.Numeric(precision=15, scale=2), autoincrement=False, nullable=True),
        sa.Column("customer_id", sa.Integer(), autoincrement=False, nullable=True),
        sa.Column("movement_id", sa.Integer(), autoincrement=False, nullable=True),
        sa.Column("entry_id", sa.Integer(), autoincrement=False, nullable=True),
        sa.Column("adjustment_reason", sa.String(length=40), autoincrement=False, nullable=True),
        sa.Column("description", sa.String(length=300), autoincrement=False, nullable=True),
        sa.Column("value_date", sa.Date(), autoincrement=False, nullable=True),
        sa.Column("reason", sa.String(length=300), autoincrement=False, nullable=True),
        sa.Column("idempotency_key", sa.String(length=100), autoincrement=False, nullable=True),
        sa.Column("entry_seal", sa.String(length=64), autoincrement=False, nullable=True),
        sa.Column("correction", sa.JSON(), autoincrement=False, nullable=True),
        sa.Column("requested_by_id", sa.Integer(), autoincrement=False, nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), autoincrement=False, nullable=True),
        sa.Column("decided_by_id", sa.Integer(), autoincrement=False, nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), autoincrement=False, nullable=True),
        sa.Column("rejection_reason", sa.String(length=300), autoincrement=False, nullable=True),
        sa.Column("result_movement_id", sa.Integer(), autoincrement=False, nullable=True),
        sa.Column("result_entry_id", sa.Integer(), autoincrement=False, nullable=True),
        sa.Column("transaction_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("operation_type", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", "transaction_id", name=op.f("pk_approval_requests_history")),
    )
    with op.batch_alter_table("approval_requests_history", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_approval_requests_history_operation_type"), ["operation_type"], unique=False
        )
        batch_op.create_index(
            "ix_approval_requests_history_pk_transaction_id",
            ["id", sa.literal_column("transaction_id DESC")],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_approval_requests_history_transaction_id"), ["transaction_id"], unique=False
        )
    _baseline()
    for statement in _guards():
        op.execute(statement)


def downgrade():
    op.execute("DROP TRIGGER approval_requests_guard ON approval_requests")
    op.execute("DROP TRIGGER approval_requests_no_truncate ON approval_requests")
    op.execute("DROP FUNCTION approval_requests_guard()")
    op.execute("DROP TRIGGER approval_requests_history_append_only ON approval_requests_history")
    op.execute("DROP TRIGGER approval_requests_history_no_truncate ON approval_requests_history")
    with op.batch_alter_table("approval_requests_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_approval_requests_history_transaction_id"))
        batch_op.drop_index("ix_approval_requests_history_pk_transaction_id")
        batch_op.drop_index(batch_op.f("ix_approval_requests_history_operation_type"))
    op.drop_table("approval_requests_history")


def _baseline():
    """One version of each existing request, with its values now: its history starts from what it is."""
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT 1 FROM approval_requests LIMIT 1")).first() is None:
        return
    transactions = sa.table(
        "history_transactions",
        sa.column("id", sa.BigInteger),
        sa.column("issued_at", sa.DateTime(timezone=True)),
        sa.column("actor", sa.String),
    )
    transaction_id = bind.execute(
        sa.insert(transactions)
        .values(issued_at=sa.func.current_timestamp(), actor=BASELINE_ACTOR)
        .returning(transactions.c.id)
    ).scalar_one()
    copied = ", ".join((*ASKED, *DECISION))
    bind.execute(
        sa.text(
            f"INSERT INTO approval_requests_history ({copied}, transaction_id, operation_type) "
            f"SELECT {copied}, :transaction_id, 0 FROM approval_requests"
        ),
        {"transaction_id": transaction_id},
    )


def _changed(columns) -> str:
    """Any of the columns changed; a JSON document compared as its text (PostgreSQL's json has no equality)."""
    return " OR ".join(
        f"CAST(NEW.{column} AS TEXT) IS DISTINCT FROM CAST(OLD.{column} AS TEXT)"
        if column in JSON_COLUMNS
        else f"NEW.{column} IS DISTINCT FROM OLD.{column}"
        for column in columns
    )


def _decided_once() -> str:
    """The one change of the decision allowed: from pending, to approved or rejected, saying who and when."""
    return (
        "OLD.status = 'pending' AND NEW.status IN ('approved', 'rejected') "
        "AND NEW.decided_by_id IS NOT NULL AND NEW.decided_at IS NOT NULL"
    )


def _guards():
    yield f"""
        CREATE FUNCTION approval_requests_guard() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                RAISE EXCEPTION 'an approval request is evidence: DELETE of approval_requests is refused'
                    USING ERRCODE = 'restrict_violation';
            END IF;
            IF {_changed(ASKED)} THEN
                RAISE EXCEPTION 'what an approval request asks is immutable: UPDATE of approval_requests is refused'
                    USING ERRCODE = 'restrict_violation';
            END IF;
            IF ({_changed(DECISION)}) AND NOT ({_decided_once()}) THEN
                RAISE EXCEPTION 'an approval request is decided once, from pending: UPDATE of its decision is refused'
                    USING ERRCODE = 'restrict_violation';
            END IF;
            RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
        END
        $$
    """
    yield (
        "CREATE TRIGGER approval_requests_guard BEFORE UPDATE OR DELETE ON approval_requests "
        "FOR EACH ROW EXECUTE FUNCTION approval_requests_guard()"
    )
    yield (
        "CREATE TRIGGER approval_requests_no_truncate BEFORE TRUNCATE ON approval_requests "
        "FOR EACH STATEMENT EXECUTE FUNCTION evidence_no_truncate()"
    )
    yield (
        "CREATE TRIGGER approval_requests_history_append_only BEFORE UPDATE OR DELETE ON approval_requests_history "
        "FOR EACH ROW EXECUTE FUNCTION history_append_only()"
    )
    yield (
        "CREATE TRIGGER approval_requests_history_no_truncate BEFORE TRUNCATE ON approval_requests_history "
        "FOR EACH STATEMENT EXECUTE FUNCTION evidence_no_truncate()"
    )
