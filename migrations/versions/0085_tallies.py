"""tallies: the home page's sums and counts, kept by the database with every write of what they count

Revision ID: 0085
Revises: 0084
Create Date: 2026-11-29 00:40:00.000000

The home page said what postpaid customers owe and overpaid, how many owe and are suspended, the month's gas, purchases
and invoices by summing every row they count: work that grew with the customers. They are now *tallies*, each a
figure (``models.tallies.Figure``) of a period (``YYYY-MM``, or ``''`` for a figure of no month):

- ``<table>_tallies(row)``, one SQL function for each table counted (customers, monthly_customer_balances,
  invoices): what one row adds to each figure. The one definition of every figure: the triggers, the rebuild and the
  nightly's ``home_tallies`` check all read it.
- ``tally_changes``: what each statement that writes such a table changed, net, appended by a statement trigger of
  the table (every door: the application, a command, SQL). Appending never waits for another writer.
- ``tallies``: the changes folded. ``tallies_fold(at_least)`` folds them once that many wait, if no other transaction
  is folding (``pg_try_advisory_xact_lock``: it never waits), and only at READ COMMITTED, where its DELETE sees what
  the last fold committed; each trigger calls it for 64. A figure is its tally plus its changes not yet folded.
- ``tallies_expected()``: every figure summed from its rows, set-based (the check's expected values, the rebuild).
- ``tallies_rebuild()``: every tally written again from ``tallies_expected()``, the changes it accounts for removed, in
  one statement (one snapshot); for what was written with the triggers off (``session_replication_role = replica``).

``ix_customers_owing`` and ``ix_monthly_customer_balances_year_month``, which the home page summed the owing
customers and the month's balances off (migration 0067), are read by nothing now: dropped (the second one cost every
movement's month a write for nothing).
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0085"
down_revision = "0084"
branch_labels = None
depends_on = None

FOLD_LOCK = "hashtext('tallies fold')"
"""The advisory lock of the one transaction folding."""

COUNTED = {
    "customers": (
        "(1::smallint, ''::varchar, r.amount_due::numeric), "
        "(2, '', CASE WHEN r.amount_due > 0 THEN 1 ELSE 0 END), "
        "(3, '', r.overpayment), "
        "(4, '', CASE WHEN r.status = 'suspended' THEN 1 ELSE 0 END)"
    ),
    "monthly_customer_balances": (
        "(5::smallint, r.year_month::varchar, r.total_volume_sm3::numeric), (6, r.year_month, r.total_purchases)"
    ),
    "invoices": (
        "(7::smallint, to_char(r.issued_on, 'YYYY-MM')::varchar, "
        "CASE WHEN r.withdrawn_at IS NULL THEN r.amount ELSE 0 END::numeric)"
    ),
}
"""Each table's figures, as ``VALUES`` rows (figure, period, value) of one of its rows ``r``: 1 owed, 2 owing, 3
overpaid, 4 suspended, 5 the month's Sm³, 6 its purchases, 7 its invoices not withdrawn."""

EVENTS = {
    "INSERT": "NEW TABLE AS new_rows",
    "UPDATE": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "DELETE": "OLD TABLE AS old_rows",
}


def _changed(table: str, rows: str, sign: str) -> str:
    return f"SELECT t.figure, t.period, {sign}t.value AS value FROM {rows} r CROSS JOIN LATERAL {table}_tallies(r) t"


def upgrade():
    op.create_table(
        "tallies",
        sa.Column("figure", sa.SmallInteger(), nullable=False),
        sa.Column("period", sa.String(7), server_default="", nullable=False),
        sa.Column("value", sa.Numeric(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("figure", "period", name=op.f("pk_tallies")),
    )
    op.create_table(
        "tally_changes",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("figure", sa.SmallInteger(), nullable=False),
        sa.Column("period", sa.String(7), server_default="", nullable=False),
        sa.Column("value", sa.Numeric(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tally_changes")),
    )
    op.create_index("ix_tally_changes_figure", "tally_changes", ["figure", "period"])
    for table, values in COUNTED.items():
        op.execute(
            f"CREATE FUNCTION {table}_tallies(r {table}) RETURNS TABLE (figure smallint, period varchar, value numeric)"
            f" LANGUAGE sql STABLE AS $$ VALUES {values} $$"
        )
    expected = " UNION ALL ".join(
        f"SELECT t.figure, t.period, sum(t.value) FROM {table} r CROSS JOIN LATERAL {table}_tallies(r) t GROUP BY 1, 2"
        for table in COUNTED
    )
    op.execute(
        "CREATE FUNCTION tallies_expected() RETURNS TABLE (figure smallint, period varchar, value numeric)"
        f" LANGUAGE sql STABLE AS $$ {expected} $$"
    )
    op.execute(
        f"""
CREATE FUNCTION tallies_fold(at_least integer) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed'
       OR (SELECT count(*) FROM (SELECT FROM tally_changes LIMIT at_least) waiting) < at_least
       OR NOT pg_try_advisory_xact_lock({FOLD_LOCK}) THEN
        RETURN;
    END IF;
    WITH folded AS (DELETE FROM tally_changes RETURNING figure, period, value)
    INSERT INTO tallies AS kept (figure, period, value)
    SELECT figure, period, sum(value) FROM folded GROUP BY figure, period ORDER BY figure, period
    ON CONFLICT (figure, period) DO UPDATE SET value = kept.value + excluded.value;
END $$"""
    )
    op.execute(
        f"""
CREATE FUNCTION tallies_rebuild() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock({FOLD_LOCK});
    WITH folded AS (DELETE FROM tally_changes RETURNING id)
    INSERT INTO tallies AS kept (figure, period, value)
    SELECT coalesce(e.figure, k.figure), coalesce(e.period, k.period), coalesce(e.value, 0)
    FROM tallies_expected() e FULL JOIN tallies k ON k.figure = e.figure AND k.period = e.period
    ORDER BY 1, 2
    ON CONFLICT (figure, period) DO UPDATE SET value = excluded.value;
END $$"""
    )
    for table in COUNTED:
        op.execute(
            f"""
CREATE FUNCTION {table}_tallied() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO tally_changes (figure, period, value)
        SELECT figure, period, sum(value) FROM ({_changed(table, "new_rows", "")}) c
        GROUP BY figure, period HAVING sum(value) <> 0;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO tally_changes (figure, period, value)
        SELECT figure, period, sum(value) FROM ({_changed(table, "old_rows", "-")}) c
        GROUP BY figure, period HAVING sum(value) <> 0;
    ELSE
        INSERT INTO tally_changes (figure, period, value)
        SELECT figure, period, sum(value)
        FROM ({_changed(table, "new_rows", "")} UNION ALL {_changed(table, "old_rows", "-")}) c
        GROUP BY figure, period HAVING sum(value) <> 0;
    END IF;
    PERFORM tallies_fold(64);
    RETURN NULL;
END $$"""
        )
        for event, referencing in EVENTS.items():
            op.execute(
                f"CREATE TRIGGER {table}_tallied_{event.lower()} AFTER {event} ON {table} "
                f"REFERENCING {referencing} FOR EACH STATEMENT EXECUTE FUNCTION {table}_tallied()"
            )
    op.execute("SELECT tallies_rebuild()")
    op.drop_index("ix_customers_owing", table_name="customers")
    op.drop_index("ix_monthly_customer_balances_year_month", table_name="monthly_customer_balances")


def downgrade():
    op.create_index("ix_monthly_customer_balances_year_month", "monthly_customer_balances", ["year_month"])
    op.create_index(
        "ix_customers_owing",
        "customers",
        ["amount_due", "overpayment"],
        postgresql_where=sa.text("amount_due > 0 OR overpayment > 0"),
    )
    for table in COUNTED:
        for event in EVENTS:
            op.execute(f"DROP TRIGGER {table}_tallied_{event.lower()} ON {table}")
        op.execute(f"DROP FUNCTION {table}_tallied()")
    op.execute("DROP FUNCTION tallies_rebuild()")
    op.execute("DROP FUNCTION tallies_fold(integer)")
    op.execute("DROP FUNCTION tallies_expected()")
    for table in COUNTED:
        op.execute(f"DROP FUNCTION {table}_tallies({table})")
    op.drop_index("ix_tally_changes_figure", table_name="tally_changes")
    op.drop_table("tally_changes")
    op.drop_table("tallies")
