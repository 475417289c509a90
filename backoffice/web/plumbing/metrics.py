"""The Prometheus metrics ``/metrics`` exports.

Request latency is observed by the web process that answers: under several processes (gunicorn's workers), set
``PROMETHEUS_MULTIPROC_DIR`` to an empty directory and a scrape adds them all up. Everything else is read at scrape
time, from the database or the latest anchor's file, so it is the same whichever process answers. Jobs are labelled
``kind``, as Prometheus gives ``job`` to the scrape target.
"""

from __future__ import annotations

import math
import time
from datetime import datetime, timedelta
from itertools import accumulate

from flask import Flask, current_app, request
from sqlalchemy import bindparam, func, select

from backoffice.evidence import anchors
from backoffice.jobs import KINDS
from backoffice.models import DURATION_BUCKETS, JobDurationBucket, JobRecord, JobStatus
from backoffice.models.types import utcnow
from backoffice.operations.health import Health, NightlyFigures
from backoffice.platform.extensions import db
from backoffice.platform.replica import Replica, State
from backoffice.web.plumbing import request_log

FAILED_WITHIN = timedelta(hours=24)


def init_app(app: Flask) -> None:
    app.after_request(_observe)


def exposition(health: Health) -> tuple[bytes, str]:
    """The metrics as Prometheus' text format, and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    if directory := current_app.config["PROMETHEUS_MULTIPROC_DIR"]:
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry, path=directory)
    else:
        registry.register(_request_duration())
    registry.register(_HealthCollector(health))
    registry.register(_JobCollector())
    registry.register(_AnchorCollector())
    return generate_latest(registry), CONTENT_TYPE_LATEST


def _observe(response):
    """The request's time, from the clock its log line reads: to the end of what it sends, as its line is."""
    started = request_log.started()
    if started is None:
        return response
    sample = _request_duration().labels(
        method=request.method, endpoint=request.endpoint or "unmatched", status=f"{response.status_code // 100}xx"
    )

    def observe() -> None:
        sample.observe(time.perf_counter() - started)

    if response.is_streamed:
        response.call_on_close(observe)
    else:
        observe()
    return response


def _request_duration():
    """The app's request histogram, made on its first request: the command line and the workers never import
    the client."""
    histogram = current_app.extensions.get("backoffice.request_duration")
    if histogram is None:
        from prometheus_client import Histogram

        histogram = Histogram(
            "backoffice_request_duration_seconds",
            "Time to answer a request, by method, endpoint (the view's name) and status class",
            ["method", "endpoint", "status"],
            registry=None,
        )
        current_app.extensions["backoffice.request_duration"] = histogram
    return histogram


class _AnchorCollector:
    """The latest anchor of the sealed chains, read from its file (``backoffice.evidence.anchors``), not from the
    database."""

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily

        anchored = anchors.latest()
        if anchored is None:
            return
        yield InfoMetricFamily(
            "backoffice_evidence_anchor",
            "The latest nightly anchor of the sealed chains: its date and the SHA-256 digest of their heads",
            value={"date": anchored.day, "digest": anchored.digest},
        )
        yield GaugeMetricFamily(
            "backoffice_evidence_anchor_chains",
            "Chains of sealed evidence the latest anchor holds",
            value=anchored.chains,
        )
        yield GaugeMetricFamily(
            "backoffice_evidence_anchor_timestamp_seconds",
            "When the latest anchor was taken",
            value=datetime.fromisoformat(anchored.at).timestamp(),
        )


class _HealthCollector:
    def __init__(self, health: Health) -> None:
        self.health = health

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        health = self.health
        by_check = {
            "checked": (
                "backoffice_reconcile_checked",
                "Entities the latest run of the check checked (mismatched / checked: the share found wrong)",
            ),
            "mismatched": ("backoffice_reconcile_mismatched", "Entities the latest run of the check found mismatched"),
            "left": ("backoffice_reconcile_left", "Entities the latest run of the check left mismatched (not fixed)"),
            "last_run": (
                "backoffice_reconcile_last_run_timestamp_seconds",
                "When the latest run of the check finished",
            ),
            "duration": ("backoffice_reconcile_run_duration_seconds", "How long the check took in its latest run"),
            "last_success": (
                "backoffice_reconcile_last_success_timestamp_seconds",
                "When the latest full run of the check that succeeded finished",
            ),
            "stale": (
                "backoffice_reconcile_stale",
                "1 when no full run of the check succeeded within the maximum age (or ever), else 0",
            ),
        }
        families = {key: GaugeMetricFamily(name, text, labels=["check"]) for key, (name, text) in by_check.items()}
        for check in health.checks:
            s = check.status
            families["stale"].add_metric([s.check], int(check.state.stale))
            if s.last_success_at is not None:
                families["last_success"].add_metric([s.check], s.last_success_at.timestamp())
            if s.run_id is None:
                continue
            families["checked"].add_metric([s.check], s.checked)
            families["mismatched"].add_metric([s.check], s.mismatched)
            families["left"].add_metric([s.check], s.left)
            families["last_run"].add_metric([s.check], s.last_run_at.timestamp() if s.last_run_at else 0)
            families["duration"].add_metric([s.check], s.duration_seconds or 0)
        yield from families.values()
        if health.nightly_last_success is not None:
            yield GaugeMetricFamily(
                "backoffice_nightly_last_success_timestamp_seconds",
                "When the latest nightly maintenance that succeeded finished",
                value=health.nightly_last_success.timestamp(),
            )
        yield from _nightly_families(health.nightly_figures)
        yield GaugeMetricFamily(
            "backoffice_nightly_stale",
            "1 when no nightly maintenance succeeded within the maximum age (or ever), else 0",
            value=int(health.nightly.stale),
        )
        yield GaugeMetricFamily(
            "backoffice_health_max_age_seconds",
            "The age past which a check or the nightly maintenance is stale (BACKOFFICE_HEALTH_MAX_AGE_HOURS)",
            value=health.max_age.total_seconds(),
        )
        yield GaugeMetricFamily(
            "backoffice_recalculations_pending",
            "Recalculation requests waiting for a job",
            value=health.pending.requests,
        )
        oldest = health.pending.oldest
        yield GaugeMetricFamily(
            "backoffice_recalculation_pending_oldest_age_seconds",
            "How long the oldest recalculation request still waiting has waited (0: none waits)",
            value=max((health.at - oldest).total_seconds(), 0) if oldest else 0,
        )
        yield from _replica_families(health.replica)
        yield GaugeMetricFamily(
            "backoffice_balance_sheet_valid",
            "1 when assets = liabilities + equity + current earnings, else 0",
            value=int(health.sheet.balanced),
        )


class _JobCollector:
    def collect(self):
        from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily

        durations = HistogramMetricFamily(
            "backoffice_job_duration_seconds",
            "How long the jobs that finished or failed ran, by kind (each attempt, counted as it ended)",
            labels=["kind"],
        )
        counted: dict[str, list[int]] = {kind: [0] * (len(DURATION_BUCKETS) + 1) for kind in KINDS}
        microseconds = dict.fromkeys(KINDS, 0)
        for kind, bucket, jobs, summed in db.session.execute(_DURATIONS):
            if kind in counted:
                counted[kind][bucket] = jobs
                microseconds[kind] += summed
        for kind, counts in counted.items():
            within = list(accumulate(counts))
            buckets = [*zip(_BOUNDS, within, strict=False), ("+Inf", within[-1])]
            durations.add_metric([kind], buckets, sum_value=microseconds[kind] / 1_000_000)
        yield durations
        failed = GaugeMetricFamily(
            "backoffice_jobs_failed",
            "Jobs that failed or were abandoned in the last 24 hours, by kind (from the job records)",
            labels=["kind"],
        )
        recent = dict(db.session.execute(_FAILED, {"since": utcnow() - FAILED_WITHIN}).all())
        for kind in KINDS:
            failed.add_metric([kind], recent.get(kind, 0))
        yield failed


_BOUNDS = [str(float(bound)) for bound in DURATION_BUCKETS]  # float-ok: seconds, as the client writes its bounds
"""The buckets' ``le`` labels, as Prometheus' client writes them."""

_DURATIONS = select(JobDurationBucket.__table__)

_jobs = JobRecord.__table__
_FAILED = (
    select(_jobs.c.kind, func.count())
    .where(_jobs.c.status.in_([JobStatus.FAILED, JobStatus.ABANDONED]), _jobs.c.ended_at >= bindparam("since"))
    .group_by(_jobs.c.kind)
)


def _nightly_families(figures: NightlyFigures):
    """What the latest nightly maintenance that succeeded did, each figure its job's result holds."""
    from prometheus_client.core import GaugeMetricFamily

    if figures.duration_seconds is not None:
        yield GaugeMetricFamily(
            "backoffice_nightly_duration_seconds",
            "How long the latest nightly maintenance that succeeded took, from its start to its end",
            value=figures.duration_seconds,
        )
    if figures.rows_verified is not None:
        yield GaugeMetricFamily(
            "backoffice_nightly_rows_verified",
            "Rows the checks of the latest nightly maintenance that succeeded verified, the seals among them",
            value=figures.rows_verified,
        )
    if figures.swept_share is not None:
        yield GaugeMetricFamily(
            "backoffice_nightly_swept_ratio",
            "The part of the history the sweep of the latest nightly maintenance that succeeded verified "
            "(1/BACKOFFICE_SEAL_SWEEP_DAYS; 1: all of it)",
            value=figures.swept_share,
        )
        yield GaugeMetricFamily(
            "backoffice_nightly_swept_rows",
            "Rows of the history the sweep of the latest nightly maintenance that succeeded verified",
            value=figures.swept_rows,
        )


def _replica_families(found: Replica):
    """The read replica's lag, the lag allowed, and whether it receives the primary's changes; no samples when no
    replica is set."""
    from prometheus_client.core import GaugeMetricFamily

    lag = GaugeMetricFamily(
        "backoffice_replica_lag_seconds",
        "How far the read replica is behind the primary (NaN: unknown, it cannot be reached)",
    )
    allowed = GaugeMetricFamily(
        "backoffice_replica_max_lag_seconds",
        "The lag past which reads go to the primary (BACKOFFICE_READ_MAX_LAG_SECONDS)",
    )
    receiving = GaugeMetricFamily(
        "backoffice_replica_receiving",
        "1 when the read replica is a standby receiving the primary's changes, else 0 (down, stopped or promoted)",
    )
    serving = GaugeMetricFamily("backoffice_replica_serving", "1 when the read replica serves the reads, else 0")
    if found.configured:
        lag.add_metric([], found.lag_seconds if found.lag_seconds is not None else math.nan)
        allowed.add_metric([], found.max_lag_seconds)
        receiving.add_metric([], int(found.state in (State.STREAMING, State.LAGGING)))
        serving.add_metric([], int(found.serving))
    return [lag, allowed, receiving, serving]
