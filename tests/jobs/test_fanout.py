"""A run over everything split into one job per key range, done by real ``worker.py`` processes on PostgreSQL,
ends as the run in one process does: the same counts, discrepancies and audit rows, each fix made once."""

from __future__ import annotations

import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask_babel import force_locale
from redis import Redis
from rq import Queue
from rq.job import Job
from rq.job import JobStatus as RQStatus
from rq.registry import FailedJobRegistry, ScheduledJobRegistry

from backoffice import jobs
from backoffice.jobs.messages import facts, said
from backoffice.models import (
    Account,
    ChunkStatus,
    Discrepancy,
    JobRecord,
    JobStatus,
    MonthlyCustomerBalance,
    ReconciliationChunk,
    ReconciliationRun,
    RunMode,
    RunStatus,
    RunTrigger,
)
from backoffice.platform.extensions import db
from backoffice.posting.rules import CASH
from backoffice.reconcile import CHECKS, Scope, fanout, resolve
from backoffice.reconcile.engine import run
from backoffice.reconcile.locks import RunRefused
from backoffice.services import wallet
from tests.checkout import ROOT
from tests.factories import (
    AccountManagerFactory,
    CustomerFactory,
    OrderFactory,
    TargetFactory,
    corrupt,
    corrupt_bucket,
    stored,
)
from tests.rows import job_row
from tests.workers import kill_with_children, listening_workers, run_worker, worker_env

CHUNK_SIZE = 2
GATE = 4242
"""The advisory lock key the workers' chunks wait for, in the tests that hold them there."""
HEARTBEAT = 0.5


@pytest.fixture
def business(app):
    """A manager's target, three customers with two orders each, and their wallets' movements; and what
    ``corrupt_everything`` spoils, each value of a check whose fix puts back exactly what was there."""
    app.config["RECONCILE_CHUNK_SIZE"] = CHUNK_SIZE
    dewi = AccountManagerFactory()
    customers = [CustomerFactory(account_manager=dewi) for _ in range(3)]
    orders = [OrderFactory(customer=c, closing_date=date(2026, 11, day)) for c in customers for day in (3, 4)]
    TargetFactory(account_manager=dewi, period_start=date(2026, 11, 1))
    for customer in customers:
        wallet.recharge(customer, Decimal("500000"))
        wallet.charge(customer, Decimal("120000"))
    cash = db.session.scalar(sa.select(Account.id).where(Account.code == CASH))
    return {"orders": orders, "customers": customers, "cash": cash}


def corrupt_everything(business) -> None:
    """Grand totals (and so the targets they count towards), a wallet (and so its month's closing and the wallets
    against Customer deposits), a month's deposits, and the cash account (and so the balance sheet)."""
    for order in business["orders"][1:4]:
        corrupt("orders", "grand_total", order.id, "1")
    corrupt("customers", "balance", business["customers"][2].id, "7")
    # A month fixed is written again, under an id of its own.
    db.session.execute(
        sa.update(MonthlyCustomerBalance)
        .where(MonthlyCustomerBalance.customer_id == business["customers"][1].id)
        .values(total_deposits=Decimal(3))
    )
    db.session.commit()
    corrupt_bucket(business["cash"], 0, "11")


def outcome(run_id: int):
    """What a run found and did: its status, each check's counts and totals in order, and its audit rows. (The
    seals' count leaves out the runs' own: each run ended before another adds one to it.)"""
    db.session.rollback()
    db.session.expire_all()
    record = db.session.get(ReconciliationRun, run_id)
    runs = db.session.scalar(sa.select(sa.func.count()).where(ReconciliationRun.id < run_id))
    results = [
        (r.check, r.checked - runs if r.check == "evidence_seals" else r.checked, r.mismatched, r.fixed, r.totals)
        for r in record.results
    ]
    found = sorted(
        (d.check, d.entity_type, d.entity_id, d.period, d.field, d.stored, d.expected, d.difference, d.fixed, d.reason)
        for d in db.session.scalars(sa.select(Discrepancy).where(Discrepancy.run_id == run_id))
    )
    return record.status, results, found


def ended(job_id: str, seconds: float = 120) -> JobRecord:
    deadline = time.monotonic() + seconds
    while True:
        record = job_row(job_id)
        if not record.status.active:
            return record
        assert time.monotonic() < deadline, f"the job did not end: {record.status} {record.message}"
        time.sleep(0.2)


def chunks_of(run_id: int) -> list[ReconciliationChunk]:
    db.session.rollback()
    db.session.expire_all()
    return list(
        db.session.scalars(
            sa.select(ReconciliationChunk).where(ReconciliationChunk.run_id == run_id).order_by(ReconciliationChunk.id)
        )
    )


def waiting_at_the_gate(connection, count: int, seconds: float = 60) -> None:
    """Until ``count`` chunks wait for the gate the test holds (in its own database: the other test processes hold
    gates of their own, and ``pg_locks`` shows every database's)."""
    deadline = time.monotonic() + seconds
    waiting = (
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = :key AND NOT granted"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    while connection.execute(sa.text(waiting), {"key": GATE}).scalar() < count:
        assert time.monotonic() < deadline, "the chunks did not reach the gate"
        time.sleep(0.1)


def sweep_until_stopped(run_id: int, seconds: float = 10 * HEARTBEAT) -> None:
    """The sweep, until it finds the chunk of the worker killed: its started entry lives two beats after its last
    (RQ counts them in whole seconds), and a sweep before then finds nothing stopped."""
    deadline = time.monotonic() + seconds
    while True:
        jobs.sweep_abandoned()
        if any(chunk.error for chunk in chunks_of(run_id)):
            return
        assert time.monotonic() < deadline, "the sweep did not find the killed worker's chunk"
        time.sleep(0.1)


@contextmanager
def held_gate(app):
    """The gate, held by a transaction of the test's until the block ends (or ``release`` is called): a transaction's
    lock, as a pooler in transaction mode may give a server connection to another client once a transaction ends."""
    engine = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    gate = engine.connect()
    gate.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": GATE})
    try:
        yield gate
    finally:
        release(gate)
        engine.dispose()


def release(gate: sa.Connection) -> None:
    """Let the chunks waiting at the gate go on: its transaction ends, and its lock with it."""
    if not gate.closed:
        gate.rollback()
        gate.close()


@pytest.mark.production_path("real workers")
def test_a_verify_and_a_fix_split_over_two_workers_end_as_the_run_in_one_process(app, business, redis_url):
    corrupt_everything(business)
    alone = run(RunMode.VERIFY)
    with listening_workers(app, redis_url, 2, reconcile_chunk_size=CHUNK_SIZE):
        record, _ = jobs.enqueue("verify", {})
        record = ended(record.id)
        assert (record.status, record.progress, said(record.message)) == (JobStatus.FINISHED, 100, "Finished")
        assert facts(record.message) == {"code": "finished"}  # a fact, said in the reader's language
        with force_locale("id"):
            assert said(record.message) == "Selesai"
        split = outcome(record.run_id)
        assert split == outcome(alone.id)
        assert split[0] is RunStatus.SUCCEEDED and len(split[2]) > 5
        verified = chunks_of(record.run_id)
        assert len(verified) > len(CHECKS) and {c.status for c in verified} == {ChunkStatus.DONE}
        assert {c.phase for c in verified} == {0} and {c.attempts for c in verified} == {1}
        assert record.result["checks"] == [
            {"check": r.check, "checked": r.checked, "mismatched": r.mismatched, "fixed": r.fixed, "totals": r.totals}
            for r in db.session.get(ReconciliationRun, record.run_id).results
        ]

        alone = run(RunMode.FIX)
        corrupt_everything(business)
        record, _ = jobs.enqueue("verify", {"fix": True})
        record = ended(record.id)
        assert record.status is JobStatus.FINISHED
        fixed = outcome(record.run_id)
        assert fixed == outcome(alone.id)
        assert {c.phase for c in chunks_of(record.run_id)} == {0, 1, 2}

    assert {d[:3] for d in fixed[2] if d[8]} == {
        ("order_grand_total", "order", order.id) for order in business["orders"][1:4]
    } | {
        ("customer_wallet", "customer", business["customers"][2].id),
        ("monthly_balance", "customer", business["customers"][1].id),
        ("account_balance", "account", business["cash"]),
    }
    assert all(stored("orders", "grand_total", order.id) == Decimal("9300000.00") for order in business["orders"])
    assert run(RunMode.VERIFY).mismatched == 0


@pytest.mark.production_path("a killed worker")
def test_a_killed_worker_s_chunk_is_redone_once_and_the_run_ends_as_in_one_process(app, business, redis_url):
    corrupt_everything(business)
    alone = run(RunMode.FIX)
    corrupt_everything(business)
    app.config["JOB_HEARTBEAT_SECONDS"] = HEARTBEAT
    settings = {"reconcile_chunk_size": CHUNK_SIZE, "reconcile_chunk_gate": GATE, "job_heartbeat_seconds": HEARTBEAT}
    with listening_workers(app, redis_url, 2, **settings) as (doomed, survivor), held_gate(app) as gate:
        record, _ = jobs.enqueue("verify", {"fix": True})
        waiting_at_the_gate(gate, 2)  # each worker's chunk has written its fixes and audit rows, uncommitted
        kill_with_children(doomed.pid)
        run_id = job_row(record.id).run_id
        sweep_until_stopped(run_id)  # what the next worker to start, or the hourly tick, does
        (again,) = [c for c in chunks_of(run_id) if c.error]
        assert (again.status, again.attempts) == (ChunkStatus.QUEUED, 1)
        assert again.error.startswith("The worker stopped during attempt 1 (last heartbeat")

        # Meanwhile the run holds what it writes: a rebuild is refused, and the nightly run waits for it.
        with pytest.raises(RunRefused, match=rf"A fix of order grand total is already running \(run #{run_id},"):
            jobs.enqueue("rebuild", {})
        nightly, _ = jobs.enqueue_nightly(date(2026, 11, 23))
        subprocess.run(
            [sys.executable, "worker.py", "--burst", "maintenance"],
            cwd=ROOT,
            env=worker_env(app, redis_url),
            check=True,
            capture_output=True,
            timeout=120,
        )
        nightly = job_row(nightly.id)
        assert nightly.status is JobStatus.QUEUED
        waiting = facts(nightly.message)
        assert waiting["code"] == "waiting_for_run" and waiting["run"] == run_id and waiting["check"] in CHECKS
        assert nightly.id in ScheduledJobRegistry("maintenance", connection=Redis.from_url(redis_url)).get_job_ids()

        release(gate)
        record = ended(record.id)
        assert survivor.poll() is None
    assert record.status is JobStatus.FINISHED
    assert outcome(run_id) == outcome(alone.id)
    assert [c.attempts for c in chunks_of(run_id) if c.id == again.id] == [2]
    assert all(stored("orders", "grand_total", order.id) == Decimal("9300000.00") for order in business["orders"])


@pytest.mark.production_path("a killed worker")
def test_a_listening_worker_requeues_the_chunk_of_a_worker_killed_beside_it(app, business, redis_url):
    """No worker starts and no scheduler ticks: the survivor's own periodic sweep finds the chunk."""
    corrupt_everything(business)
    alone = run(RunMode.FIX)
    corrupt_everything(business)
    settings = {
        "reconcile_chunk_size": CHUNK_SIZE,
        "reconcile_chunk_gate": GATE,
        "job_heartbeat_seconds": HEARTBEAT,
        "worker_sweep_seconds": 1,
    }
    with listening_workers(app, redis_url, 2, **settings) as (doomed, survivor), held_gate(app) as gate:
        record, _ = jobs.enqueue("verify", {"fix": True})
        waiting_at_the_gate(gate, 2)
        kill_with_children(doomed.pid)
        release(gate)
        record = ended(record.id, seconds=60)
        assert survivor.poll() is None
    assert record.status is JobStatus.FINISHED
    assert outcome(record.run_id) == outcome(alone.id)
    assert sorted(c.attempts for c in chunks_of(record.run_id))[-2:] == [1, 2]


@pytest.mark.production_path("real workers")
def test_a_chunk_whose_job_failed_as_it_began_is_queued_again_by_the_sweep(app, business, redis_url):
    """The database away as a chunk's job began: RQ failed the job before the chunk's row said it started, so the
    row still says queued; the queue has the job, but will never run it."""
    corrupt_everything(business)
    alone = run(RunMode.VERIFY)
    connection = Redis.from_url(redis_url)
    with listening_workers(app, redis_url, 1, reconcile_chunk_size=CHUNK_SIZE, reconcile_chunk_gate=GATE) as (worker,):
        with held_gate(app) as gate:
            record, _ = jobs.enqueue("verify", {})
            waiting_at_the_gate(gate, 1)
            run_id = job_row(record.id).run_id
            failed = next(c for c in chunks_of(run_id) if c.status is ChunkStatus.QUEUED)
            lost = failed.job_id
            job = Job.fetch(lost, connection=connection)
            Queue("recalc", connection=connection).remove(job)
            job.set_status(RQStatus.FAILED)
            db.session.execute(
                sa.update(ReconciliationChunk)
                .where(ReconciliationChunk.run_id == run_id)
                .values(enqueued_at=sa.func.now() - sa.text("interval '1 minute'"))
            )
            db.session.commit()
            others = {c.id: c.job_id for c in chunks_of(run_id) if c.id != failed.id}

            jobs.sweep_abandoned()

            (again,) = [c for c in chunks_of(run_id) if c.id == failed.id]
            assert again.status is ChunkStatus.QUEUED and again.job_id != lost
            assert again.job_id in Queue("recalc", connection=connection).get_job_ids()
            assert {c.id: c.job_id for c in chunks_of(run_id) if c.id != failed.id} == others
        record = ended(record.id)
        assert worker.poll() is None
    assert record.status is JobStatus.FINISHED
    assert outcome(record.run_id) == outcome(alone.id)


@pytest.mark.production_path("real workers")
def test_a_job_tried_again_after_its_run_was_recorded_does_not_start_another(app, business, redis_url):
    """The database went away once the run and its chunks were recorded, before the chunks reached the queue: the
    job failed for now and RQ tries it again. Its run goes on (the sweep queues the chunks); no second run starts."""
    corrupt_everything(business)
    alone = run(RunMode.VERIFY)
    connection = Redis.from_url(redis_url)
    settings = {"reconcile_chunk_size": CHUNK_SIZE, "reconcile_chunk_gate": GATE, "worker_sweep_seconds": 1}
    with listening_workers(app, redis_url, 1, **settings) as (worker,):
        with held_gate(app) as gate:
            record, _ = jobs.enqueue("verify", {})
            waiting_at_the_gate(gate, 1)
            run_id = job_row(record.id).run_id
            queue = Queue("recalc", connection=connection)
            for chunk in chunks_of(run_id):
                if chunk.status is ChunkStatus.QUEUED:
                    queue.remove(chunk.job_id)
            db.session.execute(
                sa.update(ReconciliationChunk)
                .where(ReconciliationChunk.run_id == run_id, ReconciliationChunk.status == ChunkStatus.QUEUED)
                .values(job_id=None, enqueued_at=sa.func.now() - sa.text("interval '1 minute'"))
            )
            db.session.execute(
                sa.update(JobRecord)
                .where(JobRecord.id == record.id)
                .values(
                    status=JobStatus.FAILED, error="OperationalError: the server closed the connection (retried later)"
                )
            )
            db.session.commit()
            queue.enqueue("backoffice.jobs.execute", record.id, job_id=record.id)
        deadline = time.monotonic() + 120
        while outcome(run_id)[0] is RunStatus.RUNNING:
            assert time.monotonic() < deadline, "the run did not end"
            time.sleep(0.2)
        record = ended(record.id)
        assert worker.poll() is None
    assert record.status is JobStatus.FINISHED and record.run_id == run_id
    assert db.session.scalar(sa.select(sa.func.count(ReconciliationRun.id))) == 2, "the run alone, and the split one"
    assert outcome(run_id) == outcome(alone.id)


@pytest.mark.production_path("a killed worker")
def test_a_chunk_killed_on_its_last_attempt_fails_the_run_and_writes_nothing(app, business, redis_url):
    corrupt_everything(business)
    app.config["JOB_HEARTBEAT_SECONDS"] = HEARTBEAT
    settings = {"reconcile_chunk_size": CHUNK_SIZE, "reconcile_chunk_gate": GATE, "job_heartbeat_seconds": HEARTBEAT}
    with listening_workers(app, redis_url, 1, **settings) as (worker,), held_gate(app) as gate:
        record, _ = jobs.enqueue("verify", {"fix": True})
        waiting_at_the_gate(gate, 1)
        (last,) = [c for c in chunks_of(job_row(record.id).run_id) if c.status is ChunkStatus.STARTED]
        db.session.execute(
            sa.update(ReconciliationChunk).where(ReconciliationChunk.id == last.id).values(attempts=fanout.ATTEMPTS)
        )
        db.session.commit()
        kill_with_children(worker.pid)
        sweep_until_stopped(last.run_id)

    record = ended(record.id, seconds=5)
    assert record.status is JobStatus.FAILED
    assert record.error.startswith(f"Chunk {last.position} of 3 of {last.check} failed: The worker stopped")
    assert record.error.endswith("No attempt is left.")
    run_worker(app, redis_url)  # the run's other chunks, still queued, find it ended and do nothing
    status, results, found = outcome(record.run_id)
    assert (status, results, found) == (RunStatus.FAILED, [], [])
    assert {c.status for c in chunks_of(record.run_id)} == {ChunkStatus.QUEUED, ChunkStatus.FAILED}
    assert [stored("orders", "grand_total", order.id) for order in business["orders"][1:4]] == [1, 1, 1]


@pytest.mark.production_path("real workers")
def test_a_chunk_that_fails_fails_the_run_and_the_chunks_done_keep_their_fixes(app, redis_url):
    orders = [OrderFactory() for _ in range(4)]
    for order in orders:
        corrupt("orders", "grand_total", order.id, "1")
    corrupt("orders", "promo", orders[2].id, "99999999.00")  # its fix would store a negative total
    record, _ = jobs.enqueue("verify", {"fix": True})
    run_worker(app, redis_url, reconcile_chunk_size=1)

    record = ended(record.id, seconds=5)
    assert record.status is JobStatus.FAILED
    assert record.error.startswith("Chunk 3 of 4 of order_grand_total failed: IntegrityError")
    chunks = chunks_of(record.run_id)
    failed = [c for c in chunks if c.status is ChunkStatus.FAILED]
    assert [c.position for c in failed] == [3] and "IntegrityError" in failed[0].error
    assert FailedJobRegistry("recalc", connection=Redis.from_url(redis_url)).get_job_ids() == [failed[0].job_id]
    status, results, found = outcome(record.run_id)
    assert status is RunStatus.FAILED and results == [] and {c.phase for c in chunks} == {0}
    done = {c.position for c in chunks if c.status is ChunkStatus.DONE}
    assert done == {1, 2} and sum(c.fixed for c in chunks) == len(found) == 2
    assert sorted(d[2] for d in found) == [orders[0].id, orders[1].id] and all(d[8] for d in found)
    assert [stored("orders", "grand_total", order.id) for order in orders] == [9300000, 9300000, 1, 1]


@pytest.mark.production_path("real workers")
@pytest.mark.parametrize("workers", [0, 1])
def test_a_chunk_plans_the_parallel_workers_set_and_a_run_in_one_process_the_servers(app, business, workers):
    app.config["CHUNK_PARALLEL_WORKERS"] = workers
    served = db.session.scalar(sa.text("SELECT current_setting('max_parallel_workers_per_gather')"))
    planned = []

    def after(_connection, cursor, statement, *_rest):
        if statement.lstrip().upper().startswith("SELECT") and "balance_transactions" in statement:
            planned.append(cursor.connection.execute("SHOW max_parallel_workers_per_gather").fetchone()[0])

    record, queued = fanout.start(
        RunMode.VERIFY,
        checks=["ledger_chain", "evidence_seals"],
        scope=Scope(),
        trigger=RunTrigger.USER,
        user=None,
        on_start=lambda _run: None,
        on_end=lambda _run: None,
    )
    sa.event.listen(db.engine, "after_cursor_execute", after)
    try:
        for chunk_id in queued:
            fanout.do(chunk_id, on_end=lambda _run: None)
        split = list(planned)
        planned.clear()
        alone = run(RunMode.VERIFY, checks=["ledger_chain"])
    finally:
        sa.event.remove(db.engine, "after_cursor_execute", after)

    assert db.session.get(ReconciliationRun, record.id).status is RunStatus.SUCCEEDED and alone.mismatched == 0
    # The chunks side by side are the run's parallelism; a run in one process plans as the server is set to, and so
    # does whatever runs after a chunk: the setting is its transaction's alone.
    assert split and set(split) == {str(workers)}
    assert planned and set(planned) == {served} != str(workers)
    assert db.session.scalar(sa.text("SELECT current_setting('max_parallel_workers_per_gather')")) == served


def test_without_redis_a_fix_of_everything_runs_in_process_in_one_piece(app, business):
    corrupt_everything(business)
    record, _ = jobs.enqueue("verify", {"fix": True})
    assert record.in_process and record.status is JobStatus.FINISHED
    assert chunks_of(record.run_id) == []
    assert outcome(record.run_id)[0] is RunStatus.SUCCEEDED
    assert run(RunMode.VERIFY).mismatched == 0


def test_a_run_that_writes_takes_a_check_after_the_checks_whose_fixes_it_reads():
    names = [[check.name for check in step] for step in fanout.steps(RunMode.FIX, resolve(None))]
    assert names == [
        [
            "order_grand_total",
            "reading_calculation",
            "meter_balance",
            "invoice_outstanding",
            "invoice_tax",
            "home_tallies",
            "customer_words",
            "evidence_seals",
        ],
        [
            "target_achieved",
            "order_month_totals",
            "customer_wallet",
            "ledger_chain",
            "customer_meter_totals",
            "payment_unapplied",
            "journal_balanced",
            "movement_accounts",
            "account_balance",
            "history_drift",
        ],
        ["customer_status", "monthly_balance", "balance_sheet", "wallet_ledger_agreement", "receivables_agreement"],
    ]
    assert fanout.steps(RunMode.VERIFY, resolve(None)) == [resolve(None)]
    assert [[c.name for c in s] for s in fanout.steps(RunMode.REBUILD, resolve(["target_achieved"]))] == [
        ["target_achieved"]
    ]
    order = list(CHECKS)
    assert all(order.index(first) < order.index(name) for name, check in CHECKS.items() for first in check.after)
