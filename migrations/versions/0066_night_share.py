"""what a nightly maintenance read of each check that grows with the journal

Revision ID: 0066
Revises: 0065
Create Date: 2026-11-27 09:00:00.000000

- ``reconciliation_check_results.covered``: for a check that grows with the journal (``reconcile.night``), in a
  nightly maintenance's run, which part of its rows the run read: the rows added or changed since the last clean
  night and the night's stripes of the rest, or all of them, how many of each, and the highest id of each table it
  read by id, where the next night starts. None for any other run, which reads every row.
- ``reconciliation_chunks.covered``: the same, for a chunk of a run split into jobs: what its check's part is,
  planned with the chunk, and once the chunk is done how many rows of the stripes it read.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0066"
down_revision = "0065"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("reconciliation_check_results", sa.Column("covered", sa.JSON(), nullable=True))
    op.add_column("reconciliation_chunks", sa.Column("covered", sa.JSON(), nullable=True))


def downgrade():
    op.drop_column("reconciliation_chunks", "covered")
    op.drop_column("reconciliation_check_results", "covered")
