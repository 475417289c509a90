"""The schema the migrations build is the schema the models describe, on both databases."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from backoffice.extensions import db


def test_migrated_schema_matches_the_models(app):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
        differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_money_columns_are_numeric_15_2(app):
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            if column.name in {
                "total_price",
                "additions",
                "promo",
                "reductions",
                "grand_total",
                "target_amount",
                "achieved_amount",
            }:
                assert (column.type.precision, column.type.scale) == (15, 2), column
