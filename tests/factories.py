"""Factories for test rows; each commits, as a saved row would be."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import factory
import sqlalchemy as sa
from factory.alchemy import SQLAlchemyModelFactory
from flask import g

from backoffice.evidence import sealing, seals
from backoffice.models import (
    AccountManager,
    Customer,
    JobRecord,
    JobStatus,
    Meter,
    Order,
    ReconciliationRun,
    Role,
    Seal,
    Target,
    User,
)
from backoffice.models.types import utcnow
from backoffice.platform.extensions import db
from backoffice.reconcile.transitions import move_job
from backoffice.services import meter_lifecycle, metering, transaction, wallet


class _Factory(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = lambda: db.session  # noqa: E731
        sqlalchemy_session_persistence = "commit"


PASSWORD = "correct horse battery"
"""The password of the users the factory makes."""


class UserFactory(_Factory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    name = factory.Sequence(lambda n: f"User {n}")
    role = Role.FINANCE
    password = PASSWORD

    @classmethod
    def _create(cls, model_class, *args, password, **kwargs):
        user = model_class(*args, **kwargs)
        user.set_password(password)
        db.session.add(user)
        db.session.commit()
        return user


class AccountManagerFactory(_Factory):
    class Meta:
        model = AccountManager

    name = factory.Sequence(lambda n: f"Manager {n}")
    email = factory.Sequence(lambda n: f"manager{n}@example.com")


class CustomerFactory(_Factory):
    class Meta:
        model = Customer

    code = factory.Sequence(lambda n: f"C{n:05d}")
    name = factory.Sequence(lambda n: f"Customer {n}")
    account_manager = factory.SubFactory(AccountManagerFactory)


class OrderFactory(_Factory):
    class Meta:
        model = Order

    number = factory.Sequence(lambda n: f"T-{n:06d}")
    customer = factory.SubFactory(CustomerFactory)
    account_manager = factory.SelfAttribute("customer.account_manager")
    closing_date = date(2026, 11, 10)
    total_price = Decimal("10000000.00")
    additions = Decimal("500000.00")
    promo = Decimal("1000000.00")
    reductions = Decimal("200000.00")


class TargetFactory(_Factory):
    class Meta:
        model = Target

    account_manager = factory.SubFactory(AccountManagerFactory)
    period_start = date(2026, 11, 1)
    target_amount = Decimal("100000000.00")


def corrupt(table: str, column: str, row_id: int, value: Decimal | str) -> None:
    """Overwrite a stored value with raw SQL, past every hook, as a bad import or a manual edit would."""
    db.session.execute(
        sa.text(f"UPDATE {table} SET {column} = :value WHERE id = :id"), {"value": str(value), "id": row_id}
    )
    db.session.commit()


def corrupt_bucket(account_id: int, bucket: int, value: Decimal | str) -> None:
    """Set one bucket of an account's balance with raw SQL, past the postings, as a bad import or a manual edit
    would; the account's balance is the sum of its buckets."""
    where = {"account_id": account_id, "bucket": bucket}
    db.session.execute(
        sa.text("DELETE FROM account_balance_buckets WHERE account_id = :account_id AND bucket = :bucket"), where
    )
    db.session.execute(
        sa.text("INSERT INTO account_balance_buckets (account_id, bucket, balance) VALUES (:account_id, :bucket, :v)"),
        where | {"v": str(value)},
    )
    db.session.commit()


def forged_recharge(customer_id: int, amount: str) -> int:
    """Append a recharge to the ledger with raw SQL, as a bad import would: its balance before starts from
    nothing, so the customer's chain breaks there. Returns its id."""
    entry = db.session.execute(
        sa.text(
            "INSERT INTO journal_entries (number, entry_date, description, status, created_at) "
            "VALUES (:number, CURRENT_DATE, 'forged', 'draft', CURRENT_TIMESTAMP) RETURNING id"
        ),
        {"number": f"FORGED-{customer_id}-{amount}"},
    ).scalar_one()
    forged = db.session.execute(
        sa.text(
            "INSERT INTO balance_transactions (customer_id, kind, amount, signed_amount, balance_before, "
            "balance_after, value_date, description, entry_id, created_at) "
            "VALUES (:c, 'recharge', :a, :a, 0, :a, CURRENT_DATE, 'forged', :e, CURRENT_TIMESTAMP) RETURNING id"
        ),
        {"c": customer_id, "a": amount, "e": entry},
    ).scalar_one()
    db.session.commit()
    return forged


@contextmanager
def unit_of_work() -> Iterator[sa.Connection]:
    """The connection of a unit of work (``services.transaction``), which commits when the block ends."""
    with transaction() as session:
        yield session.connection()


@contextmanager
def past_the_guards() -> Iterator[sa.Connection]:
    """A transaction whose raw SQL the database's own guards let through, as a privileged manual edit would.

    It sets ``session_replication_role = replica`` (a superuser's act, under which no trigger fires), as the suite
    does to empty the tables.
    """
    db.session.rollback()
    with db.engine.begin() as connection:
        connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
        # What it deletes is counted by the statistics as it commits, not within the seconds PostgreSQL may wait to
        # report them: the next nightly compares those counts with its anchor's.
        connection.exec_driver_sql("SELECT pg_stat_force_next_flush()")
        yield connection


def written_before_the_facts() -> None:
    """Every wallet movement and journal entry written so far is one written before the facts were stored, as if
    migration 0052 had been run now: it records the last id of each (past its guard, which refuses any change)."""
    with past_the_guards() as connection:
        for table in ("balance_transactions", "journal_entries"):
            connection.execute(
                sa.text(
                    f"UPDATE words_written_before SET through_id = (SELECT coalesce(max(id), 0) FROM {table})"
                    " WHERE table_name = :table"
                ),
                {"table": table},
            )
    g.pop("words_written_before", None)  # read again, as the next request reads it


def deletions_forgotten() -> None:
    """The statistics' counts of deleted rows started again, once every connection has reported what it
    deleted: a database downgraded to simulate an older one (whose downgrade removed sealed rows) is counted as that
    older database would be, which never held them."""
    db.session.remove()
    db.engine.dispose()  # each connection reports what it deleted as it ends, before it leaves pg_stat_activity
    with db.engine.connect() as connection:
        others = sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND backend_type = 'client backend'"
        )
        deadline = time.monotonic() + 10
        while connection.scalar(others) and time.monotonic() < deadline:
            time.sleep(0.02)
        connection.execute(sa.text("SELECT pg_stat_reset()"))
        connection.commit()


def stored(table: str, column: str, row_id: int) -> Decimal:
    """The value in the table now, as a new transaction sees it."""
    db.session.rollback()
    value = db.session.execute(sa.text(f"SELECT {column} FROM {table} WHERE id = :id"), {"id": row_id}).scalar_one()
    return Decimal(str(value)).quantize(Decimal("0.01"))


class MeterFactory(_Factory):
    class Meta:
        model = Meter

    serial = factory.Sequence(lambda n: f"M-{n:06d}")


def metered_customer(
    code: str,
    since: date,
    price: Decimal,
    correction: Decimal = Decimal("1"),
    *,
    prepaid: Decimal | None = None,
    serial: str | None = None,
    priced_from: date | None = None,
    **fields,
) -> tuple[Customer, Meter]:
    """A customer (``code``, and ``fields``) holding a meter (``serial``, else the next) from ``since``, with
    ``prepaid`` recharged, priced at ``price`` per Sm³ (``correction``) from ``priced_from`` (else ``since``)."""
    customer = CustomerFactory(code=code, **fields)
    meter = MeterFactory(**({"serial": serial} if serial else {}))
    meter_lifecycle.assign_meter(meter, customer, since)
    if prepaid:
        wallet.recharge(customer.id, prepaid)
    metering.set_pricing(customer.id, priced_from or since, price, correction)
    return customer, meter


def two_managers_three_customers() -> dict:
    """Two account managers, Dewi and Budi; the hotel (HOTEL) and the bakery (BAKERY) are Dewi's customers, the mill
    (MILL) Budi's. By name: ``dewi``, ``budi``, ``hotel``, ``bakery``, ``mill``."""
    dewi, budi = AccountManagerFactory(name="Dewi"), AccountManagerFactory(name="Budi")
    return {
        "dewi": dewi,
        "budi": budi,
        "hotel": CustomerFactory(code="HOTEL", name="Hotel Cempaka", account_manager=dewi),
        "bakery": CustomerFactory(code="BAKERY", name="CV Roti Enak", account_manager=dewi),
        "mill": CustomerFactory(code="MILL", name="PT Tepung", account_manager=budi),
    }


def hotel_with_meter(assigned_on: date, **fields) -> tuple[Customer, Meter]:
    """The hotel (code HOTEL, and ``fields``) holding meter M-1 from ``assigned_on``, with Rp1.000.000 prepaid and
    a price of Rp1.000 per Sm³ (correction 1) from November 2026."""
    return metered_customer(
        "HOTEL",
        assigned_on,
        Decimal("1000.00"),
        prepaid=Decimal("1000000"),
        serial="M-1",
        priced_from=date(2026, 11, 1),
        **fields,
    )


def quarantine(customer_id: int) -> None:
    """Quarantine the customer as a forgery does: its newest wallet movement's description changed past the guards,
    then found by the evidence check."""
    from backoffice.models import RunMode
    from backoffice.reconcile import engine

    with past_the_guards() as connection:
        connection.execute(
            sa.text(
                "UPDATE balance_transactions SET description = 'Forged' "
                "WHERE id = (SELECT max(id) FROM balance_transactions WHERE customer_id = :c)"
            ),
            {"c": customer_id},
        )
    engine.run(RunMode.VERIFY, checks=["evidence_seals"])
    db.session.rollback()


_JOB_PATHS = {
    JobStatus.QUEUED: (),
    JobStatus.STARTED: (JobStatus.STARTED,),
    JobStatus.FINISHED: (JobStatus.STARTED, JobStatus.FINISHED),
    JobStatus.FAILED: (JobStatus.STARTED, JobStatus.FAILED),
    JobStatus.ABANDONED: (JobStatus.ABANDONED,),
}


def job_in(status: JobStatus, *, forged: bool = False, **fields) -> JobRecord:
    """A job's row in ``status``: inserted queued and moved there by its real transitions, the only way the
    database lets a job's state change (its moments stamped as it moves); sealed as the application seals the rows
    it makes, unless ``forged`` (inserted past the application)."""
    fields.setdefault("args", {})
    fields.setdefault("enqueued_at", utcnow())
    if not forged:
        fields["seal"] = seals.job_seal(
            fields["id"], fields["kind"], fields["args"], fields.get("user_id"), fields["enqueued_at"]
        )
    record = JobRecord(status=JobStatus.QUEUED, **fields)
    db.session.add(record)
    db.session.flush()
    state = JobStatus.QUEUED
    for step in _JOB_PATHS[status]:
        move_job(record.id, step, from_=(state,))
        state = step
    db.session.commit()
    return record


def imported(content: bytes, kind: str = "meters", filename: str = "file.csv"):
    """An import of ``content`` checked and kept (its row, status checked), as the Imports page leaves it."""
    from backoffice.imports import running
    from backoffice.imports.kinds import KINDS

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / filename
        path.write_bytes(content)
        checked = running.check(KINDS[kind], running.open_table(KINDS[kind], path, filename))
        return running.started(KINDS[kind], filename, path, checked, None, valid_only=False)


def forge_in_the_chain(customer: Customer, amount: str, kind: str = "recharge") -> tuple[int, int]:
    """One wallet movement appended as an insider would: its balance before follows the chain, and a balanced
    posted journal entry beside it (cash to customer deposits). The customer's own row is left alone."""
    db.session.rollback()
    with past_the_guards() as connection:
        balance = connection.execute(
            sa.text("SELECT balance FROM customers WHERE id = :c"), {"c": customer.id}
        ).scalar_one()
        entry = connection.execute(
            sa.text(
                "INSERT INTO journal_entries (number, entry_date, description, status, created_at, posted_at) "
                "VALUES (:number, CURRENT_DATE, 'Recharge', 'posted', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP) "
                "RETURNING id"
            ),
            {"number": f"JE-F-{kind[0]}{amount}"},
        ).scalar_one()
        for code, debit, credit in (("1000", amount, "0"), ("2000", "0", amount)):
            connection.execute(
                sa.text(
                    "INSERT INTO journal_lines (entry_id, account_id, debit, credit, description) "
                    "SELECT :e, id, :d, :c, '' FROM accounts WHERE code = :code"
                ),
                {"e": entry, "d": debit, "c": credit, "code": code},
            )
        after = Decimal(str(balance)) + Decimal(amount)
        movement = connection.execute(
            sa.text(
                "INSERT INTO balance_transactions (customer_id, kind, amount, signed_amount, balance_before, "
                "balance_after, value_date, description, reason, entry_id, created_at) "
                "VALUES (:c, :kind, :a, :a, :b, :after, CURRENT_DATE, 'Recharge', :reason, :e, CURRENT_TIMESTAMP) "
                "RETURNING id"
            ),
            {
                "c": customer.id,
                "kind": kind,
                "a": amount,
                "b": str(balance),
                "after": str(after),
                "e": entry,
                "reason": "goodwill" if kind == "adjustment" else None,
            },
        ).scalar_one()
    return movement, entry


def moved_back(hours: float) -> None:
    """Every run and job ended ``hours`` ago, as if nothing had run since: the runs sealed as they were then."""
    then = utcnow() - timedelta(hours=hours)
    with past_the_guards() as connection:
        connection.execute(sa.update(ReconciliationRun).values(started_at=then, finished_at=then))
        connection.execute(sa.update(JobRecord).values(started_at=then, ended_at=then))
        connection.execute(sa.delete(Seal).where(Seal.kind == "reconciliation_runs"))
        sealing.seal_existing(connection)
