"""search: the searched columns' trigrams in order of likeness, so that a search reads a few rows however many are
alike

Revision ID: 0069
Revises: 0068
Create Date: 2026-11-27 16:00:00.000000

One GiST index of trigrams (``pg_trgm``'s ``gist_trgm_ops``) per column the search box and the pickers match, which
gives the rows in order of the distance of their word most like what was typed (``<->>``): when hundreds of records
are alike ("Toko …" typed among as many shops), the search ranks each column's nearest few, read off it in order,
rather than every one of them. Each is on ``lower(column)``, the same trigrams (``pg_trgm`` folds case), so that it
is read for that order alone: the GIN indexes of migration 0059 still answer whether a column has a word like what
was typed or holds it whole, reading only the trigrams typed. A customer's contact person, email and phone, which a
customer may leave empty, are indexed for the customers that fill them alone: every charge writes its customer's
row again, and each of these indexes with it.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0069"
down_revision = "0068"
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
OPTIONAL = {("customers", "contact_person"), ("customers", "email"), ("customers", "phone")}


def upgrade():
    for table, columns in SEARCHED.items():
        for column in columns:
            op.create_index(
                f"ix_{table}_{column}_nearest",
                table,
                [sa.text(f"lower({column}) gist_trgm_ops")],
                postgresql_using="gist",
                postgresql_where=sa.text(f"{column} IS NOT NULL") if (table, column) in OPTIONAL else None,
            )


def downgrade():
    for table, columns in SEARCHED.items():
        for column in columns:
            op.drop_index(f"ix_{table}_{column}_nearest", table_name=table)
