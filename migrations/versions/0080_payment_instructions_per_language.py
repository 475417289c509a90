"""issuer: payment instructions kept in each language a document is written in

Revision ID: 0080
Revises: 0079
Create Date: 2026-11-28 20:00:00.000000

An issuer's payment instructions were one text, printed on every document whatever its language: an Indonesian
sentence on a Vietnamese invoice. They are now one text per language (``payment_instructions_id``, ``_vi``,
``_en``), each document printing its own language's; the text kept so far becomes the installation's language's
(``BACKOFFICE_LANGUAGE``), in the row and in its history.
"""

import sqlalchemy as sa
from alembic import op
from flask import current_app

# revision identifiers, used by Alembic.
revision = "0080"
down_revision = "0079"
branch_labels = None
depends_on = None

LANGUAGES = ("id", "vi", "en")


def upgrade():
    language = current_app.config.get("LANGUAGE", "en")
    language = language if language in LANGUAGES else "en"
    for table in ("issuer", "issuer_history"):
        history = table.endswith("_history")
        for one in LANGUAGES:
            op.add_column(
                table,
                sa.Column(
                    f"payment_instructions_{one}",
                    sa.Text(),
                    nullable=history,
                    server_default=None if history else "",
                ),
            )
        op.execute(f"UPDATE {table} SET payment_instructions_{language} = payment_instructions")
        op.drop_column(table, "payment_instructions")
        if not history:
            for one in LANGUAGES:
                op.alter_column(table, f"payment_instructions_{one}", server_default=None)


def downgrade():
    language = current_app.config.get("LANGUAGE", "en")
    language = language if language in LANGUAGES else "en"
    for table in ("issuer", "issuer_history"):
        history = table.endswith("_history")
        column = sa.Column("payment_instructions", sa.Text(), nullable=history, server_default=None if history else "")
        op.add_column(table, column)
        op.execute(f"UPDATE {table} SET payment_instructions = payment_instructions_{language}")
        for one in LANGUAGES:
            op.drop_column(table, f"payment_instructions_{one}")
