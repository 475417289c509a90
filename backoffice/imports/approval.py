"""An import whose rows move money by hand beyond the approval limit: it waits whole for a second admin's approval,
and starts when approved."""

from __future__ import annotations

from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import select, update

from backoffice.imports.checked import Checked
from backoffice.imports.files import Table
from backoffice.imports.kinds import ImportKind
from backoffice.imports.rows import CHANGES, a_total
from backoffice.imports.values import Refused
from backoffice.imports.written import reading
from backoffice.models import (
    ApprovalStatus,
    Import,
    ImportStatus,
    User,
)
from backoffice.models.types import utcnow
from backoffice.platform.extensions import db
from backoffice.platform.money import shown
from backoffice.services import approvals, by_hand


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


def beyond_the_limit(kind: ImportKind, checked: Checked, user: User | None) -> bool:
    """Whether the rows to write move money by hand beyond the approval limit, one row or in total, or for one
    customer with what ``user`` moved by hand for them today (``by_hand.beyond``): the import then waits for a second
    admin's approval."""
    if not kind.by_hand:
        return False
    if checked.moved > approvals.limit():
        return True
    maker_id = user.id if user is not None else None
    return by_hand.beyond(db.session.connection(), checked.moved_for, maker_id=maker_id) is not None


def decided_whole(record: Import, kind: ImportKind, table: Table, user: User | None) -> bool:
    """Whether the import's rows are checked whole before any is written, for whether it waits for a second admin:
    its rows move money by hand, and it asked for an approval already, or ``user`` moved money by hand today, or what
    they could move at most (:func:`moved_at_most`) is beyond the limit; else none of its
    rows can wait (the write keeps the rule all the same: ``approved``)."""
    if not kind.by_hand:
        return False
    maker_id = user.id if user is not None else None
    return (
        approvals.import_request(record.id) is not None
        or by_hand.moved_by_today(db.session.connection(), maker_id)
        or moved_at_most(kind, table) > approvals.limit()
    )


def moved_at_most(kind: ImportKind, table: Table) -> Decimal:
    """What the file's rows move by hand at most: every amount it gives, whether or not its row is good (a total row
    aside), read from that column alone."""
    amount = kind.field("amount")
    most = Decimal(0)
    with reading(table.written):
        for row in table.rows():
            cell = row.values.get("amount")
            if cell in (None, "") or a_total(kind, row):
                continue
            try:
                most += abs(amount.read(cell))
            except Refused:
                continue
    return most


def approved(record: Import) -> bool:
    """Whether a second admin approved the import's rows (as :func:`waits_for_approval` checked them): what they move
    is then no one's money moved by hand."""
    asked = approvals.import_request(record.id)
    return asked is not None and asked.status is ApprovalStatus.APPROVED


def refuse_beyond_the_limit(kind: ImportKind, good: list, user: User | None) -> None:
    """The limit's rule for a chunk's rows to write (``(ordinal, row, record)``) that move money by hand, as a form
    keeps it (``by_hand.refuse_beyond``): an import no second admin approved writes them as ``user``'s."""
    moved: dict[int, Decimal] = {}
    for _ordinal, _row, record in good:
        if CHANGES not in record:
            moved[record[kind.moved_for]] = moved.get(record[kind.moved_for], Decimal(0)) + abs(record["amount"])
    maker_id = user.id if user is not None else None
    by_hand.refuse_beyond(db.session.connection(), moved, maker_id=maker_id, kind=kind.by_hand)


def waits_for_approval(record: Import, kind: ImportKind, checked: Checked, user: User | None) -> str | None:
    """Why the import waits, if it does: its rows move money by hand beyond the approval limit, one row or in
    total, and no second admin has approved it; the request asked (once), or :class:`NeedsAsker`."""
    if not beyond_the_limit(kind, checked, user):
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
        reason = said_import(record.id, facts, checked.moved)
        asked = approvals.ask_import(record.id, facts, total=checked.moved, user=user, reason=reason)
    return WAITING % {"request": asked.id}


def said_import(import_id: int, facts: dict, total: Decimal) -> str:
    """Why an import was asked for, from its request's facts, in the reader's language: its file, its rows, what they
    move by hand in all and the largest of them."""
    return _(
        "Import #%(id)s of %(file)s: %(rows)s rows moving %(total)s by hand, the largest %(largest)s.",
        id=import_id,
        file=facts.get("file", ""),
        rows=facts.get("rows", 0),
        total=shown(total),
        largest=shown(Decimal(str(facts.get("largest", 0)))),
    )


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
