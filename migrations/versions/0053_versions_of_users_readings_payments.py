"""versions for the user, reading and payment forms

Revision ID: 0053
Revises: 0052
Create Date: 2026-11-26 04:00:00.000000

- ``users.version``, ``meter_readings.version``, ``payments.version``: the version the row's edit form carries,
  moved by every change of the row (a user's by the ORM, a reading's and a payment's by the services, which write
  them with SQL Core). Every row starts at 1. Left out of the rows' history, so the seals of their history versions
  stay as they were.
- A reading's correction or deletion waiting for approval carries the version the reading was at when it was asked;
  one asked before this upgrade carries what the form carried then (a digest of the reading's values), which no
  version matches: approving it is refused as changed since asked, and nothing is written. Reject it, and ask again.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0053"
down_revision = "0052"
branch_labels = None
depends_on = None

TABLES = ("users", "meter_readings", "payments")


def upgrade():
    for table in TABLES:
        op.add_column(table, sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False))


def downgrade():
    for table in reversed(TABLES):
        op.drop_column(table, "version")
