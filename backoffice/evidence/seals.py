"""What a seal is: the kinds of evidence, the columns each seal covers, the chain its rows follow, and the key.

A row's seal is an HMAC-SHA256, under ``SEAL_KEY``, of the row's canonical text and the previous row's seal
(:func:`digest`): whoever writes to the database without the key cannot make a seal that vouches for a row. Sealing is
:mod:`backoffice.evidence.sealing`, verifying :mod:`backoffice.evidence.verifying`.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import weakref
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache

from flask import current_app
from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Integer,
    Select,
    Table,
    any_,
    literal,
    select,
)
from sqlalchemy.engine import Connection
from sqlalchemy_continuum import versioning_manager
from sqlalchemy_continuum.utils import version_class

from backoffice.models import (
    ApprovalRequest,
    BalanceTransaction,
    CheckResult,
    Discrepancy,
    EntryStatus,
    HistoryTransaction,
    JournalEntry,
    JournalLine,
    PaymentAllocation,
    ReconciliationRun,
    RunStatus,
)
from backoffice.models.seals import AnchorRecord, Seal, SealKey, TamperedEvidence
from backoffice.models.types import constant, upsert, utcnow

seals = Seal.__table__
sealed_with = SealKey.__table__


@dataclass(frozen=True)
class Evidence:
    """One kind of evidence and how it is sealed."""

    kind: str
    table: Table
    covered: tuple[str, ...]
    """The columns the seal covers."""
    sealed: ColumnElement | None = None
    """Which rows are evidence (a posted entry; a finished run); all when none."""
    chain: str | None = None
    """The column whose rows form a chain (a customer's movements); each row alone when none."""
    version: str | None = None
    """A second key column (a history version's transaction)."""
    previous_kind: str | None = None
    """The chain continues another kind's row of the same id (a request's decision after the request)."""
    details: Callable[[Connection, list], dict[tuple[int, int], list | bytes]] | None = None
    """Rows of other tables the seal covers, by row id and version (an entry's lines, a run's results, who made a
    history version and when)."""
    customer: Callable[[], ColumnElement] | None = None
    """The customer a row moves or describes, as a column of the table."""
    entry: Callable[[], ColumnElement] | None = None
    """The journal entry a row posts, as a column of the table."""
    label: str = ""

    @property
    def key(self) -> ColumnElement:
        return self.table.c.id

    def columns(self) -> list[ColumnElement]:
        return [self.table.c[name] for name in self.covered]


def among(column: ColumnElement, ids: set[int]) -> ColumnElement:
    """``column`` among ``ids``: by their range where they fill most of it, else as an array (a customer's entries,
    scattered among everyone's: their range would read everything between). The rows read are still kept only when
    their id is among ``ids``."""
    low, high = min(ids), max(ids)
    if high - low < 2 * len(ids):
        return column.between(low, high)
    return column == any_(literal(sorted(ids), ARRAY(Integer)))


def _lines(connection: Connection, rows: list) -> dict[tuple[int, int], list]:
    lines = JournalLine.__table__
    ids = {row.row_id for row in rows}
    found: dict[tuple[int, int], list] = defaultdict(list)
    lines_read = connection.execute(
        select(lines.c.entry_id, lines.c.id, lines.c.account_id, lines.c.debit, lines.c.credit, lines.c.description)
        .where(among(lines.c.entry_id, ids))
        .order_by(lines.c.entry_id, lines.c.id)
    )
    for entry_id, *line in lines_read:
        if entry_id in ids:
            found[entry_id, 0].append(line)
    return found


def _run_results(connection: Connection, rows: list) -> dict[tuple[int, int], list]:
    """Each run's results and discrepancies, as rows of values: what a run's seal covers beyond its own columns.
    :func:`backoffice.evidence.reading.details` has PostgreSQL make them into the bytes of their canonical text
    instead (:func:`backoffice.evidence.reading.run_details`, byte for byte the text Python makes of these rows)."""
    ids = {row.row_id for row in rows}
    results, found_rows = CheckResult.__table__, Discrepancy.__table__
    found: dict[tuple[int, int], list] = defaultdict(list)
    for run_id, *result in connection.execute(
        select(results.c.run_id, *run_results_covered())
        .where(among(results.c.run_id, ids))
        .order_by(results.c.run_id, results.c.id)
    ):
        found[run_id, 0].append(result)
    for run_id, *row in connection.execute(
        select(found_rows.c.run_id, *run_found_covered())
        .where(among(found_rows.c.run_id, ids))
        .order_by(found_rows.c.id)
    ):
        found[run_id, 0].append(row)
    return found


def run_results_covered() -> list[ColumnElement]:
    """The columns of a run's result its seal covers, in their order."""
    results = CheckResult.__table__
    return [results.c.check, results.c.checked, results.c.mismatched, results.c.fixed]


def run_found_covered() -> list[ColumnElement]:
    """The columns of a run's discrepancy its seal covers, in their order."""
    return [column for column in Discrepancy.__table__.c if column.name != "run_id"]


def _history_transactions(history: Table):
    def who(connection: Connection, rows: list) -> dict[tuple[int, int], list]:
        transactions = HistoryTransaction.__table__
        versions = {row.version for row in rows}
        found = {
            id_: [row]
            for id_, *row in connection.execute(
                select(transactions.c.id, transactions.c.issued_at, transactions.c.user_id, transactions.c.actor).where(
                    among(transactions.c.id, versions)
                )
            )
            if id_ in versions
        }
        return {(row.row_id, row.version): found.get(row.version, [["missing"]]) for row in rows}

    return who


def _all_but(table: Table, *left_out: str) -> tuple[str, ...]:
    return tuple(column.name for column in table.columns if column.name not in left_out)


ledger = BalanceTransaction.__table__
entries = JournalEntry.__table__
requests = ApprovalRequest.__table__
runs = ReconciliationRun.__table__
decisions = TamperedEvidence.__table__
allocations = PaymentAllocation.__table__
anchored = AnchorRecord.__table__

DECISION = ("status", "decided_by_id", "decided_at", "rejection_reason", "result_movement_id", "result_entry_id")
FIRST_APPROVAL = ("first_approved_by_id", "first_approved_at")
"""A clerk's request above the approval limit, approved by a first admin while it stays pending: sealed as it is
written, after the request, as the decision is."""

_FIXED: tuple[Evidence, ...] = (
    Evidence(
        "balance_transactions",
        ledger,
        _all_but(ledger),
        chain="customer_id",
        customer=lambda: ledger.c.customer_id,
        entry=lambda: ledger.c.entry_id,
        label="wallet movement",
    ),
    Evidence(
        "journal_entries",
        entries,
        _all_but(entries),
        sealed=entries.c.status == constant(EntryStatus.POSTED.value),
        details=_lines,
        customer=lambda: select(ledger.c.customer_id).where(ledger.c.entry_id == entries.c.id).scalar_subquery(),
        entry=lambda: entries.c.id,
        label="journal entry",
    ),
    Evidence(
        "approval_requests",
        requests,
        _all_but(requests, *DECISION, *FIRST_APPROVAL),
        customer=lambda: requests.c.customer_id,
        label="approval request",
    ),
    Evidence(
        "approval_first_approvals",
        requests,
        FIRST_APPROVAL,
        sealed=requests.c.first_approved_by_id.is_not(None),
        previous_kind="approval_requests",
        customer=lambda: requests.c.customer_id,
        label="first approval of an approval request",
    ),
    Evidence(
        "approval_decisions",
        requests,
        DECISION,
        sealed=requests.c.status != "pending",
        previous_kind="approval_requests",
        customer=lambda: requests.c.customer_id,
        label="approval decision",
    ),
    Evidence(
        "evidence_decisions",
        decisions,
        (
            "kind",
            "row_id",
            "version",
            "customer_id",
            "resolution",
            "reason",
            "resolved_by_id",
            "resolved_at",
            "reviewed_seal",
        ),
        sealed=decisions.c.resolution.is_not(None),
        chain="customer_id",
        customer=lambda: decisions.c.customer_id,
        label="decision on tampered evidence",
    ),
    Evidence(
        "payment_allocations",
        allocations,
        _all_but(allocations),
        chain="meter_id",
        customer=lambda: allocations.c.customer_id,
        label="payment allocation",
    ),
    Evidence("anchor_records", anchored, _all_but(anchored), label="anchor"),
    Evidence(
        "reconciliation_runs",
        runs,
        _all_but(runs),
        sealed=runs.c.status != RunStatus.RUNNING.value,
        details=_run_results,
        label="reconciliation run",
    ),
)


def _history(model) -> Evidence:
    history = version_class(model).__table__
    customer = None
    if model.__tablename__ == "customers":
        customer = lambda: history.c.id  # noqa: E731
    elif "customer_id" in history.c:
        customer = lambda: history.c.customer_id  # noqa: E731
    return Evidence(
        history.name,
        history,
        _all_but(history),
        chain="id",
        version="transaction_id",
        details=_history_transactions(history),
        customer=customer,
        label=f"history version of {model.__tablename__}",
    )


def kinds() -> dict[str, Evidence]:
    """Every kind of evidence, by name (built once the models' history is declared)."""
    if len(_KINDS) != len(_FIXED) + len(versioning_manager.version_class_map):
        _KINDS.clear()
        _KINDS.update({evidence.kind: evidence for evidence in _FIXED})
        for model in sorted(versioning_manager.version_class_map, key=lambda model: model.__tablename__):
            evidence = _history(model)
            _KINDS[evidence.kind] = evidence
    return _KINDS


_KINDS: dict[str, Evidence] = {}


def inserted_below_trigger(evidence: Evidence) -> str:
    """The trigger that records each row of ``evidence`` inserted at or below its kind's mark (migration ``0070``):
    every kind's table carries one, and a migration that adds a kind adds its trigger with this statement."""
    return (
        f"CREATE TRIGGER {evidence.kind}_inserted_below AFTER INSERT ON {evidence.table.name} "
        f"REFERENCING NEW TABLE AS added FOR EACH STATEMENT "
        f"EXECUTE FUNCTION evidence_inserted_below('{evidence.kind}', '{evidence.version or ''}')"
    )


Key = tuple[int, int]
"""A row of evidence: its id and its version (0 but for a history version, whose version is its transaction)."""


def digest(key: bytes, evidence: Evidence, row_id: int, version: int, values, details, previous: str) -> str:
    """The seal: HMAC-SHA256 of the row's canonical text and its chain's previous seal.

    A column is named beside its value and left out while it is NULL, so that a nullable column added to a table
    later leaves the seals of the rows before it valid.
    """
    return hmac.digest(key, canonical_text(evidence, row_id, version, values, details, previous), hashlib.sha256).hex()


def canonical_text(evidence: Evidence, row_id: int, version: int, values, details, previous: str) -> bytes:
    """The bytes a row's seal is the HMAC of: its kind, id, version, named values, details and previous seal.

    ``details`` are rows of values, or the bytes PostgreSQL made of them, each row after its record separator.
    """
    named = "\x1f".join(
        [f"{name}={_text(value)}" for name, value in zip(evidence.covered, values, strict=True) if value is not None]
    )
    if isinstance(details, bytes):
        head = "\x1e".join([evidence.kind, str(row_id), str(version), named])
        return head.encode() + details + b"\x1e" + previous.encode()
    text = "\x1e".join(
        [evidence.kind, str(row_id), str(version), named, *[_canonical(detail) for detail in details], previous]
    )
    return text.encode()


def _canonical(values) -> str:
    """:func:`_text` of each value, its dispatch written out: a run's seal covers every value of each of its
    discrepancies, twelve thousand for a thousand of them."""
    texts = _TEXTS
    return "\x1f".join([texts[type(value)](value) if type(value) in texts else _text(value) for value in values])


def _number(value: Decimal) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _moment(value: datetime) -> str:
    if value.tzinfo is not None and value.utcoffset():
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(timespec="microseconds")


_TEXTS = {
    str: str,
    int: str,
    bool: lambda value: "1" if value else "0",
    Decimal: _number,
    datetime: _moment,
    date: date.isoformat,
    type(None): lambda _value: "\x00",
    dict: lambda value: json.dumps(value, sort_keys=True, default=str),
    list: lambda value: json.dumps(value, sort_keys=True, default=str),
}


def _text(value) -> str:
    """A value's canonical text: the same whichever way the database hands it back (a Decimal's trailing zeros,
    an aware or a naive UTC moment), so that the seal made when it is written matches it when it is read."""
    texts = _TEXTS.get(type(value))
    if texts is None:  # an enum's members, or anything else, by their value's text; learnt once per type
        texts = _TEXTS[type(value)] = (lambda member: str(member.value)) if isinstance(value, enum.Enum) else str
    return texts(value)


def identity_seal(identity: str) -> str:
    """The seal of the database's identity (``seal_key.database``), made once by the migration that made it."""
    return hmac.digest(seal_key(), f"database\x1e{identity}".encode(), hashlib.sha256).hex()


def job_seal(job_id: str, kind: str, args: dict, user_id: int | None, enqueued_at: datetime) -> str:
    """The seal of a job's row as the application makes it: an HMAC under the seal key over what the job was made for
    and when, so that a row inserted past the application (tomorrow's nightly made to look done) is not taken for
    one, nor a row's moment moved to pass another job's run for its own."""
    asker = "" if user_id is None else str(user_id)
    text = "\x1e".join(["jobs", job_id, kind, _TEXTS[dict](args), asker, _moment(enqueued_at)])
    return hmac.digest(seal_key(), text.encode(), hashlib.sha256).hex()


def seal_key() -> bytes:
    return current_app.config["SEAL_KEY"].encode()


class WrongSealKey(RuntimeError):
    """``SEAL_KEY`` is not the key the evidence was sealed with: verified under it, every row would look tampered."""

    def __init__(self) -> None:
        super().__init__(
            "BACKOFFICE_SEAL_KEY: this is not the key the evidence was sealed with (its fingerprint is not the one the "
            "database keeps). Nothing was verified and nobody was quarantined: run with the installation's own key."
        )


FINGERPRINTED = b"backoffice: the key the evidence is sealed with"
"""What a key's fingerprint is the HMAC of."""


@cache
def fingerprint(key: bytes) -> str:
    """The key's fingerprint: an HMAC under it of a constant, which tells nothing of the key."""
    return hmac.digest(key, FINGERPRINTED, hashlib.sha256).hex()


def check_key(connection: Connection) -> None:
    """Raise :class:`WrongSealKey` unless ``SEAL_KEY`` is the key the evidence is sealed with. Where the database keeps
    no fingerprint yet (migration 0039 keeps the upgrade's), it keeps this key's, once."""
    mine = fingerprint(seal_key())
    kept = _kept_fingerprint(connection)
    if kept is None:
        connection.execute(
            upsert(sealed_with)
            .values(id=1, fingerprint=mine, recorded_at=utcnow())
            .on_conflict_do_nothing(index_elements=[sealed_with.c.id])
        )
        kept = _kept_fingerprint(connection)
    if not same(kept, mine):
        raise WrongSealKey()


def same(kept: str, made: str) -> bool:
    """A digest the database keeps (a seal, a key's fingerprint) is the one made here, compared in constant time. A
    kept value that is not ASCII, which no digest is, is another: Python's comparison refuses such a string, and a
    value forged so must be found, not stop the reader."""
    return kept.isascii() and hmac.compare_digest(kept, made)


def key_is_right(connection: Connection) -> bool:
    """``SEAL_KEY`` is the key the evidence is sealed with (or none is known yet); nothing is written."""
    kept = _kept_fingerprint(connection)
    return kept is None or same(kept, fingerprint(seal_key()))


def check_kept(connection: Connection, kept: str | None) -> None:
    """:func:`check_key`, given the fingerprint read with the rows to seal."""
    if kept is None:
        check_key(connection)
    elif not same(kept, fingerprint(seal_key())):
        raise WrongSealKey()


def _kept_fingerprint(connection: Connection) -> str | None:
    """The fingerprint the database keeps, read once per transaction: a page verifying several kinds of evidence
    checks the key before each, and the row, once written, is never changed."""
    transaction = connection.get_transaction()
    kept = _KEPT_IN.get(transaction) if transaction is not None else None
    if kept is None:
        kept = connection.scalar(kept_query())
        if kept is not None and transaction is not None:
            _KEPT_IN[transaction] = kept
    return kept


_KEPT_IN: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
"""Per transaction still open, the fingerprint it read."""


def kept_query() -> Select:
    return select(sealed_with.c.fingerprint).where(sealed_with.c.id == constant(1))


def version_column(evidence: Evidence) -> ColumnElement:
    return evidence.table.c[evidence.version] if evidence.version else literal(0)
