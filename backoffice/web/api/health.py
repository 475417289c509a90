"""The operations API: balance health, auto-heal, the detailed report, and Prometheus metrics.

Callers authenticate with an admin session (POSTs then need the CSRF token, as any form) or
with ``Authorization: Bearer <BACKOFFICE_API_TOKEN>`` (no CSRF token: no browser sends it).
Anything else is answered 401 in JSON, never redirected to the login page.
"""

from __future__ import annotations

import hmac
from functools import wraps

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import CSRFError

from backoffice import jobs
from backoffice.jobs.messages import error_said, said
from backoffice.models import JobRecord, ReconciliationRun, RunTrigger
from backoffice.operations.health import assess, replica_said
from backoffice.platform.extensions import db
from backoffice.reconcile import engine, status
from backoffice.reconcile.locks import RunRefused
from backoffice.reconcile.report import discrepancy_dicts, iso, local_iso, plain
from backoffice.web.plumbing.errors import api_error
from backoffice.web.plumbing.extensions import csrf
from backoffice.web.plumbing.metrics import exposition
from backoffice.web.plumbing.request_log import identify

bp = Blueprint("api", __name__)

REPORT_LIMIT = 1000
"""Discrepancies per check in the detailed report; the run's CSV has them all."""


def api_view(view):
    @wraps(view)
    def guarded(*args, **kwargs):
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            if not _token_matches(header.removeprefix("Bearer ").strip()):
                return api_error(401, _("The bearer token is not valid."))
            identify("bearer token")
        elif current_user.is_authenticated and current_user.is_admin:
            if request.method == "POST":
                try:
                    csrf.protect()
                except CSRFError as error:
                    return api_error(400, _(error.description))  # Flask-WTF's words, in the catalogue
        else:
            return api_error(401, _("An admin session or 'Authorization: Bearer <token>' is required."))
        return view(*args, **kwargs)

    guarded.public = True
    guarded.api = True
    csrf.exempt(guarded)
    return guarded


@bp.get("/admin/balance-health/check")
@api_view
def health_check():
    health = assess()
    _end_read()
    sheet, pending = health.sheet, health.pending
    return jsonify(
        status="success",
        balance_status=health.valid,
        data={
            "is_valid": health.valid,
            "reasons": health.reasons,
            "max_age_hours": health.max_age.total_seconds() / 3600,
            "total_assets": plain(sheet.assets),
            "total_liabilities": plain(sheet.liabilities),
            "total_equity": plain(sheet.equity + sheet.earnings),
            "current_earnings": plain(sheet.earnings),
            "checks": {
                c.status.check: {
                    "status": c.state.value,
                    "last_run_at": iso(c.status.last_run_at),
                    "last_success_at": iso(c.status.last_success_at),
                    "run_id": c.status.run_id,
                    "checked": c.status.checked,
                    "mismatched": c.status.mismatched,
                    "left": c.status.left,
                }
                for c in health.checks
            },
            "nightly_maintenance": {
                "status": health.nightly.value,
                "last_success_at": iso(health.nightly_last_success),
                "duration_seconds": health.nightly_figures.duration_seconds,
                "rows_verified": health.nightly_figures.rows_verified,
                "swept_share": health.nightly_figures.swept_share,
                "swept_rows": health.nightly_figures.swept_rows,
            },
            "replica": {
                "state": health.replica.state.value,
                "lag_seconds": health.replica.lag_seconds,
                "max_lag_seconds": health.replica.max_lag_seconds,
                "reads_from": health.replica.reads_from,
                "said": replica_said(health.replica),
            },
            "pending_recalculations": {
                "requests": pending.requests,
                "customers": pending.customers,
                "oldest_requested_at": iso(pending.oldest),
            },
        },
    )


@bp.post("/admin/balance-health/auto-heal")
@api_view
def auto_heal():
    """An auto-heal (what the nightly reads, and all of a check that left a discrepancy), unless one or a maintenance
    is queued or running: 409 then, with its job and run."""

    def heal():
        args = {"date": jobs.local_today().isoformat()}
        record, created = jobs.enqueue("auto_heal", args, user=_session_user(), trigger=RunTrigger.API)
        if not created:
            raise jobs.maintaining(record.id, record.run_id)
        return record, created

    return _accepted(heal)


@bp.post("/admin/balance-health/scheduled-maintenance")
@api_view
def scheduled_maintenance():
    """A maintenance at each call (a monitor asks every few hours), unless one is queued or running: 409 then."""
    return _accepted(lambda: jobs.enqueue_maintenance(user=_session_user()))


@bp.get("/admin/jobs/<job_id>")
@api_view
def job_status(job_id: str):
    record = db.session.get(JobRecord, job_id)
    if record is None:
        return api_error(404, _("No job %(id)s.", id=job_id))
    return jsonify(status="success", data=_job_json(record))


@bp.get("/admin/balance-health/detailed-report")
@api_view
def detailed_report():
    checks = {}
    for s in status.latest():
        entry = {"run_id": s.run_id, "last_run_at": local_iso(s.last_run_at)}
        if s.run_id is not None:
            run = db.session.get(ReconciliationRun, s.run_id)
            entry |= {
                "mode": run.mode.value,
                "checked": s.checked,
                "mismatched": s.mismatched,
                "left": s.left,
                "discrepancies": discrepancy_dicts(
                    db.session.scalars(engine.discrepancies(s.run_id, s.check).limit(REPORT_LIMIT)).all()
                ),
            }
        checks[s.check] = entry
    return jsonify(status="success", data={"checks": checks})


@bp.get("/metrics")
@api_view
def metrics():
    body, content_type = exposition(assess())
    _end_read()
    return Response(body, content_type=content_type)


def _accepted(enqueue):
    """Answer 202 with the job and where to follow it; 503 when the queue cannot be reached, 409 when
    another run writes what the job would."""
    try:
        record, created = enqueue()
    except jobs.QueueUnavailable as error:
        return api_error(503, str(error))
    except RunRefused as refused:
        return api_error(409, str(refused), run_id=refused.run_id, job_id=refused.job_id)
    response = jsonify(
        status="accepted",
        job_id=record.id,
        created=created,
        status_url=url_for("api.job_status", job_id=record.id),
        data=_job_json(record),
    )
    response.status_code = 202
    response.headers["Location"] = url_for("api.job_status", job_id=record.id)
    return response


def _job_json(record: JobRecord) -> dict:
    return {
        "id": record.id,
        "kind": record.kind,
        "status": record.status.value,
        "progress": record.progress,
        "message": said(record.message),
        "in_process": record.in_process,
        "run_id": record.run_id,
        "result": record.result,
        "error": error_said(record.error) or None,
        "enqueued_at": local_iso(record.enqueued_at),
        "started_at": local_iso(record.started_at),
        "ended_at": local_iso(record.ended_at),
    }


def _end_read() -> None:
    """End a read that monitoring repeats every few seconds with a commit, not with the rollback closing the session
    would send. psycopg prepares a statement run five times on a connection, and forgets them all at a rollback:
    ended so, the polls' statements are planned again at each poll, which took half of the request."""
    db.session.commit()


def _token_matches(given: str) -> bool:
    expected = current_app.config["API_TOKEN"]
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def _session_user():
    return current_user if current_user.is_authenticated else None
