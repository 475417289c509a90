"""Money moved by hand, and the one rule that decides when it waits for a second admin.

A clerk's recharge, an adjustment, a reversal, an opening, a payment recorded by hand or by import: each is money a
person moves, and waits for a second admin when the maker's own sum of such amounts for that customer on that day (the
installation's day) would pass ``BACKOFFICE_APPROVAL_ABOVE``, whichever door it comes through (a form, a command, an
import, a job) and however it is sliced. :func:`refuse_beyond` decides it under the customers' locks and keeps what
it lets through (``hand_moves``); every door calls it. What a correction of metering's source data gave back to the
customer that day counts too, whoever made it. A client's charge through the API is the client's, never by hand;
what a request approved by a second admin posts is not counted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import Date, cast, func, insert, select
from sqlalchemy.engine import Connection

from backoffice.evidence import seals, verifying
from backoffice.models import ApprovalRequest, BalanceTransaction, HandMove, TamperedEvidence
from backoffice.models.metering import READING
from backoffice.models.types import one_of
from backoffice.platform.clock import local_today
from backoffice.platform.i18n import named_date
from backoffice.platform.money import shown
from backoffice.posting.locking import lock_customers
from backoffice.posting.refusals import WalletError

ledger = BalanceTransaction.__table__
moves = HandMove.__table__
requests = ApprovalRequest.__table__

APPROVED = "approved"
"""The ``reason`` of the movements a source correction posts when its request is approved: a second admin saw them,
so they do not count as money moved by hand today without one."""


class NeedsApproval(WalletError):
    """Money moved by hand beyond the approval limit: only an approved request posts it (``services.approvals``)."""

    def __init__(self, amount: Decimal, limit: Decimal, today: Decimal, customer_id: int | None = None) -> None:
        values = {"amount": shown(abs(amount)), "today": shown(today), "limit": shown(limit)}
        if today:
            refusal = _(
                "%(amount)s, with the %(today)s adjusted today without approval, is above the approval limit "
                "(%(limit)s): it posts only once a second admin approves it. Ask for it on the customer's ledger tab."
            )
        else:
            refusal = _(
                "%(amount)s is above the approval limit (%(limit)s): it posts only once a second admin approves it. "
                "Ask for it on the customer's ledger tab."
            )
        super().__init__(refusal % values)
        self.amount, self.limit, self.today, self.customer_id = abs(amount), limit, today, customer_id
        self.day: date | None = None
        """The day it was asked on, when not today (:func:`waited`)."""

    def why(self) -> str:
        """Why it waits, as a request asked for it says to its approver and its maker."""
        values = {"amount": shown(self.amount), "today": shown(self.today), "limit": shown(self.limit)}
        if not self.today:
            return _("%(amount)s is above the approval limit (%(limit)s).") % values
        if self.day is not None and self.day != local_today():
            said = _(
                "%(amount)s, with the %(today)s its maker had moved by hand for the customer on %(day)s, is above the "
                "approval limit (%(limit)s)."
            )
            return said % (values | {"day": named_date(self.day)})
        said = _(
            "%(amount)s, with the %(today)s its maker moved by hand for the customer today, is above the approval "
            "limit (%(limit)s)."
        )
        return said % values


def limit() -> Decimal:
    """The amount above which money moved by hand waits for a second admin (``BACKOFFICE_APPROVAL_ABOVE``)."""
    return current_app.config["APPROVAL_ABOVE"]


def moved_today(
    connection: Connection, customer_ids, *, maker_id: int | None, everyone: bool = False
) -> dict[int, Decimal]:
    """What ``maker_id`` (none: a command run without a user) moved by hand today for each customer (``everyone``:
    whoever moved it), with what corrections of the customer's readings' source data gave back today, whoever made
    them (for each reading, what the day's movements for it returned net, when that is money given back; a reading
    recorded and deleted the same day gives back nothing). The movements a review of tampered evidence posted, those
    of an approved correction, and rows no valid seal vouches for never count."""
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    today = local_today()
    made = select(moves.c.customer_id, func.sum(moves.c.amount)).where(
        one_of(moves.c.customer_id, ids), moves.c.moved_on == today
    )
    if not everyone:
        made = made.where(moves.c.maker_id.is_not_distinct_from(maker_id))
    found = {customer_id: Decimal(0) for customer_id in ids}
    for customer_id, amount in connection.execute(made.group_by(moves.c.customer_id)):
        found[customer_id] += amount
    for customer_id, amount in _given_back(connection, ids, today).items():
        found[customer_id] += amount
    return found


def waited(connection: Connection, asked: Sequence) -> dict[int, NeedsApproval]:
    """Why each request ``asked`` (an id, its maker, customer, moment and amount) for money moved by hand waits, as
    :func:`beyond` decided it when it was asked: its amount, with what its maker had moved by hand for the customer
    on that day before it (the installation's day; none for a request of no customer), past the limit. A request
    the limit did not hold back (a clerk's reversal, which an admin decides whatever its size) is not among them."""
    if not asked:
        return {}
    day = cast(func.timezone(current_app.config["TIMEZONE"], requests.c.requested_at), Date)
    made = (
        select(requests.c.id, func.coalesce(func.sum(moves.c.amount), 0), day)
        .outerjoin(
            moves,
            (moves.c.customer_id == requests.c.customer_id)
            & moves.c.maker_id.is_not_distinct_from(requests.c.requested_by_id)
            & (moves.c.moved_on == day)
            & (moves.c.created_at < requests.c.requested_at),
        )
        .where(requests.c.id.in_([request.id for request in asked]))
        .group_by(requests.c.id, day)
    )
    before = {request_id: (Decimal(amount), on) for request_id, amount, on in connection.execute(made)}
    found = {}
    for request in asked:
        today, on = before[request.id]
        if abs(request.amount) + today > limit():
            found[request.id] = NeedsApproval(request.amount, limit(), today, request.customer_id)
            found[request.id].day = on
    return found


def moved_by_today(connection: Connection, maker_id: int | None) -> bool:
    """Whether ``maker_id`` moved money by hand today, for any customer."""
    made = select(moves.c.id).where(moves.c.moved_on == local_today(), moves.c.maker_id.is_not_distinct_from(maker_id))
    return connection.scalar(made.limit(1)) is not None


def beyond(
    connection: Connection, amounts: Mapping[int, Decimal], *, maker_id: int | None, everyone: bool = False
) -> NeedsApproval | None:
    """The refusal of the first customer (by id) whose ``amounts`` (each counted whatever its sign), with what the
    maker moved by hand for them today (:func:`moved_today`), pass the limit; ``None`` if none does. Read under the
    customers' locks, which the caller holds, for a decision that stands."""
    today = moved_today(connection, amounts, maker_id=maker_id, everyone=everyone)
    for customer_id in sorted(amounts):
        amount = abs(amounts[customer_id])
        if amount and amount + today[customer_id] > limit():
            return NeedsApproval(amount, limit(), today[customer_id], customer_id)
    return None


def refuse_beyond(connection: Connection, amounts: Mapping[int, Decimal], *, maker_id: int | None, kind: str) -> None:
    """The rule, for every door: lock the customers, raise :class:`NeedsApproval` where the maker's sum of the day
    would pass the limit, else keep what is moved as the maker's, in the caller's transaction (a rollback takes it
    back with what it moved)."""
    moved = {customer_id: abs(amount) for customer_id, amount in amounts.items() if amount}
    if not moved:
        return
    lock_customers(connection, moved)
    if (refused := beyond(connection, moved, maker_id=maker_id)) is not None:
        raise refused
    today = local_today()
    connection.execute(
        insert(moves),
        [
            {"maker_id": maker_id, "customer_id": customer_id, "moved_on": today, "amount": amount, "kind": kind}
            for customer_id, amount in sorted(moved.items())
        ],
    )


def _given_back(connection: Connection, customer_ids: list[int], today) -> dict[int, Decimal]:
    """What corrections of each customer's readings gave back today (:func:`moved_today`), where they did."""
    day_began = datetime.combine(today, time.min, ZoneInfo(current_app.config["TIMEZONE"])).astimezone(UTC)
    # Only the readings' movements are summed here: only theirs are verified.
    of_today = (
        one_of(ledger.c.customer_id, customer_ids)
        & (ledger.c.created_at >= day_began)
        & (ledger.c.reference_type == READING)
    )
    forged = _forged(connection, of_today, customer_ids)
    per_reading = (
        select(ledger.c.customer_id, func.sum(ledger.c.signed_amount).label("net"))
        .where(
            of_today,
            ledger.c.reason.is_distinct_from(APPROVED),
            ledger.c.id.not_in(forged),
        )
        .group_by(ledger.c.customer_id, ledger.c.reference_id)
        .subquery("per_reading")
    )
    given = select(per_reading.c.customer_id, func.sum(per_reading.c.net)).where(per_reading.c.net > 0)
    return dict(connection.execute(given.group_by(per_reading.c.customer_id)).all())


def _forged(connection: Connection, of_today, customer_ids: list[int]) -> list[int]:
    """The customers' movements of the day (``of_today``) that no valid seal vouches for, those found as tampered
    evidence (open or reviewed), and the reversals a review of tampered evidence posted for them."""
    unsealed = verifying.verify(connection, seals.kinds()["balance_transactions"], where=of_today).findings
    found = select(TamperedEvidence.row_id).where(
        TamperedEvidence.kind == "balance_transactions", one_of(TamperedEvidence.customer_id, customer_ids)
    )
    reviewed = connection.execute(
        select(ledger.c.id).where(of_today, ledger.c.id.in_(found) | ledger.c.reverses_id.in_(found))
    ).scalars()
    return sorted({finding.row_id for finding in unsealed} | set(reviewed))
