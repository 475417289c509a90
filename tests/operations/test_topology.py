"""Production as the operators' guide deploys it, nights run through it: the owner runs the migrations and ``backoffice
db grant-runtime``; gunicorn and two ``worker.py`` processes connect as the runtime role; the scheduler's jobs are put
on the queue as RQ's cron scheduler puts them; the nightly anchors its chains in a folder of the database's own.

Every privilege a production path needs is held by the runtime role here, or a night fails: a split nightly that
finishes, its anchor written, a row forged by the runtime role found, an auto-heal asked of the API, the catch-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from rq import Queue

from backoffice import jobs
from backoffice.evidence import seals
from backoffice.models import (
    BalanceTransaction,
    CheckResult,
    Discrepancy,
    JobRecord,
    JobStatus,
    Order,
    ReconciliationChunk,
    ReconciliationRun,
    RunStatus,
    TamperedEvidence,
)
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.reconcile import evidence_seals
from backoffice.services import wallet
from tests.checkout import ROOT
from tests.factories import CustomerFactory, OrderFactory
from tests.serving import TOKEN, Server, gunicorn
from tests.workers import listening_workers, serving_url, worker_env

pytestmark = pytest.mark.production_path("the deployed setup's nights")

BEARER = {"Authorization": f"Bearer {TOKEN}"}
CHUNK_SIZE = 2


def _command(owner_url: str, *args: str) -> str:
    """``backoffice ARGS`` as the owner runs it from a shell; its output."""
    done = subprocess.run(
        [Path(sys.executable).parent / "backoffice", *args],
        cwd=ROOT,
        env=os.environ | {"DATABASE_URL": owner_url, "SECRET_KEY": "production-test", "BACKOFFICE_LANGUAGE": "en"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture
def production(app, redis_url, tmp_path):
    """The deployment: migrated and granted by the owner, served and worked by the runtime role, a gunicorn and two
    workers listening; yields the server and the runtime role's URL."""
    owner = app.config["SQLALCHEMY_DATABASE_URI"]
    _command(owner, "db", "upgrade")
    served = serving_url(owner)  # the role, made; granted again by the command, as the guide has the owner do
    role = sa.make_url(served).username
    assert f"Granted {role} the runtime privileges" in _command(owner, "db", "grant-runtime", role)
    settings = {"reconcile_chunk_size": CHUNK_SIZE, "job_heartbeat_seconds": 0.5}
    env = worker_env(app, redis_url, **settings) | {"BACKOFFICE_API_TOKEN": TOKEN, "BACKOFFICE_WEB_WORKERS": "1"}
    assert env["DATABASE_URL"] == served
    with gunicorn(env, tmp_path / "server.log") as server, listening_workers(app, redis_url, 2, **settings):
        yield server, served


def _scheduled(redis_url: str, function, *args) -> None:
    """Put one of the schedule's jobs on its queue, as RQ's cron scheduler does at its hour."""
    Queue("maintenance", connection=jobs.redis_connection()).enqueue(function, *args)


def _ended(job_id: str, timeout: float = 240) -> JobRecord:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db.session.rollback()
        record = db.session.get(JobRecord, job_id)
        if record is not None and record.status in (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.ABANDONED):
            return record
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not end: {record and (record.status, record.message, record.error)}")


def _health(server: Server) -> dict:
    answer = requests.get(server.url + "/admin/balance-health/check", headers=BEARER, timeout=60)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _as_runtime_role(served: str, *statements: tuple[str, dict]) -> None:
    engine = sa.create_engine(served)
    try:
        with engine.begin() as connection:
            for statement, values in statements:
                connection.execute(sa.text(statement), values)
    finally:
        engine.dispose()


def test_nights_run_split_anchored_forgeries_found_and_healed_on_the_deployed_setup(app, production, redis_url):
    server, served = production
    customers = [CustomerFactory(code=f"C{n:04d}") for n in range(1, 6)]
    for customer in customers:
        wallet.recharge(customer, D("100000"))
    orders = [OrderFactory(customer=customers[n % 5]) for n in range(8)]
    db.session.commit()
    today = local_today()

    # The scheduler was down at 02:00: the hourly catch-up starts today's nightly, split over the two workers.
    _scheduled(redis_url, "backoffice.jobs.catch_up")
    night = _ended(f"nightly-{today}")
    assert night.status is JobStatus.FINISHED, (night.message, night.error)
    run = db.session.get(ReconciliationRun, night.run_id)
    assert run.status is RunStatus.SUCCEEDED
    chunks = db.session.scalars(sa.select(ReconciliationChunk).where(ReconciliationChunk.run_id == run.id)).all()
    assert len({chunk.phase for chunk in chunks}) == 3 and len(chunks) > 10
    # The seals are examined side by side: the anchors' proof, then the kinds of evidence a few at a time, each once;
    # the first night, with no anchor, swept every row, the pieces' rows added up on the job's row.
    pieces = sorted((c.low, c.high) for c in chunks if c.check == evidence_seals.EvidenceSeals.name)
    kinds = len(seals.kinds())
    assert pieces[0] == (0, 0) and [low for low, _high in pieces[1:]] == [high + 1 for _low, high in pieces[:-1]]
    assert pieces[-1][1] == kinds
    verified = next(result.checked for result in run.results if result.check == evidence_seals.EvidenceSeals.name)
    assert night.result["seals_swept"] == {"rows": verified, "slice": 1, "slices": 1}
    assert evidence_seals.SWEPT_BY not in night.result
    folder = Path(app.config["ANCHORS_FOLDER"])
    assert json.loads((folder / "latest.json").read_text())["day"] == today.isoformat()
    assert (folder / f"{today}.json").exists()
    healthy = _health(server)
    assert healthy["balance_status"] is True, healthy

    # The runtime role breaks a stored figure; an admin's auto-heal through the API fixes it, split, with its audit.
    _as_runtime_role(served, ("UPDATE orders SET grand_total = 5 WHERE id = :id", {"id": orders[3].id}))
    asked = requests.post(server.url + "/admin/balance-health/auto-heal", headers=BEARER, timeout=60)
    assert asked.status_code == 202, asked.text
    healed = _ended(asked.json()["job_id"])
    assert healed.status is JobStatus.FINISHED, (healed.message, healed.error)
    db.session.expire_all()
    assert db.session.get(Order, orders[3].id).grand_total == orders[3].grand_total
    assert (
        db.session.scalar(sa.select(sa.func.count()).where(ReconciliationChunk.run_id == healed.run_id))
        > len(chunks) / 3
    )

    # A monitor's maintenance every few hours through the API: each call runs one, on the workers, as the runtime role;
    # with the scheduler's nightly, six anchors of the day, each the next link: health stays true, nothing is found.
    maintained = []
    for _call in range(5):
        asked = requests.post(server.url + "/admin/balance-health/scheduled-maintenance", headers=BEARER, timeout=60)
        assert asked.status_code == 202, asked.text
        maintained.append(_ended(asked.json()["job_id"]))
    assert [record.status for record in maintained] == [JobStatus.FINISHED] * 5
    assert len({record.run_id for record in maintained}) == 5
    assert len(list(folder.glob(f"{today}*.json"))) == 6
    assert db.session.scalar(sa.select(sa.func.count(TamperedEvidence.id))) == 0
    assert _health(server)["balance_status"] is True

    # The runtime role appends a movement of its own to a customer's ledger: the next night finds it unsealed.
    _as_runtime_role(
        served,
        (
            "INSERT INTO journal_entries (id, number, entry_date, description, status, created_at)"
            " VALUES (-5000, 'FORGED', CURRENT_DATE, 'forged', 'draft', CURRENT_TIMESTAMP)",
            {},
        ),
        (
            "INSERT INTO balance_transactions (id, customer_id, kind, amount, signed_amount, balance_before,"
            " balance_after, value_date, description, entry_id, created_at) VALUES (-5000, :c, 'recharge', 3000000,"
            " 3000000, 100000, 3100000, CURRENT_DATE, 'forged', -5000, CURRENT_TIMESTAMP)",
            {"c": customers[2].id},
        ),
        ("UPDATE customers SET balance = 3100000 WHERE id = :c", {"c": customers[2].id}),
    )
    tomorrow = today + timedelta(days=1)
    _scheduled(redis_url, "backoffice.jobs.enqueue_nightly", tomorrow)
    second = _ended(f"nightly-{tomorrow}")
    assert second.status is JobStatus.FINISHED, (second.message, second.error)
    # The forged id lies far below the others: the chunks are planned by the ids that exist, not for the gap.
    planned = db.session.scalar(sa.select(sa.func.count()).where(ReconciliationChunk.run_id == second.run_id))
    assert planned < 2 * len(chunks)
    found = db.session.scalars(sa.select(TamperedEvidence).where(TamperedEvidence.found_run_id == second.run_id)).all()
    assert {(finding.kind, finding.customer_id) for finding in found} >= {("balance_transactions", customers[2].id)}
    assert "anchor_records" not in {finding.kind for finding in found}
    # The checks that grow with the journal read, split over the workers, what changed since the last clean night
    # and the night's stripes of the rest: the customer's recharge, sealed within the day, is read as changed, and
    # the forged movement before it, below every id and with no seal, the night its customer's stripe comes.
    growing = ["movement_accounts", "journal_balanced", "ledger_chain", "history_drift", "receivables_agreement"]
    covered = dict(
        db.session.execute(
            sa.select(CheckResult.check, CheckResult.covered).where(
                CheckResult.run_id == second.run_id, CheckResult.check.in_(growing)
            )
        ).all()
    )
    assert {check: part["part"] for check, part in covered.items()} == dict.fromkeys(growing, "changed and stripe")
    stripes = evidence_seals.swept(tomorrow, covered["ledger_chain"]["stripes"])
    assert covered["ledger_chain"]["stripe"] == stripes.phase + 1
    broken = set(
        db.session.scalars(
            sa.select(Discrepancy.entity_id).where(
                Discrepancy.run_id == second.run_id, Discrepancy.check == "ledger_chain"
            )
        )
    )
    recharged = db.session.scalar(
        sa.select(sa.func.min(BalanceTransaction.id)).where(
            BalanceTransaction.customer_id == customers[2].id, BalanceTransaction.id > 0
        )
    )
    assert broken == {recharged} | ({-5000} if stripes.contains(customers[2].id) else set())
    # The months and the orders read the same way (there is no reading here to read); the accounts' check carries,
    # through the chunk it was run in, the sums of the lines it kept for the next night.
    marked = ["monthly_balance", "order_grand_total", "account_balance"]
    kept = dict(
        db.session.execute(
            sa.select(CheckResult.check, CheckResult.covered).where(
                CheckResult.run_id == second.run_id, CheckResult.check.in_(marked)
            )
        ).all()
    )
    assert {check: part["part"] for check, part in kept.items()} == dict.fromkeys(kept, "changed and stripe")
    assert sorted(kept) == sorted(marked)
    sums = kept["account_balance"]["sums"]
    assert (sums["width"], sums["period"]) == (stripes.width, stripes.period)
    assert "phases" in sums and sums["through"] > 0
    unhealthy = _health(server)
    assert unhealthy["balance_status"] is False

    # The month-end rebuild the scheduler starts on the first, split as the nightly is.
    _scheduled(redis_url, "backoffice.jobs.enqueue_monthly_rebuild")
    month_end = _ended(f"monthly-rebuild-{today:%Y-%m}")
    assert month_end.status is JobStatus.FINISHED, (month_end.message, month_end.error)
    assert db.session.scalar(sa.select(sa.func.count()).where(ReconciliationChunk.run_id == month_end.run_id)) > 1
