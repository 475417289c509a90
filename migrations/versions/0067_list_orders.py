"""indexes for the orders the lists are read in, and for the home page's few customers and its month

Revision ID: 0067
Revises: 0066
Create Date: 2026-11-27 12:00:00.000000

- Each list's usual order, with the id that breaks its ties, so that its first page is read off an index rather
  than every row sorted: ``balance_transactions (value_date, id)`` (the movements), ``invoices (issued_on, id)``,
  ``payments (paid_on, id)``, ``jobs (enqueued_at)``, and the latest decided ``approval_requests (decided_at, id)``
  and ``tampered_evidence (resolved_at)``.
- The other columns a list sorts by, on the tables a charge does not write: ``invoices`` by due date, amount and
  outstanding, ``payments`` by reference and amount, ``orders`` by each of their components. The tables every charge
  writes (the movements, the customers, the journal) get none beyond their usual order: each index there is written
  again by every charge.
- The home page's figures: the suspended customers, and the customers a postpaid meter leaves owing or overpaid, each
  an index of those rows alone (``ix_customers_suspended``, ``ix_customers_owing``); a month's balances,
  ``monthly_customer_balances (year_month)``.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0067"
down_revision = "0066"
branch_labels = None
depends_on = None

INDEXES = [
    ("ix_balance_transactions_value_date_id", "balance_transactions", ["value_date", "id"]),
    ("ix_invoices_issued_on_id", "invoices", ["issued_on", "id"]),
    ("ix_invoices_due_on_id", "invoices", ["due_on", "id"]),
    ("ix_invoices_amount_id", "invoices", ["amount", "id"]),
    ("ix_invoices_outstanding_id", "invoices", ["outstanding", "id"]),
    ("ix_payments_paid_on_id", "payments", ["paid_on", "id"]),
    ("ix_payments_reference_id", "payments", ["reference", "id"]),
    ("ix_payments_amount_id", "payments", ["amount", "id"]),
    ("ix_orders_total_price_id", "orders", ["total_price", "id"]),
    ("ix_orders_additions_id", "orders", ["additions", "id"]),
    ("ix_orders_promo_id", "orders", ["promo", "id"]),
    ("ix_orders_reductions_id", "orders", ["reductions", "id"]),
    ("ix_jobs_enqueued_at", "jobs", ["enqueued_at"]),
    ("ix_approval_requests_decided_at_id", "approval_requests", ["decided_at", "id"]),
    ("ix_tampered_evidence_resolved_at", "tampered_evidence", ["resolved_at"]),
    ("ix_monthly_customer_balances_year_month", "monthly_customer_balances", ["year_month"]),
]
PARTIAL = [
    ("ix_customers_suspended", ["id"], "status = 'suspended'"),
    ("ix_customers_owing", ["amount_due", "overpayment"], "amount_due > 0 OR overpayment > 0"),
]


def upgrade():
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)
    for name, columns, where in PARTIAL:
        op.create_index(name, "customers", columns, unique=False, postgresql_where=sa.text(where))


def downgrade():
    for name, _columns, _where in reversed(PARTIAL):
        op.drop_index(name, table_name="customers")
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
