"""Who is quarantined: the customers and accounts that tampered evidence, still open, would move.

A customer with an open finding takes no automatic movement (a reading's charge, a re-pricing) and no fix of
its derived figures; an account on which an open finding's journal entry is posted keeps its balance unfixed.
Both wait for an admin to reverse or accept the rows (``reconcile.evidence_review``). Asked of one customer, a
movement is refused (:class:`Quarantined`); done for many (the pending re-pricing of a tariff), the quarantined
are left waiting and named, and the others are done.
"""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from backoffice.evidence import seals, verifying
from backoffice.models import BalanceTransaction, Customer, JournalEntry, JournalLine, MeterReading, TamperedEvidence
from backoffice.models.types import utcnow
from backoffice.platform.sentences import Sentence

findings = TamperedEvidence.__table__
customers = Customer.__table__
lines = JournalLine.__table__
readings = MeterReading.__table__
ledger = BalanceTransaction.__table__
entries = JournalEntry.__table__

REASON = Sentence(
    "quarantined",
    "left unfixed: customer {code} is quarantined, tampered evidence waits for an admin's review",
    _l("left unfixed: customer %(code)s is quarantined, tampered evidence waits for an admin's review"),
)
"""Why a fix leaves a quarantined customer's figures (or its readings') as they are."""

ACCOUNT_REASON = Sentence(
    "tampered_on_account",
    "left unfixed: tampered evidence on this account, {what}",
    _l("left unfixed: tampered evidence on this account, %(what)s"),
)
"""Why a fix leaves an account's balance as it is: the tampered evidence posted on it, as its finding says it."""


class Quarantined(ValueError):
    """A movement refused because its customer is quarantined: a refusal with a message (422 on a screen, exit 2 from
    a command), never a failure."""

    def __init__(self, code: str) -> None:
        super().__init__(
            _(
                "Customer %(code)s is quarantined: rows of its evidence carry no valid seal. It takes no automatic "
                "movement until an admin reverses or accepts them on its page.",
                code=code,
            )
        )


def customers_held(connection: Connection, customer_ids) -> dict[int, str]:
    """Those of these customers (ids, or a select of them) with an open finding, each with its code."""
    return dict(
        connection.execute(
            select(customers.c.id, customers.c.code)
            .where(
                customers.c.id.in_(customer_ids),
                customers.c.id.in_(quarantined_ids()),
            )
            .order_by(customers.c.id)
        ).all()
    )


def quarantined_ids():
    """A select of the ids of every quarantined customer (never NULL: fit for ``NOT IN``)."""
    return select(findings.c.customer_id).where(findings.c.resolution.is_(None), findings.c.customer_id.is_not(None))


def examine_customers(connection: Connection, customer_ids, run_id: int | None = None) -> None:
    """Verify the seals of these customers' wallet movements and of their journal entries; record what fails."""
    found = []
    for kind, where in (
        ("balance_transactions", ledger.c.customer_id.in_(customer_ids)),
        ("journal_entries", entries.c.id.in_(select(ledger.c.entry_id).where(ledger.c.customer_id.in_(customer_ids)))),
    ):
        found += verifying.verify(connection, seals.kinds()[kind], where=where).findings
    record(connection, found, run_id)


def examine_accounts(connection: Connection, account_ids, run_id: int | None = None) -> None:
    """Verify the seals of the posted journal entries on these accounts; record what fails."""
    on_accounts = entries.c.id.in_(select(lines.c.entry_id).where(lines.c.account_id.in_(account_ids)))
    record(
        connection, verifying.verify(connection, seals.kinds()["journal_entries"], where=on_accounts).findings, run_id
    )


def record(connection: Connection, found: list[verifying.Finding], run_id: int | None) -> None:
    """Keep each finding not open yet as tampered evidence (of several on one row, the first: one stays open a row)."""
    if not found:
        return
    first: dict[tuple, verifying.Finding] = {}
    for finding in found:
        first.setdefault((finding.evidence.kind, finding.row_id, finding.version), finding)
    open_ = {
        tuple(row)
        for row in connection.execute(
            select(findings.c.kind, findings.c.row_id, findings.c.version).where(findings.c.resolution.is_(None))
        )
    }
    now = utcnow()
    named = {finding.customer_id for finding in found} - {None}
    there = set()
    if named:
        there = named & set(connection.scalars(select(customers.c.id).where(seals.among(customers.c.id, named))))
    new = [
        {
            "kind": finding.evidence.kind,
            "row_id": finding.row_id,
            "version": finding.version,
            # A customer whose row is gone too (deleted past the guards with its evidence) is named in ``what``.
            "customer_id": finding.customer_id if finding.customer_id in there else None,
            "entry_id": finding.entry_id,
            "what": finding.what,
            "found_at": now,
            "found_run_id": run_id,
        }
        for key, finding in first.items()
        if key not in open_
    ]
    if new:
        connection.execute(insert(findings), new)


def held(connection: Connection, entity_type: str, keys: list[int], run_id: int | None = None) -> dict[int, str]:
    """Which of a check's wrong entities a fix leaves as they are because of tampered evidence, and why.

    The seals of what the fix would read are verified first: a fix never writes a figure from a row without a
    valid seal, whether or not a run of ``evidence_seals`` found it before.
    """
    if entity_type == "customer":
        examine_customers(connection, keys, run_id)
        return {key: REASON.write(code=code) for key, code in customers_held(connection, keys).items()}
    if entity_type == "meter_reading":
        owners = dict(
            connection.execute(select(readings.c.id, readings.c.customer_id).where(readings.c.id.in_(keys))).all()
        )
        examine_customers(connection, set(owners.values()), run_id)
        codes = customers_held(connection, set(owners.values()))
        return {key: REASON.write(code=codes[owner]) for key, owner in owners.items() if owner in codes}
    if entity_type == "account":
        examine_accounts(connection, keys, run_id)
        found = connection.execute(
            select(lines.c.account_id, findings.c.what)
            .join(findings, findings.c.entry_id == lines.c.entry_id)
            .where(findings.c.resolution.is_(None), lines.c.account_id.in_(keys))
            .order_by(lines.c.account_id, findings.c.id)
        )
        reasons: dict[int, str] = {}
        for account_id, what in found:
            reasons.setdefault(account_id, ACCOUNT_REASON.write(what=what)[:300])
        return reasons
    return {}
