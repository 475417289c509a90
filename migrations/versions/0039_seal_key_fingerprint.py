"""the fingerprint of the key the evidence is sealed with

Revision ID: 0039
Revises: 0038
Create Date: 2026-12-14 09:00:00.000000

- ``seal_key``: one row, the fingerprint of the seal key (an HMAC under it of a constant, which tells nothing of the
  key). Evidence is verified only under the key whose fingerprint it is: a verify under another key stops, saying
  so, rather than finding every row tampered. Append-only (the database refuses ``UPDATE``, ``DELETE`` and
  ``TRUNCATE``; the runtime role may only insert it where it is missing), one row at most.
- The fingerprint is of the key the upgrade runs with, as migration 0032 sealed the rows there were with it: run
  the upgrade with the installation's own key (the one the application runs with).
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0039"
down_revision = "0038"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "seal_key",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_seal_key_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seal_key")),
    )
    _guards()
    from backoffice.evidence import seals  # with the key the application runs with: the upgrade runs in its context

    seals.check_key(op.get_bind())


def _guards():
    op.execute(
        """
        CREATE FUNCTION seal_key_kept() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the seal key''s fingerprint is kept: % is refused', TG_OP
                USING ERRCODE = 'restrict_violation';
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER seal_key_kept BEFORE UPDATE OR DELETE ON seal_key FOR EACH ROW EXECUTE FUNCTION seal_key_kept()"
    )
    op.execute(
        "CREATE TRIGGER seal_key_no_truncate BEFORE TRUNCATE ON seal_key "
        "FOR EACH STATEMENT EXECUTE FUNCTION evidence_no_truncate()"
    )


def downgrade():
    op.execute("DROP FUNCTION seal_key_kept() CASCADE")
    op.drop_table("seal_key")
