"""PostgreSQL accepts an entry posted in the statement that writes its lines

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-27 09:00:00.000000

A wallet movement is written by one statement on PostgreSQL: its journal entry is inserted posted,
with its lines, in that statement. The guard on lines refused any line of an entry that is not a
draft; it now refuses a line of a posted entry that has lines besides the statement's own. An entry
is posted only with two lines or more (checked when the statement ends), so a posted entry without
lines is one being written with them, and a posted entry still takes no line once it was posted.

SQLite's guards are unchanged: it posts an entry's lines as a draft, as before.
"""

from alembic import op


# revision identifiers, used by Alembic.
revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(GUARD.format(posted_without_other_lines=WITH_ITS_LINES))


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(GUARD.format(posted_without_other_lines=""))


GUARD = """
CREATE OR REPLACE FUNCTION journal_lines_to_drafts_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- FOR SHARE: a draft being posted meanwhile is waited for, and then seen posted.
    PERFORM 1 FROM journal_entries WHERE id IN (SELECT entry_id FROM added) ORDER BY id FOR SHARE;
    IF EXISTS (
        SELECT 1 FROM journal_entries e WHERE e.id IN (SELECT entry_id FROM added) AND e.status <> 'draft'
        {posted_without_other_lines}
    ) THEN
        RAISE EXCEPTION 'a posted journal entry is immutable: INSERT of its lines is refused'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NULL;
END
$$;
"""
WITH_ITS_LINES = (
    "AND EXISTS (SELECT 1 FROM journal_lines l WHERE l.entry_id = e.id AND l.id NOT IN (SELECT id FROM added))"
)
