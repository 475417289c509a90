"""the journal's function decides by an entry's lines whether it is an accountant's

Revision ID: 0102
Revises: 0101
Create Date: 2026-11-30 05:00:00.000000

``journal_refusal_v1`` refused a line on a control account where its caller said the entry was ``manual``, so a caller
saying otherwise (or giving typed lines a source) moved a sub-ledger's account by hand. The function now says it of
the entry itself: typed lines are an accountant's, and so is a draft posted as saved, unless they are the reversal of
a posted accountant's entry (one that recorded no money event: an event's entry is corrected through the event),
each account moved back by exactly what that entry moved it; lines the rule table makes are not.
The function is 0100's otherwise.
"""

import importlib.util
from pathlib import Path

from alembic import op

# revision identifiers, used by Alembic.
revision = "0102"
down_revision = "0101"
branch_labels = None
depends_on = None

CALLER_SAYS = "coalesce(e.manual, false) AS manual"

BY_ITS_LINES = """e.draft_id IS NOT NULL OR (e.kind IS NULL AND NOT (e.reverses_id IS NOT NULL AND NOT EXISTS (
                   SELECT FROM (
                       SELECT l.account, sum(l.debit - l.credit) AS net FROM line AS l WHERE l.place = e.place
                       GROUP BY l.account
                   ) AS given
                   FULL JOIN (
                       SELECT a.code AS account, sum(o.credit - o.debit) AS net
                       FROM journal_lines AS o
                       JOIN journal_entries AS reversed
                           ON reversed.id = o.entry_id AND reversed.status = 'posted' AND reversed.source_type IS NULL
                       JOIN accounts AS a ON a.id = o.account_id
                       WHERE o.entry_id = e.reverses_id GROUP BY a.code
                   ) AS undone ON undone.account = given.account
                   WHERE given.net IS DISTINCT FROM undone.net
               ))) AS manual"""
"""An accountant's entry: typed lines, or a draft posted as saved, but the exact reversal of a posted accountant's
entry."""


def _refusal(manual: str) -> str:
    """0100's ``journal_refusal_v1``, created or replaced, with ``manual`` decided by the expression given."""
    path = Path(__file__).with_name("0100_one_journal_writer.py")
    spec = importlib.util.spec_from_file_location("one_journal_writer_0100", path)
    made = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(made)
    start = made.FUNCTIONS.index("CREATE FUNCTION journal_refusal_v1(")
    end = made.FUNCTIONS.index("CREATE FUNCTION move_account_buckets_v1(")
    function = made.FUNCTIONS[start:end]
    assert function.count(CALLER_SAYS) == 1
    return function.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1).replace(CALLER_SAYS, manual)


def upgrade():
    op.execute(_refusal(BY_ITS_LINES))


def downgrade():
    op.execute(_refusal(CALLER_SAYS))
