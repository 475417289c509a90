"""the database's identity, sealed; a sealed record of each anchor written

Revision ID: 0049
Revises: 0048
Create Date: 2026-11-25 22:30:00.000000

- ``seal_key.database``: a random identity of this database, made by this upgrade, and ``seal_key.database_seal``,
  an HMAC of it under the seal key. Each anchor names the database it describes: an anchors folder of another
  database is refused as such, not read as tampering.
- ``anchor_records``: each anchor the nightly maintenance writes, its night, the digest of its heads, the seal of the
  anchor before it and the seal of its file (an HMAC under the seal key). Append-only, and sealed as evidence: the
  folder's files are proved against it every night, so a missing, edited, replaced or older file is found by name.
"""

import secrets

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0049"
down_revision = "0048"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("seal_key", sa.Column("database", sa.String(length=32), nullable=True))
    op.add_column("seal_key", sa.Column("database_seal", sa.String(length=64), nullable=True))
    op.create_table(
        "anchor_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("chains", sa.Integer(), nullable=False),
        sa.Column("previous", sa.String(length=64), nullable=True),
        sa.Column("file_seal", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("anchored_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_anchor_records")),
    )
    from backoffice.evidence import seals  # with the key the application runs with: the upgrade runs in its context

    identity = secrets.token_hex(16)
    made = {"database": identity, "database_seal": seals.identity_seal(identity)}
    op.execute("ALTER TABLE seal_key DISABLE TRIGGER seal_key_kept")
    op.get_bind().execute(sa.text("UPDATE seal_key SET database = :database, database_seal = :database_seal"), made)
    op.execute("ALTER TABLE seal_key ENABLE TRIGGER seal_key_kept")
    op.execute(
        """
        CREATE FUNCTION anchor_records_kept() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'an anchor is recorded once: % of anchor_records is refused', TG_OP
                USING ERRCODE = 'restrict_violation';
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER anchor_records_kept BEFORE UPDATE OR DELETE ON anchor_records "
        "FOR EACH ROW EXECUTE FUNCTION anchor_records_kept()"
    )
    op.execute(
        "CREATE TRIGGER anchor_records_no_truncate BEFORE TRUNCATE ON anchor_records "
        "FOR EACH STATEMENT EXECUTE FUNCTION evidence_no_truncate()"
    )


def downgrade():
    op.execute("ALTER TABLE seals DISABLE TRIGGER seals_append_only")
    op.execute("DELETE FROM seals WHERE kind = 'anchor_records'")
    op.execute("ALTER TABLE seals ENABLE TRIGGER seals_append_only")
    op.execute("DROP TRIGGER anchor_records_no_truncate ON anchor_records")
    op.execute("DROP TRIGGER anchor_records_kept ON anchor_records")
    op.execute("DROP FUNCTION anchor_records_kept()")
    op.drop_table("anchor_records")
    for column in ("database_seal", "database"):
        op.drop_column("seal_key", column)
