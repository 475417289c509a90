"""the clients of the API, and each of their calls

Revision ID: 0055
Revises: 0054
Create Date: 2026-11-26 08:00:00.000000

- ``api_clients``: a system around the back-office that calls ``/api/v1`` with a token an admin issued it: its
  name, the SHA-256 of its token (the token itself is shown once and kept nowhere), the token's first characters to
  recognise it by, who issued it and when, who revoked it and when, and when it was last used.
- ``api_calls``: each call a client made, with its method, path, answer's status, time, idempotency key and
  request id (which the call's log lines carry).
  Append-only: the runtime role inserts and reads its rows (``backoffice db grant-runtime``), never changes or
  deletes one.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0055"
down_revision = "0054"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "api_clients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("token_prefix", sa.String(length=16), nullable=False),
        sa.Column("issued_by_id", sa.Integer(), nullable=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_by_id", sa.Integer(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.ForeignKeyConstraint(["issued_by_id"], ["users.id"], name=op.f("fk_api_clients_issued_by_id_users")),
        sa.ForeignKeyConstraint(["revoked_by_id"], ["users.id"], name=op.f("fk_api_clients_revoked_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_clients")),
        sa.UniqueConstraint("name", name=op.f("uq_api_clients_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_clients_token_hash")),
    )
    op.create_table(
        "api_calls",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("path", sa.String(length=2000), nullable=False),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        sa.Column("called_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("idempotency_key", sa.String(length=100), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(["client_id"], ["api_clients.id"], name=op.f("fk_api_calls_client_id_api_clients")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_calls")),
    )
    op.create_index(op.f("ix_api_calls_client_id_id"), "api_calls", ["client_id", "id"])
    op.execute(
        "CREATE TRIGGER api_calls_no_truncate BEFORE TRUNCATE ON api_calls "
        "FOR EACH STATEMENT EXECUTE FUNCTION evidence_no_truncate()"
    )


def downgrade():
    op.execute("DROP TRIGGER api_calls_no_truncate ON api_calls")
    op.drop_index(op.f("ix_api_calls_client_id_id"), table_name="api_calls")
    op.drop_table("api_calls")
    op.drop_table("api_clients")
