"""search: found with or without accents and Vietnamese tone marks

Revision ID: 0083
Revises: 0082
Create Date: 2026-11-28 22:10:00.000000

``search_folded(text)``, what the search matches of a column and its GIN trigram indexes hold (migration 0079), is
now the text in small letters without its marks (PostgreSQL's ``unaccent``: "Café Señor" is "cafe senor", "Phở Hòa"
"pho hoa", "khí đốt" "khi dot"); what is typed is folded by the same function, so that "Cafe Senor" and "pho hoa" find
them. Its body is bound to the ``unaccent`` dictionary when it is created, and it stays an immutable function of its
own, not inlined; the indexes on it are built again.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0083"
down_revision = "0082"
branch_labels = None
depends_on = None

INDEXES = ("customers", "meters", "invoices", "payments", "orders", "account_managers", "users")


def _fold(body: str) -> None:
    op.execute(
        "CREATE OR REPLACE FUNCTION search_folded(text) RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE "
        f"SET search_path FROM CURRENT RETURN {body}"
    )
    for table in INDEXES:
        op.execute(f"REINDEX INDEX ix_{table}_search")


def upgrade():
    op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    _fold("lower(unaccent('unaccent'::regdictionary, $1))")


def downgrade():
    _fold("lower($1)")
    op.execute("DROP EXTENSION IF EXISTS unaccent")
