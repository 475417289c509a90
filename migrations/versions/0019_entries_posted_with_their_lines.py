"""PostgreSQL lets a statement write an entry posted together with all its lines

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-27 09:00:00.000000

A set-based posting writes its journal entries already posted, with their lines, in one
statement (``posting.many``), instead of writing drafts, their lines, then posting them. The line guard
now refuses a line added to an entry that is not a draft unless the entry is posted and every line it
has came in the same statement: the statement that wrote it posted. A posted entry has two lines or
more once the statement that posted it ends (``journal_entries_balanced``, which runs at the end of the
whole statement and so sees the lines its other parts wrote), so a line added to a posted entry by any
later statement is refused as before, and so is one added to a void entry.

Only drafts are locked (``FOR SHARE``) before the check: a draft being posted meanwhile is waited for,
and then seen posted with its lines; an entry posted by this statement is no one else's to change.
"""

from alembic import op


# revision identifiers, used by Alembic.
revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade():
    op.execute(WITH_THEIR_LINES)


def downgrade():
    op.execute(DRAFTS_ONLY)


WITH_THEIR_LINES = """
CREATE OR REPLACE FUNCTION journal_lines_to_drafts_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- FOR SHARE: a draft being posted meanwhile is waited for, and then seen posted.
    PERFORM 1 FROM journal_entries WHERE id IN (SELECT entry_id FROM added) AND status = 'draft' ORDER BY id FOR SHARE;
    -- A line goes to a draft, or to an entry posted with all its lines by this statement.
    IF EXISTS (
        SELECT 1 FROM journal_entries e
        WHERE e.id IN (SELECT entry_id FROM added) AND e.status <> 'draft'
          AND (e.status <> 'posted'
               OR EXISTS (SELECT 1 FROM journal_lines l
                          WHERE l.entry_id = e.id AND l.id NOT IN (SELECT id FROM added)))
    ) THEN
        RAISE EXCEPTION 'a posted journal entry is immutable: INSERT of its lines is refused'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NULL;
END
$$;
"""

DRAFTS_ONLY = """
CREATE OR REPLACE FUNCTION journal_lines_to_drafts_only() RETURNS trigger LANGUAGE plpgsql AS $$
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
"""
