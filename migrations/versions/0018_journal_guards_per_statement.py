"""PostgreSQL checks the books' guards once per statement, over the rows it wrote; an entry is posted in place

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-26 09:00:00.000000

A set-based posting (a re-pricing, a tariff change) writes thousands of entries and lines in one
statement each; the guards ran once per row, and the balance check three times per entry at commit.
They now run once per statement, over the statement's rows (its transition table), and refuse the
same things:

- a line added to an entry that is not a draft (the entries are locked ``FOR SHARE`` first, so a
  draft being posted meanwhile is waited for, and then seen posted);
- an entry inserted or updated to ``posted`` without two lines or more whose debits equal its credits,
  checked when it is posted rather than at commit: its lines are all there by then, since only a
  draft takes lines.

An entry is written as a draft and updated once, to posted. Its table now leaves half of each page free
(``fillfactor = 50``), so that the update finds room beside the draft and is a heap-only update: no new
entry in the table's five indexes. Rows written before keep their pages.
"""

from alembic import op


# revision identifiers, used by Alembic.
revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("DROP TRIGGER journal_lines_to_drafts_only ON journal_lines")
    op.execute("DROP TRIGGER journal_entries_balanced ON journal_entries")
    op.execute("DROP TRIGGER journal_lines_balanced ON journal_lines")
    op.execute("DROP FUNCTION journal_lines_to_drafts_only()")
    op.execute("DROP FUNCTION journal_entry_balanced()")
    op.execute(PER_STATEMENT)
    op.execute("ALTER TABLE journal_entries SET (fillfactor = 50)")


def downgrade():
    for trigger, table in (
        ("journal_lines_to_drafts_only", "journal_lines"),
        ("journal_entries_balanced_insert", "journal_entries"),
        ("journal_entries_balanced_update", "journal_entries"),
    ):
        op.execute(f"DROP TRIGGER {trigger} ON {table}")
    op.execute("DROP FUNCTION journal_lines_to_drafts_only()")
    op.execute("DROP FUNCTION journal_entries_balanced()")
    op.execute(PER_ROW)
    op.execute("ALTER TABLE journal_entries RESET (fillfactor)")


PER_STATEMENT = """
CREATE FUNCTION journal_lines_to_drafts_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- FOR SHARE: a draft being posted meanwhile is waited for, and then seen posted.
    PERFORM 1 FROM journal_entries WHERE id IN (SELECT entry_id FROM added) ORDER BY id FOR SHARE;
    IF EXISTS (SELECT 1 FROM journal_entries WHERE id IN (SELECT entry_id FROM added) AND status <> 'draft') THEN
        RAISE EXCEPTION 'a posted journal entry is immutable: INSERT of its lines is refused'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER journal_lines_to_drafts_only AFTER INSERT ON journal_lines
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION journal_lines_to_drafts_only();

-- Every entry the statement made posted must balance with two lines or more.
CREATE FUNCTION journal_entries_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    wrong record;
BEGIN
    SELECT e.id, coalesce(sum(l.debit), 0) AS debits, coalesce(sum(l.credit), 0) AS credits, count(l.id) AS lines
    INTO wrong
    FROM changed e LEFT JOIN journal_lines l ON l.entry_id = e.id
    WHERE e.status = 'posted'
    GROUP BY e.id
    HAVING count(l.id) < 2 OR coalesce(sum(l.debit), 0) <> coalesce(sum(l.credit), 0)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal entry % is posted unbalanced: debits %, credits %, % line(s)',
            wrong.id, wrong.debits, wrong.credits, wrong.lines USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER journal_entries_balanced_insert AFTER INSERT ON journal_entries
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION journal_entries_balanced();
CREATE TRIGGER journal_entries_balanced_update AFTER UPDATE ON journal_entries
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION journal_entries_balanced();
"""

PER_ROW = """
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
