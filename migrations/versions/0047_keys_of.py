"""keys_of: an array of the values it is given, which PostgreSQL 15 can collect in parallel workers

Revision ID: 0047
Revises: 0046
Create Date: 2026-11-25 17:00:00.000000

- A verify counted the entities in scope in a scan of its own beside the scan that finds the wrong ones: on a
  table of a million orders, 15–18 % of the raw count of the wrong rows. One scan could count every row and
  collect the keys of the wrong ones, but PostgreSQL 15's ``array_agg`` cannot be combined across parallel workers
  (16's can), so such a scan ran in one process at several times the cost of both. ``keys_of`` appends each value
  to its worker's array and concatenates the workers' arrays: the scan stays parallel.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0047"
down_revision = "0046"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("""
CREATE AGGREGATE keys_of(anycompatible) (
    SFUNC = array_append,
    STYPE = anycompatiblearray,
    COMBINEFUNC = array_cat,
    PARALLEL = SAFE
)
""")


def downgrade():
    op.execute("DROP AGGREGATE keys_of(anycompatible)")
