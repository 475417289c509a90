"""the planner's statistics refreshed after a bulk write, by the runtime role

Revision ID: 0094
Revises: 0093
Create Date: 2026-11-29 14:10:00.000000

An import of 10,000 opening balances into a new installation wrote its rows in 20 seconds, then verified them for
seven minutes: the tables it had filled had never been analysed, the planner took them for a few pages, and the
checks' joins ran as nested loops over what it had written. PostgreSQL's advice after a bulk load is to run
``ANALYZE``; autovacuum would, but only on its next round (a minute at the defaults, never on a server that has it
off), and only a table's owner may. ``analyze_due()``, owned by the owner (``SECURITY DEFINER``), analyses the
schema's tables that autovacuum would now find due (more rows changed since their last analysis than its default
threshold, 50 and a tenth of the table), and says how many; the runtime role may run it, nothing else.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0094"
down_revision = "0093"
branch_labels = None
depends_on = None


def upgrade():
    op.execute(
        """
CREATE FUNCTION analyze_due() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    due regclass;
    analysed integer := 0;
BEGIN
    FOR due IN
        SELECT s.relid::regclass FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
        WHERE c.relnamespace = current_schema()::regnamespace
          AND s.n_mod_since_analyze > 50 + 0.1 * greatest(c.reltuples, 0)
        ORDER BY s.relid
    LOOP
        EXECUTE format('ANALYZE %s', due);
        analysed := analysed + 1;
    END LOOP;
    RETURN analysed;
END
$$;
REVOKE EXECUTE ON FUNCTION analyze_due() FROM PUBLIC;
"""
    )


def downgrade():
    op.execute("DROP FUNCTION analyze_due()")
