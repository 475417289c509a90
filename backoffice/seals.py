"""Sealing the evidence as it is written, and telling a sealed row from one written without the key.

Each kind of evidence is an :class:`Evidence`: the rows it seals, the columns its seal covers, and the chain its
rows follow. What a transaction writes is registered as it is written, by the key of each row it inserted (its id,
and a history version's transaction: :func:`pending`, :func:`written`, the versions the ORM flushes and
``history.record`` returns), and sealed just before the transaction commits: those rows and no other, whatever else
carries their transaction's id. What a savepoint or a transaction that is rolled back registered is forgotten with
it, so a row inserted later with the same id is not taken for the one it wrote. The rows are sealed in the order
they were written, each row's seal covering the seal of the row before it in its chain. A row's seal is an
HMAC-SHA256, under ``SEAL_KEY``, of the row's values in a canonical text and of the previous row's seal: whoever
writes to the database without the key can add a row, or change one, but cannot make the seal that would vouch
for it.

:func:`verify` reads the rows with their seals in id order and names every row whose seal is missing or wrong,
and every seal whose row is gone. It verifies only under the key the evidence was sealed with: the database keeps
that key's fingerprint (:func:`check_key`), and a verify under another key stops (:class:`WrongSealKey`) rather than
find every row tampered and quarantine every customer.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal

from flask import current_app
from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Integer,
    Select,
    Table,
    and_,
    any_,
    event,
    func,
    insert,
    inspect,
    literal,
    or_,
    select,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, object_session
from sqlalchemy_continuum import versioning_manager
from sqlalchemy_continuum.utils import version_class
from sqlalchemy_continuum.version import VersionClassBase

from backoffice.extensions import db
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
from backoffice.models.history import versions_written
from backoffice.models.seals import Seal, SealKey, TamperedEvidence
from backoffice.models.types import upsert, utcnow

seals = Seal.__table__
sealed_with = SealKey.__table__
_PENDING = "unsealed"


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
    details: Callable[[Connection, list], dict[tuple[int, int], list]] | None = None
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


def _among(connection: Connection, column: ColumnElement, ids: set[int]) -> ColumnElement:
    """``column`` among ``ids``: by their range where they fill most of it (a chunk's ids are too many to bind one
    by one), else as a list (a customer's entries, scattered among everyone's: their range would read everything
    between). The rows read are still kept only when their id is among ``ids``."""
    low, high = min(ids), max(ids)
    if high - low < 2 * len(ids):
        return column.between(low, high)
    if connection.dialect.name == "postgresql":
        return column == any_(literal(sorted(ids), ARRAY(Integer)))
    if len(ids) <= _SQLITE_LIST:
        return column.in_(sorted(ids))
    return column.between(low, high)


_SQLITE_LIST = 10_000
"""At most so many ids bound one by one on SQLite (which limits a statement's parameters)."""


def _lines(connection: Connection, rows: list) -> dict[tuple[int, int], list]:
    lines = JournalLine.__table__
    ids = {row.row_id for row in rows}
    found: dict[tuple[int, int], list] = defaultdict(list)
    lines_read = connection.execute(
        select(lines.c.entry_id, lines.c.id, lines.c.account_id, lines.c.debit, lines.c.credit, lines.c.description)
        .where(_among(connection, lines.c.entry_id, ids))
        .order_by(lines.c.entry_id, lines.c.id)
    )
    for entry_id, *line in lines_read:
        if entry_id in ids:
            found[entry_id, 0].append(line)
    return found


def _run_results(connection: Connection, rows: list) -> dict[tuple[int, int], list]:
    results, found_rows = CheckResult.__table__, Discrepancy.__table__
    ids = {row.row_id for row in rows}
    found: dict[tuple[int, int], list] = defaultdict(list)
    for run_id, *result in connection.execute(
        select(results.c.run_id, results.c.check, results.c.checked, results.c.mismatched, results.c.fixed)
        .where(_among(connection, results.c.run_id, ids))
        .order_by(results.c.run_id, results.c.id)
    ):
        found[run_id, 0].append(result)
    covered = [c for c in found_rows.c if c.name not in ("run_id",)]
    for run_id, *row in connection.execute(
        select(found_rows.c.run_id, *covered)
        .where(_among(connection, found_rows.c.run_id, ids))
        .order_by(found_rows.c.id)
    ):
        found[run_id, 0].append(row)
    return found


def _history_transactions(history: Table):
    def who(connection: Connection, rows: list) -> dict[tuple[int, int], list]:
        transactions = HistoryTransaction.__table__
        versions = {row.version for row in rows}
        found = {
            id_: [row]
            for id_, *row in connection.execute(
                select(transactions.c.id, transactions.c.issued_at, transactions.c.user_id, transactions.c.actor).where(
                    _among(connection, transactions.c.id, versions)
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
        sealed=entries.c.status == EntryStatus.POSTED.value,
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


Key = tuple[int, int]
"""A row of evidence: its id and its version (0 but for a history version, whose version is its transaction)."""

_MARKS = "unsealed before savepoints"


def pending(kind: str, row_id: int, version: int = 0, session: Session | None = None) -> None:
    """Seal, before the session's transaction commits, the row of ``kind`` with this id and version: a row this
    transaction inserted. (A row that is not evidence yet, a run still running, is left for a later commit.) Dropped
    if the transaction, or the savepoint it was registered in, is rolled back."""
    _register(session or db.session(), [(kind, row_id, version)])


def _register(session: Session, intents: Iterable[tuple[str, int, int]]) -> None:
    session.info.setdefault(_PENDING, []).extend(intents)


def written(connection: Connection, kind: str, keys: Iterable[Key]) -> None:
    """The rows of ``kind`` with these keys were inserted on ``connection``: sealed when the session's unit of
    work commits, or at once on a connection of its own (whose caller commits it)."""
    intents = [(kind, row_id, version) for row_id, version in keys]
    session = db.session()
    if session.in_transaction() and session.connection() is connection:
        _register(session, intents)
    else:
        seal_keys(connection, intents)


def untrusted(connection: Connection, kind: str, where: ColumnElement) -> set[int]:
    """The rows of ``kind`` that ``where`` selects and nothing vouches for: their seal is missing or fails, and
    this transaction did not insert them itself (what it inserted is sealed as it commits)."""
    session = db.session()
    own = {row_id for of, row_id, _version in session.info.get(_PENDING, []) if of == kind}
    return {finding.row_id for finding in verify(connection, kinds()[kind], where=where).findings} - own


def seal_pending(session: Session) -> None:
    """Seal the rows the transaction registered as it inserted them: those and no other."""
    session.flush()
    registered = session.info.pop(_PENDING, [])
    if registered:
        seal_keys(session.connection(), registered)


def _savepoint_begun(session: Session, transaction) -> None:
    if transaction.nested:
        session.info.setdefault(_MARKS, {})[transaction] = len(session.info.get(_PENDING, ()))


def _rolled_back(session: Session) -> None:
    """Forget what a rolled-back savepoint (the innermost still open while it rolls back) or transaction
    registered: its rows are gone, and a row inserted later with the same id is not the one it wrote."""
    savepoint = session.get_nested_transaction()
    registered = session.info.get(_PENDING)
    if savepoint is None:
        session.info.pop(_PENDING, None)
        session.info.pop(_MARKS, None)
    elif registered:
        del registered[session.info.get(_MARKS, {}).get(savepoint, 0) :]


def _ended(session: Session, transaction) -> None:
    if transaction.parent is None:
        session.info.pop(_PENDING, None)
        session.info.pop(_MARKS, None)


def _version_inserted(_mapper, connection: Connection, target) -> None:
    """A history version the ORM wrote (SQLAlchemy-Continuum, on the session's connection): sealed with the
    session's transaction."""
    intents = [(target.__table__.name, target.id, target.transaction_id)]
    for session, its in list(versioning_manager.session_connection_map.items()):
        if its is connection:
            _register(session, intents)
            return
    seal_keys(connection, intents)


def seal(connection: Connection, registered: Iterable[tuple[str, ColumnElement]]) -> None:
    """Seal at once the rows each ``(kind, where)`` selects that have no seal yet (rows the caller has just
    inserted, selected by the ids it gave them): one read per kind, one insert."""
    by_kind: dict[str, list[ColumnElement]] = defaultdict(list)
    for kind, where in registered:
        by_kind[kind].append(where)
    _seal(connection, {kind: (or_(*conditions), None) for kind, conditions in by_kind.items()})


def seal_keys(connection: Connection, intents: Iterable[tuple[str, int, int]]) -> None:
    """Seal the rows of each ``(kind, row_id, version)`` that have no seal yet: one read per kind, one insert."""
    by_kind: dict[str, set[Key]] = defaultdict(set)
    for kind, row_id, version in intents:
        by_kind[kind].add((row_id, version))
    known = kinds()
    _seal(connection, {kind: (_keyed(connection, known[kind], keys), keys) for kind, keys in by_kind.items()})


def _keyed(connection: Connection, evidence: Evidence, keys: set[Key]) -> ColumnElement:
    """The rows of ``evidence`` among ``keys`` (and perhaps others, :func:`_among`), by version."""
    by_version: dict[int, set[int]] = defaultdict(set)
    for row_id, version in keys:
        by_version[version].add(row_id)
    selected = []
    for version, ids in by_version.items():
        among = evidence.key == next(iter(ids)) if len(ids) == 1 else _among(connection, evidence.key, ids)
        selected.append(and_(_version(evidence) == version, among) if evidence.version else among)
    return or_(*selected)


def _seal(connection: Connection, selected: dict[str, tuple[ColumnElement, set[Key] | None]]) -> None:
    """Seal, kind by kind, the unsealed rows ``where`` selects, only those among ``keys`` when given. Never under
    another key than the evidence's (:class:`WrongSealKey`): what it sealed would not verify under the right one."""
    known = kinds()
    key = _key()
    sealed: list[dict] = []
    for kind, (where, keys) in selected.items():
        evidence = known[kind]
        rows = _unsealed(connection, evidence, where, fingerprinted=True)
        if keys is not None:
            rows = [row for row in rows if (row.row_id, row.version) in keys]
        if rows:
            _check_kept(connection, rows[0].kept_key)
            sealed += _sealing(connection, evidence, rows, key)
    if sealed:
        connection.execute(insert(seals), sealed)


_COVERED = 7
"""Where a row's covered values start in what :func:`_unsealed` reads: after its key, version, chain, link and the
kept fingerprint."""


def _unsealed(
    connection: Connection, evidence: Evidence, where: ColumnElement, *, all_: bool = False, fingerprinted: bool = False
) -> list:
    """The rows ``where`` selects that have no seal yet (or all of them), each with the row its seal follows and,
    when ``fingerprinted``, the fingerprint of the key the evidence is sealed with (``kept_key``): read in the same
    statement, so that sealing at commit checks the key without a statement of its own."""
    built = (evidence.kind, evidence.covered, all_, fingerprinted)
    if (query := _UNSEALED.get(built)) is None:
        query = _UNSEALED[built] = _unsealed_query(evidence, all_, fingerprinted)
    return list(connection.execute(query.where(where)))


_UNSEALED: dict[tuple, Select] = {}
"""Each kind's select of :func:`_unsealed`, by the columns its seal covers: built once, and at each commit only
the condition added."""


def _unsealed_query(evidence: Evidence, all_: bool, fingerprinted: bool) -> Select:
    table = evidence.table
    mine = seals.alias("mine")
    version = _version(evidence)
    conditions = [*([evidence.sealed] if evidence.sealed is not None else [])]
    if not all_:
        conditions.append(
            ~select(mine.c.row_id)
            .where(mine.c.kind == evidence.kind, mine.c.row_id == evidence.key, mine.c.version == version)
            .exists()
        )
    return (
        select(
            evidence.key.label("row_id"),
            version.label("version"),
            (table.c[evidence.chain] if evidence.chain else literal(None)).label("chain"),
            *_link(evidence),
            (_kept_query().scalar_subquery() if fingerprinted else literal(None)).label("kept_key"),
            *evidence.columns(),
        )
        .where(*conditions)
        .order_by(evidence.key, version)
    )


def _link(evidence: Evidence) -> list[ColumnElement]:
    """The row a new seal follows, read with the row: ``prev_row_id``, ``prev_version``, ``prev_seal``. In a
    customer's chain, the customer's last sealed movement; in a record's, its last sealed version; for a decision,
    its request."""
    table, before = evidence.table, seals.alias("before")
    if evidence.previous_kind is not None:
        row_id, version = evidence.key, literal(0)
        kind = evidence.previous_kind
    elif evidence.chain is not None and evidence.version is not None:
        row_id = evidence.key
        version = (
            select(func.max(before.c.version))
            .where(before.c.kind == evidence.kind, before.c.row_id == evidence.key)
            .correlate(table)  # the row's own, also where it is read again inside the previous seal's lookup
            .scalar_subquery()
        )
        kind = evidence.kind
    elif evidence.chain is not None:
        row_id = (
            select(func.max(before.c.row_id))
            .where(before.c.kind == evidence.kind, before.c.chain == table.c[evidence.chain])
            .correlate(table)  # the row's own chain, also inside the previous seal's lookup
            .scalar_subquery()
        )
        version, kind = literal(0), evidence.kind
    else:
        return [literal(None).label("prev_row_id"), literal(None).label("prev_version"), literal("").label("prev_seal")]
    found = (
        select(seals.c.seal)
        .where(seals.c.kind == kind, seals.c.row_id == row_id, seals.c.version == version)
        .correlate(table)
    )
    return [
        row_id.label("prev_row_id"),
        version.label("prev_version"),
        func.coalesce(found.scalar_subquery(), "").label("prev_seal"),
    ]


def _sealing(connection: Connection, evidence: Evidence, rows: list, key: bytes) -> list[dict]:
    details = evidence.details(connection, rows) if evidence.details else {}
    latest: dict = {}  # a chain's rows sealed in this batch: the next one follows them
    now = utcnow()
    sealed = []
    for row in rows:
        prev_row_id, prev_version, prev_seal = latest.get(row.chain) or (
            (row.prev_row_id, row.prev_version, row.prev_seal) if row.prev_seal else (None, None, "")
        )
        value = digest(
            key,
            evidence,
            row.row_id,
            row.version,
            row[_COVERED:],
            details.get((row.row_id, row.version), ()),
            prev_seal,
        )
        if evidence.chain is not None:
            latest[row.chain] = (row.row_id, row.version, value)
        sealed.append(
            {
                "kind": evidence.kind,
                "row_id": row.row_id,
                "version": row.version,
                "chain": row.chain,
                "prev_row_id": prev_row_id,
                "prev_version": prev_version,
                "seal": value,
                "sealed_at": now,
            }
        )
    return sealed


def digest(key: bytes, evidence: Evidence, row_id: int, version: int, values, details, previous: str) -> str:
    """The seal: HMAC-SHA256 of the row's canonical text and its chain's previous seal.

    A column is named beside its value and left out while it is NULL, so that a nullable column added to a table
    later leaves the seals of the rows before it valid.
    """
    named = "\x1f".join(
        [f"{name}={_text(value)}" for name, value in zip(evidence.covered, values, strict=True) if value is not None]
    )
    text = "\x1e".join(
        [evidence.kind, str(row_id), str(version), named, *[_canonical(detail) for detail in details], previous]
    )
    return hmac.digest(key, text.encode(), hashlib.sha256).hex()


def _canonical(values) -> str:
    return "\x1f".join(_text(value) for value in values)


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
    float: lambda value: _number(Decimal(repr(value))),  # float-ok: SQLite's numbers, read back exactly
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


def _key() -> bytes:
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


def fingerprint(key: bytes) -> str:
    """The key's fingerprint: an HMAC under it of a constant, which tells nothing of the key."""
    return hmac.digest(key, FINGERPRINTED, hashlib.sha256).hex()


def check_key(connection: Connection) -> None:
    """Raise :class:`WrongSealKey` unless ``SEAL_KEY`` is the key the evidence is sealed with. Where the database keeps
    no fingerprint yet (migration 0039 keeps the upgrade's), it keeps this key's, once."""
    mine = fingerprint(_key())
    kept = _kept_fingerprint(connection)
    if kept is None:
        connection.execute(
            upsert(connection.dialect.name, sealed_with)
            .values(id=1, fingerprint=mine, recorded_at=utcnow())
            .on_conflict_do_nothing(index_elements=[sealed_with.c.id])
        )
        kept = _kept_fingerprint(connection)
    if not hmac.compare_digest(kept, mine):
        raise WrongSealKey()


def key_is_right(connection: Connection) -> bool:
    """``SEAL_KEY`` is the key the evidence is sealed with (or none is known yet); nothing is written."""
    kept = _kept_fingerprint(connection)
    return kept is None or hmac.compare_digest(kept, fingerprint(_key()))


def _check_kept(connection: Connection, kept: str | None) -> None:
    """:func:`check_key`, given the fingerprint read with the rows to seal."""
    if kept is None:
        check_key(connection)
    elif not hmac.compare_digest(kept, fingerprint(_key())):
        raise WrongSealKey()


def _kept_fingerprint(connection: Connection) -> str | None:
    return connection.scalar(_kept_query())


def _kept_query() -> Select:
    return select(sealed_with.c.fingerprint).where(sealed_with.c.id == 1)


PROBLEMS = {
    "reviewed_then_changed": "it was changed after an admin reviewed it",
    "no_seal": "it has no seal: it was not written by the application",
    "previous_gone": "the row before it in its chain ({previous}) is gone",
    "seal_mismatch": "its seal does not match it: it was changed after it was written",
    "gone": "it was sealed but is gone",
}
"""Per problem code, what a finding says of its row in the logs, the reports and :attr:`Finding.what` (English); a
page says it from the code (:func:`problem_of`), in the reader's language."""

ANCHOR_BROKEN = "anchor_broken"
"""The problem code of a chain that no longer reaches its anchor (``backoffice.anchors``), said in its own words."""


@dataclass
class Finding:
    """A row whose seal is missing or wrong, or a seal whose row is gone."""

    evidence: Evidence
    row_id: int
    version: int
    code: str
    """What is wrong, as a key of :data:`PROBLEMS` or :data:`ANCHOR_BROKEN`."""
    customer_id: int | None = None
    entry_id: int | None = None
    previous: int | None = None
    """The row before it in its chain, when that row is gone."""
    said: str = ""
    """What is wrong in words of its own, for a problem :data:`PROBLEMS` has no words for."""

    @property
    def problem(self) -> str:
        return self.said or PROBLEMS[self.code].format(previous=self.previous)

    @property
    def what(self) -> str:
        version = f" (version {self.version})" if self.version else ""
        return f"{self.evidence.label} {self.row_id}{version} of {self.evidence.kind}: {self.problem}"[:300]


def problem_of(what: str) -> tuple[str | None, int | None]:
    """The problem code of a finding kept as its :attr:`Finding.what`, with the row before it when that is what is
    gone: ``(None, None)`` for words no code has (a text cut at its column's length)."""
    for code, english in PROBLEMS.items():
        pattern = re.escape(english).replace(re.escape("{previous}"), r"(\d+)")
        if (found := re.search(f": {pattern}$", what)) is not None:
            return code, int(found.group(1)) if found.groups() else None
    if ", the anchor of " in what:
        return ANCHOR_BROKEN, None
    return None, None


def version_of(what: str) -> int:
    """The version of a finding kept as its :attr:`Finding.what` (a history version's transaction); 0 for a row
    that has no versions."""
    found = re.match(r"[^:]*? \(version (\d+)\) of ", what)
    return int(found.group(1)) if found is not None else 0


@dataclass
class Verified:
    checked: int = 0
    findings: list[Finding] = field(default_factory=list)


def verify(
    connection: Connection,
    evidence: Evidence,
    low: int | None = None,
    high: int | None = None,
    *,
    where: ColumnElement | None = None,
) -> Verified:
    """Check the seal of every row of ``evidence`` with an id in ``[low, high]`` (or that ``where`` selects);
    name what fails. Under another key than the evidence's, nothing is checked: :class:`WrongSealKey`."""
    check_key(connection)
    table = evidence.table
    version = table.c[evidence.version] if evidence.version else literal(0)
    previous = seals.alias("previous")
    conditions = [*([evidence.sealed] if evidence.sealed is not None else [])]
    in_range = [where] if where is not None else []
    if low is not None:
        in_range += [evidence.key >= low, evidence.key <= high]
    customer = evidence.customer() if evidence.customer else literal(None)
    entry = evidence.entry() if evidence.entry else literal(None)
    query = (
        select(
            evidence.key.label("row_id"),
            version.label("version"),
            seals.c.seal,
            previous.c.seal.label("previous_seal"),
            seals.c.prev_row_id,
            customer.label("customer_id"),
            entry.label("entry_id"),
            *evidence.columns(),
        )
        .select_from(
            table.outerjoin(
                seals, and_(seals.c.kind == evidence.kind, seals.c.row_id == evidence.key, seals.c.version == version)
            ).outerjoin(
                previous,
                and_(
                    previous.c.kind == (evidence.previous_kind or evidence.kind),
                    previous.c.row_id == seals.c.prev_row_id,
                    previous.c.version == seals.c.prev_version,
                ),
            )
        )
        .where(*conditions, *in_range)
        .order_by(evidence.key, version)
    )
    rows = connection.execute(query).all()
    details = evidence.details(connection, rows) if evidence.details and rows else {}
    key = _key()
    reviewed = _reviewed(connection, evidence)
    result = Verified(checked=len(rows))
    for row in rows:
        problem, previous = None, None
        if (row.row_id, row.version) in reviewed:
            as_reviewed = digest(
                key, evidence, row.row_id, row.version, row[7:], details.get((row.row_id, row.version), ()), REVIEWED
            )
            if not hmac.compare_digest(as_reviewed, reviewed[row.row_id, row.version]):
                problem = "reviewed_then_changed"
        elif row.seal is None:
            problem = "no_seal"
        elif row.prev_row_id is not None and row.previous_seal is None:
            problem, previous = "previous_gone", row.prev_row_id
        else:
            expected = digest(
                key,
                evidence,
                row.row_id,
                row.version,
                row[7:],
                details.get((row.row_id, row.version), ()),
                row.previous_seal or "",
            )
            if not hmac.compare_digest(expected, row.seal):
                problem = "seal_mismatch"
        if problem:
            result.findings.append(
                Finding(evidence, row.row_id, row.version, problem, row.customer_id, row.entry_id, previous)
            )
    if where is None:
        result.findings.extend(_gone(connection, evidence, low, high))
    return result


REVIEWED = "reviewed"
"""What a reviewed row's seal covers in place of a previous seal."""


def _reviewed(connection: Connection, evidence: Evidence) -> dict[tuple[int, int], str]:
    """The rows of ``evidence`` an admin reviewed (reversed or accepted), with the seal of the row as reviewed: only
    decisions whose own seal holds vouch for a row, so that a decision written past the application leaves it
    tampered."""
    findings = TamperedEvidence.__table__
    reviewed = findings.c.kind == evidence.kind, findings.c.reviewed_seal.is_not(None)
    forged = set()
    if evidence.kind != "evidence_decisions":
        forged = {
            found.row_id for found in verify(connection, kinds()["evidence_decisions"], where=and_(*reviewed)).findings
        }
    return {
        (row_id, version): seal
        for id_, row_id, version, seal in connection.execute(
            select(findings.c.id, findings.c.row_id, findings.c.version, findings.c.reviewed_seal).where(*reviewed)
        )
        if id_ not in forged
    }


def reviewed_seal(connection: Connection, evidence: Evidence, row_id: int, version: int) -> str | None:
    """The seal of a row as it is now, as an admin's review vouches for it; None when the row is gone. Under another
    key than the evidence's, none: :class:`WrongSealKey`."""
    check_key(connection)
    rows = _unsealed(
        connection,
        replace(evidence, sealed=None),
        and_(evidence.key == row_id, _version(evidence) == version),
        all_=True,
    )
    if not rows:
        return None
    row = rows[0]
    details = evidence.details(connection, rows) if evidence.details else {}
    return digest(
        _key(), evidence, row.row_id, row.version, row[_COVERED:], details.get((row.row_id, row.version), ()), REVIEWED
    )


def _version(evidence: Evidence) -> ColumnElement:
    return evidence.table.c[evidence.version] if evidence.version else literal(0)


def _gone(connection: Connection, evidence: Evidence, low: int | None, high: int | None) -> list[Finding]:
    """Seals whose row is no longer there (or no longer evidence)."""
    table = evidence.table
    version = table.c[evidence.version] if evidence.version else literal(0)
    there = select(evidence.key).where(
        evidence.key == seals.c.row_id,
        version == seals.c.version,
        *([evidence.sealed] if evidence.sealed is not None else []),
    )
    query = select(seals.c.row_id, seals.c.version, seals.c.chain).where(seals.c.kind == evidence.kind, ~there.exists())
    if low is not None:
        query = query.where(seals.c.row_id >= low, seals.c.row_id <= high)
    customer_chain = evidence.chain == "customer_id"
    reviewed = _reviewed(connection, evidence)
    return [
        Finding(evidence, row_id, version_, "gone", chain if customer_chain else None)
        for row_id, version_, chain in connection.execute(query)
        if (row_id, version_) not in reviewed
    ]


def bounds(connection: Connection, evidence: Evidence) -> tuple[int | None, int | None]:
    low, high = connection.execute(
        select(func.min(evidence.key), func.max(evidence.key)).where(
            *([evidence.sealed] if evidence.sealed is not None else [])
        )
    ).one()
    sealed_low, sealed_high = connection.execute(
        select(func.min(seals.c.row_id), func.max(seals.c.row_id)).where(seals.c.kind == evidence.kind)
    ).one()
    lows = [value for value in (low, sealed_low) if value is not None]
    highs = [value for value in (high, sealed_high) if value is not None]
    return (min(lows) if lows else None), (max(highs) if highs else None)


def seal_existing(connection: Connection) -> None:
    """Seal every row of evidence there is, as the database holds it now: once, the day sealing starts (migration
    0032). Kinds whose tables or columns a later migration creates are left out, and so are the columns it adds
    (NULL until written, they are left out of a seal anyway)."""
    inspector = inspect(connection)
    tables = set(inspector.get_table_names())
    key = _key()
    for evidence in kinds().values():
        if evidence.table.name not in tables:
            continue
        present = {column["name"] for column in inspector.get_columns(evidence.table.name)}
        covered = tuple(name for name in evidence.covered if name in present)
        if not covered:
            continue
        there = replace(evidence, covered=covered)
        rows = _unsealed(connection, there, literal(True))
        if rows:
            connection.execute(insert(seals), _sealing(connection, there, rows, key))


def _request_asked(_mapper, _connection, target: ApprovalRequest) -> None:
    pending("approval_requests", target.id, session=object_session(target))


def _request_decided(_mapper, _connection, target: ApprovalRequest) -> None:
    """A request approved first, or decided: what of it is evidence by now is sealed (each once)."""
    session = object_session(target)
    pending("approval_first_approvals", target.id, session=session)
    pending("approval_decisions", target.id, session=session)


_LISTENERS = (
    (ApprovalRequest, "after_insert", _request_asked),
    (ApprovalRequest, "after_update", _request_decided),
    (Session, "before_commit", seal_pending),
    (Session, "after_transaction_create", _savepoint_begun),
    (Session, "after_rollback", _rolled_back),
    (Session, "after_transaction_end", _ended),
)


def register() -> None:
    """Seal each transaction's evidence before it commits (idempotent)."""
    for target, name, listener in _LISTENERS:
        if not event.contains(target, name, listener):
            event.listen(target, name, listener)
    if not event.contains(VersionClassBase, "after_insert", _version_inserted):
        event.listen(VersionClassBase, "after_insert", _version_inserted, propagate=True)
    versions_written.connect(_versions_written)


def _versions_written(connection: Connection, *, kind: str, keys: list[Key], own: bool) -> None:
    """History versions written by hand (:func:`backoffice.models.history.record`): sealed at once on a connection of
    their own, else with the session's transaction."""
    intents = [(kind, row_id, version) for row_id, version in keys]
    if own:
        seal_keys(connection, intents)
    else:
        _register(db.session(), intents)
