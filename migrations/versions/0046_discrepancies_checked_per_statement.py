"""reconciliation_discrepancies: rows added to a finished run refused once per statement, not once per row

Revision ID: 0046
Revises: 0045
Create Date: 2026-11-25 14:20:00.000000

- A run records its discrepancies in one ``COPY``; the row trigger that refuses a row of a finished run asked the
  run's status once per row (about 25 µs each: a rebuild of 12,000 months records 60,500 rows). The inserts are now
  refused by one statement trigger over the rows the statement added; changing or deleting a row is still refused
  row by row. The refusal and its message are the same.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0046"
down_revision = "0045"
branch_labels = None
depends_on = None

ROW_TRIGGER = """
CREATE TRIGGER reconciliation_discrepancies_finished_immutable
    BEFORE {events} ON reconciliation_discrepancies
    FOR EACH ROW EXECUTE FUNCTION reconciliation_run_finished_immutable()
"""


def upgrade():
    op.execute("DROP TRIGGER reconciliation_discrepancies_finished_immutable ON reconciliation_discrepancies")
    op.execute(ROW_TRIGGER.format(events="UPDATE OR DELETE"))
    op.execute("""
CREATE FUNCTION reconciliation_rows_of_running_runs_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM added JOIN reconciliation_runs ON reconciliation_runs.id = added.run_id
        WHERE reconciliation_runs.status <> 'running'
    ) THEN
        RAISE EXCEPTION 'a finished reconciliation run is evidence: % of % is refused', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER reconciliation_discrepancies_finished_no_insert
    AFTER INSERT ON reconciliation_discrepancies REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION reconciliation_rows_of_running_runs_only();
""")


def downgrade():
    op.execute("DROP TRIGGER reconciliation_discrepancies_finished_no_insert ON reconciliation_discrepancies")
    op.execute("DROP FUNCTION reconciliation_rows_of_running_runs_only()")
    op.execute("DROP TRIGGER reconciliation_discrepancies_finished_immutable ON reconciliation_discrepancies")
    op.execute(ROW_TRIGGER.format(events="INSERT OR UPDATE OR DELETE"))
