"""the day the installation took over from the system before

Revision ID: 0092
Revises: 0091
Create Date: 2026-11-29 12:30:00.000000

A route book of October imported after the openings of 31 October charged every wallet again. ``cut_over`` holds the
day the installation took over (one row, set once: the database refuses to change, delete or truncate it, and the
runtime role may only add it): a reading dated on
or before it is history, recorded (its index continues, its volume counts in its month) but never charged, what the
opening balance brought in holding it already (``formulas.charged_sql``, which the write path, the re-pricing and the
nightly's ``reading_calculation`` check read alike).
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0092"
down_revision = "0091"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "cut_over",
        sa.Column("id", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("set_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("id", name=op.f("ck_cut_over_one_row")),
        sa.ForeignKeyConstraint(["set_by_id"], ["users.id"], name=op.f("fk_cut_over_set_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cut_over")),
    )
    op.execute(
        "CREATE TRIGGER cut_over_set_once BEFORE UPDATE OR DELETE ON cut_over "
        "FOR EACH ROW EXECUTE FUNCTION history_append_only()"
    )
    op.execute(
        "CREATE TRIGGER cut_over_no_truncate BEFORE TRUNCATE ON cut_over "
        "FOR EACH STATEMENT EXECUTE FUNCTION evidence_no_truncate()"
    )


def downgrade():
    op.drop_table("cut_over")
