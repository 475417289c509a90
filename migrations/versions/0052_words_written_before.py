"""the rows the old code wrote its words on: wallet movements and journal entries up to this upgrade

Revision ID: 0052
Revises: 0051
Create Date: 2026-11-26 03:00:00.000000

- ``words_written_before``: for ``balance_transactions`` and ``journal_entries``, the highest id present at this
  upgrade (0 for an empty table). A row up to it may carry the English words the old code wrote for its facts, and is
  shown as those words in the reader's language; a row after it carries the system's words as facts only, so its
  description is a clerk's, shown as typed whatever it reads like (``backoffice.services.descriptions``).
- Written once, by this upgrade: the database refuses ``INSERT``, ``UPDATE``, ``DELETE`` and ``TRUNCATE`` (append-only
  to the runtime role's grant, which holds no ``UPDATE`` or ``DELETE`` of it).
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0052"
down_revision = "0051"
branch_labels = None
depends_on = None

TABLES = ("balance_transactions", "journal_entries")


def upgrade():
    op.create_table(
        "words_written_before",
        sa.Column("table_name", sa.String(length=40), nullable=False),
        sa.Column("through_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("table_name", name=op.f("pk_words_written_before")),
    )
    op.execute(
        "INSERT INTO words_written_before (table_name, through_id) "
        + " UNION ALL ".join(f"SELECT '{table}', coalesce(max(id), 0) FROM {table}" for table in TABLES)
    )
    op.execute(
        """
        CREATE FUNCTION words_written_before_kept() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the rows written before are recorded once: % of words_written_before is refused', TG_OP
                USING ERRCODE = 'restrict_violation';
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER words_written_before_kept BEFORE INSERT OR UPDATE OR DELETE ON words_written_before "
        "FOR EACH ROW EXECUTE FUNCTION words_written_before_kept()"
    )
    op.execute(
        "CREATE TRIGGER words_written_before_no_truncate BEFORE TRUNCATE ON words_written_before "
        "FOR EACH STATEMENT EXECUTE FUNCTION evidence_no_truncate()"
    )


def downgrade():
    op.execute("DROP FUNCTION words_written_before_kept() CASCADE")
    op.drop_table("words_written_before")
