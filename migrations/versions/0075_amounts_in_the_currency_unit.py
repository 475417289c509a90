"""the money sources refuse an amount finer than the installation's currency unit

Revision ID: 0075
Revises: 0074
Create Date: 2026-11-27 18:00:00.000000

- ``currency_places_v1()``: the decimal places of the installation's currency unit (``BACKOFFICE_CURRENCY_PLACES``
  as the settings say when the migration runs; ``backoffice db grant-runtime`` writes it again from the settings, so
  that a change of them reaches the database with the next deploy).
- ``ck_<table>_amount_in_unit`` on ``payments``, ``invoices`` and ``balance_transactions``: an amount is a whole
  number of units, whatever writes it. A reading's charge and its corrections carry what the reading was priced at
  (readings priced before migration ``0051`` were priced to cents, in every currency): the ledger's rows that refer to
  a reading are left to the reading's own verification. A database whose rows hold a finer amount already keeps them
  (the constraint is then left ``NOT VALID``: it holds for every row written from now on), and the migration names
  how many.
"""

import logging

import sqlalchemy as sa
from alembic import op
from flask import current_app

# revision identifiers, used by Alembic.
revision = "0075"
down_revision = "0074"
branch_labels = None
depends_on = None

IN_UNIT = "amount = round(amount, currency_places_v1())"
CHECKED = {
    "payments": IN_UNIT,
    "invoices": IN_UNIT,
    "balance_transactions": f"reference_type IS NOT DISTINCT FROM 'meter_reading' OR {IN_UNIT}",
}


def upgrade():
    places = int(current_app.config["CURRENCY_PLACES"])  # the settings' BACKOFFICE_CURRENCY_PLACES
    op.execute(
        "CREATE FUNCTION currency_places_v1() RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE "
        f"AS 'SELECT {places}'"
    )
    connection = op.get_bind()
    for table, condition in CHECKED.items():
        name = f"ck_{table}_amount_in_unit"
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} CHECK ({condition}) NOT VALID")
        held = connection.scalar(sa.text(f"SELECT count(*) FROM {table} WHERE NOT ({condition})"))
        if held:
            logging.getLogger("alembic").warning(
                "%s rows of %s hold an amount finer than the unit: kept, %s holds for new rows", held, table, name
            )
        else:
            op.execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {name}")


def downgrade():
    for table in reversed(CHECKED):
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT ck_{table}_amount_in_unit")
    op.execute("DROP FUNCTION currency_places_v1()")
