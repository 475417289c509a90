"""a reading given as the meter's index: the index, and what its volume was counted from

Revision ID: 0056
Revises: 0055
Create Date: 2026-11-26 08:30:00.000000

- ``meter_readings.meter_index``: the meter's index as read, for a reading given by index; NULL for a reading given
  as a volume (every reading before this upgrade). The volume (``volume_flow_meter``) stays what is stored, priced
  and charged.
- ``meter_readings.index_from``, ``counted_from``, ``meter_digits``: what the volume was counted from: the meter's
  previous index (``previous``), the previous index of a meter that rolled over past its last digit since
  (``rolled_over``, with the meter's digits before the decimal separator), or the start index of a meter put in place
  of the one last read (``replaced``) or of a meter with no earlier reading by index (``first``).
- Held by the database whoever writes: the index, what it counts from and how, all or none; never negative; the
  digits given for a meter that rolled over and only then, 1 to 14; and the volume exactly the index less what it
  counts from (plus 10^digits for a meter that rolled over, whose index is then below the previous one).
- The same columns in the readings' history (``meter_readings_history``): a version records them, and its seal covers
  them. A NULL value is left out of a seal, so the versions sealed before keep their seals.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0056"
down_revision = "0055"
branch_labels = None
depends_on = None

COLUMNS = ("meter_index", "index_from", "counted_from", "meter_digits")

CHECKS = {
    "index_whole": "(meter_index IS NULL) = (index_from IS NULL) AND (meter_index IS NULL) = (counted_from IS NULL)",
    "index_from_known": "index_from IN ('previous', 'rolled_over', 'replaced', 'first')",
    "index_not_negative": "meter_index >= 0 AND counted_from >= 0",
    "digits_when_rolled_over": (
        "(meter_digits IS NOT NULL) = (index_from IS NOT DISTINCT FROM 'rolled_over') AND meter_digits BETWEEN 1 AND 14"
    ),
    "volume_from_index": (
        "index_from IS NULL"
        " OR (index_from = 'rolled_over' AND meter_index < counted_from"
        " AND counted_from < power(10::numeric, meter_digits)"
        " AND volume_flow_meter = meter_index + power(10::numeric, meter_digits) - counted_from)"
        " OR (index_from <> 'rolled_over' AND meter_index >= counted_from"
        " AND volume_flow_meter = meter_index - counted_from)"
    ),
}


def _columns(history: bool) -> list[sa.Column]:
    options = {"autoincrement": False} if history else {}
    return [
        sa.Column("meter_index", sa.Numeric(precision=18, scale=4), nullable=True, **options),
        sa.Column("index_from", sa.String(length=20), nullable=True, **options),
        sa.Column("counted_from", sa.Numeric(precision=18, scale=4), nullable=True, **options),
        sa.Column("meter_digits", sa.SmallInteger(), nullable=True, **options),
    ]


def upgrade():
    for table, history in (("meter_readings", False), ("meter_readings_history", True)):
        for column in _columns(history):
            op.add_column(table, column)
    for name, condition in CHECKS.items():
        op.create_check_constraint(op.f(f"ck_meter_readings_{name}"), "meter_readings", condition)


def downgrade():
    for name in reversed(CHECKS):
        op.drop_constraint(op.f(f"ck_meter_readings_{name}"), "meter_readings", type_="check")
    for table in ("meter_readings_history", "meter_readings"):
        for column in reversed(COLUMNS):
            op.drop_column(table, column)
