"""seals on the evidence, and the evidence found without one

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-11 09:00:00.000000

- ``seals``: one keyed seal (HMAC under ``BACKOFFICE_SEAL_KEY``) per row of evidence: wallet movements, posted
  journal entries with their lines, history versions, approval requests and their decisions, finished
  reconciliation runs with their results. Append-only: the database refuses ``UPDATE``, ``DELETE`` and ``TRUNCATE``.
- ``tampered_evidence``: a row found without a valid seal, open until an admin reverses or accepts it; never
  deleted, and decided once.
- The rows already there are sealed by this step, with the key the upgrade runs with: they are vouched for as
  they stand. Run the upgrade with the installation's own key (the one the application runs with).
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None

UNRESOLVED = sa.text("resolution IS NULL")


def upgrade():
    op.create_table(
        "seals",
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("row_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("chain", sa.BigInteger(), nullable=True),
        sa.Column("prev_row_id", sa.BigInteger(), nullable=True),
        sa.Column("prev_version", sa.BigInteger(), nullable=True),
        sa.Column("seal", sa.String(length=64), nullable=False),
        sa.Column("sealed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "row_id", "version", name=op.f("pk_seals")),
    )
    op.create_index("ix_seals_chain", "seals", ["kind", "chain", "row_id"], unique=False)
    op.create_table(
        "tampered_evidence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("row_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("entry_id", sa.BigInteger(), nullable=True),
        sa.Column("what", sa.String(length=300), nullable=False),
        sa.Column("found_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("found_run_id", sa.Integer(), nullable=True),
        sa.Column(
            "resolution",
            sa.Enum("reversed", "accepted", name="evidence_resolution", native_enum=False, length=20),
            nullable=True,
        ),
        sa.Column("reason", sa.String(length=300), nullable=True),
        sa.Column("resolved_by_id", sa.Integer(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reviewed_seal", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "resolution IS NULL OR length(trim(reason)) > 0", name=op.f("ck_tampered_evidence_decided_with_reason")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_tampered_evidence_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["found_run_id"],
            ["reconciliation_runs.id"],
            name=op.f("fk_tampered_evidence_found_run_id_reconciliation_runs"),
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by_id"], ["users.id"], name=op.f("fk_tampered_evidence_resolved_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tampered_evidence")),
    )
    op.create_index("ix_tampered_evidence_customer", "tampered_evidence", ["customer_id"], unique=False)
    op.create_index(
        "uq_tampered_evidence_open",
        "tampered_evidence",
        ["kind", "row_id", "version"],
        unique=True,
        postgresql_where=UNRESOLVED,
    )
    _guards()
    _seal_what_is_there()


def _guards():
    op.execute(
        """
        CREATE FUNCTION seals_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'seals are append-only: % of seals is refused', TG_OP USING ERRCODE = 'restrict_violation';
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER seals_append_only BEFORE UPDATE OR DELETE ON seals "
        "FOR EACH ROW EXECUTE FUNCTION seals_append_only()"
    )
    op.execute(
        """
        CREATE FUNCTION tampered_evidence_decided_once() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' OR OLD.resolution IS NOT NULL
                OR (NEW.kind, NEW.row_id, NEW.version, NEW.what, NEW.found_at, NEW.customer_id, NEW.entry_id)
                IS DISTINCT FROM
                (OLD.kind, OLD.row_id, OLD.version, OLD.what, OLD.found_at, OLD.customer_id, OLD.entry_id) THEN
                RAISE EXCEPTION 'tampered evidence is decided once: % is refused', TG_OP
                    USING ERRCODE = 'restrict_violation';
            END IF;
            RETURN NEW;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER tampered_evidence_decided_once BEFORE UPDATE OR DELETE ON tampered_evidence "
        "FOR EACH ROW EXECUTE FUNCTION tampered_evidence_decided_once()"
    )
    for table in ("seals", "tampered_evidence"):
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION evidence_no_truncate()"
        )


def _seal_what_is_there():
    from backoffice.evidence import sealing  # with the key the application runs with: the upgrade runs in its context

    sealing.seal_existing(op.get_bind())


def downgrade():
    op.execute("DROP FUNCTION seals_append_only() CASCADE")
    op.execute("DROP FUNCTION tampered_evidence_decided_once() CASCADE")
    op.drop_index("uq_tampered_evidence_open", table_name="tampered_evidence")
    op.drop_index("ix_tampered_evidence_customer", table_name="tampered_evidence")
    op.drop_table("tampered_evidence")
    op.drop_index("ix_seals_chain", table_name="seals")
    op.drop_table("seals")
