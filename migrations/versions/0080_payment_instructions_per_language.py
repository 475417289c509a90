"""issuer: payment instructions in each language a document is written in

Revision ID: 0080
Revises: 0079
Create Date: 2026-11-28 20:00:00.000000

An issuer's payment instructions were one text, printed on every document whatever its language: an Indonesian
sentence on a Vietnamese invoice. Each language a document is written in now has a text of its own
(``payment_instructions_id``, ``_vi``, ``_en``), printed on that language's documents in place of the one text, which
stays for a language without its own. Each is NULL until written: the row and its sealed history versions stay as
they were (a NULL column is left out of a seal).
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0080"
down_revision = "0079"
branch_labels = None
depends_on = None

LANGUAGES = ("id", "vi", "en")


def upgrade():
    for table in ("issuer", "issuer_history"):
        for language in LANGUAGES:
            column = sa.Column(f"payment_instructions_{language}", sa.Text(), autoincrement=False, nullable=True)
            op.add_column(table, column)


def downgrade():
    for table in ("issuer", "issuer_history"):
        for language in LANGUAGES:
            op.drop_column(table, f"payment_instructions_{language}")
