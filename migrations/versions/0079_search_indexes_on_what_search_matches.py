"""search: the GIN trigram indexes on what the search matches, not on the column, so that they serve no key's lookup

Revision ID: 0079
Revises: 0078
Create Date: 2026-11-28 19:20:00.000000

The GIN indexes of migration 0059 were on the columns themselves, and ``gin_trgm_ops`` serves ``=`` too: the planner
then read a key's lookup (``code = …``, a join to a list of codes) from a search index rather than the key's own,
its cost misjudged, at up to 3 ms a key (a list of 2,000 codes: 6 s, where the unique index takes 1 ms). Each is now
on ``search_folded(column)``, what the search matches: the column in small letters (``pg_trgm`` folds case itself:
the same trigrams, the same matches), a function of its own so that it is neither the column, which a lookup
compares, nor ``lower(column)``, the GiST indexes' of migration 0069, read for the order alone. It is not inlined
(its ``search_path`` is set), so its calls stay what the indexes hold.
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
    op.execute(
        "CREATE FUNCTION search_folded(text) RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE "
        "SET search_path = pg_catalog RETURN lower($1)"
    )
    for table, columns in SEARCHED.items():
        op.drop_index(f"ix_{table}_search", table_name=table)
        op.create_index(
            f"ix_{table}_search",
            table,
            [sa.text(f"search_folded({column}) gin_trgm_ops") for column in columns],
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
    op.execute("DROP FUNCTION search_folded(text)")
