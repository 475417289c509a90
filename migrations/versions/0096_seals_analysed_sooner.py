"""seals analysed sooner: a kind of evidence new to the planner's statistics is not read a row at a time

Revision ID: 0096
Revises: 0095
Create Date: 2026-11-29 16:50:00.000000

``seals`` holds every kind of evidence's seals, and a statement reading one row's seal (its own, or the latest of its
chain) names the kind with the row. A kind the statistics have not seen yet — the opening balances of a move-in, the
first wallet movements of a new installation — is estimated at one row, and the planner reads its seals by the
``(kind, sealed_at)`` index, filtering every seal of the kind for each row it seals: the 10,000 openings' sealing
read 25 million index entries (5 of their 25 s) where the primary key reads one each. The seals of a kind are a
small part of the table, so autovacuum's default (a tenth of the table changed) leaves them unseen for long:
``seals`` is analysed once a hundredth of it changed, by autovacuum and by ``analyze_due()``, which now honours a
table's own ``autovacuum_analyze_threshold`` and ``autovacuum_analyze_scale_factor`` as autovacuum does (and the
server's settings where a table has none).
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0096"
down_revision = "0095"
branch_labels = None
depends_on = None


def _analyze_due(threshold: str, scale: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION analyze_due() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    due regclass;
    analysed integer := 0;
BEGIN
    FOR due IN
        SELECT s.relid::regclass FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
        WHERE c.relnamespace = current_schema()::regnamespace
          AND s.n_mod_since_analyze > {threshold} + {scale} * greatest(c.reltuples, 0)
        ORDER BY s.relid
    LOOP
        EXECUTE format('ANALYZE %s', due);
        analysed := analysed + 1;
    END LOOP;
    RETURN analysed;
END
$$;
"""


def _option(name: str) -> str:
    return (
        f"coalesce((SELECT option_value::float8 FROM pg_options_to_table(c.reloptions) WHERE option_name = '{name}'), "
        f"current_setting('{name}')::float8)"
    )


def upgrade():
    op.execute("ALTER TABLE seals SET (autovacuum_analyze_scale_factor = 0.01)")
    op.execute(_analyze_due(_option("autovacuum_analyze_threshold"), _option("autovacuum_analyze_scale_factor")))


def downgrade():
    op.execute(_analyze_due("50", "0.1"))
    op.execute("ALTER TABLE seals RESET (autovacuum_analyze_scale_factor)")
