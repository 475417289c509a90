"""Sealing the evidence as it is written.

A transaction registers each row of evidence it inserts, and those rows, and no others, are sealed just before it
commits, each seal covering the one before it in its chain. What a rolled-back savepoint or transaction registered is
forgotten with it. The listeners that do it are registered in :mod:`backoffice.services.listeners`.
"""

from __future__ import annotations

import hmac
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    CompoundSelect,
    Integer,
    Select,
    and_,
    any_,
    bindparam,
    cast,
    func,
    insert,
    inspect,
    literal,
    literal_column,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, object_session
from sqlalchemy_continuum import versioning_manager

from backoffice.evidence import reading
from backoffice.evidence.seals import (
    Evidence,
    Key,
    among,
    check_kept,
    digest,
    kept_query,
    kinds,
    seal_key,
    seals,
    version_column,
)
from backoffice.models import (
    ApprovalRequest,
)
from backoffice.models.types import constant, utcnow
from backoffice.platform.extensions import db

_PENDING = "unsealed"
_MARKS = "unsealed before savepoints"


def pending(kind: str, row_id: int, version: int = 0, session: Session | None = None) -> None:
    """Seal, before the session's transaction commits, the row of ``kind`` with this id and version: a row this
    transaction inserted. (A row that is not evidence yet, a run still running, is left for a later commit.) Dropped
    if the transaction, or the savepoint it was registered in, is rolled back."""
    _register(session or db.session(), [(kind, row_id, version)])


def registered(session: Session) -> list[tuple[str, int, int]]:
    """What the session's transaction inserted and registered, to be sealed when it commits: kind, id, version."""
    return session.info.get(_PENDING, [])


def _register(session: Session, intents: Iterable[tuple[str, int, int]]) -> None:
    session.info.setdefault(_PENDING, []).extend(intents)


def written(connection: Connection, kind: str, keys: Iterable[Key]) -> None:
    """The rows of ``kind`` with these keys were inserted on ``connection``: sealed when the session's unit of
    work commits, or at once on a connection of its own (whose caller commits it)."""
    rows_written(connection, [(kind, row_id, version) for row_id, version in keys])


def rows_written(connection: Connection, intents: list[tuple[str, int, int]]) -> None:
    """:func:`written`, for rows of several kinds (``(kind, row_id, version)``, in the order they were written)."""
    session = db.session()
    if session.in_transaction() and session.connection() is connection:
        _register(session, intents)
    else:
        seal_keys(connection, intents)


def seal_pending(session: Session) -> None:
    """Seal the rows the transaction registered as it inserted them: those and no other."""
    session.flush()
    registered = session.info.pop(_PENDING, [])
    if registered:
        seal_keys(session.connection(), registered)


def savepoint_begun(session: Session, transaction) -> None:
    if transaction.nested:
        session.info.setdefault(_MARKS, {})[transaction] = len(session.info.get(_PENDING, ()))


def rolled_back(session: Session) -> None:
    """Forget what a rolled-back savepoint (the innermost still open while it rolls back) or transaction
    registered: its rows are gone, and a row inserted later with the same id is not the one it wrote."""
    savepoint = session.get_nested_transaction()
    registered = session.info.get(_PENDING)
    if savepoint is None:
        session.info.pop(_PENDING, None)
        session.info.pop(_MARKS, None)
    elif registered:
        del registered[session.info.get(_MARKS, {}).get(savepoint, 0) :]


def transaction_ended(session: Session, transaction) -> None:
    if transaction.parent is None:
        session.info.pop(_PENDING, None)
        session.info.pop(_MARKS, None)


def version_inserted(_mapper, connection: Connection, target) -> None:
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
    """Seal the rows of each ``(kind, row_id, version)`` that have no seal yet: one insert. The kinds whose canonical
    text PostgreSQL makes are read in one statement, text made (:func:`_seal_made`); each other kind in a read of its
    own."""
    by_kind: dict[str, set[Key]] = defaultdict(set)
    for kind, row_id, version in intents:
        by_kind[kind].add((row_id, version))
    known = kinds()
    made = {kind: keys for kind, keys in by_kind.items() if _made(known[kind]) is not None}
    sealed = _seal_made(connection, made) if made else []
    _seal(
        connection,
        {kind: (_keyed(known[kind], keys), keys) for kind, keys in by_kind.items() if kind not in made},
        sealed,
    )


def _keyed(evidence: Evidence, keys: set[Key]) -> ColumnElement:
    """The rows of ``evidence`` among ``keys`` (and perhaps others, :func:`among`), by version."""
    by_version: dict[int, set[int]] = defaultdict(set)
    for row_id, version in keys:
        by_version[version].add(row_id)
    selected = []
    for version, ids in by_version.items():
        chosen = evidence.key == next(iter(ids)) if len(ids) == 1 else among(evidence.key, ids)
        selected.append(and_(version_column(evidence) == version, chosen) if evidence.version else chosen)
    return or_(*selected)


def _seal(
    connection: Connection, selected: dict[str, tuple[ColumnElement, set[Key] | None]], sealed: list[dict] | None = None
) -> None:
    """Seal, kind by kind, the unsealed rows ``where`` selects, only those among ``keys`` when given, with the seals
    already made (``sealed``) in one insert. Never under another key than the evidence's (:class:`WrongSealKey`):
    what it sealed would not verify under the right one."""
    known = kinds()
    key = seal_key()
    sealed = sealed or []
    for kind, (where, keys) in selected.items():
        evidence = known[kind]
        rows = unsealed(connection, evidence, where, fingerprinted=True)
        if keys is not None:
            rows = [row for row in rows if (row.row_id, row.version) in keys]
        if rows:
            check_kept(connection, rows[0].kept_key)
            sealed += _sealing(connection, evidence, rows, key)
    if sealed:
        connection.execute(_INSERT, sealed)


_INSERT = insert(seals)
"""The insert of the seals made, all in one execution: built once, as a statement built anew at every commit would
have its key for SQLAlchemy's cache made anew."""


def _seal_made(connection: Connection, keyed: dict[str, set[Key]]) -> list[dict]:
    """The seals of the unsealed rows among ``keyed``'s, read in one statement with their canonical text made by
    PostgreSQL (:mod:`backoffice.evidence.reading`): an HMAC each, chained as :func:`_sealing` chains them."""
    order = tuple(sorted(keyed))
    given = {}
    for n, kind in enumerate(order):
        ids, versions = zip(*keyed[kind], strict=True)
        if len(ids) == 1:
            given[f"row_{n}_id"], given[f"row_{n}_version"] = ids[0], versions[0]
        else:
            given[f"row_{n}_id"], given[f"row_{n}_version"] = sorted(set(ids)), sorted(set(versions))
    rows = connection.execute(made_read(tuple((kind, len(keyed[kind]) == 1) for kind in order)), given).all()
    if not rows:
        return []
    check_kept(connection, rows[0][7])
    key = seal_key()
    latest: dict = {}  # a chain's rows sealed in this batch: the next one follows them
    now = utcnow()
    sealed = []
    for n, row_id, version, chain, prev_row_id, prev_version, prev_seal, _kept, text in rows:
        kind = order[n]
        if (row_id, version) not in keyed[kind]:
            continue
        if chain is not None and (kind, chain) in latest:
            prev_row_id, prev_version, prev_seal = latest[kind, chain]
        elif not prev_seal:
            prev_row_id, prev_version, prev_seal = None, None, ""
        value = hmac.digest(key, text + reading.SEPARATOR + prev_seal.encode(), "sha256").hex()
        if chain is not None:
            latest[kind, chain] = (row_id, version, value)
        sealed.append(
            {
                "kind": kind,
                "row_id": row_id,
                "version": version,
                "chain": chain,
                "prev_row_id": prev_row_id,
                "prev_version": prev_version,
                "seal": value,
                "sealed_at": now,
            }
        )
    return sealed


def made_read(shape: tuple[tuple[str, bool], ...]) -> CompoundSelect:
    """The read of :func:`_seal_made` for these kinds, each with whether it seals one row: built once."""
    query = _MADE.get(shape)
    if query is None:
        query = _MADE[shape] = union_all(
            *(_made_query(n, kinds()[kind], one) for n, (kind, one) in enumerate(shape))
        ).order_by("n", "row_id", "version")
    return query


_MADE: dict[tuple[tuple[str, bool], ...], CompoundSelect] = {}
"""The read of :func:`_seal_made`, by the kinds it reads and whether each is one row: built once."""


def _made(evidence: Evidence) -> ColumnElement | None:
    """The kind's canonical text as PostgreSQL makes it, or None where only Python makes it: built once a kind."""
    built = (evidence.kind, evidence.covered)
    if built not in _TEXTS:
        _TEXTS[built] = reading.canonical(evidence)
    return _TEXTS[built]


_TEXTS: dict[tuple, ColumnElement | None] = {}


def _made_query(n: int, evidence: Evidence, one: bool) -> Select:
    """The unsealed rows of ``evidence`` with the id and version bound as ``row_<n>_id`` and ``row_<n>_version`` (when
    ``one``; else among those bound as arrays), as :func:`unsealed_query` reads them, with the canonical text in place
    of the covered columns. One row is selected by equality, so that the statement prepared for a single movement's
    commit keeps one plan rather than being planned again for each array of ids."""
    version = version_column(evidence)
    mine = seals.alias("mine")
    conditions = [
        *([evidence.sealed] if evidence.sealed is not None else []),
        ~select(mine.c.row_id)
        .where(mine.c.kind == constant(evidence.kind), mine.c.row_id == evidence.key, mine.c.version == version)
        .exists(),
    ]
    columns = [(evidence.key, f"row_{n}_id")] + ([(version, f"row_{n}_version")] if evidence.version else [])
    for column, name in columns:
        conditions.append(
            column == bindparam(name, type_=Integer) if one else column == any_(bindparam(name, type_=ARRAY(Integer)))
        )
    return select(
        literal_column(str(n), Integer).label("n"),
        evidence.key.label("row_id"),
        cast(version, Integer).label("version"),
        cast(_chain(evidence), Integer).label("chain"),
        *_link(evidence),
        kept_query().scalar_subquery().label("kept_key"),
        _made(evidence).label("text"),
    ).where(*conditions)


def _chain(evidence: Evidence) -> ColumnElement:
    return evidence.table.c[evidence.chain] if evidence.chain else null()


COVERED = 7
"""Where a row's covered values start in what :func:`_unsealed` reads: after its key, version, chain, link and the
kept fingerprint."""


def unsealed(
    connection: Connection, evidence: Evidence, where: ColumnElement, *, all_: bool = False, fingerprinted: bool = False
) -> list:
    """The rows ``where`` selects that have no seal yet (or all of them), each with the row its seal follows and,
    when ``fingerprinted``, the fingerprint of the key the evidence is sealed with (``kept_key``): read in the same
    statement, so that sealing at commit checks the key without a statement of its own."""
    built = (evidence.kind, evidence.covered, all_, fingerprinted)
    if (query := _UNSEALED.get(built)) is None:
        query = _UNSEALED[built] = unsealed_query(evidence, all_, fingerprinted)
    return list(connection.execute(query.where(where)))


_UNSEALED: dict[tuple, Select] = {}
"""Each kind's select of :func:`_unsealed`, by the columns its seal covers: built once, and at each commit only
the condition added."""


def unsealed_query(evidence: Evidence, all_: bool, fingerprinted: bool) -> Select:
    table = evidence.table
    mine = seals.alias("mine")
    version = version_column(evidence)
    conditions = [*([evidence.sealed] if evidence.sealed is not None else [])]
    if not all_:
        # Each row's seal looked up by its key, one probe of the seals' primary key a row: as a NOT EXISTS, the
        # planner, its estimate of a kind's seals stale after a day's writes (one row where there were 12,000), took
        # the anti-join as a loop over every seal of the kind for each row, and sealing a re-pricing's 720 rows grew
        # with every movement the kind had (0.55 s once a customer's readings had been corrected nine times).
        conditions.append(
            select(literal(1))
            .where(mine.c.kind == evidence.kind, mine.c.row_id == evidence.key, mine.c.version == version)
            .limit(1)
            .scalar_subquery()
            .is_(None)
        )
    return (
        select(
            evidence.key.label("row_id"),
            version.label("version"),
            (table.c[evidence.chain] if evidence.chain else literal(None)).label("chain"),
            *_link(evidence),
            (kept_query().scalar_subquery() if fingerprinted else literal(None)).label("kept_key"),
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
        row_id, version = evidence.key, constant(0)
        kind = evidence.previous_kind
    elif evidence.chain is not None and evidence.version is not None:
        row_id = evidence.key
        version = (
            select(func.max(before.c.version))
            .where(before.c.kind == constant(evidence.kind), before.c.row_id == evidence.key)
            .correlate(table)  # the row's own, also where it is read again inside the previous seal's lookup
            .scalar_subquery()
        )
        kind = evidence.kind
    elif evidence.chain is not None:
        row_id = (
            select(func.max(before.c.row_id))
            .where(before.c.kind == constant(evidence.kind), before.c.chain == table.c[evidence.chain])
            .correlate(table)  # the row's own chain, also inside the previous seal's lookup
            .scalar_subquery()
        )
        version, kind = constant(0), evidence.kind
    else:
        return [
            constant(None).label("prev_row_id"),
            constant(None).label("prev_version"),
            constant("").label("prev_seal"),
        ]
    found = (
        select(seals.c.seal)
        .where(seals.c.kind == constant(kind), seals.c.row_id == row_id, seals.c.version == version)
        .correlate(table)
    )
    return [
        row_id.label("prev_row_id"),
        version.label("prev_version"),
        func.coalesce(found.scalar_subquery(), constant("")).label("prev_seal"),
    ]


def _sealing(connection: Connection, evidence: Evidence, rows: list, key: bytes) -> list[dict]:
    details = reading.details(connection, evidence, rows) if evidence.details else {}
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
            row[COVERED:],
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


def seal_existing(connection: Connection) -> None:
    """Seal every row of evidence there is, as the database holds it now: once, the day sealing starts (migration
    0032). Kinds whose tables or columns a later migration creates are left out, and so are the columns it adds
    (NULL until written, they are left out of a seal anyway)."""
    inspector = inspect(connection)
    tables = set(inspector.get_table_names())
    key = seal_key()
    for evidence in kinds().values():
        if evidence.table.name not in tables:
            continue
        present = {column["name"] for column in inspector.get_columns(evidence.table.name)}
        covered = tuple(name for name in evidence.covered if name in present)
        if not covered:
            continue
        there = replace(evidence, covered=covered)
        rows = unsealed(connection, there, literal(True))
        if rows:
            connection.execute(_INSERT, _sealing(connection, there, rows, key))


def request_asked(_mapper, _connection, target: ApprovalRequest) -> None:
    pending("approval_requests", target.id, session=object_session(target))


def request_decided(_mapper, _connection, target: ApprovalRequest) -> None:
    """A request approved first, or decided: what of it is evidence by now is sealed (each once)."""
    session = object_session(target)
    pending("approval_first_approvals", target.id, session=session)
    pending("approval_decisions", target.id, session=session)


def versions_written_by_hand(connection: Connection, *, kind: str, keys: list[Key], own: bool) -> None:
    """History versions written by hand (:func:`backoffice.models.history.record`): sealed at once on a connection of
    their own, else with the session's transaction."""
    intents = [(kind, row_id, version) for row_id, version in keys]
    if own:
        seal_keys(connection, intents)
    else:
        _register(db.session(), intents)
