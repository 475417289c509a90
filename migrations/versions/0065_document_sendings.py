"""the language of a customer's documents, and every sending of a document to a customer

Revision ID: 0065
Revises: 0064
Create Date: 2026-11-26 16:10:00.000000

- ``customers.language`` (and its history): the language the customer's invoices, statements and e-mails are
  written in; none, the installation's.
- ``document_sendings``: each sending of an invoice or a statement (what was sent, by its PDF's SHA-256; to whom;
  when; by whom; whether the mail server accepted it, with its answer), only ever added (the runtime role may insert
  and read it); a month-end run's sending is unique per customer and document, so that a run again sends nothing
  twice.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0065"
down_revision = "0064"
branch_labels = None
depends_on = None

KINDS = ("invoice", "statement", "billing_statement")
OUTCOMES = ("sent", "refused", "no_address")


def upgrade():
    op.add_column("customers", sa.Column("language", sa.String(length=5), nullable=True))
    op.add_column("customers_history", sa.Column("language", sa.String(length=5), autoincrement=False, nullable=True))
    op.create_table(
        "document_sendings",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Enum(*KINDS, name="document_kind", native_enum=False, length=20), nullable=False),
        sa.Column("reference", sa.String(length=60), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=True),
        sa.Column("period_start", sa.Date(), nullable=True),
        sa.Column("period_end", sa.Date(), nullable=True),
        sa.Column("language", sa.String(length=5), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=True),
        sa.Column("outcome", sa.Enum(*OUTCOMES, name="sending_outcome", native_enum=False, length=20), nullable=False),
        sa.Column("server_reply", sa.String(length=500), nullable=False),
        sa.Column("pdf_sha256", sa.String(length=64), nullable=True),
        sa.Column("pdf_bytes", sa.Integer(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_by_id", sa.Integer(), nullable=True),
        sa.Column("run_key", sa.String(length=80), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name=op.f("fk_document_sendings_customer_id_customers")),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"], name=op.f("fk_document_sendings_invoice_id_invoices")),
        sa.ForeignKeyConstraint(["sent_by_id"], ["users.id"], name=op.f("fk_document_sendings_sent_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_sendings")),
    )
    op.create_index("ix_document_sendings_customer_id_id", "document_sendings", ["customer_id", "id"])
    op.create_index(
        "uq_document_sendings_sent_once",
        "document_sendings",
        ["run_key", "customer_id", "kind", "reference"],
        unique=True,
        postgresql_where=sa.text("outcome = 'sent' AND run_key IS NOT NULL"),
    )
    op.execute(
        "CREATE TRIGGER document_sendings_no_truncate BEFORE TRUNCATE ON document_sendings "
        "FOR EACH STATEMENT EXECUTE FUNCTION evidence_no_truncate()"
    )


def downgrade():
    op.drop_table("document_sendings")
    op.drop_column("customers_history", "language")
    op.drop_column("customers", "language")
