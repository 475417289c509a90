"""a customer's route: the meter reader's round its meters are read on, and its stop on it

Revision ID: 0084
Revises: 0083
Create Date: 2026-11-28 22:30:00.000000

``customers.route`` (a round or an area, as the meter readers name it) and ``customers.route_stop`` (its place on
the round, from 1): route sheets are chosen by route and read in its order. NULL for every customer before, whose
versions keep their seals (a NULL column is left out of a seal).
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0084"
down_revision = "0083"
branch_labels = None
depends_on = None


def upgrade():
    for table in ("customers", "customers_history"):
        op.add_column(table, sa.Column("route", sa.String(60), nullable=True))
        op.add_column(table, sa.Column("route_stop", sa.Integer(), nullable=True))
    op.create_check_constraint("ck_customers_route_stop_positive", "customers", "route_stop > 0")
    op.create_index("ix_customers_route", "customers", ["route", "route_stop", "code"])


def downgrade():
    op.drop_index("ix_customers_route", table_name="customers")
    for table in ("customers_history", "customers"):
        op.drop_column(table, "route_stop")
        op.drop_column(table, "route")
