"""The books as an accountant works them: manual journal entries (written, saved as drafts, posted, voided,
reversed) with the approval limit inside each operation, and the balance sheet.

An entry above the approval limit is not posted: a request for a second admin's approval is saved instead, whoever
asks (a screen, the command line, the API). A manual entry carries its form's idempotency key (unique): a double
submit writes it, posted, saved as a draft or asked for, once. Every entry is written by the journal writer
(:mod:`backoffice.posting.journal`), through :func:`backoffice.posting.post.post` for what moves money.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from backoffice.models import ApprovalRequest, JournalEntry, User
from backoffice.models.formulas import sheet_totals
from backoffice.platform.extensions import db
from backoffice.platform.money import round_money
from backoffice.posting.closed_months import refuse_if_closed
from backoffice.posting.journal import (
    BooksError,
    ControlAccount,
    Entry,
    Line,
    Source,
    post,
    post_draft,
    refusal,
    reverse,
    save_draft,
    void_draft,
)
from backoffice.posting.keys import claim, clerk_key, kept, refuse_unless_theirs
from backoffice.posting.movement import Movement
from backoffice.posting.post import post as post_movement
from backoffice.posting.refusals import IdempotencyConflict
from backoffice.posting.rules import Kind
from backoffice.services import approvals, installation, transaction

__all__ = [
    "BooksError",
    "ControlAccount",
    "Line",
    "Source",
    "post",
    "post_draft",
    "reverse",
    "save_draft",
    "void_draft",
]
"""The journal writer's names a caller of the books uses (what it may be refused, the lines it writes)."""


@dataclass(frozen=True)
class Done:
    """What a manual entry operation did: the entry it wrote (or the draft it settled), or the approval request it
    saved instead, above the limit."""

    entry_id: int
    asked: ApprovalRequest | None = None


def write_entry(
    entry_date: date,
    description: str,
    lines: list[Line],
    *,
    user: User,
    draft: bool = False,
    idempotency_key: str | None = None,
) -> Done:
    """A manual entry: saved as a draft, posted, or (posted above the approval limit) asked for approval. The same
    ``idempotency_key`` again finds what the first submit wrote, and writes nothing.

    Raises :class:`BooksError`, ``ControlAccount``, ``PeriodClosed``, ``DatedAfterToday``, ``BeyondLimit`` or an
    idempotency key's refusal (one in the application's own namespace, or too long); nothing is written then.
    """
    key = clerk_key(idempotency_key)
    if not draft and approvals.needs_approval(sum((ln.debit for ln in lines), Decimal(0))):
        asked = approvals.ask_entry(entry_date, description, lines, user=user, idempotency_key=key)
        return Done(asked.entry_id, asked)
    if key and (earlier := _written_under(key, user)) is not None:
        return earlier
    try:
        with transaction() as session:
            connection = session.connection()
            refuse_if_closed(connection, entry_date)
            if draft:
                entry_id = save_draft(installation(), connection, entry_date, description, lines, idempotency_key=key)
            else:
                movement = Movement(
                    kind=Kind.MANUAL,
                    value_date=entry_date,
                    description=description,
                    lines=tuple(lines),
                    user=user,
                    idempotency_key=key,
                )
                entry_id = post_movement(installation(), connection, movement).entry_id
            claim(connection, key, maker_id=user.id, writes="journal_entries", written_id=entry_id)
            return Done(entry_id)
    except IntegrityError:
        # The same submit (or another sending of the key) wrote between our look-up and our insert.
        if key and (earlier := _written_under(key, user)) is not None:
            return earlier
        if key and kept(db.session.connection(), key):
            raise BooksError(str(IdempotencyConflict(key))) from None  # kept, yet no entry holds it: nothing written
        raise


def refused(lines: list[Line]) -> BooksError | None:
    """What posting these lines today as a manual entry would be refused for, writing nothing; ``None``: it would
    post."""
    entry = Entry(entry_date=installation().today(), lines=lines)
    return refusal(installation(), db.session.connection(), entry)


def _written_under(key: str, user: User) -> Done | None:
    """The entry a submit of ``user`` with this key wrote, read from the entry that holds the key; refused
    (:class:`BooksError`) when another user sent the key, or it wrote something else (``keys.refuse_unless_theirs``)."""
    try:
        refuse_unless_theirs(db.session.connection(), key, maker_id=user.id, writes="journal_entries")
    except IdempotencyConflict as refused:
        raise BooksError(str(refused)) from None
    entry_id = db.session.scalar(select(JournalEntry.id).where(JournalEntry.idempotency_key == key))
    return Done(entry_id) if entry_id is not None else None


def post_saved_draft(entry_id: int, *, user: User) -> Done:
    """Post a draft as it was saved, or (above the approval limit) ask for it. Raises what :func:`write_entry`
    raises."""
    if approvals.needs_approval(approvals.entry_amount(entry_id)):
        return Done(entry_id, approvals.ask_draft(entry_id, user=user))
    with transaction() as session:
        post_movement(installation(), session.connection(), Movement(kind=Kind.MANUAL, draft_id=entry_id, user=user))
    return Done(entry_id)


def void_saved_draft(entry_id: int) -> Done:
    """Void a draft; refused while a request to post it waits for approval (reject the request first)."""
    if (pending := approvals.pending_for_entry(entry_id)) is not None:
        raise BooksError(
            _(
                "JE-%(id)s waits for approval (request #%(request)s): reject the request first.",
                id=entry_id,
                request=pending.id,
            )
        )
    with transaction() as session:
        void_draft(session.connection(), entry_id)
    return Done(entry_id)


def reverse_entry(entry_id: int, *, user: User, reason: str = "") -> Done:
    """Post the reversing entry of a manual entry, or (above the approval limit) ask for it, saying why."""
    if approvals.needs_approval(approvals.entry_amount(entry_id)):
        if not reason.strip():
            raise BooksError(_("This amount needs a second admin's approval: say why the entry is reversed."))
        return Done(entry_id, approvals.ask_entry_reversal(entry_id, user=user, reason=reason))
    with transaction() as session:
        movement = Movement(kind=Kind.MANUAL, reverses_id=entry_id, user=user)
        return Done(post_movement(installation(), session.connection(), movement).entry_id)


_sheet = cache(sheet_totals)


@dataclass(frozen=True)
class Sheet:
    """The balance sheet now: each side's total from the account balances."""

    assets: Decimal
    liabilities: Decimal
    equity: Decimal
    earnings: Decimal
    """Current earnings: revenue less expenses, equity's until the year is closed."""

    @property
    def difference(self) -> Decimal:
        """Assets less liabilities, equity and current earnings: zero when the books balance."""
        return self.assets - self.liabilities - self.equity - self.earnings

    @property
    def balanced(self) -> bool:
        return self.difference == 0


def balance_sheet() -> Sheet:
    """The balance sheet's totals as the posted journal has them, each rounded to the currency's unit."""
    row = db.session.execute(_sheet()).one()
    return Sheet(*(round_money(Decimal(value)) for value in row))
