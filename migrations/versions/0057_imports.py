"""imports: each file brought in, what it held and what it wrote; the opening balances' equity account

Revision ID: 0057
Revises: 0056
Create Date: 2026-11-26 09:00:00.000000

- ``import_files``: the bytes of each file imported, by their SHA-256, so that a worker on any machine reads the
  file the admin checked, and a report names exactly what it came from.
- ``imports``: one import of one kind: the file (name, SHA-256, size), who started it and when, whether it writes
  the valid rows alone, its counts (rows in the file, good, unchanged, rejected, written) and its report, kept.
- Account ``3100 Opening balance equity``: what an opening wallet balance, brought from the system before, is
  posted against.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "0057"
down_revision = "0056"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "import_files",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_import_files")),
    )
    op.create_table(
        "imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("valid_only", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("rows_in_file", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("rows_good", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("rows_unchanged", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("rows_rejected", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("rows_written", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("job_id", sa.String(length=64), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("report", postgresql.JSONB(), nullable=True),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.CheckConstraint(
            "status IN ('checked', 'queued', 'running', 'done', 'failed')", name=op.f("ck_imports_status")
        ),
        sa.CheckConstraint(
            "rows_written + rows_unchanged <= rows_in_file AND rows_rejected <= rows_in_file",
            name=op.f("ck_imports_counts"),
        ),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_imports_created_by_id_users")),
        sa.ForeignKeyConstraint(["sha256"], ["import_files.sha256"], name=op.f("fk_imports_sha256_import_files")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imports")),
    )
    op.create_index(op.f("ix_imports_sha256"), "imports", ["sha256"])
    op.execute(
        "INSERT INTO accounts (code, name, type) VALUES ('3100', 'Opening balance equity', 'equity') "
        "ON CONFLICT (code) DO NOTHING"
    )


def downgrade():
    # Account 3100 stays: it is the chart's now, as an account an admin added would be.
    op.drop_index(op.f("ix_imports_sha256"), table_name="imports")
    op.drop_table("imports")
    op.drop_table("import_files")
