"""guards: posted entries take no new lines, no TRUNCATE of evidence, finished runs immutable, unfixed reasons

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 09:00:00.000000

What the database refuses from here on, whoever writes:

- a line added to a journal entry that is no longer a draft (an entry is posted from a draft with its
  lines);
- ``TRUNCATE`` of the ledger, the books and the reconciliation audit trail;
- any change to a finished reconciliation run, its counts and its discrepancies.

The suite empties its tables as a superuser under ``session_replication_role = replica``, where no
trigger fires; the application's database user is not a superuser and cannot do that.
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

EVIDENCE = (
    "balance_transactions",
    "journal_entries",
    "journal_lines",
    "reconciliation_runs",
    "reconciliation_check_results",
    "reconciliation_discrepancies",
)
RUN_ROWS = ("reconciliation_check_results", "reconciliation_discrepancies")


def upgrade():
    with op.batch_alter_table("reconciliation_discrepancies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reason", sa.String(length=300), nullable=True))

    op.execute(GUARDS)
    for table in EVIDENCE:
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION evidence_no_truncate()"
        )


GUARDS = """
CREATE FUNCTION journal_lines_to_drafts_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- FOR SHARE: a draft being posted meanwhile is waited for, and then seen posted.
    IF (SELECT status FROM journal_entries WHERE id = NEW.entry_id FOR SHARE) <> 'draft' THEN
        RAISE EXCEPTION 'a posted journal entry is immutable: INSERT of its lines is refused'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER journal_lines_to_drafts_only BEFORE INSERT ON journal_lines
    FOR EACH ROW EXECUTE FUNCTION journal_lines_to_drafts_only();

CREATE FUNCTION evidence_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% keeps evidence: TRUNCATE is refused', TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END
$$;

CREATE FUNCTION reconciliation_run_finished_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    runs integer[];
BEGIN
    IF TG_TABLE_NAME = 'reconciliation_runs' THEN
        runs := ARRAY[OLD.id];
    ELSIF TG_OP = 'INSERT' THEN
        runs := ARRAY[NEW.run_id];
    ELSIF TG_OP = 'DELETE' THEN
        runs := ARRAY[OLD.run_id];
    ELSE
        runs := ARRAY[OLD.run_id, NEW.run_id];
    END IF;
    IF EXISTS (SELECT 1 FROM reconciliation_runs WHERE id = ANY (runs) AND status <> 'running') THEN
        RAISE EXCEPTION 'a finished reconciliation run is evidence: % of % is refused', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;
CREATE TRIGGER reconciliation_runs_finished_immutable BEFORE UPDATE OR DELETE ON reconciliation_runs
    FOR EACH ROW EXECUTE FUNCTION reconciliation_run_finished_immutable();
CREATE TRIGGER reconciliation_check_results_finished_immutable
    BEFORE INSERT OR UPDATE OR DELETE ON reconciliation_check_results
    FOR EACH ROW EXECUTE FUNCTION reconciliation_run_finished_immutable();
CREATE TRIGGER reconciliation_discrepancies_finished_immutable
    BEFORE INSERT OR UPDATE OR DELETE ON reconciliation_discrepancies
    FOR EACH ROW EXECUTE FUNCTION reconciliation_run_finished_immutable();
"""


def downgrade():
    for table in EVIDENCE:
        op.execute(f"DROP TRIGGER {table}_no_truncate ON {table}")
    op.execute("DROP TRIGGER journal_lines_to_drafts_only ON journal_lines")
    op.execute("DROP TRIGGER reconciliation_runs_finished_immutable ON reconciliation_runs")
    for table in RUN_ROWS:
        op.execute(f"DROP TRIGGER {table}_finished_immutable ON {table}")
    op.execute("DROP FUNCTION journal_lines_to_drafts_only()")
    op.execute("DROP FUNCTION evidence_no_truncate()")
    op.execute("DROP FUNCTION reconciliation_run_finished_immutable()")
    with op.batch_alter_table("reconciliation_discrepancies", schema=None) as batch_op:
        batch_op.drop_column("reason")
