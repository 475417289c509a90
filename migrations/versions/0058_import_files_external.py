"""an imported file's bytes kept uncompressed, so that it is read back a piece at a time

Revision ID: 0058
Revises: 0057
Create Date: 2026-11-26 11:00:00.000000

``import_files.content`` stored ``EXTERNAL``: PostgreSQL reads a piece of an uncompressed value (``substring``)
without reading the whole value, which a worker reads back a megabyte at a time.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0058"
down_revision = "0057"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("ALTER TABLE import_files ALTER COLUMN content SET STORAGE EXTERNAL")


def downgrade():
    op.execute("ALTER TABLE import_files ALTER COLUMN content SET STORAGE EXTENDED")
