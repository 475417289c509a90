"""An admin's review of tampered evidence: reverse the rows' money, or accept the rows with a reason.

Either decision is made once per finding and vouches for the row as it stands (its seal as reviewed is kept
with the finding; a source row's values become its latest history version, ``reconcile.sources``): the row
verifies again, its customer leaves quarantine once no finding of its is open, and the next fix heals what the
row moves. Reversing posts, for a wallet movement, its reversal through the
wallet's own operation (the approval limit holds as for any reversal), sealed like every movement.
"""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import func, select

from backoffice import seals
from backoffice.extensions import db
from backoffice.locking import lock_customers
from backoffice.models import Resolution, TamperedEvidence, User
from backoffice.models.types import utcnow
from backoffice.reconcile import sources
from backoffice.reconcile.customer_wallet import CustomerWallet
from backoffice.services import transaction, wallet

GONE = "gone"
"""The reviewed seal of a row that is no longer there."""


class ReviewError(ValueError):
    """A review refused; nothing was written."""


REFUSALS = (ReviewError, wallet.WalletError)
"""What a review can be refused with: its own checks, and the reversal's (the approval limit, a closed customer)."""


def open_findings(customer_id: int | None = None) -> list[TamperedEvidence]:
    """The findings still open (of one customer), oldest first."""
    query = select(TamperedEvidence).where(TamperedEvidence.resolution.is_(None)).order_by(TamperedEvidence.id)
    if customer_id is not None:
        query = query.where(TamperedEvidence.customer_id == customer_id)
    return list(db.session.scalars(query))


def open_count() -> int:
    return db.session.scalar(select(func.count()).where(TamperedEvidence.resolution.is_(None)))


def accept(finding_ids: list[int], reason: str, user: User) -> list[TamperedEvidence]:
    """Vouch for the rows as they stand, with why."""
    return _decide(finding_ids, Resolution.ACCEPTED, reason, user)


def reverse(finding_ids: list[int], reason: str, user: User) -> list[TamperedEvidence]:
    """Take back the money of the findings' wallet movements by reversing them; the rest is accepted with them."""
    return _decide(finding_ids, Resolution.REVERSED, reason, user)


def _decide(finding_ids: list[int], resolution: Resolution, reason: str, user: User) -> list[TamperedEvidence]:
    reason = (reason or "").strip()
    if not reason:
        raise ReviewError(_("Say why: a review of tampered evidence needs a reason."))
    if len(reason) > 300:
        raise ReviewError(_("A reason has at most 300 characters."))
    if user is None or not user.is_admin:
        raise ReviewError(_("Only an admin reviews tampered evidence."))
    user_id = user.id
    with transaction() as session:
        found = _undecided(session, finding_ids, lock=True)
        kinds = seals.kinds()
        now = utcnow()
        connection = session.connection()
        vouched = {
            finding.id: (
                sources.vouch(connection, finding)
                if sources.is_source(finding.kind)
                else seals.reviewed_seal(connection, kinds[finding.kind], finding.row_id, finding.version)
            )
            or GONE
            for finding in found
        }
        for finding in found:  # each decided by one UPDATE, which the database allows once
            finding.reviewed_seal, finding.resolution, finding.reason = vouched[finding.id], resolution, reason
            finding.resolved_by_id, finding.resolved_at = user_id, now
        if resolution is Resolution.REVERSED:
            _reverse(session, found, reason, user)
    return found


def _reverse(session, found: list[TamperedEvidence], reason: str, user: User) -> None:
    """Carry the reviewed movements into their customers' balances, so that the chain goes on from them, and post
    their reversals: the balance ends where it was before them, and the ledger shows both. One unit of work with
    the decision: a reversal refused (the approval limit, a closed customer) leaves everything undecided."""
    movements = [finding.row_id for finding in found if finding.kind == "balance_transactions"]
    customers = sorted({finding.customer_id for finding in found if finding.kind == "balance_transactions"})
    if not movements:
        return
    connection = session.connection()  # the decisions stay pending: the reversal's unit of work commits them
    lock_customers(connection, customers)
    CustomerWallet().write(connection, customers)
    for movement_id in movements:
        wallet.reverse(movement_id, description=f"Tampered evidence reversed: {reason}"[:300], user=user)


def _undecided(session, finding_ids: list[int], *, lock: bool) -> list[TamperedEvidence]:
    query = select(TamperedEvidence).where(TamperedEvidence.id.in_(finding_ids)).order_by(TamperedEvidence.id)
    found = list(session.scalars(query.with_for_update() if lock else query))
    if not found or len(found) != len(set(finding_ids)):
        raise ReviewError(_("No such finding of tampered evidence."))
    if decided := [finding for finding in found if finding.resolution is not None]:
        if decided[0].resolution is Resolution.REVERSED:
            raise ReviewError(_("Finding %(id)s was already reversed.", id=decided[0].id))
        raise ReviewError(_("Finding %(id)s was already accepted.", id=decided[0].id))
    return found
