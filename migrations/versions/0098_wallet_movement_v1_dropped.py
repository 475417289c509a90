"""the first wallet posting function dropped

Revision ID: 0098
Revises: 0097
Create Date: 2026-11-29 20:45:00.000000

``post_wallet_movement_v1`` (migration 0054) was kept beside ``post_wallet_movements_v2`` (0074) while a version
before could still call it; no version since calls it, and a second writer of the journal nobody calls is one an
attacker or a script can. The downgrade creates it again, as 0054 made it.
"""

import importlib.util
from pathlib import Path

from alembic import op

# revision identifiers, used by Alembic.
revision = "0098"
down_revision = "0097"
branch_labels = None
depends_on = None

SIGNATURE = (
    "integer, text, numeric, date, text, integer, text, text, text, integer, text, boolean, boolean, timestamptz, integer, "
    "numeric, numeric, numeric, numeric, numeric, integer, integer, integer, integer, numeric, integer, numeric"
)
"""The argument types of ``post_wallet_movement_v1``, as migration 0054 drops it."""


def upgrade():
    op.execute(f"DROP FUNCTION IF EXISTS post_wallet_movement_v1({SIGNATURE})")


def downgrade():
    path = Path(__file__).with_name("0054_posting_functions.py")
    spec = importlib.util.spec_from_file_location("posting_functions_0054", path)
    made = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(made)
    op.execute(made.POST_WALLET_MOVEMENT)
