"""evidence: the rows inserted at or below the latest anchor's marks, recorded by the database as they are inserted

Revision ID: 0070
Revises: 0069
Create Date: 2026-11-28 09:00:00.000000

- ``evidence_marks``: per kind of evidence, the highest row id and version the latest anchor holds, written with the
  anchor.
- ``evidence_inserted_below``: each row of evidence inserted at or below its kind's mark, whoever inserted it,
  recorded by a trigger on each kind's table (``evidence_inserted_below(kind, version column)``, one statement-level
  trigger per kind, reading the statement's new rows). Append-only. A nightly reads these rows for those inserted
  past the application without a seal, where it read every anchored row for them; the sweep still verifies every
  row within ``BACKOFFICE_SEAL_SWEEP_DAYS`` nights, a row inserted with the triggers off included.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0070"
down_revision = "0069"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "evidence_marks",
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("row_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("kind", name=op.f("pk_evidence_marks")),
    )
    op.create_table(
        "evidence_inserted_below",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("row_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("inserted_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_inserted_below")),
    )
    op.create_index("ix_evidence_inserted_below_kind", "evidence_inserted_below", ["kind", "inserted_at"])
    op.execute(
        """
        CREATE FUNCTION evidence_inserted_below_kept() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'a row inserted below the anchor is recorded once: % of evidence_inserted_below is refused',
                TG_OP USING ERRCODE = 'restrict_violation';
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER evidence_inserted_below_kept BEFORE UPDATE OR DELETE ON evidence_inserted_below "
        "FOR EACH ROW EXECUTE FUNCTION evidence_inserted_below_kept()"
    )
    op.execute(
        "CREATE TRIGGER evidence_inserted_below_no_truncate BEFORE TRUNCATE ON evidence_inserted_below "
        "FOR EACH STATEMENT EXECUTE FUNCTION evidence_no_truncate()"
    )
    op.execute(
        """
        CREATE FUNCTION evidence_inserted_below() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            mark evidence_marks%ROWTYPE;
        BEGIN
            SELECT * INTO mark FROM evidence_marks WHERE kind = TG_ARGV[0];
            IF NOT FOUND THEN
                RETURN NULL;
            END IF;
            IF TG_ARGV[1] = '' THEN
                INSERT INTO evidence_inserted_below (kind, row_id, version)
                SELECT TG_ARGV[0], id, 0 FROM added WHERE id <= mark.row_id;
            ELSE
                EXECUTE format(
                    'INSERT INTO evidence_inserted_below (kind, row_id, version) '
                    'SELECT $1, id, %1$I FROM added WHERE id <= $2 AND %1$I <= $3', TG_ARGV[1]
                ) USING TG_ARGV[0], mark.row_id, mark.version;
            END IF;
            RETURN NULL;
        END
        $$
        """
    )
    from backoffice.evidence import seals  # the kinds as the application declares them: the upgrade runs in its context

    existing = set(sa.inspect(op.get_bind()).get_table_names())
    for evidence in seals.kinds().values():
        if evidence.table.name in existing:
            op.execute(seals.inserted_below_trigger(evidence))


def downgrade():
    from backoffice.evidence import seals

    existing = set(sa.inspect(op.get_bind()).get_table_names())
    for evidence in seals.kinds().values():
        if evidence.table.name in existing:
            op.execute(f"DROP TRIGGER IF EXISTS {evidence.kind}_inserted_below ON {evidence.table.name}")
    op.execute("DROP FUNCTION evidence_inserted_below()")
    op.execute("DROP TRIGGER evidence_inserted_below_no_truncate ON evidence_inserted_below")
    op.execute("DROP TRIGGER evidence_inserted_below_kept ON evidence_inserted_below")
    op.execute("DROP FUNCTION evidence_inserted_below_kept()")
    op.drop_index("ix_evidence_inserted_below_kind", table_name="evidence_inserted_below")
    op.drop_table("evidence_inserted_below")
    op.drop_table("evidence_marks")
