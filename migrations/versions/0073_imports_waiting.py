"""an import may wait for a second admin's approval

Revision ID: 0073
Revises: 0072
Create Date: 2026-11-27 16:00:00.000000

An import whose rows move money by hand (opening balances) beyond the approval limit, one row or in total, waits
whole for a second admin (``waiting``); approving it starts it (an ``approval_requests`` row of kind ``import``).
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0073"
down_revision = "0072"
branch_labels = None
depends_on = None


def upgrade():
    op.drop_constraint(op.f("ck_imports_status"), "imports", type_="check")
    op.create_check_constraint(
        op.f("ck_imports_status"), "imports", "status IN ('checked', 'waiting', 'queued', 'running', 'done', 'failed')"
    )


def downgrade():
    op.execute("UPDATE imports SET status = 'checked' WHERE status = 'waiting'")
    op.drop_constraint(op.f("ck_imports_status"), "imports", type_="check")
    op.create_check_constraint(
        op.f("ck_imports_status"), "imports", "status IN ('checked', 'queued', 'running', 'done', 'failed')"
    )
