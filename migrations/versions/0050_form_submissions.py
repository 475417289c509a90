"""each sending of a form that writes money, by the key drawn into the form

Revision ID: 0050
Revises: 0049
Create Date: 2026-11-26 01:00:00.000000

- ``form_submissions``: the key of a form that writes money, claimed in the transaction that writes what it asked,
  with who sent it, where it led and what it said: the same form sent again writes nothing and is shown that.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0050"
down_revision = "0049"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "form_submissions",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("endpoint", sa.String(length=100), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=True),
        sa.Column("said", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_form_submissions_user_id_users")),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_form_submissions")),
    )


def downgrade():
    op.drop_table("form_submissions")
