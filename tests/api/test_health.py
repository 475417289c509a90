"""The health check and the metrics tell the truth: a check that never ran or a nightly that stopped is stale."""

from __future__ import annotations

import logging
import re
from datetime import date, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade
from prometheus_client.parser import text_string_to_metric_families

from backoffice import jobs, register_migrations
from backoffice.jobs import running
from backoffice.models import (
    DURATION_BUCKETS,
    JobRecord,
    JobStatus,
    RecalculationRequest,
    ReconciliationRun,
    RunMode,
)
from backoffice.models.monthly import RecalculationReason
from backoffice.models.types import as_utc, utcnow
from backoffice.platform.extensions import db
from backoffice.reconcile import CHECKS, evidence_seals
from backoffice.reconcile.engine import run, scope_for
from backoffice.services import wallet
from tests.factories import CustomerFactory, OrderFactory, corrupt, job_in, moved_back, past_the_guards
from tests.monitoring import metrics
from tests.workers import run_worker


def health(api) -> dict:
    return api("/admin/balance-health/check").get_json()


class StillClock:
    """The jobs' clock (``jobs.running.utcnow``), standing still but for the work of a job, which moves it on."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self):
        return self.now

    def taking(self, seconds: float, work):
        """A job's work (``jobs.running._run``) that takes ``seconds`` by this clock."""

        def slow(*args):
            try:
                return work(*args)
            finally:
                self.now += timedelta(seconds=seconds)

        return slow


def broken(spec, record, *args):
    raise RuntimeError("the job's work failed")


NEVER_RUN = {
    "status": "never run",
    "last_success_at": None,
    "duration_seconds": None,
    "rows_verified": None,
    "swept_share": None,
    "swept_rows": None,
}
"""The nightly maintenance on the health check before one succeeded: nothing to say of its work."""


def test_a_fresh_installation_is_stale_and_says_why(api):
    answer = health(api)
    assert answer["balance_status"] is False and answer["data"]["is_valid"] is False
    checks = answer["data"]["checks"]
    assert {check["status"] for check in checks.values()} == {"never run"}
    assert checks["customer_wallet"]["last_success_at"] is None
    assert answer["data"]["nightly_maintenance"] == NEVER_RUN
    reasons = answer["data"]["reasons"]
    assert "customer_wallet: never run over everything." in reasons
    assert "The nightly maintenance has never finished." in reasons
    assert answer["data"]["max_age_hours"] == 26
    samples = metrics(api)
    assert samples['backoffice_reconcile_stale{check="customer_wallet"}'] == 1
    assert samples["backoffice_nightly_stale"] == 1
    assert "backoffice_nightly_last_success_timestamp_seconds" not in samples
    assert 'backoffice_reconcile_left{check="customer_wallet"}' not in samples
    assert 'backoffice_reconcile_checked{check="customer_wallet"}' not in samples


def test_after_the_nightly_every_check_is_ok(api):
    OrderFactory()
    record, _ = jobs.enqueue_nightly()
    assert record.status is JobStatus.FINISHED
    answer = health(api)
    assert answer["balance_status"] is True and answer["data"]["reasons"] == []
    assert {name: check["status"] for name, check in answer["data"]["checks"].items()} == dict.fromkeys(CHECKS, "ok")
    nightly = answer["data"]["nightly_maintenance"]
    # The nightly's success is its sealed run's end, not what its job row says.
    ended = as_utc(db.session.get(ReconciliationRun, record.run_id).finished_at)
    assert nightly["status"] == "ok" and nightly["last_success_at"] == ended.isoformat()
    samples = metrics(api)
    assert samples["backoffice_nightly_last_success_timestamp_seconds"] == pytest.approx(ended.timestamp())
    assert samples["backoffice_nightly_stale"] == 0
    run_record = db.session.get(ReconciliationRun, record.run_id)
    for name in CHECKS:
        assert samples[f'backoffice_reconcile_stale{{check="{name}"}}'] == 0
        assert samples[f'backoffice_reconcile_left{{check="{name}"}}'] == 0
        assert samples[f'backoffice_reconcile_last_success_timestamp_seconds{{check="{name}"}}'] == pytest.approx(
            as_utc(run_record.finished_at).timestamp()
        )
    for result in run_record.results:
        assert samples[f'backoffice_reconcile_checked{{check="{result.check}"}}'] == result.checked


def test_the_nightly_s_duration_and_rows_are_in_its_result_metrics_and_health_check(api, monkeypatch):
    OrderFactory()
    clock = StillClock()
    monkeypatch.setattr(running, "utcnow", clock)
    monkeypatch.setattr(running, "_run", clock.taking(95, running._run))
    record, _ = jobs.enqueue_nightly()
    assert record.status is JobStatus.FINISHED, record.error
    results = db.session.get(ReconciliationRun, record.run_id).results
    verified = sum(result.checked for result in results)
    assert verified > next(result.checked for result in results if result.check == "evidence_seals") > 0
    assert record.result["duration_seconds"] == record.duration_seconds == 95
    assert record.result["rows_verified"] == verified
    nightly = health(api)["data"]["nightly_maintenance"]
    assert (nightly["duration_seconds"], nightly["rows_verified"]) == (95, verified)
    samples = metrics(api)
    assert samples["backoffice_nightly_duration_seconds"] == 95
    assert samples["backoffice_nightly_rows_verified"] == verified
    jobs.enqueue("verify")
    assert health(api)["data"]["nightly_maintenance"]["rows_verified"] == verified


def test_the_nightly_s_swept_share_is_in_its_result_metrics_and_health_check(app, api, monkeypatch, caplog):
    monkeypatch.setattr(evidence_seals, "STRIPE", 2)
    app.config["SEAL_SWEEP_DAYS"] = 3
    customer = CustomerFactory()
    for amount in ("100", "200", "300", "400"):
        wallet.recharge(customer, D(amount))
    first, _ = jobs.enqueue_nightly(date(2026, 11, 23))
    # No anchor to start from: it verified every seal, its sweep all of the history.
    every = _seals_checked(first)
    assert first.result["seals_swept"] == {"rows": every, "slice": 1, "slices": 1}
    assert (first.result["swept_share"], first.result["swept_rows"]) == (1, every)
    said = re.compile(r"and (\d+) of the sweep's slice (\d) of 3 ")
    swept = []
    for day in (24, 25, 26):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="backoffice.reconcile.evidence_seals"):
            record, _ = jobs.enqueue_nightly(date(2026, 11, day))
        assert record.status is JobStatus.FINISHED, record.error
        rows, part = next(said.search(line).groups() for line in caplog.messages if said.search(line))
        assert record.result["seals_swept"] == {"rows": int(rows), "slice": int(part), "slices": 3}
        assert record.result["swept_share"] == pytest.approx(1 / 3)
        assert record.result["swept_rows"] == int(rows) < _seals_checked(record)
        swept.append(int(rows))
    assert sum(swept) >= every  # three nights of three slices: every row there the first night, once at least
    nightly = health(api)["data"]["nightly_maintenance"]
    assert (nightly["swept_share"], nightly["swept_rows"]) == (pytest.approx(1 / 3), swept[-1])
    samples = metrics(api)
    assert samples["backoffice_nightly_swept_ratio"] == pytest.approx(1 / 3)
    assert samples["backoffice_nightly_swept_rows"] == swept[-1]


def _seals_checked(record: JobRecord) -> int:
    return next(check["checked"] for check in record.result["checks"] if check["check"] == "evidence_seals")


def test_a_nightly_whose_result_has_no_figures_has_none_to_give(api):
    record, _ = jobs.enqueue_nightly()
    with past_the_guards() as connection:
        connection.execute(sa.update(JobRecord).values(result={"recalculations_done": 0}))
    nightly = health(api)["data"]["nightly_maintenance"]
    assert nightly["status"] == "ok" and nightly["duration_seconds"] is None and nightly["rows_verified"] is None
    samples = metrics(api)
    assert "backoffice_nightly_duration_seconds" not in samples and "backoffice_nightly_rows_verified" not in samples
    assert "backoffice_nightly_swept_ratio" not in samples and "backoffice_nightly_swept_rows" not in samples
    assert nightly["swept_share"] is None and nightly["swept_rows"] is None


def test_a_nightly_that_failed_is_no_success(api):
    job_in(JobStatus.FAILED, id="nightly-failed", kind="nightly_maintenance", queue="maintenance")
    assert health(api)["data"]["nightly_maintenance"] == NEVER_RUN
    assert metrics(api)['backoffice_jobs_failed{kind="nightly_maintenance"}'] == 1


def test_a_full_verify_without_the_nightly_is_not_healthy(api):
    run(RunMode.VERIFY)
    answer = health(api)
    assert {check["status"] for check in answer["data"]["checks"].values()} == {"ok"}
    assert answer["balance_status"] is False
    assert answer["data"]["reasons"] == ["The nightly maintenance has never finished."]


def test_runs_older_than_the_maximum_age_are_stale(app, api):
    jobs.enqueue_nightly()
    moved_back(27)
    answer = health(api)
    assert answer["balance_status"] is False
    assert {check["status"] for check in answer["data"]["checks"].values()} == {"stale"}
    assert answer["data"]["nightly_maintenance"]["status"] == "stale"
    reasons = answer["data"]["reasons"]
    assert any(r.startswith("customer_wallet: the last full run finished at ") for r in reasons)
    assert any(r.startswith("The nightly maintenance last finished at ") for r in reasons)
    assert all("26 hours ago or more" in r for r in reasons)
    samples = metrics(api)
    assert samples['backoffice_reconcile_stale{check="customer_wallet"}'] == 1
    assert samples["backoffice_nightly_stale"] == 1
    app.config["HEALTH_MAX_AGE"] = timedelta(hours=28)
    assert health(api)["balance_status"] is True


def test_a_run_of_one_customer_does_not_refresh_a_stale_check(api):
    customer = CustomerFactory()
    jobs.enqueue_nightly()
    moved_back(27)
    run(RunMode.FIX, scope=scope_for([customer.code]))
    assert health(api)["data"]["checks"]["customer_wallet"]["status"] == "stale"


def test_what_the_last_full_run_found_shows_through_the_runs_of_some_customers_since(api):
    jobs.enqueue_nightly()
    customer, other = CustomerFactory(), CustomerFactory()
    wallet.recharge(customer, D("100000"))
    corrupt("customers", "balance", customer.id, "5")
    found = run(RunMode.VERIFY)
    for _ in range(3):
        run(RunMode.FIX, scope=scope_for([other.code]))
    check = health(api)["data"]["checks"]["customer_wallet"]
    assert (check["status"], check["run_id"], check["mismatched"], check["left"]) == ("mismatched", found.id, 1, 1)
    assert check["last_success_at"] == as_utc(found.finished_at).isoformat()
    assert health(api)["data"]["checks"]["balance_sheet"]["run_id"] == found.id


def test_a_failed_full_run_is_no_success(api):
    run(RunMode.VERIFY)
    with past_the_guards() as connection:
        connection.execute(sa.update(ReconciliationRun).values(status="failed"))
    check = health(api)["data"]["checks"]["customer_wallet"]
    assert check["status"] == "stale" and check["last_success_at"] is None
    assert "customer_wallet: no run over everything has succeeded." in health(api)["data"]["reasons"]


def test_a_heal_leaves_nothing_while_mismatched_keeps_what_was_found(api):
    jobs.enqueue_nightly()
    customer = CustomerFactory()
    wallet.recharge(customer, D("100000"))
    corrupt("customers", "balance", customer.id, "5")
    run(RunMode.VERIFY, checks=["customer_wallet"])
    found = health(api)
    assert found["balance_status"] is False
    assert found["data"]["checks"]["customer_wallet"] | {"last_run_at": None, "last_success_at": None} == {
        "status": "mismatched",
        "last_run_at": None,
        "last_success_at": None,
        "run_id": found["data"]["checks"]["customer_wallet"]["run_id"],
        "checked": 1,
        "mismatched": 1,
        "left": 1,
    }
    assert "customer_wallet: the last full run found 1 mismatched, not fixed yet." in found["data"]["reasons"]
    samples = metrics(api)
    assert samples['backoffice_reconcile_checked{check="customer_wallet"}'] == 1
    assert samples['backoffice_reconcile_mismatched{check="customer_wallet"}'] == 1
    assert samples['backoffice_reconcile_left{check="customer_wallet"}'] == 1
    run(RunMode.FIX, checks=["customer_wallet"])
    healed = health(api)
    assert healed["balance_status"] is True
    check = healed["data"]["checks"]["customer_wallet"]
    assert (check["status"], check["mismatched"], check["left"]) == ("ok", 1, 0)
    samples = metrics(api)
    assert samples['backoffice_reconcile_mismatched{check="customer_wallet"}'] == 1
    assert samples['backoffice_reconcile_left{check="customer_wallet"}'] == 0


def test_what_a_fix_could_not_heal_is_left(api):
    jobs.enqueue_nightly()
    customer = CustomerFactory()
    wallet.recharge(customer, D("1000"))
    second = wallet.charge(customer, D("100"))
    with past_the_guards() as connection:
        connection.execute(
            sa.text("UPDATE balance_transactions SET balance_before = 950, balance_after = 850 WHERE id = :id"),
            {"id": second.id},
        )
    run(RunMode.FIX, checks=["ledger_chain"])
    answer = health(api)
    assert answer["balance_status"] is False
    assert answer["data"]["checks"]["ledger_chain"]["status"] == "left"
    assert "ledger_chain: the last full run's fix left 1 mismatched." in answer["data"]["reasons"]
    assert metrics(api)['backoffice_reconcile_left{check="ledger_chain"}'] == 1


def test_the_oldest_pending_recalculation_gives_its_age(api):
    assert metrics(api)["backoffice_recalculation_pending_oldest_age_seconds"] == 0
    customer = CustomerFactory()
    for hours in (3, 1):
        db.session.add(
            RecalculationRequest(
                customer_id=customer.id,
                from_date=utcnow().date(),
                reason=RecalculationReason.DEFERRED,
                requested_at=utcnow() - timedelta(hours=hours),
            )
        )
    db.session.commit()
    samples = metrics(api)
    assert samples["backoffice_recalculations_pending"] == 2
    assert samples["backoffice_recalculation_pending_oldest_age_seconds"] == pytest.approx(3 * 3600, abs=60)


def test_request_latency_is_a_histogram_by_method_endpoint_and_status_class(api, client):
    health(api)
    client.get("/no-such-page")
    samples = metrics(api)
    assert (
        samples['backoffice_request_duration_seconds_count{endpoint="api.health_check",method="GET",status="2xx"}'] == 1
    )
    assert (
        samples[
            'backoffice_request_duration_seconds_bucket{endpoint="api.health_check",le="+Inf",method="GET",status="2xx"}'
        ]
        == 1
    )
    assert samples['backoffice_request_duration_seconds_count{endpoint="unmatched",method="GET",status="4xx"}'] == 1


def test_a_streamed_export_s_latency_is_counted_once_when_it_is_sent(api, client, auth):
    auth.login("finance")
    response = client.get("/orders/export.csv")
    assert response.is_streamed
    response.get_data()
    response.close()
    samples = metrics(api)
    assert samples['backoffice_request_duration_seconds_count{endpoint="orders.export",method="GET",status="2xx"}'] == 1


def test_job_durations_are_counted_as_jobs_end_and_failures_come_from_job_records(api, monkeypatch):
    OrderFactory()
    clock = StillClock()
    monkeypatch.setattr(running, "utcnow", clock)
    monkeypatch.setattr(running, "_run", clock.taking(90, running._run))
    jobs.enqueue("verify")
    monkeypatch.setattr(running, "_run", clock.taking(3, broken))
    failed, _ = jobs.enqueue("rebuild")
    assert failed.status is JobStatus.FAILED
    samples = metrics(api)
    assert samples['backoffice_job_duration_seconds_count{kind="verify"}'] == 1
    assert samples['backoffice_job_duration_seconds_sum{kind="verify"}'] == pytest.approx(90, abs=0.01)
    assert samples['backoffice_job_duration_seconds_bucket{kind="verify",le="60.0"}'] == 0
    assert samples['backoffice_job_duration_seconds_bucket{kind="verify",le="300.0"}'] == 1
    assert samples['backoffice_job_duration_seconds_bucket{kind="verify",le="+Inf"}'] == 1
    assert samples['backoffice_job_duration_seconds_bucket{kind="rebuild",le="5.0"}'] == 1
    assert samples['backoffice_job_duration_seconds_count{kind="monthly_rebuild"}'] == 0
    assert samples['backoffice_jobs_failed{kind="rebuild"}'] == 1
    assert samples['backoffice_jobs_failed{kind="verify"}'] == 0
    moved_back(25)
    assert metrics(api)['backoffice_jobs_failed{kind="rebuild"}'] == 0


def test_under_several_processes_a_scrape_adds_up_every_process_latencies(app, api, tmp_path, monkeypatch):
    from prometheus_client import Histogram, values

    # The app reads the directory with its settings; the client, from the environment, where each value writes.
    monkeypatch.setitem(app.config, "PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    # The client picks its value class when first imported; gunicorn's processes import it with the variable set.
    monkeypatch.setattr(values, "ValueClass", values.MultiProcessValue(lambda: 4242))
    another_process = Histogram(
        "backoffice_request_duration_seconds", "Time to answer", ["method", "endpoint", "status"], registry=None
    )
    another_process.labels(method="GET", endpoint="api.health_check", status="2xx").observe(0.2)
    monkeypatch.setattr(values, "ValueClass", values.MultiProcessValue())
    app.extensions.pop("backoffice.request_duration", None)
    health(api)
    samples = metrics(api)
    labels = 'endpoint="api.health_check",method="GET",status="2xx"'
    assert samples[f"backoffice_request_duration_seconds_count{{{labels}}}"] == 2
    assert "histogram_4242.db" in {path.name for path in tmp_path.iterdir()}
    assert samples['backoffice_reconcile_stale{check="customer_wallet"}'] == 1


EXPORTED = {
    "backoffice_request_duration_seconds": (
        "histogram",
        "Time to answer a request, by method, endpoint (the view's name) and status class",
        {"method", "endpoint", "status"},
    ),
    "backoffice_request_duration_seconds_created": (
        "gauge",
        "Time to answer a request, by method, endpoint (the view's name) and status class",
        {"method", "endpoint", "status"},
    ),
    "backoffice_reconcile_checked": (
        "gauge",
        "Entities the latest run of the check checked (mismatched / checked: the share found wrong)",
        {"check"},
    ),
    "backoffice_reconcile_mismatched": ("gauge", "Entities the latest run of the check found mismatched", {"check"}),
    "backoffice_reconcile_left": (
        "gauge",
        "Entities the latest run of the check left mismatched (not fixed)",
        {"check"},
    ),
    "backoffice_reconcile_last_run_timestamp_seconds": (
        "gauge",
        "When the latest run of the check finished",
        {"check"},
    ),
    "backoffice_reconcile_run_duration_seconds": ("gauge", "How long the check took in its latest run", {"check"}),
    "backoffice_reconcile_last_success_timestamp_seconds": (
        "gauge",
        "When the latest full run of the check that succeeded finished",
        {"check"},
    ),
    "backoffice_reconcile_stale": (
        "gauge",
        "1 when no full run of the check succeeded within the maximum age (or ever), else 0",
        {"check"},
    ),
    "backoffice_nightly_last_success_timestamp_seconds": (
        "gauge",
        "When the latest nightly maintenance that succeeded finished",
        set(),
    ),
    "backoffice_nightly_duration_seconds": (
        "gauge",
        "How long the latest nightly maintenance that succeeded took, from its start to its end",
        set(),
    ),
    "backoffice_nightly_rows_verified": (
        "gauge",
        "Rows the checks of the latest nightly maintenance that succeeded verified, the seals among them",
        set(),
    ),
    "backoffice_nightly_swept_ratio": (
        "gauge",
        "The part of the history the sweep of the latest nightly maintenance that succeeded verified "
        "(1/BACKOFFICE_SEAL_SWEEP_DAYS; 1: all of it)",
        set(),
    ),
    "backoffice_nightly_swept_rows": (
        "gauge",
        "Rows of the history the sweep of the latest nightly maintenance that succeeded verified",
        set(),
    ),
    "backoffice_nightly_stale": (
        "gauge",
        "1 when no nightly maintenance succeeded within the maximum age (or ever), else 0",
        set(),
    ),
    "backoffice_health_max_age_seconds": (
        "gauge",
        "The age past which a check or the nightly maintenance is stale (BACKOFFICE_HEALTH_MAX_AGE_HOURS)",
        set(),
    ),
    "backoffice_recalculations_pending": ("gauge", "Recalculation requests waiting for a job", set()),
    "backoffice_recalculation_pending_oldest_age_seconds": (
        "gauge",
        "How long the oldest recalculation request still waiting has waited (0: none waits)",
        set(),
    ),
    "backoffice_replica_lag_seconds": (
        "gauge",
        "How far the read replica is behind the primary (NaN: unknown, it cannot be reached)",
        set(),
    ),
    "backoffice_replica_max_lag_seconds": (
        "gauge",
        "The lag past which reads go to the primary (BACKOFFICE_READ_MAX_LAG_SECONDS)",
        set(),
    ),
    "backoffice_replica_receiving": (
        "gauge",
        "1 when the read replica is a standby receiving the primary's changes, else 0 (down, stopped or promoted)",
        set(),
    ),
    "backoffice_replica_serving": ("gauge", "1 when the read replica serves the reads, else 0", set()),
    "backoffice_balance_sheet_valid": (
        "gauge",
        "1 when assets = liabilities + equity + current earnings, else 0",
        set(),
    ),
    "backoffice_job_duration_seconds": (
        "histogram",
        "How long the jobs that finished or failed ran, by kind (each attempt, counted as it ended)",
        {"kind"},
    ),
    "backoffice_jobs_failed": (
        "gauge",
        "Jobs that failed or were abandoned in the last 24 hours, by kind (from the job records)",
        {"kind"},
    ),
    "backoffice_evidence_anchor_info": (
        "gauge",
        "The latest nightly anchor of the sealed chains: its date and the SHA-256 digest of their heads",
        {"date", "digest"},
    ),
    "backoffice_evidence_anchor_chains": ("gauge", "Chains of sealed evidence the latest anchor holds", set()),
    "backoffice_evidence_anchor_timestamp_seconds": ("gauge", "When the latest anchor was taken", set()),
}
"""Each family ``/metrics`` writes once a request was answered and a nightly ran, as Prometheus parses it: its
type, its help and its samples' labels (``le`` aside). One process writes when each series of its request histogram
was made (``_created``); several processes, adding up their samples, do not."""


def test_a_scrape_parses_to_every_family_with_its_type_help_and_labels(api):
    OrderFactory()
    record, _ = jobs.enqueue_nightly()
    assert record.status is JobStatus.FINISHED, record.error
    health(api)
    text = api("/metrics").get_data(as_text=True)
    parsed = {
        family.name: (
            family.type,
            family.documentation,
            {label for sample in family.samples for label in sample.labels if label != "le"},
        )
        for family in text_string_to_metric_families(text)
    }
    assert parsed == EXPORTED
    samples = metrics(api)
    assert samples['backoffice_job_duration_seconds_count{kind="nightly_maintenance"}'] == 1
    assert samples['backoffice_reconcile_mismatched{check="customer_wallet"}'] == 0
    assert samples["backoffice_evidence_anchor_chains"] >= 1


@pytest.mark.production_path("real workers")
def test_stale_until_a_real_worker_runs_the_nightly_then_ok_with_its_duration(app, api, redis_url):
    OrderFactory()
    assert health(api)["data"]["nightly_maintenance"]["status"] == "never run"
    record, created = jobs.enqueue_nightly()
    assert created and record.status is JobStatus.QUEUED
    assert metrics(api)["backoffice_nightly_stale"] == 1

    run_worker(app, redis_url)

    answer = health(api)
    assert answer["balance_status"] is True and answer["data"]["nightly_maintenance"]["status"] == "ok"
    samples = metrics(api)
    assert samples["backoffice_nightly_stale"] == 0
    assert samples['backoffice_reconcile_stale{check="customer_wallet"}'] == 0
    assert samples['backoffice_job_duration_seconds_count{kind="nightly_maintenance"}'] == 1
    # Its run split into jobs, its last chunk's job ends it with its figures.
    db.session.refresh(record)
    assert record.result["duration_seconds"] == pytest.approx(record.duration_seconds) and record.duration_seconds > 0
    results = db.session.get(ReconciliationRun, record.run_id).results
    verified = sum(result.checked for result in results)
    assert record.result["rows_verified"] == verified > 0
    nightly = answer["data"]["nightly_maintenance"]
    assert (nightly["duration_seconds"], nightly["rows_verified"]) == (record.result["duration_seconds"], verified)
    assert samples["backoffice_nightly_duration_seconds"] == pytest.approx(record.duration_seconds)
    assert samples["backoffice_nightly_rows_verified"] == verified
    # The first night, no anchor to start from: its sweep verified every seal.
    seals = next(result.checked for result in results if result.check == "evidence_seals")
    assert (record.result["swept_share"], record.result["swept_rows"]) == (1, seals)
    assert (samples["backoffice_nightly_swept_ratio"], samples["backoffice_nightly_swept_rows"]) == (1, seals)


def test_the_job_histogram_is_the_one_the_job_records_make_after_each_kind_of_run(api, monkeypatch):
    customer = CustomerFactory()
    OrderFactory(customer=customer)
    jobs.enqueue("verify")
    jobs.enqueue("verify", {"fix": True})
    jobs.enqueue("rebuild")
    jobs.enqueue("recalculate_customer", {"customer_id": customer.id})
    monkeypatch.setattr(running, "_run", broken)
    failed, _ = jobs.enqueue("verify")
    assert failed.status is JobStatus.FAILED
    assert job_histogram(metrics(api)) == from_the_records()


@pytest.mark.production_path("real workers")
def test_the_job_histogram_counts_the_runs_split_into_jobs_as_they_end(app, api, redis_url):
    OrderFactory()
    jobs.enqueue("verify")
    jobs.enqueue("verify", {"fix": True})
    run_worker(app, redis_url)
    ended = db.session.scalars(sa.select(JobRecord)).all()
    assert {record.status for record in ended} == {JobStatus.FINISHED}
    assert job_histogram(metrics(api)) == from_the_records()
    assert metrics(api)['backoffice_job_duration_seconds_count{kind="verify"}'] == 2


def test_an_upgraded_installation_reports_the_job_histogram_its_records_made(app, api):
    """Before this revision the scrape counted the job records; the upgrade fills the buckets from them."""
    db.session.remove()
    register_migrations(app)
    try:
        downgrade(revision="0026")
        with db.engine.begin() as connection:
            connection.execute(sa.insert(JobRecord.__table__), history())
    finally:
        upgrade()
    samples = metrics(api)
    assert job_histogram(samples) == from_the_records()
    assert samples['backoffice_job_duration_seconds_bucket{kind="verify",le="1.0"}'] == 1
    assert samples['backoffice_job_duration_seconds_bucket{kind="verify",le="60.0"}'] == 2
    assert samples['backoffice_job_duration_seconds_bucket{kind="verify",le="300.0"}'] == 4
    assert samples['backoffice_job_duration_seconds_count{kind="verify"}'] == 5
    assert samples['backoffice_job_duration_seconds_sum{kind="verify"}'] == pytest.approx(7351.750001)
    assert samples['backoffice_job_duration_seconds_bucket{kind="nightly_maintenance",le="60.0"}'] == 1
    assert samples['backoffice_job_duration_seconds_bucket{kind="nightly_maintenance",le="21600.0"}'] == 1
    assert samples['backoffice_job_duration_seconds_count{kind="nightly_maintenance"}'] == 2
    assert samples['backoffice_job_duration_seconds_count{kind="rebuild"}'] == 0
    jobs.enqueue("verify")
    assert metrics(api)['backoffice_job_duration_seconds_count{kind="verify"}'] == 6


def history() -> list[dict]:
    """Job records as an installation keeps them: jobs that finished or failed (one that never started), one
    abandoned, one running, one of a kind no longer run."""
    ended_at = utcnow() - timedelta(days=3)
    rows = [
        ("finished", "verify", 60.25),
        ("finished", "verify", 1.5),
        ("failed", "verify", 0.000001),
        ("finished", "verify", 90),
        ("finished", "verify", 7200),
        ("abandoned", "rebuild", 30),
        ("failed", "rebuild", None),
        ("started", "rebuild", 10),
        ("finished", "nightly_maintenance", 60),
        ("finished", "nightly_maintenance", 21600.5),
        ("finished", "a_kind_no_longer_run", 5),
    ]
    return [
        {
            "id": f"history-{number}",
            "kind": kind,
            "args": {},
            "queue": "recalc",
            "status": status,
            "progress": 0,
            "message": "",
            "in_process": False,
            "attempts": 1,
            "enqueued_at": ended_at - timedelta(days=1),
            "started_at": None if seconds is None else ended_at - timedelta(seconds=seconds),
            "ended_at": None if status == "started" else ended_at,
        }
        for number, (status, kind, seconds) in enumerate(rows)
    ]


def job_histogram(samples: dict[str, float]) -> dict[str, float]:
    return {key: value for key, value in samples.items() if key.startswith("backoffice_job_duration_seconds")}


def from_the_records() -> dict[str, float]:
    """The job duration histogram the job records make: every job that finished or failed, by kind."""
    db.session.rollback()
    durations: dict[str, list[timedelta]] = {kind: [] for kind in jobs.KINDS}
    for record in db.session.scalars(sa.select(JobRecord)):
        ended = record.status in (JobStatus.FINISHED, JobStatus.FAILED) and record.started_at and record.ended_at
        if ended and record.kind in durations:
            durations[record.kind].append(as_utc(record.ended_at) - as_utc(record.started_at))
    expected = {}
    for kind, ran in durations.items():
        for bound in DURATION_BUCKETS:
            within = sum(duration <= timedelta(seconds=bound) for duration in ran)
            expected[f'backoffice_job_duration_seconds_bucket{{kind="{kind}",le="{float(bound)}"}}'] = within
        expected[f'backoffice_job_duration_seconds_bucket{{kind="{kind}",le="+Inf"}}'] = len(ran)
        expected[f'backoffice_job_duration_seconds_count{{kind="{kind}"}}'] = len(ran)
        seconds = sum(ran, timedelta()).total_seconds()
        expected[f'backoffice_job_duration_seconds_sum{{kind="{kind}"}}'] = pytest.approx(seconds, abs=1e-6)
    return expected


def test_outside_production_health_and_metrics_answer_at_once_to_the_printed_token(app, runner):
    token = app.config["API_TOKEN"]  # the test app is given none: it is the one made into the instance folder
    assert token and (Path(app.instance_path) / "api_token").read_text().strip() == token
    printed = runner.invoke(args=["api-token", "--url", "http://127.0.0.1:5000"])
    assert printed.exit_code == 0, printed.output
    assert f"): {token}\n" in printed.output and str(Path(app.instance_path) / "api_token") in printed.output
    assert " health --url http://127.0.0.1:5000\n" in printed.output
    assert f'curl -H "Authorization: Bearer {token}" http://127.0.0.1:5000/metrics\n' in printed.output
    client = app.test_client()
    assert client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    answer = client.get("/admin/balance-health/check", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert answer["balance_status"] is False
    assert "The nightly maintenance has never finished." in answer["data"]["reasons"]
    app.config["API_TOKEN"] = None  # production without BACKOFFICE_API_TOKEN
    untold = runner.invoke(args=["api-token"])
    assert untold.exit_code == 2 and "BACKOFFICE_API_TOKEN is not set" in untold.output


def forge_a_clean_run() -> int:
    """A run written by SQL as the runtime role may write one: running, a clean result for every check, then
    "succeeded". Its id."""
    run_id = db.session.execute(
        sa.text(
            "INSERT INTO reconciliation_runs (mode, trigger, scope, checks, status, started_at)"
            " VALUES ('fix', 'schedule', '{}', '[]', 'running', CURRENT_TIMESTAMP) RETURNING id"
        )
    ).scalar_one()
    for name in CHECKS:
        db.session.execute(
            sa.text(
                'INSERT INTO reconciliation_check_results (run_id, "check", checked, mismatched, fixed, totals,'
                " duration_ms) VALUES (:r, :c, 1, 0, 0, '{}', 1)"
            ),
            {"r": run_id, "c": name},
        )
    db.session.execute(
        sa.text("UPDATE reconciliation_runs SET status = 'succeeded', finished_at = CURRENT_TIMESTAMP WHERE id = :r"),
        {"r": run_id},
    )
    db.session.commit()
    return run_id


def test_a_forged_latest_run_makes_the_balances_untrusted(api):
    customer = CustomerFactory()
    wallet.recharge(customer, D("1000"))
    jobs.enqueue_nightly()
    assert health(api)["balance_status"] is True

    forged = forge_a_clean_run()

    answer = health(api)
    assert answer["balance_status"] is False
    assert any(
        reason.startswith(f"Reconciliation run #{forged} carries no valid seal") for reason in answer["data"]["reasons"]
    )


def test_a_nightly_job_marked_finished_by_sql_is_no_success(app, api):
    forged = forge_a_clean_run()
    db.session.add(
        JobRecord(id="nightly-forged", kind="nightly_maintenance", queue="maintenance", status=JobStatus.QUEUED)
    )
    db.session.commit()
    db.session.execute(
        sa.text("UPDATE jobs SET status = 'started', started_at = CURRENT_TIMESTAMP WHERE id = 'nightly-forged'")
    )
    db.session.execute(
        sa.text(
            "UPDATE jobs SET status = 'finished', ended_at = CURRENT_TIMESTAMP, run_id = :r WHERE id = 'nightly-forged'"
        ),
        {"r": forged},
    )
    db.session.commit()

    assert jobs.last_success("nightly_maintenance") is None
    assert health(api)["data"]["nightly_maintenance"]["status"] == "never run"


def test_without_a_read_replica_the_health_check_says_every_read_goes_to_the_primary(api):
    assert health(api)["data"]["replica"] == {
        "state": "none",
        "lag_seconds": None,
        "max_lag_seconds": 30.0,
        "reads_from": "primary",
        "said": "No read replica is set: every read goes to the primary.",
    }
    exposed = api("/metrics").get_data(as_text=True)
    assert "# TYPE backoffice_replica_lag_seconds gauge\n" in exposed
    assert "\nbackoffice_replica_lag_seconds " not in exposed  # no replica, no sample: no alert fires
