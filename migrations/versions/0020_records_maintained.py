"""customers' contact fields and closing, meters' retirement, versions for the customer and manager forms

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-28 09:00:00.000000

A customer gets its contact fields (contact person, email, phone, address), when and by whom it was
closed, and a version its edit form carries; an account manager a version too. A meter records the
day it was retired and by whom (its status says it is).
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("contact_person", sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column("email", sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column("phone", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("address", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column(
                "closed_by_id",
                sa.Integer(),
                sa.ForeignKey("users.id", name="fk_customers_closed_by_id_users"),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False))
    with op.batch_alter_table("account_managers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False))
    with op.batch_alter_table("meters", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retired_on", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "retired_by_id",
                sa.Integer(),
                sa.ForeignKey("users.id", name="fk_meters_retired_by_id_users"),
                nullable=True,
            )
        )


def downgrade():
    with op.batch_alter_table("meters", schema=None) as batch_op:
        batch_op.drop_constraint("fk_meters_retired_by_id_users", type_="foreignkey")
        batch_op.drop_column("retired_by_id")
        batch_op.drop_column("retired_on")
    with op.batch_alter_table("account_managers", schema=None) as batch_op:
        batch_op.drop_column("version")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_constraint("fk_customers_closed_by_id_users", type_="foreignkey")
        for column in ("version", "closed_by_id", "closed_at", "address", "phone", "email", "contact_person"):
            batch_op.drop_column(column)
