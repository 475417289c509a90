"""The schema the migrations build is the schema the models describe."""

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from backoffice.platform.extensions import db


def test_migrated_schema_matches_the_models(app):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
        differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_money_columns_are_numeric_15_2(app):
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            if column.name in WIDENED.get(table.name, set()):
                continue
            if column.name in {
                "total_price",
                "additions",
                "promo",
                "reductions",
                "grand_total",
                "target_amount",
            }:
                assert (column.type.precision, column.type.scale) == (15, 2), column


WIDENED = {
    "account_balance_buckets": {"balance"},
    "journal_lines": {"debit", "credit"},
    "customers": {"balance", "total_recharged", "total_spent", "amount_due", "overpayment"},
    "balance_transactions": {"balance_before", "balance_after"},
    "monthly_customer_balances": {"opening_balance", "total_deposits", "total_purchases", "closing_balance"},
    "meters": {"balance", "overpayment"},
    "targets": {"achieved_amount"},
    "order_month_totals": {"grand_total"},
}


def test_accumulating_balances_and_totals_are_numeric_20_2_in_the_migrated_database(app):
    inspector = sa.inspect(db.engine)
    for table, columns in WIDENED.items():
        found = {c["name"]: c["type"] for c in inspector.get_columns(table) if c["name"] in columns}
        assert {name: (t.precision, t.scale) for name, t in found.items()} == dict.fromkeys(columns, (20, 2)), table
