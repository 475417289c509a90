"""the columns that hold one line of text refuse control characters

Revision ID: 0072
Revises: 0071
Create Date: 2026-11-27 15:30:00.000000

A number, a reference, a code, a name, an e-mail address or a phone number is one line: a line feed in an invoice's
number makes the e-mail that sends it fail, every time it is sent. ``ck_<table>_<column>_one_line`` refuses a control
character (line ends and tabs among them) in each, whatever writes it. A database whose rows hold one already keeps
them (the constraint is then left ``NOT VALID``: it holds for every row written from now on), and the migration
names how many.
"""

import logging

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0072"
down_revision = "0071"
branch_labels = None
depends_on = None

ONE_LINE = {
    "customers": ("code", "name", "email", "phone", "contact_person"),
    "meters": ("serial",),
    "invoices": ("number",),
    "payments": ("reference",),
    "orders": ("number",),
    "account_managers": ("name", "email"),
    "users": ("name", "email"),
    "issuer": ("name", "email", "phone", "tax_number"),
    "api_clients": ("name",),
}
CONTROL = "[[:cntrl:]]"


def upgrade():
    connection = op.get_bind()
    for table, columns in ONE_LINE.items():
        for column in columns:
            name = f"ck_{table}_{column}_one_line"
            op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} CHECK ({column} !~ '{CONTROL}') NOT VALID")
            held = connection.scalar(sa.text(f"SELECT count(*) FROM {table} WHERE {column} ~ '{CONTROL}'"))
            if held:
                logging.getLogger("alembic").warning(
                    "%s rows of %s hold a control character in %s: kept, %s holds for new rows",
                    held,
                    table,
                    column,
                    name,
                )
            else:
                op.execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {name}")


def downgrade():
    for table, columns in reversed(ONE_LINE.items()):
        for column in reversed(columns):
            op.execute(f"ALTER TABLE {table} DROP CONSTRAINT ck_{table}_{column}_one_line")
