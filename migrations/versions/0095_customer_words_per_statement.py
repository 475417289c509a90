"""customer words: a statement's new customers worded at once

Revision ID: 0095
Revises: 0094
Create Date: 2026-11-29 16:20:00.000000

The row trigger that wrote each new customer's words ran ``customer_words_write`` once a row: three statements a
customer, 8 of the 11 seconds 10,000 customers took to insert. The insert trigger is now a statement's: its new rows
(a transition table) worded with one call of the same writer. The update trigger stays a row's: it fires only where a
worded column changed (its ``WHEN``), and a trigger with transition tables cannot name the columns it fires on, so a
statement's would run on every charge of a balance.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0095"
down_revision = "0094"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("DROP TRIGGER customers_worded_insert ON customers")
    op.execute(
        "CREATE FUNCTION customers_worded() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$ "
        "BEGIN PERFORM customer_words_write(ARRAY(SELECT id FROM new_rows)); RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER customers_worded_insert AFTER INSERT ON customers "
        "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION customers_worded()"
    )


def downgrade():
    op.execute("DROP TRIGGER customers_worded_insert ON customers")
    op.execute("DROP FUNCTION customers_worded()")
    op.execute(
        "CREATE TRIGGER customers_worded_insert AFTER INSERT ON customers "
        "FOR EACH ROW EXECUTE FUNCTION customer_words_kept()"
    )
