"""What a signed-in user is told and what they asked: their notices (the header counts the unread on every page) and
their own approval requests with each decision.

A notice is said here, in the reader's language, from its kind and its facts; opening it (a POST, as every change
is) marks it read and leads to what it tells. A user reaches only their own notices and requests: another's notice
is not found (404).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from backoffice import jobs
from backoffice.models import ApprovalKind, ApprovalRequest, JobRecord, Notice, NoticeKind, User
from backoffice.platform.extensions import LARGEST_ROW_NUMBER, db
from backoffice.services import approvals, notices
from backoffice.web.plumbing.filters import money, person

bp = Blueprint("notices", __name__)

SHOWN = 50
"""Notices, or requests, a page shows."""


@bp.app_context_processor
def _unread_notices() -> dict:
    """The header's count of the reader's unread notices, read once a page: "99+" beyond what is counted; none:
    empty."""

    def unread_notices() -> str:
        if not current_user.is_authenticated:
            return ""
        if "unread_notices" not in g:
            unread = notices.unread(current_user.id)
            g.unread_notices = f"{notices.COUNTED - 1}+" if unread >= notices.COUNTED else str(unread or "")
        return g.unread_notices

    return {"unread_notices": unread_notices}


@bp.get("/notices")
def index():
    """The reader's notices, newest first, a page at a time (``?before=`` the last one shown)."""
    before = _before()
    shown, older = notices.page(current_user.id, before=before, size=SHOWN)
    return render_template(
        "notices/index.html",
        notices=shown,
        said=_sentences(shown),
        older=shown[-1].id if older else None,
        paged=before is not None,
    )


@bp.post("/notices/<int:notice_id>/open")
def open_notice(notice_id: int):
    """Mark the reader's notice read and lead to what it tells; another's, or none, is not found."""
    if notice_id > LARGEST_ROW_NUMBER or (target := notices.opened(current_user.id, notice_id)) is None:
        abort(404)
    return redirect(_on_this_site(target))


@bp.post("/notices/read")
def read_all():
    notices.read_all(current_user.id)
    flash(_("Every notice is marked read."), "success")
    return redirect(url_for("notices.index"))


@bp.get("/approvals/mine")
def mine():
    """The reader's own approval requests, newest first, a page at a time, each with its state and its decision."""
    before = _before()
    query = select(ApprovalRequest).where(ApprovalRequest.requested_by_id == current_user.id)
    if before is not None:
        query = query.where(ApprovalRequest.id < before)
    found = list(
        db.session.scalars(
            query.options(
                selectinload(ApprovalRequest.decided_by),
                selectinload(ApprovalRequest.first_approved_by),
                selectinload(ApprovalRequest.customer),
            )
            .order_by(ApprovalRequest.id.desc())
            .limit(SHOWN + 1)
        )
    )
    shown = found[:SHOWN]
    return render_template(
        "notices/mine.html",
        requests=shown,
        waits=approvals.waits_because(shown),
        older=shown[-1].id if len(found) > SHOWN else None,
        paged=before is not None,
    )


def _on_this_site(target: str) -> str:
    """A notice's path in this application; anything else (a row written past it) leads back to the notices."""
    parts = urlsplit(target)
    if target.startswith("/") and not target.startswith(("//", "/\\")) and not parts.scheme and not parts.netloc:
        return target
    return url_for("notices.index")


def _before() -> int | None:
    """The id the page starts below (``?before=``); none, or one that cannot be an id: the newest."""
    before = request.args.get("before", type=int)
    return before if before is not None and 0 < before <= LARGEST_ROW_NUMBER else None


def _sentences(shown: list[Notice]) -> dict[int, str]:
    """Each notice said in the reader's language, the people and jobs it names read at once."""
    user_ids = {notice.facts.get("by") for notice in shown} - {None}
    job_ids = {notice.facts["job"] for notice in shown if "job" in notice.facts}
    users = {user.id: user for user in db.session.scalars(select(User).where(User.id.in_(user_ids)))}
    records = {record.id: record for record in db.session.scalars(select(JobRecord).where(JobRecord.id.in_(job_ids)))}
    return {notice.id: _said(notice, users, records) for notice in shown}


def _said(notice: Notice, users: dict[int, User], records: dict[str, JobRecord]) -> str:
    facts = notice.facts
    if notice.kind in (NoticeKind.JOB_FINISHED, NoticeKind.JOB_FAILED):
        record = records.get(facts["job"])
        job = jobs.title(record) if record is not None else facts["job"][:12]
        if notice.kind is NoticeKind.JOB_FINISHED:
            return _("Your job finished: %(job)s.", job=job)
        if facts["status"] == "abandoned":
            return _("Your job stopped before it ended: %(job)s.", job=job)
        return _("Your job failed: %(job)s.", job=job)
    who = users.get(facts["by"])
    values = {"id": facts["request"], "who": person(who) if who else f"#{facts['by']}", "what": _asked(facts)}
    if notice.kind is NoticeKind.REQUEST_WAITING:
        return _("%(who)s asks for your decision on request #%(id)s: %(what)s.", **values)
    if notice.kind is NoticeKind.REQUEST_APPROVED:
        return _("Your request #%(id)s was approved by %(who)s: %(what)s.", **values)
    values["reason"] = facts["reason"]
    return _("Your request #%(id)s was rejected by %(who)s: %(what)s. Why: %(reason)s", **values)


def _asked(facts: dict) -> str:
    """What a request asked, in a few words: "Wallet reversal of Rp60.000,00 for HOTEL"."""
    kind, amount = ApprovalKind(facts["kind"]).label, money(facts["amount"])
    if facts.get("customer"):
        return _("%(kind)s of %(amount)s for %(customer)s", kind=kind, amount=amount, customer=facts["customer"])
    return _("%(kind)s of %(amount)s", kind=kind, amount=amount)
