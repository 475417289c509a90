"""the posting core: value dates, corrections linked, rows tied to their journal entries, withdrawals

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-25 09:00:00.000000

- Every wallet movement has a value date (its business date), an adjustment its reason, a
  reversal the movement it reverses (once), and every movement its journal entry (unique, not
  null: a row written past the posting core has none).
- Invoices and payments are withdrawn, not deleted (when, by whom, why, and the withdrawal's
  entry); each has the journal entry that posted it.

Existing movements are dated on the day they were posted in the installation's time zone
(``BACKOFFICE_TIMEZONE``), a reading's charges on the reading's date, so that every month holds
what its readings cost: run ``backoffice reconcile rebuild --check monthly_balance`` after
upgrading an installation whose months were built before.
"""

from alembic import op
from flask import current_app
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

def upgrade():
    op.execute("ALTER TABLE balance_transactions DISABLE TRIGGER balance_transactions_append_only")
    with op.batch_alter_table("balance_transactions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("value_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("reason", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("reverses_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("entry_id", sa.Integer(), nullable=True))
    _date_movements()
    op.execute(
        "UPDATE balance_transactions SET entry_id = (SELECT min(e.id) FROM journal_entries e "
        "WHERE e.source_type = 'balance_transaction' AND e.source_id = balance_transactions.id)"
    )
    op.execute(
        "UPDATE balance_transactions SET reverses_id = reference_id "
        "WHERE reference_type = 'balance_transaction' AND id = (SELECT min(b.id) FROM balance_transactions b "
        "WHERE b.reference_type = 'balance_transaction' AND b.reference_id = balance_transactions.reference_id)"
    )
    with op.batch_alter_table("balance_transactions", schema=None) as batch_op:
        batch_op.alter_column("value_date", existing_type=sa.Date(), nullable=False)
        batch_op.alter_column("entry_id", existing_type=sa.Integer(), nullable=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_balance_transactions_reverses_id_balance_transactions"),
            "balance_transactions",
            ["reverses_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_balance_transactions_entry_id_journal_entries"), "journal_entries", ["entry_id"], ["id"]
        )
        batch_op.create_unique_constraint(batch_op.f("uq_balance_transactions_entry_id"), ["entry_id"])
        batch_op.create_index("uq_balance_transactions_reverses_id", ["reverses_id"], unique=True)
        batch_op.create_index("ix_balance_transactions_customer_value_date", ["customer_id", "value_date"])
    op.execute("ALTER TABLE balance_transactions ENABLE TRIGGER balance_transactions_append_only")

    for table, source in (("invoices", "invoice"), ("payments", "payment")):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True))
            batch_op.add_column(sa.Column("withdrawn_by_id", sa.Integer(), nullable=True))
            batch_op.add_column(sa.Column("withdrawal_reason", sa.String(length=300), nullable=True))
            batch_op.add_column(sa.Column("withdrawal_entry_id", sa.Integer(), nullable=True))
            batch_op.add_column(sa.Column("entry_id", sa.Integer(), nullable=True))
        op.execute(
            f"UPDATE {table} SET entry_id = (SELECT min(e.id) FROM journal_entries e "
            f"WHERE e.source_type = '{source}' AND e.source_id = {table}.id)"
        )
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column("entry_id", existing_type=sa.Integer(), nullable=False)
            batch_op.create_foreign_key(batch_op.f(f"fk_{table}_withdrawn_by_id_users"), "users", ["withdrawn_by_id"], ["id"])
            batch_op.create_foreign_key(
                batch_op.f(f"fk_{table}_withdrawal_entry_id_journal_entries"),
                "journal_entries",
                ["withdrawal_entry_id"],
                ["id"],
            )
            batch_op.create_foreign_key(
                batch_op.f(f"fk_{table}_entry_id_journal_entries"), "journal_entries", ["entry_id"], ["id"]
            )
            batch_op.create_unique_constraint(batch_op.f(f"uq_{table}_entry_id"), ["entry_id"])
            batch_op.create_unique_constraint(batch_op.f(f"uq_{table}_withdrawal_entry_id"), ["withdrawal_entry_id"])
            batch_op.create_check_constraint(
                "withdrawal_posted", "(withdrawn_at IS NULL) = (withdrawal_entry_id IS NULL)"
            )


def downgrade():
    for table in ("invoices", "payments"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(f"ck_{table}_withdrawal_posted"), type_="check")
            batch_op.drop_constraint(batch_op.f(f"uq_{table}_withdrawal_entry_id"), type_="unique")
            batch_op.drop_constraint(batch_op.f(f"uq_{table}_entry_id"), type_="unique")
            batch_op.drop_constraint(batch_op.f(f"fk_{table}_entry_id_journal_entries"), type_="foreignkey")
            batch_op.drop_constraint(batch_op.f(f"fk_{table}_withdrawal_entry_id_journal_entries"), type_="foreignkey")
            batch_op.drop_constraint(batch_op.f(f"fk_{table}_withdrawn_by_id_users"), type_="foreignkey")
            for column in ("entry_id", "withdrawal_entry_id", "withdrawal_reason", "withdrawn_by_id", "withdrawn_at"):
                batch_op.drop_column(column)
    with op.batch_alter_table("balance_transactions", schema=None) as batch_op:
        batch_op.drop_index("ix_balance_transactions_customer_value_date")
        batch_op.drop_index("uq_balance_transactions_reverses_id")
        batch_op.drop_constraint(batch_op.f("uq_balance_transactions_entry_id"), type_="unique")
        batch_op.drop_constraint(batch_op.f("fk_balance_transactions_entry_id_journal_entries"), type_="foreignkey")
        batch_op.drop_constraint(
            batch_op.f("fk_balance_transactions_reverses_id_balance_transactions"), type_="foreignkey"
        )
        for column in ("entry_id", "reverses_id", "reason", "value_date"):
            batch_op.drop_column(column)


def _date_movements() -> None:
    """Each movement on the day it was posted in the installation's time zone; a reading's on the reading's date
    (or, for a reading since deleted, all on the day of its first charge, where they net to nothing)."""
    name = current_app.config["TIMEZONE"]  # the settings' BACKOFFICE_TIMEZONE
    op.get_bind().execute(
        sa.text("UPDATE balance_transactions SET value_date = (created_at AT TIME ZONE :zone)::date"),
        {"zone": name},
    )
    op.execute(
        "UPDATE balance_transactions SET value_date = (SELECT r.reading_date FROM meter_readings r "
        "WHERE r.id = balance_transactions.reference_id) "
        "WHERE reference_type = 'meter_reading' AND reference_id IN (SELECT id FROM meter_readings)"
    )
    op.execute(
        "UPDATE balance_transactions SET value_date = (SELECT min(b.value_date) FROM balance_transactions b "
        "WHERE b.reference_type = 'meter_reading' AND b.reference_id = balance_transactions.reference_id) "
        "WHERE reference_type = 'meter_reading' AND reference_id NOT IN (SELECT id FROM meter_readings)"
    )
