"""An admin's review of tampered evidence: reverse the rows' money, or accept the rows with a reason.

Either decision is made once per finding, vouches for the rows as they stand, and is sealed itself. It moves exactly
the money of the wallet movements reviewed, never the wallet as a whole: it posts their reversal and, on acceptance,
the money again as an adjustment, which waits for a second admin above the approval limit.

A movement whose money was edited past the application holds another amount than the entry the books posted for it.
The books follow the row the admin vouched for: the difference is posted first, between the accounts of the movement's
rule (an entry of the review's, its source the finding), so that the reversal that follows takes back from the books
exactly what it takes back from the wallet; the customer's months are written again from their movements as they now
stand.
"""

from __future__ import annotations

from dataclasses import replace

from flask_babel import gettext as _
from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy_continuum.utils import version_class

from backoffice.evidence import quarantine, sealing, seals, verifying
from backoffice.models import (
    Account,
    AnchorRecord,
    ApprovalRequest,
    BalanceTransaction,
    Customer,
    EntryStatus,
    JournalEntry,
    JournalLine,
    Occasion,
    PaymentAllocation,
    Resolution,
    TamperedEvidence,
    User,
)
from backoffice.models.history import HistoryOperation, record
from backoffice.models.types import Month
from backoffice.platform.databases import advisory_key
from backoffice.platform.extensions import db
from backoffice.platform.reasons import AdjustmentReason
from backoffice.posting import journal, months
from backoffice.posting.keys import own_key
from backoffice.posting.locking import lock_customers
from backoffice.posting.movement import Movement, Reference
from backoffice.posting.post import post
from backoffice.posting.rules import CUSTOMER_DEPOSITS, moving
from backoffice.posting.sql import ledger_sums
from backoffice.reconcile import sources
from backoffice.reconcile.evidence_seals import SEALED_BEFORE_ANCHOR
from backoffice.reconcile.transitions import decide_finding
from backoffice.services import allocations as allocating
from backoffice.services import approvals, installation, notices, transaction, wallet

GONE = "gone"
"""The reviewed seal of a row that is no longer there."""

MOVEMENTS = "balance_transactions"
ALLOCATIONS = "payment_allocations"
DECISIONS = "evidence_decisions"

findings = TamperedEvidence.__table__
ledger = BalanceTransaction.__table__
customers = Customer.__table__
entries = JournalEntry.__table__
lines = JournalLine.__table__
accounts = Account.__table__


class ReviewError(ValueError):
    """A review refused; nothing was written."""


REFUSALS = (ReviewError, wallet.WalletError, approvals.ApprovalError)
"""What a review can be refused with: its own checks, and what posting the money refuses (a closed customer)."""


def open_findings(customer_id: int | None = None) -> list[TamperedEvidence]:
    """The findings still open (of one customer), oldest first."""
    query = select(TamperedEvidence).where(TamperedEvidence.resolution.is_(None)).order_by(TamperedEvidence.id)
    if customer_id is not None:
        query = query.where(TamperedEvidence.customer_id == customer_id)
    return list(db.session.scalars(query))


def findings_open(customer_id: int) -> ColumnElement[bool]:
    """Whether a finding on the customer is still open, in SQL: a page asks it with other questions in one statement,
    and reads :func:`open_findings` only when one is."""
    return (
        select(TamperedEvidence.id)
        .where(TamperedEvidence.resolution.is_(None), TamperedEvidence.customer_id == customer_id)
        .exists()
    )


def open_count() -> int:
    return db.session.scalar(select(func.count()).where(TamperedEvidence.resolution.is_(None)))


def unsealed_decisions() -> list[int]:
    """The findings whose decision carries no valid seal: decided past the application (through the owner's function
    by whoever can call it), such a decision decides nothing, and says so until the nightly verification records it
    as tampered evidence of its own. Only the decisions since the nightly's window (a day before the latest anchor)
    are verified here, those the nightly has not: what the health check verifies stays the same as history grows."""
    connection = db.session.connection()
    if not seals.key_is_right(connection):  # nothing can be verified: the health check says why
        return []
    latest = connection.scalar(select(func.max(AnchorRecord.anchored_at)))
    decided = [TamperedEvidence.resolution.is_not(None)]
    if latest is not None:
        decided.append(TamperedEvidence.resolved_at > latest - SEALED_BEFORE_ANCHOR)
    found = verifying.verify(connection, seals.kinds()[DECISIONS], where=and_(*decided)).findings
    return [finding.row_id for finding in found]


def accept(finding_ids: list[int], reason: str, user: User) -> list[TamperedEvidence]:
    """Vouch for the rows as they stand, with why; a wallet movement's money is posted again as an adjustment,
    asked of a second admin above the approval limit (:func:`asked`)."""
    return _decide(finding_ids, Resolution.ACCEPTED, reason, user)


def reverse(finding_ids: list[int], reason: str, user: User) -> list[TamperedEvidence]:
    """Take back the money of the findings' wallet movements by reversing them; the rest is accepted with them."""
    return _decide(finding_ids, Resolution.REVERSED, reason, user)


def asked(decided: list[TamperedEvidence]) -> list[ApprovalRequest]:
    """The requests an acceptance asked for: the money of the movements accepted above the approval limit."""
    keys = [own_key(installation(), "accepted", finding.id) for finding in decided]
    return list(db.session.scalars(select(ApprovalRequest).where(ApprovalRequest.idempotency_key.in_(keys))))


def _decide(finding_ids: list[int], resolution: Resolution, reason: str, user: User) -> list[TamperedEvidence]:
    reason = (reason or "").strip()
    if not reason:
        raise ReviewError(_("Say why: a review of tampered evidence needs a reason."))
    if len(reason) > 300:
        raise ReviewError(_("A reason has at most 300 characters."))
    if user is None or not user.is_admin:
        raise ReviewError(_("Only an admin reviews tampered evidence."))
    user_id = user.id  # read now: reading it in the decision's loop would flush half a decision
    with transaction() as session:
        found = _undecided(session, finding_ids)
        connection = session.connection()
        movements = [finding for finding in found if finding.kind == MOVEMENTS]
        held = sorted({finding.customer_id for finding in movements if finding.customer_id is not None})
        lock_customers(connection, held)
        originals = {finding.id: session.get(BalanceTransaction, finding.row_id) for finding in movements}
        for original in originals.values():
            if original is not None and (earlier := wallet.reversal_of(original.id)) is not None:
                raise wallet.AlreadyReversed(original.id, earlier)
        quarantine.examine_customers(connection, held)  # another forged row of theirs keeps them quarantined
        kinds = seals.kinds()
        vouched = {
            finding.id: (
                sources.vouch(connection, finding)
                if sources.is_source(finding.kind)
                else verifying.reviewed_seal(connection, kinds[finding.kind], finding.row_id, finding.version)
            )
            or GONE
            for finding in found
        }
        for finding in found:  # each decided once, by the owner's function on PostgreSQL
            decide_finding(finding.id, resolution, reason, vouched[finding.id], user_id)
            sealing.pending(DECISIONS, finding.id)
        _settle_allocations(connection, [finding.row_id for finding in found if finding.kind == ALLOCATIONS], user_id)
        reviewed = {finding.id: original for finding in movements if (original := originals[finding.id]) is not None}
        waiting = [original.id for original in reviewed.values()]
        for finding in movements:
            if (original := reviewed.get(finding.id)) is not None:
                waiting.remove(original.id)
                _carry(connection, original.customer_id, waiting)
                _books_follow(connection, finding, original, reason, user)
                _money(session, finding, original, resolution, reason, user)
        for customer_id in held:
            dates = [original.value_date for original in reviewed.values() if original.customer_id == customer_id]
            if dates:
                months.recalculate(connection, [customer_id], Month.of(min(dates)))
    return found


def _settle_allocations(connection, allocation_ids: list[int], user_id: int) -> None:
    """Settle the meters of the reviewed allocations under their locks: an allocation (or a reversal) reversed by the
    review no longer counts (``counted_allocation``), one accepted counts again, and what each invoice asks and each
    payment leaves is derived again from the allocations that count, free credit applied oldest first."""
    if not allocation_ids:
        return
    table = PaymentAllocation.__table__
    history = version_class(PaymentAllocation).__table__
    # The row as it stands, vouched for by the decision, becomes its first history version when it has none.
    unversioned = and_(table.c.id.in_(allocation_ids), ~select(history.c.id).where(history.c.id == table.c.id).exists())
    record(connection, PaymentAllocation, unversioned, HistoryOperation.CREATE)
    meter_ids = set(connection.execute(select(table.c.meter_id).where(table.c.id.in_(allocation_ids))).scalars())
    allocating.lock(connection, meter_ids)
    allocating.settle_meters(connection, meter_ids, user_id=user_id)


def _carry(connection, customer_id: int, waiting: list[int]) -> None:
    """Write the customer's wallet figures from their movements that verify now, the one about to be reversed
    carried in: those with an open finding (found before or within the decision) are left out, and so are the
    reviewed movements ``waiting`` for their own reversal. The reversal that follows starts from where the reviewed
    movement took the balance, as the ledger's chain expects it."""
    open_ = select(findings.c.row_id).where(findings.c.kind == MOVEMENTS, findings.c.resolution.is_(None))
    verified = and_(ledger.c.customer_id == customers.c.id, ledger.c.id.not_in(open_), ledger.c.id.not_in(waiting))
    connection.execute(
        update(customers)
        .where(customers.c.id == customer_id)
        .values({name: select(expr).where(verified).scalar_subquery() for name, expr in ledger_sums(ledger).items()})
    )


def posted_for(movement: BalanceTransaction):
    """What the books posted for a wallet movement, as the wallet counts it: its entries' credits less debits on
    Customer deposits, in SQL. Its entries are those that name it, and the one it names when that entry records no
    other event (one written beside a row forged by SQL): a row edited to name another event's entry never makes the
    books post that entry again."""
    return (
        select(func.coalesce(func.sum(lines.c.credit - lines.c.debit), 0))
        .select_from(lines.join(entries, entries.c.id == lines.c.entry_id).join(accounts))
        .where(
            or_(
                and_(entries.c.id == movement.entry_id, entries.c.source_type.is_(None)),
                and_(entries.c.source_type == "balance_transaction", entries.c.source_id == movement.id),
            ),
            entries.c.status == EntryStatus.POSTED.value,
            accounts.c.code == CUSTOMER_DEPOSITS,
        )
        .scalar_subquery()
    )


def _books_follow(connection, finding, original: BalanceTransaction, reason: str, user: User) -> None:
    """Post what the reviewed movement's row holds beyond what the books posted for it (its money edited past the
    application), between the accounts of its rule, as the review's entry; nothing where the two agree."""
    difference = original.signed_amount - connection.scalar(select(posted_for(original)))
    if not difference:
        return
    entry = journal.Entry(
        entry_date=installation().today(),
        description=reason,
        source=journal.Source(findings.name, finding.id),
        bucket_key=original.customer_id,
        kind=moving(original.kind, difference).value,
        amount=difference,
    )
    journal.write(installation(), connection, [entry], user)


def _money(session, finding, original: BalanceTransaction, resolution: Resolution, reason: str, user: User) -> None:
    """Post the reviewed movement's reversal; on acceptance, its money again as an adjustment (or ask for it). Each
    is written as the review's (its occasion), the admin's reason its description, which its words hold as typed."""
    connection = session.connection()
    post(
        installation(),
        connection,
        Movement(
            kind=wallet.reversal_kind(original),
            amount=-original.signed_amount,
            customer_id=original.customer_id,
            reference=Reference("balance_transaction", original.id),
            description=reason,
            reason=original.reason,
            occasion=Occasion.EVIDENCE_REVERSAL,
            reverses_id=original.id,
            idempotency_key=own_key(installation(), "reversal", original.id),
            user=user,
        ),
    )
    if resolution is not Resolution.ACCEPTED:
        return
    again = wallet.adjustment(
        original.customer_id,
        original.signed_amount,
        reason=AdjustmentReason.OTHER,
        description=reason,
        reference=Reference("balance_transaction", original.id),
        user=user,
    )
    again = replace(again, occasion=Occasion.EVIDENCE_ACCEPTANCE)
    if wallet.needs_approval(again):
        request = approvals.adjustment_request(again, user=user, reason=reason)
        request.idempotency_key = own_key(installation(), "accepted", finding.id)
        session.add(request)
        notices.request_waiting(request)
    else:
        post(installation(), connection, again)


def _undecided(session, finding_ids: list[int]) -> list[TamperedEvidence]:
    """The findings, read again as they are now under the review's lock: of two admins deciding at once, the second
    waits for the first and then finds them decided. The lock is a transaction's advisory lock, which the runtime
    role may take (a row's lock would need it to update the findings, which only the owner's function does)."""
    session.execute(select(func.pg_advisory_xact_lock(advisory_key("evidence-review", 8))))
    found = list(
        session.scalars(
            select(TamperedEvidence)
            .where(TamperedEvidence.id.in_(finding_ids))
            .order_by(TamperedEvidence.id)
            .execution_options(populate_existing=True)
        )
    )
    if not found or len(found) != len(set(finding_ids)):
        raise ReviewError(_("No such finding of tampered evidence."))
    if decided := [finding for finding in found if finding.resolution is not None]:
        if decided[0].resolution is Resolution.REVERSED:
            raise ReviewError(_("Finding %(id)s was already reversed.", id=decided[0].id))
        raise ReviewError(_("Finding %(id)s was already accepted.", id=decided[0].id))
    return found
