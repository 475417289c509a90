"""general ledger

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 13:27:11.595266

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column(
            "type",
            sa.Enum(
                "asset", "liability", "equity", "revenue", "expense", name="account_type", native_enum=False, length=20
            ),
            nullable=False,
        ),
        sa.Column("balance", sa.Numeric(precision=15, scale=2), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("code", name=op.f("uq_accounts_code")),
    )
    op.create_table(
        "journal_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("entry_date", sa.Date(), nullable=False),
        sa.Column("description", sa.String(length=300), nullable=False),
        sa.Column(
            "status",
            sa.Enum("draft", "posted", "void", name="entry_status", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("source_type", sa.String(length=40), nullable=True),
        sa.Column("source_id", sa.Integer(), nullable=True),
        sa.Column("reverses_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("posted_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["posted_by_id"], ["users.id"], name=op.f("fk_journal_entries_posted_by_id_users")),
        sa.ForeignKeyConstraint(
            ["reverses_id"], ["journal_entries.id"], name=op.f("fk_journal_entries_reverses_id_journal_entries")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal_entries")),
        sa.UniqueConstraint("number", name=op.f("uq_journal_entries_number")),
    )
    with op.batch_alter_table("journal_entries", schema=None) as batch_op:
        batch_op.create_index("ix_journal_entries_entry_date", ["entry_date"], unique=False)
        batch_op.create_index("ix_journal_entries_source", ["source_type", "source_id"], unique=False)

    op.create_table(
        "journal_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("debit", sa.Numeric(precision=15, scale=2), nullable=False),
        sa.Column("credit", sa.Numeric(precision=15, scale=2), nullable=False),
        sa.Column("description", sa.String(length=300), nullable=False),
        sa.CheckConstraint(
            "(debit > 0 AND credit = 0) OR (credit > 0 AND debit = 0)", name=op.f("ck_journal_lines_one_side")
        ),
        sa.CheckConstraint("debit >= 0 AND credit >= 0", name=op.f("ck_journal_lines_not_negative")),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_journal_lines_account_id_accounts")),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["journal_entries.id"], name=op.f("fk_journal_lines_entry_id_journal_entries")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal_lines")),
    )
    with op.batch_alter_table("journal_lines", schema=None) as batch_op:
        batch_op.create_index("ix_journal_lines_account_id", ["account_id"], unique=False)
        batch_op.create_index("ix_journal_lines_entry_id", ["entry_id"], unique=False)

    # The chart the postings need; more accounts are added in the app.
    accounts = sa.table("accounts", sa.column("code"), sa.column("name"), sa.column("type"), sa.column("balance"))
    op.bulk_insert(accounts, [{"code": code, "name": name, "type": kind, "balance": 0} for code, name, kind in CHART])

    # A posted entry is never changed: its lines and itself refuse updates and deletes.
    op.execute(GUARDS)


CHART = [
    ("1000", "Cash", "asset"),
    ("1100", "Receivables", "asset"),
    ("2000", "Customer deposits", "liability"),
    ("3000", "Owner's equity", "equity"),
    ("4000", "Gas revenue", "revenue"),
    ("5000", "Operating expenses", "expense"),
]

GUARDS = """
CREATE FUNCTION journal_posted_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    entry_status text;
BEGIN
    IF TG_TABLE_NAME = 'journal_entries' THEN
        entry_status := OLD.status;
    ELSE
        SELECT status INTO entry_status FROM journal_entries WHERE id = OLD.entry_id;
    END IF;
    IF entry_status <> 'draft' THEN
        RAISE EXCEPTION 'a posted journal entry is immutable: % on % is refused', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;
CREATE TRIGGER journal_entries_immutable BEFORE UPDATE OR DELETE ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION journal_posted_immutable();
CREATE TRIGGER journal_lines_immutable BEFORE UPDATE OR DELETE ON journal_lines
    FOR EACH ROW EXECUTE FUNCTION journal_posted_immutable();

-- At commit, every entry the transaction touched that is posted must balance with two lines or more.
CREATE FUNCTION journal_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    touched integer;
    debits numeric;
    credits numeric;
    lines integer;
BEGIN
    IF TG_TABLE_NAME = 'journal_entries' THEN
        touched := NEW.id;
    ELSE
        touched := NEW.entry_id;
    END IF;
    IF (SELECT status FROM journal_entries WHERE id = touched) = 'posted' THEN
        SELECT coalesce(sum(debit), 0), coalesce(sum(credit), 0), count(*) INTO debits, credits, lines
        FROM journal_lines WHERE entry_id = touched;
        IF lines < 2 OR debits <> credits THEN
            RAISE EXCEPTION 'journal entry % is posted unbalanced: debits %, credits %, % line(s)',
                touched, debits, credits, lines USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER journal_entries_balanced AFTER INSERT OR UPDATE ON journal_entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION journal_entry_balanced();
CREATE CONSTRAINT TRIGGER journal_lines_balanced AFTER INSERT ON journal_lines
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION journal_entry_balanced();
"""


def downgrade():
    for trigger, table in (
        ("journal_entries_balanced", "journal_entries"),
        ("journal_lines_balanced", "journal_lines"),
        ("journal_entries_immutable", "journal_entries"),
        ("journal_lines_immutable", "journal_lines"),
    ):
        op.execute(f"DROP TRIGGER {trigger} ON {table}")
    op.execute("DROP FUNCTION journal_entry_balanced()")
    op.execute("DROP FUNCTION journal_posted_immutable()")
    with op.batch_alter_table("journal_lines", schema=None) as batch_op:
        batch_op.drop_index("ix_journal_lines_entry_id")
        batch_op.drop_index("ix_journal_lines_account_id")

    op.drop_table("journal_lines")
    with op.batch_alter_table("journal_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_journal_entries_source")
        batch_op.drop_index("ix_journal_entries_entry_date")

    op.drop_table("journal_entries")
    op.drop_table("accounts")
