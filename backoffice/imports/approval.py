"""An import whose rows move money by hand beyond the approval limit: it waits whole for a second admin's approval,
and starts when approved."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select, update

from backoffice.imports.checked import Checked
from backoffice.imports.kinds import ImportKind
from backoffice.models import (
    ApprovalStatus,
    Import,
    ImportStatus,
    User,
)
from backoffice.models.types import utcnow
from backoffice.platform.extensions import db
from backoffice.platform.money import shown
from backoffice.services import approvals


class NeedsAsker(Exception):
    """An import that waits for a second admin, run by no one (a command without ``--user``): no one asks."""

    def __init__(self) -> None:
        super().__init__(
            _(
                "Its rows move more than %(limit)s by hand: it waits for a second admin's approval, which an admin "
                "asks for (the command's --user). Nothing was written.",
                limit=shown(approvals.limit()),
            )
        )


def beyond_the_limit(kind: ImportKind, checked: Checked) -> bool:
    """Whether the rows to write move money by hand beyond the approval limit, one row or in total: the import then
    waits for a second admin's approval."""
    return kind.by_hand and checked.moved > approvals.limit()


def decided_whole(record: Import, kind: ImportKind, moved_at_most) -> bool:
    """Whether the import's rows are checked whole before any is written, for whether it waits for a second admin:
    its rows move money by hand, and it asked for an approval already, or what they could move at most (every amount
    the file gives, ``moved_at_most()``) is beyond the limit; else none of its rows can wait."""
    if not kind.by_hand:
        return False
    return approvals.import_request(record.id) is not None or moved_at_most() > approvals.limit()


def waits_for_approval(record: Import, kind: ImportKind, checked: Checked, user: User | None) -> str | None:
    """Why the import waits, if it does: its rows move money by hand beyond the approval limit, one row or in
    total, and no second admin has approved it; the request asked (once), or :class:`NeedsAsker`."""
    if not beyond_the_limit(kind, checked):
        return None
    asked = approvals.import_request(record.id)
    if asked is not None and asked.status is ApprovalStatus.APPROVED:
        if not _as_approved(asked, record, checked):
            raise NotAsApproved(asked)
        return None
    if asked is not None and asked.status is ApprovalStatus.REJECTED:
        raise Declined(asked)
    if asked is None:
        if user is None:
            raise NeedsAsker()
        if (twin := _waiting_twin(record)) is not None:
            raise WaitsAlready(twin)
        facts = {
            "file": record.filename,
            "sha256": record.sha256,
            "rows": checked.good,
            "largest": f"{checked.largest:.2f}",
        }
        reason = _(
            "Import #%(id)s of %(file)s: %(rows)s rows moving %(total)s by hand, the largest %(largest)s.",
            id=record.id,
            file=record.filename,
            rows=checked.good,
            total=shown(checked.moved),
            largest=shown(checked.largest),
        )
        asked = approvals.ask_import(record.id, facts, total=checked.moved, user=user, reason=reason)
    return WAITING % {"request": asked.id}


def _as_approved(request, record: Import, checked: Checked) -> bool:
    """Whether the approval, sealed as the application wrote it, is of this file and of no less than what its rows
    move now: an import's row pointed at another file, or a request forged by SQL, lets nothing through."""
    asked_for = request.correction or {}
    return (
        not approvals.tampered(request.id)
        and asked_for.get("sha256") == record.sha256
        and checked.moved <= request.amount
    )


WAITING = "waiting:%(request)s"
"""What a waiting import's error keeps: the request it waits for, said in the reader's words (:func:`error_said`)."""


def _waiting_twin(record: Import) -> Import | None:
    """Another import of the same file that waits for its approval: the file's rows are asked for once."""
    return db.session.scalar(
        select(Import).where(
            Import.kind == record.kind,
            Import.sha256 == record.sha256,
            Import.status == ImportStatus.WAITING,
            Import.id != record.id,
        )
    )


class WaitsAlready(Exception):
    def __init__(self, twin: Import) -> None:
        super().__init__(
            _(
                "Import #%(id)s of the same file waits for a second admin's approval already: approve or reject it "
                "on Approvals. Nothing was written.",
                id=twin.id,
            )
        )


class NotAsApproved(Exception):
    def __init__(self, request) -> None:
        super().__init__(
            _(
                "Request #%(id)s approved another file, or less money than its rows move now: nothing was written. "
                "Check the file again to ask anew.",
                id=request.id,
            )
        )


class Declined(Exception):
    def __init__(self, request) -> None:
        super().__init__(
            _(
                "Request #%(id)s to import it was rejected: %(reason)s. Nothing was written.",
                id=request.id,
                reason=request.rejection_reason,
            )
        )


def declined(request) -> None:
    """The import a rejected request asked for stops, saying why: it writes nothing (checked again, it asks anew)."""
    db.session.execute(
        update(Import)
        .where(Import.id == request.correction["import"], Import.status == ImportStatus.WAITING)
        .values(status=ImportStatus.FAILED, error=str(Declined(request)), finished_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
