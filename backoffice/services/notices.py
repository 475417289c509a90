"""Telling a user what happened while they were elsewhere: their request decided, a request waiting for their
decision, a job they started ended.

A notice is written in the transaction of what it tells (the caller's), as its kind and its facts, and said in the
reader's language when it is read (``web.notices``). A reader sees and marks only their own. What a page reads is
bounded: the unread are counted up to :data:`COUNTED`, and the notices are read a page at a time, newest first, by
their id.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, insert, literal, select, update

from backoffice.models import ApprovalRequest, JobRecord, JobStatus, Notice, NoticeKind, Role, User
from backoffice.models.types import utcnow
from backoffice.platform.extensions import db
from backoffice.services import transaction

COUNTED = 100
"""The unread are counted up to this many: the header says "99+" beyond."""

ENDED = {JobStatus.FINISHED: NoticeKind.JOB_FINISHED, JobStatus.FAILED: NoticeKind.JOB_FAILED}
"""What a job's end tells whoever started it; a job abandoned (its worker stopped, or the queue lost it) failed."""


def request_waiting(request: ApprovalRequest) -> None:
    """Tell each active admin but the requester that the request, just asked (written with the session), waits for
    their decision."""
    db.session.flush()
    admins = db.session.scalars(
        select(User.id).where(User.role == Role.ADMIN, User.active, User.id != request.requested_by_id)
    ).all()
    facts = _request_facts(request) | {"by": request.requested_by_id}
    _tell(admins, NoticeKind.REQUEST_WAITING, facts, _waiting_target(request))


def request_decided(request: ApprovalRequest) -> None:
    """Tell the requester that their request was approved or rejected (its rejection's reason with it), by whom; the
    admins told it waited have nothing left to decide: their notices of it are marked read."""
    db.session.execute(
        update(Notice)
        .where(
            Notice.target == _waiting_target(request),
            Notice.read_at.is_(None),
            Notice.kind == NoticeKind.REQUEST_WAITING,
        )
        .values(read_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    facts = _request_facts(request) | {"by": request.decided_by_id}
    if request.rejection_reason is not None:
        kind, facts = NoticeKind.REQUEST_REJECTED, facts | {"reason": request.rejection_reason}
    else:
        kind = NoticeKind.REQUEST_APPROVED
    _tell([request.requested_by_id], kind, facts, f"/approvals/mine#request-{request.id}")


def job_ended(job_id: str, status: JobStatus) -> None:
    """Tell whoever started the job (a scheduled job has no one) that it ended with ``status``."""
    kind = ENDED.get(status, NoticeKind.JOB_FAILED)
    db.session.execute(
        insert(Notice).from_select(
            ["user_id", "kind", "facts", "target", "created_at"],
            select(
                JobRecord.user_id,
                literal(kind.value),
                func.json_build_object("job", JobRecord.id, "status", status.value),
                literal("/jobs/") + JobRecord.id,
                literal(utcnow()),
            ).where(JobRecord.id == job_id, JobRecord.user_id.is_not(None)),
        )
    )


def unread(user_id: int) -> int:
    """How many of the user's notices are unread, counted up to :data:`COUNTED`."""
    waiting = select(Notice.id).where(Notice.user_id == user_id, Notice.read_at.is_(None)).limit(COUNTED).subquery()
    return db.session.scalar(select(func.count()).select_from(waiting))


def page(user_id: int, *, before: int | None = None, size: int = 50) -> tuple[list[Notice], bool]:
    """The user's notices, newest first, ``size`` at most, those older than notice ``before`` when given; and whether
    older ones follow."""
    query = select(Notice).where(Notice.user_id == user_id)
    if before is not None:
        query = query.where(Notice.id < before)
    found = list(db.session.scalars(query.order_by(Notice.id.desc()).limit(size + 1)))
    return found[:size], len(found) > size


def opened(user_id: int, notice_id: int) -> str | None:
    """Mark the user's notice read (when it was first opened is kept) and say the path it opens; ``None``: the user
    has no such notice."""
    with transaction() as session:
        return session.scalar(
            update(Notice)
            .where(Notice.id == notice_id, Notice.user_id == user_id)
            .values(read_at=func.coalesce(Notice.read_at, utcnow()))
            .returning(Notice.target)
        )


def read_all(user_id: int) -> int:
    """Mark every unread notice of the user read; how many were."""
    with transaction() as session:
        return session.execute(
            update(Notice)
            .where(Notice.user_id == user_id, Notice.read_at.is_(None))
            .values(read_at=utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount


def _request_facts(request: ApprovalRequest) -> dict:
    amount = request.signed_amount if request.signed_amount is not None else request.amount
    return {
        "request": request.id,
        "kind": request.kind.value,
        "amount": f"{amount:.2f}",
        "customer": request.customer.code if request.customer is not None else None,
    }


def _waiting_target(request: ApprovalRequest) -> str:
    return f"/approvals#request-{request.id}"


def _tell(user_ids: Iterable[int], kind: NoticeKind, facts: dict, target: str) -> None:
    db.session.add_all(Notice(user_id=user_id, kind=kind, facts=facts, target=target) for user_id in user_ids)
