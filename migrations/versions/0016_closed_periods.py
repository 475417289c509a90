"""closed months: the books closed through a month, their append-only history, and rows refused in them

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-23 06:00:00.000000

``period_actions`` records every close and reopen (month, who, when, note or reason) and refuses
``UPDATE``, ``DELETE`` and ``TRUNCATE``; its latest row's ``closed_through`` is the last day closed.
A row dated on or before that day is refused, whoever writes it: inserted, changed (its old or its
new date) or deleted. ``guards`` writes the three triggers that do it for a table and its date column,
so another table is guarded by adding it to ``GUARDED``. The triggers test the date in their ``WHEN``
through ``books_closed_through()`` (about 9 µs a row where a PL/pgSQL function reading the column by
name took 40), and only a refusal runs a function, one that names the month.
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

GUARDED = {
    "meter_readings": "reading_date",
    "invoices": "issued_on",
    "payments": "paid_on",
    "journal_entries": "entry_date",
    "balance_transactions": "value_date",
}
"""Each table whose rows a closed month refuses, with the column holding the row's business date."""

MONEY_COLUMNS = {"invoices": "amount, meter_id", "payments": "amount, meter_id"}
"""An invoice or a payment of a closed month may still be withdrawn (its reversal is dated in the open period)
or have its number, due date or reference corrected: a change of these columns (or of the date) is refused."""

OPERATIONS = {"INSERT": ["NEW"], "UPDATE": ["OLD", "NEW"], "DELETE": ["OLD"]}
"""What each operation's trigger tests: the row inserted, the row before and after a change, the row deleted."""


def upgrade():
    op.create_table(
        "period_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("year_month", sa.String(length=7), nullable=False),
        sa.Column(
            "action",
            sa.Enum("close", "reopen", name="period_action_kind", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("closed_through", sa.Date(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("acted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.String(length=300), nullable=False),
        sa.CheckConstraint(
            "action = 'reopen' OR closed_through IS NOT NULL", name=op.f("ck_period_actions_close_closes")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_period_actions_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_period_actions")),
    )
    op.execute(FUNCTIONS)
    op.execute(
        "CREATE TRIGGER period_actions_append_only BEFORE UPDATE OR DELETE ON period_actions "
        "FOR EACH ROW EXECUTE FUNCTION period_actions_append_only()"
    )
    op.execute(
        "CREATE TRIGGER period_actions_no_truncate BEFORE TRUNCATE ON period_actions "
        "FOR EACH STATEMENT EXECUTE FUNCTION evidence_no_truncate()"
    )
    for table, column in GUARDED.items():
        for statement in guards(table, column):
            op.execute(statement)


def guards(table: str, column: str):
    """The triggers that refuse a row of ``table`` whose ``column`` is in a closed month."""
    refuse = f"EXECUTE FUNCTION refuse_in_closed_period('{column}')"
    for operation, rows in OPERATIONS.items():
        dated = " OR ".join(f"{row}.{column} <= books_closed_through()" for row in rows)
        event = operation
        if operation == "UPDATE" and table in MONEY_COLUMNS:
            event = f"UPDATE OF {column}, {MONEY_COLUMNS[table]}"
        yield (
            f"CREATE TRIGGER {table}_closed_period_{operation.lower()} BEFORE {event} ON {table} "
            f"FOR EACH ROW WHEN ({dated}) {refuse}"
        )


# The closing transaction locks the guarded tables (SHARE ROW EXCLUSIVE) before it records the close:
# it waits for the writers in flight, and a writer that comes after it waits for it to commit and then
# reads the new state (a READ COMMITTED statement takes its snapshot once it holds its table's lock).
FUNCTIONS = """
CREATE FUNCTION books_closed_through() RETURNS date LANGUAGE sql STABLE AS $$
    SELECT closed_through FROM period_actions ORDER BY id DESC LIMIT 1
$$;

CREATE FUNCTION refuse_in_closed_period() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    closed date := books_closed_through();
    dated date;
BEGIN
    -- TG_ARGV[0] names the date column; OLD is null on INSERT, NEW on DELETE.
    FOREACH dated IN ARRAY ARRAY[(to_jsonb(OLD) ->> TG_ARGV[0])::date, (to_jsonb(NEW) ->> TG_ARGV[0])::date] LOOP
        IF dated <= closed THEN
            RAISE EXCEPTION '% is closed: date it in the open period (from %).',
                to_char(dated, 'YYYY-MM'), to_char(closed + 1, 'YYYY-MM-DD')
                USING ERRCODE = 'restrict_violation';
        END IF;
    END LOOP;
    -- Reopened since the trigger's WHEN read it (this function reads anew): the row may go through.
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;

CREATE FUNCTION period_actions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'period_actions keeps evidence: % is refused', TG_OP USING ERRCODE = 'restrict_violation';
END
$$;
"""


def downgrade():
    for table in GUARDED:
        for operation in OPERATIONS:
            op.execute(f"DROP TRIGGER {table}_closed_period_{operation.lower()} ON {table}")
    op.execute("DROP TRIGGER period_actions_append_only ON period_actions")
    op.execute("DROP TRIGGER period_actions_no_truncate ON period_actions")
    op.execute("DROP FUNCTION refuse_in_closed_period()")
    op.execute("DROP FUNCTION books_closed_through()")
    op.execute("DROP FUNCTION period_actions_append_only()")
    op.drop_table("period_actions")
