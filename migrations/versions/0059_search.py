"""search: the trigrams of what a clerk looks records up by

Revision ID: 0059
Revises: 0058
Create Date: 2026-11-27 09:00:00.000000

``pg_trgm`` (a trusted extension: the owner of the database may create it) and one GIN index of trigrams per table
the search box and the pickers read, over the columns they match: a customer's code, name, contact person, email and
phone; a meter's serial; an invoice's number; a payment's reference; an order's number; an account manager's name
and email; a user's email and name. ``%>`` (a word of the column like what was typed), ``ILIKE`` and ``=`` read
them, so a search reads a few rows however many there are.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0059"
down_revision = "0058"
branch_labels = None
depends_on = None

SEARCHED = {
    "customers": ("code", "name", "contact_person", "email", "phone"),
    "meters": ("serial",),
    "invoices": ("number",),
    "payments": ("reference",),
    "orders": ("number",),
    "account_managers": ("name", "email"),
    "users": ("email", "name"),
}


def upgrade():
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for table, columns in SEARCHED.items():
        op.create_index(
            f"ix_{table}_search",
            table,
            list(columns),
            postgresql_using="gin",
            postgresql_ops=dict.fromkeys(columns, "gin_trgm_ops"),
        )


def downgrade():
    for table in SEARCHED:
        op.drop_index(f"ix_{table}_search", table_name=table)
