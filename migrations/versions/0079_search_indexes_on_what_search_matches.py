"""search: the trigram indexes on what the search matches, not on the column, so that they serve no key's lookup

Revision ID: 0079
Revises: 0078
Create Date: 2026-11-28 19:20:00.000000

The GIN indexes of migration 0059 were on the columns themselves, and ``gin_trgm_ops`` serves ``=`` too: the planner
then read a key's lookup (``code = …``, a join to a list of codes) from a search index rather than the key's own,
its cost misjudged, at up to 3 ms a key (a list of 2,000 codes: 6 s, where the unique index takes 1 ms). Each is now
on ``lower(column)``, which the search matches (``pg_trgm`` folds case itself: the same trigrams, the same matches),
as the GiST indexes of migration 0069 are; no lookup of a column's value can read it.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0079"
down_revision = "0078"
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
    for table, columns in SEARCHED.items():
        op.drop_index(f"ix_{table}_search", table_name=table)
        op.create_index(
            f"ix_{table}_search",
            table,
            [sa.text(f"lower({column}) gin_trgm_ops") for column in columns],
            postgresql_using="gin",
        )


def downgrade():
    for table, columns in SEARCHED.items():
        op.drop_index(f"ix_{table}_search", table_name=table)
        op.create_index(
            f"ix_{table}_search",
            table,
            list(columns),
            postgresql_using="gin",
            postgresql_ops=dict.fromkeys(columns, "gin_trgm_ops"),
        )
