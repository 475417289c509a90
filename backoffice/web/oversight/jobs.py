"""Jobs: the history, a job's page and its live progress panel, and retrying what failed."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from backoffice import jobs
from backoffice.jobs.messages import error_said, said
from backoffice.models import JobRecord, JobStatus, Role, RunTrigger
from backoffice.platform.extensions import db
from backoffice.reconcile.locks import RunRefused
from backoffice.web.plumbing.auth import requires_role
from backoffice.web.plumbing.repricing import quarantined_waiting

bp = Blueprint("jobs", __name__, url_prefix="/jobs")


@bp.app_context_processor
def _job_helpers() -> dict:
    return {
        "job_title": jobs.title,
        "job_message": said,
        "job_error": error_said,
        "waiting_notice": _waiting_notice,
        "quarantined_waiting": quarantined_waiting,
    }


def _waiting_notice(record: JobRecord) -> str | None:
    """What someone waiting on a job no worker takes should know: an admin, which queue no worker serves; a clerk,
    whom to tell (the queues and the workers are an admin's words)."""
    notice = jobs.waiting_notice(record)
    if notice is None or current_user.is_admin:
        return notice
    return _("The background work that runs this job is not running; tell your administrator. The job runs once it is.")


def start(kind: str, args: dict, *, fallback: str):
    """Enqueue a job for the current user and answer with its progress panel (htmx) or page.

    When Redis cannot be reached, or another run writes what the job would, the user is told so
    and sent back to ``fallback``.
    """
    return _started(lambda: jobs.enqueue(kind, args, user=current_user, trigger=RunTrigger.USER), fallback=fallback)


def _started(enqueue, *, fallback: str):
    try:
        record, created = enqueue()
    except (jobs.QueueUnavailable, RunRefused) as error:
        message = str(error)
        if isinstance(error, jobs.QueueUnavailable) and not current_user.is_admin:
            message = _(
                "The background work cannot be reached, so the job was not started and nothing was changed; tell "
                "your administrator."
            )
        if request.headers.get("HX-Request"):
            status = 409 if isinstance(error, RunRefused) else 503
            return render_template("jobs/_unavailable.html", message=message), status
        flash(message, "error")
        return redirect(fallback)
    if request.headers.get("HX-Request"):
        return _panel(record, already=not created)
    if not created:
        flash(_("The same job was already queued or running: here it is."), "info")
    return redirect(url_for("jobs.show", job_id=record.id))


@bp.get("")
def index():
    page = db.paginate(
        select(JobRecord).order_by(JobRecord.enqueued_at.desc(), JobRecord.id.desc()), per_page=50, error_out=False
    )
    return render_template("jobs/index.html", page=page)


@bp.get("/<job_id>")
def show(job_id: str):
    return render_template("jobs/show.html", job=_get(job_id))


@bp.get("/<job_id>/panel")
def panel(job_id: str):
    return _panel(_get(job_id), already=False)


def _panel(record: JobRecord, *, already: bool) -> Response:
    """The job's progress panel; once the job has ended, with the ``job-ended`` event, on which the page showing
    the panel refreshes what the job changed (the reconciliation page its runs)."""
    response = make_response(render_template("jobs/_panel.html", job=record, already=already))
    if not record.status.active:
        response.headers["HX-Trigger"] = "job-ended"
    return response


@bp.post("/<job_id>/retry")
@requires_role(Role.ADMIN)
def retry(job_id: str):
    record = _get(job_id)
    if record.status not in (JobStatus.FAILED, JobStatus.ABANDONED):
        abort(409)
    args = {k: v for k, v in record.args.items() if k != "trigger"}
    return start(record.kind, args, fallback=url_for("jobs.index"))


@bp.post("/nightly")
@requires_role(Role.ADMIN)
def run_nightly():
    """Today's nightly maintenance, now: the job the scheduler enqueues, once a day however often it is asked (one
    that failed or was abandoned is attempted again)."""
    return _started(
        lambda: jobs.enqueue_nightly(again_after_failure=True, user=current_user, trigger=RunTrigger.USER),
        fallback=url_for("home.index"),
    )


def _get(job_id: str) -> JobRecord:
    """The job's row; queued, but lost by the queue, it is marked abandoned first, so it can be retried."""
    record = db.session.get(JobRecord, job_id)
    if record is None:
        abort(404)
    jobs.release_if_lost(record)
    return record
