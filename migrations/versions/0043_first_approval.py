"""approval requests: a clerk's request above the approval limit is approved by two admins, the first recorded

Revision ID: 0043
Revises: 0042
Create Date: 2026-12-12 09:00:00.000000

- ``approval_requests.first_approved_by_id``, ``first_approved_at``: the first admin's approval of a request a
  clerk asked for above the approval limit; the request stays pending until a second admin approves it. NULL for
  every request before (a NULL value is left out of a seal, so the requests and decisions sealed before keep their
  seals), and in their history (``approval_requests_history``).
- Guarded, whoever writes: the first approval is written once, while the request is pending and stays so, by
  someone other than who asked, and never changed after; the admin who approved first does not approve it again.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0043"
down_revision = "0042"
branch_labels = None
depends_on = None

FIRST_APPROVAL = ("first_approved_by_id", "first_approved_at")

CHANGED = "NEW.first_approved_by_id IS DISTINCT FROM OLD.first_approved_by_id OR NEW.first_approved_at IS DISTINCT FROM OLD.first_approved_at"
APPROVED_FIRST_ONCE = (
    "OLD.first_approved_by_id IS NULL AND OLD.first_approved_at IS NULL AND OLD.status = 'pending' "
    "AND NEW.status = 'pending' AND NEW.first_approved_by_id IS NOT NULL AND NEW.first_approved_at IS NOT NULL "
    "AND NEW.first_approved_by_id <> NEW.requested_by_id"
)
"""The one change of the first approval allowed: from none, on a request pending before and after, by another."""
APPROVED_AGAIN = "OLD.status = 'pending' AND NEW.status = 'approved' AND NEW.decided_by_id = NEW.first_approved_by_id"
"""The admin who approved first approving again: two approvals are two admins'."""
FIRST_ONCE = (
    "an approval request is approved first once, while pending, by another than who asked: UPDATE of its first "
    "approval is refused"
)
TWO_ADMINS = "an approval request approved first is approved by a second admin: UPDATE of its decision is refused"


def upgrade():
    op.add_column("approval_requests", sa.Column("first_approved_by_id", sa.Integer(), nullable=True))
    op.create_foreign_key(
        op.f("fk_approval_requests_first_approved_by_id_users"),
        "approval_requests",
        "users",
        ["first_approved_by_id"],
        ["id"],
    )
    op.add_column("approval_requests", sa.Column("first_approved_at", sa.DateTime(timezone=True), nullable=True))
    for column in (
        sa.Column("first_approved_by_id", sa.Integer(), autoincrement=False, nullable=True),
        sa.Column("first_approved_at", sa.DateTime(timezone=True), autoincrement=False, nullable=True),
    ):
        op.add_column("approval_requests_history", column)
    for statement in _guards():
        op.execute(statement)


def downgrade():
    op.execute("DROP TRIGGER approval_requests_first_approval ON approval_requests")
    op.execute("DROP FUNCTION approval_requests_first_approval()")
    op.drop_constraint(op.f("fk_approval_requests_first_approved_by_id_users"), "approval_requests", type_="foreignkey")
    for table in ("approval_requests_history", "approval_requests"):
        for column in FIRST_APPROVAL:
            op.drop_column(table, column)


def _guards():
    yield f"""
        CREATE FUNCTION approval_requests_first_approval() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF ({CHANGED}) AND NOT ({APPROVED_FIRST_ONCE}) THEN
                RAISE EXCEPTION '{FIRST_ONCE}' USING ERRCODE = 'restrict_violation';
            END IF;
            IF {APPROVED_AGAIN} THEN
                RAISE EXCEPTION '{TWO_ADMINS}' USING ERRCODE = 'restrict_violation';
            END IF;
            RETURN NEW;
        END
        $$
    """
    yield (
        "CREATE TRIGGER approval_requests_first_approval BEFORE UPDATE ON approval_requests "
        "FOR EACH ROW EXECUTE FUNCTION approval_requests_first_approval()"
    )
