"""Row locks taken before a derived value is written, always in id order so that two writers never deadlock.

Tables are locked in one order: account managers, targets, customers, meters, accounts, account balance buckets;
every writer of a customer's balances locks the customer first. The lock is ``SELECT … FOR NO KEY UPDATE``, which does
not wait for the key share a foreign key takes (a payment inserted for a meter), which would deadlock.
"""

from __future__ import annotations

from sqlalchemy import ARRAY, Integer, Table, any_, bindparam, select
from sqlalchemy.engine import Connection

from backoffice.models import Customer
from backoffice.models.types import one_of

customers = Customer.__table__

_LOCK_CUSTOMERS = (
    select(
        customers.c.id,
        customers.c.code,
        customers.c.balance,
        customers.c.use_realtime_calculation,
    )
    .where(customers.c.id == any_(bindparam("ids", type_=ARRAY(Integer))))
    .order_by(customers.c.id)
    .with_for_update(key_share=True)
)


def lock_customers(connection: Connection, ids) -> list:
    """Lock customer rows for the rest of the transaction; returns their wallet columns, in id order."""
    return connection.execute(_LOCK_CUSTOMERS, {"ids": sorted(ids)}).all()


def lock_rows(connection: Connection, table: Table, ids) -> None:
    """Lock rows of another table (meters, accounts) for the rest of the transaction."""
    lock_where(connection, table, one_of(table.c.id, ids))


def lock_where(connection: Connection, table: Table, *conditions) -> list[int]:
    """Lock the rows of ``table`` that meet the conditions for the rest of the transaction; returns their ids."""
    return list(
        connection.execute(
            select(table.c.id).where(*conditions).order_by(table.c.id).with_for_update(key_share=True)
        ).scalars()
    )
