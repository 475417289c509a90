"""The heads of the sealed chains, anchored outside the database every night, and the proof that each chain still
reaches its anchor.

A seal vouches for its row and the row before it, so a chain's newest rows could be deleted with their seals and no
seal left would tell. So each night that succeeds writes every chain's length and last seal to
``BACKOFFICE_ANCHORS_FOLDER``, out of the database roles' reach. :mod:`backoffice.evidence.chain_proof` proves the
chains against them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy import func, insert, or_, select, text, true
from sqlalchemy.dialects.postgresql import insert as upsert
from sqlalchemy.engine import Connection

from backoffice.evidence import sealing, seals, verifying
from backoffice.models import AnchorRecord, EvidenceMark, SealKey, TamperedEvidence
from backoffice.models.types import utcnow
from backoffice.platform import databases

log = logging.getLogger("backoffice.evidence.anchors")

LATEST = "latest.json"
BATCH = 5_000
"""Anchored rows looked up per statement when a chain is proved."""
CHAIN_STRIPE = 100
"""Chain keys per stripe of the chains (a customer's id for its wallet movements, a record's for its history; a kind
whose rows stand alone counts as key 0): a night anchors and proves one stripe in ``BACKOFFICE_SEAL_SWEEP_DAYS``
whole, as the seals' sweep verifies its rows."""
LATE = timedelta(days=1)
"""How long before an anchor was taken a seal still counts as sealed after it: a transaction open across the anchor
seals with the moment it ran, yet commits after."""


@dataclass(frozen=True)
class Head:
    """The newest sealed row of one chain and how many sealed rows the chain has."""

    kind: str
    chain: int | None
    """The chain key (a customer's id for wallet movements, a record's id for history); ``None``: the kind's rows
    stand alone, counted as one chain."""
    length: int | None
    """``None`` in a delta, which anchors the chain's newest row alone: its length is its stripe's to anchor."""
    row_id: int
    version: int
    seal: str

    def listed(self) -> list:
        return [self.kind, self.chain, self.length, self.row_id, self.version, self.seal]


@dataclass(frozen=True)
class Anchor:
    day: str
    digest: str
    chains: int
    at: str
    run_id: int | None = None
    database: str = ""
    """The identity of the database it describes (``seal_key.database``)."""
    previous: str | None = None
    """The seal of the anchor before it; none for the first."""
    deleted: dict[str, int] = field(default_factory=dict)
    """PostgreSQL: the rows deleted, ever, from each table of evidence, as the database's statistics counted them when
    it was taken (:func:`deletions`): none should be, and any deleted after it is found the next night."""
    delta: bool = False
    """Its heads are those of the chains sealed since the anchor before it; else every chain's."""
    marks: dict[str, list[int]] = field(default_factory=dict)
    """Per kind of evidence, the highest row id and version anchored so far."""
    stripe: dict = field(default_factory=dict)
    """The stripe of chains whose heads, with their lengths, it wrote to the stripe's file (:func:`stripe_file`): its
    phase and period, the digest of its heads, how many, and the moment they were read."""
    seal: str = ""
    """An HMAC under the seal key of everything else it says (:func:`sealed`)."""


ADDED = {"delta": False, "marks": {}, "stripe": {}}
"""What anchors came to say after their first ones, and its value when they say nothing of it: left out of the seal
then, so that an anchor written before still proves (as a seal leaves out a column while it is NULL)."""


class AnchorRefused(RuntimeError):
    """Tonight's anchor is not written: the folder is another database's, or does not match the database's record of
    its anchors and no admin has decided on it yet."""


@dataclass
class Proof:
    """The anchors folder against the database's record of the anchors written to it: the latest anchor with its
    heads when both agree; else what is wrong, by name (each a finding), or why the folder is not this database's."""

    record: AnchorRecord | None = None
    anchor: Anchor | None = None
    heads: list[Head] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    foreign: str | None = None


def heads(connection: Connection, stripe: verifying.Stripes | None = None) -> list[Head]:
    """The head of every sealed chain with its length (of the chains of ``stripe`` alone, when given): per kind, one
    statement over its seals, read by ranges of chain keys for a stripe."""
    table = seals.seals
    found: list[Head] = []
    for kind, evidence in seals.kinds().items():
        where = [table.c.kind == kind]
        if stripe is not None:
            if evidence.chain is None:
                if not stripe.contains(0):
                    continue
            else:
                low, high = connection.execute(
                    select(func.min(table.c.chain), func.max(table.c.chain)).where(table.c.kind == kind)
                ).one()
                ranges = stripe.ranges(low, high) if low is not None else []
                arms = [table.c.chain.between(first, last) for first, last in ranges]
                if stripe.contains(0):  # rows of no chain key (a decision on a run) are a chain of key 0's stripe
                    arms.append(table.c.chain.is_(None))
                if not arms:
                    continue
                where.append(or_(*arms))
        ranked = (
            select(
                table.c.chain,
                table.c.row_id,
                table.c.version,
                table.c.seal,
                func.count().over(partition_by=table.c.chain).label("length"),
                func.row_number()
                .over(partition_by=table.c.chain, order_by=(table.c.row_id.desc(), table.c.version.desc()))
                .label("place"),
            )
            .where(*where)
            .subquery()
        )
        for chain, row_id, version, seal, length, _place in connection.execute(
            select(ranked).where(ranked.c.place == 1)
        ):
            found.append(Head(kind, chain, length, row_id, version, seal))
    return _ordered(found)


def changed(connection: Connection, since: datetime) -> list[Head]:
    """The newest sealed row of each chain sealed after ``since``, without its length: per kind, the chains read by
    the seals' moment, each chain's newest seal by the chain's index."""
    table = seals.seals
    newest = table.alias("newest")
    found: list[Head] = []
    for kind, evidence in seals.kinds().items():
        sealed = select(table.c.chain).where(table.c.kind == kind, table.c.sealed_at > since)
        # The rows of no chain key are one chain: every row of a kind whose rows stand alone, a decision on a run.
        if connection.execute(sealed.where(table.c.chain.is_(None)).limit(1)).first() is not None:
            head = connection.execute(
                select(table.c.row_id, table.c.version, table.c.seal)
                .where(table.c.kind == kind, table.c.chain.is_(None))
                .order_by(table.c.row_id.desc(), table.c.version.desc())
                .limit(1)
            ).one()
            found.append(Head(kind, None, None, *head))
        if evidence.chain is None:
            continue
        touched = sealed.where(table.c.chain.is_not(None)).distinct().subquery()
        last = (
            select(newest.c.row_id, newest.c.version, newest.c.seal)
            .where(newest.c.kind == kind, newest.c.chain == touched.c.chain)
            .order_by(newest.c.row_id.desc(), newest.c.version.desc())
            .limit(1)
            .lateral()
        )
        for chain, row_id, version, seal in connection.execute(
            select(touched.c.chain, last.c.row_id, last.c.version, last.c.seal).select_from(touched.join(last, true()))
        ):
            found.append(Head(kind, chain, None, row_id, version, seal))
    return _ordered(found)


def _ordered(found: list[Head]) -> list[Head]:
    return sorted(found, key=lambda head: (head.kind, -1 if head.chain is None else head.chain))


def stripe_of(day: date) -> verifying.Stripes:
    """The stripe of chains the night of ``day`` anchors and proves: one in ``BACKOFFICE_SEAL_SWEEP_DAYS``, so that
    as many consecutive nights cover every chain."""
    days = current_app.config["SEAL_SWEEP_DAYS"]
    return verifying.Stripes(CHAIN_STRIPE, days, day.toordinal() % days)


def stripe_file(phase: int) -> Path:
    return anchors_folder() / f"stripe-{phase}.json"


def dated(day: str, ordinal: int) -> str:
    """The name of the file of the ``ordinal``-th anchor (from 1) of ``day``."""
    return f"{day}.json" if ordinal == 1 else f"{day}.{ordinal}.json"


def recorded_anchors(day: str | None = None):
    """The anchors the database recorded (of ``day`` alone, when given), each with its ``ordinal`` among its day's:
    the name of its file (:func:`dated`)."""
    table = AnchorRecord.__table__
    ordinal = func.row_number().over(partition_by=table.c.day, order_by=table.c.id).label("ordinal")
    return select(table, ordinal).where(*([table.c.day == day] if day is not None else [])).subquery()


def digest(listed: list[Head]) -> str:
    """SHA-256 over the heads' canonical listing: a line per chain, its fields tab-separated, in kind and chain
    order."""
    text = "".join("\t".join("" if field is None else str(field) for field in head.listed()) + "\n" for head in listed)
    return hashlib.sha256(text.encode()).hexdigest()


def anchor(
    connection: Connection, day: date, run_id: int | None = None, timings: dict[str, int] | None = None
) -> Anchor:
    """Write the heads of every chain now under ``day``'s file and the anchor to ``latest.json``, and record it in the
    database, sealed, in the connection's transaction (the caller commits); log it. Raises :class:`AnchorRefused`,
    writing nothing, when the folder is another database's, or does not match the database's record and an admin has
    not decided on it: an anchor written over it would hide what happened. ``timings``, if given, gets how long
    reading the heads of the night's stripe of the chains took (``stripe_ms``), the anchors' share of the sweep."""
    databases.without_jit(connection)
    proof = prove(connection)
    if proof.foreign:
        raise AnchorRefused(proof.foreign)
    if waiting := undecided_problems(connection, proof):
        raise AnchorRefused(f"Not anchored: {'; '.join(waiting)}. An admin decides on it under Tampered evidence.")
    mine = identity(connection)
    if mine is None:
        raise AnchorRefused("this database's identity (seal_key.database) is missing or its seal does not hold")
    previous = proof.anchor
    stripe, swept = {}, None
    if previous is None:
        listed = heads(connection)
        highest = _marks(listed, {})
    else:
        listed = changed(connection, datetime.fromisoformat(previous.at) - LATE)
        highest = _marks(listed, marks(previous, proof.heads))
        swept = stripe_of(day)
        started = time.monotonic()
        stripe_heads = heads(connection, swept)
        if timings is not None:
            timings["stripe_ms"] = int((time.monotonic() - started) * 1000)
    at = utcnow().isoformat(timespec="seconds")
    if swept is not None:
        stripe = {"phase": swept.phase, "period": swept.period, "digest": digest(stripe_heads)}
        stripe |= {"chains": len(stripe_heads), "at": at}
    made = Anchor(
        day.isoformat(),
        digest(listed),
        len(listed),
        at,
        run_id,
        database=mine,
        previous=proof.record.file_seal if proof.record is not None else None,
        deleted=deletions(connection),
        delta=previous is not None,
        marks=highest,
        stripe=stripe,
    )
    made = replace(made, seal=sealed(made))
    table = AnchorRecord.__table__
    record_id = connection.execute(
        insert(table)
        .values(
            day=made.day,
            digest=made.digest,
            chains=made.chains,
            previous=made.previous,
            file_seal=made.seal,
            run_id=run_id,
            anchored_at=utcnow(),
        )
        .returning(table.c.id)
    ).scalar_one()
    sealing.written(connection, "anchor_records", [(record_id, 0)])
    _keep_marks(connection, highest)
    folder = anchors_folder()
    if swept is not None:
        _write(stripe_file(swept.phase), {"day": made.day, "heads": [head.listed() for head in stripe_heads]})
    of_the_day = recorded_anchors(made.day)
    ordinal = connection.execute(select(of_the_day.c.ordinal).where(of_the_day.c.id == record_id)).scalar_one()
    _write(folder / dated(made.day, ordinal), vars(made) | {"heads": [head.listed() for head in listed]})
    _write(folder / LATEST, vars(made))
    log.info(
        "Anchored %d chains of sealed evidence of %s%s: sha256 %s (%s)",
        made.chains,
        made.day,
        f" sealed since the anchor of {previous.day}, and the {len(stripe_heads)} of stripe {swept.phase + 1} of "
        f"{swept.period} whole"
        if swept is not None
        else "",
        made.digest,
        folder,
    )
    return made


def marks(made: Anchor, listed: list[Head]) -> dict[str, list[int]]:
    """Per kind of evidence, the highest row id and version anchored so far, as the anchor ``made`` with its heads
    ``listed`` says (an anchor written before it kept them: of its heads)."""
    return made.marks or _marks(listed, {})


def _marks(listed: list[Head], marks: dict[str, list[int]]) -> dict[str, list[int]]:
    """``marks`` raised to the heads' highest row id and version, per kind."""
    raised = {kind: list(mark) for kind, mark in marks.items()}
    for head in listed:
        row_id, version = raised.get(head.kind, (head.row_id, head.version))
        raised[head.kind] = [max(row_id, head.row_id), max(version, head.version)]
    return raised


def sealed(made: Anchor) -> str:
    """The anchor's seal: an HMAC under the seal key of all it says but its seal, as canonical JSON."""
    said = {
        name: value
        for name, value in vars(made).items()
        if name != "seal" and not (name in ADDED and value == ADDED[name])
    }
    return hmac.digest(seals.seal_key(), json.dumps(said, sort_keys=True).encode(), hashlib.sha256).hex()


def identity(connection: Connection) -> str | None:
    """This database's identity, when its seal holds (migration 0049 made and sealed it)."""
    kept = connection.execute(select(SealKey.database, SealKey.database_seal)).first()
    if kept is None or kept.database is None or kept.database_seal is None:
        return None
    return kept.database if seals.same(kept.database_seal, seals.identity_seal(kept.database)) else None


def latest() -> Anchor | None:
    """The latest anchor, as ``latest.json`` says; ``None`` before the first, and when it cannot be read (logged)."""
    try:
        return read_file(anchors_folder() / LATEST)
    except Unreadable as error:
        log.error("The anchor file %s cannot be read: %s", anchors_folder() / LATEST, error)
        return None


def anchored(connection: Connection) -> tuple[Anchor, list[Head]] | None:
    """The latest anchor with the heads its dated file keeps, when the folder agrees with the database's record of its
    anchors; ``None`` before the first, and when it does not (nothing is proved against it: :func:`prove` says why)."""
    proof = prove(connection)
    return (proof.anchor, proof.heads) if proof.anchor is not None else None


def prove(connection: Connection, *, whole: bool = True) -> Proof:
    """The anchors folder against the database's record of its anchors (:class:`Proof`). Not ``whole``: the dated
    file's heads are not read (one per chain, a customer's wallet each), only that it is there: the health check asks
    at every poll, the nightly reads it whole."""
    mine = identity(connection)
    record = _latest_record(connection)
    proof = Proof(record=record)
    folder = anchors_folder()
    said = _latest_file(folder, record, proof)
    if mine is None and (record is not None or said is not None or proof.problems):
        proof.problems.append("this database's identity (seal_key.database) is missing or its seal does not hold")
    if said is not None and mine is not None and said.database != mine:
        proof.foreign = (
            f"The anchors folder {folder} holds the anchors of another database ({said.database or 'unnamed'}), not "
            f"this one's ({mine}): set BACKOFFICE_ANCHORS_FOLDER to this database's own folder."
        )
        return proof
    if record is None:
        if said is not None:
            proof.problems.append(f"{LATEST} holds the anchor of {said.day}, of which the database has no record")
        return proof
    if said is None:
        if not proof.problems:
            proof.problems.append(f"{LATEST} is missing" + _last(record))
        return proof
    if not seals.same(said.seal, sealed(said)):
        proof.problems.append(f"{LATEST} was edited: its seal does not hold (it says {said.day}, {said.digest[:16]})")
    elif said.seal != record.file_seal:
        proof.problems.append(
            f"{LATEST} holds the anchor of {said.day}, not the last one written, that of {record.day}: an older or "
            "another anchor was put in its place"
        )
    _prove_dated(folder / dated(record.day, record.ordinal), record, proof, whole=whole)
    return proof


def _latest_record(connection: Connection):
    """The database's record of its latest anchor, numbered among its day's (``None`` before the first)."""
    table = AnchorRecord.__table__
    newest = connection.execute(select(table.c.id, table.c.day).order_by(table.c.id.desc()).limit(1)).first()
    if newest is None:
        return None
    records = recorded_anchors(newest.day)
    return connection.execute(select(records).where(records.c.id == newest.id)).first()


def _latest_file(folder: Path, record, proof: Proof) -> Anchor | None:
    """The anchor :data:`LATEST` holds; ``None`` when it cannot be read (a problem of the proof), or when it was
    written before anchors named their database and were recorded (migration 0049): the next is the first."""
    try:
        said = read_file(folder / LATEST)
    except Unreadable as error:
        proof.problems.append(f"{LATEST} cannot be read ({error})" + _last(record))
        return None
    if record is None and said is not None and not said.database and not said.seal:
        return None
    return said


def _prove_dated(file: Path, record, proof: Proof, *, whole: bool) -> None:
    """The dated file of the latest anchor against its record: there (not ``whole``), or read whole and the anchor
    the database recorded, whose anchor and heads the proof then holds."""
    if not whole:
        if not file.exists():
            proof.problems.append(f"{file.name} is missing: it held the heads of the anchor of {record.day}")
        return
    try:
        kept = read_file(file, with_heads=True)
    except Unreadable as error:
        proof.problems.append(f"{file.name} cannot be read ({error})")
        return
    if kept is None:
        proof.problems.append(f"{file.name} is missing: it held the heads of the anchor of {record.day}")
        return
    made, listed = kept
    if not seals.same(made.seal, sealed(made)) or made.seal != record.file_seal or digest(listed) != record.digest:
        proof.problems.append(f"{file.name} was edited: it is not the anchor of {record.day} the database recorded")
    if not proof.problems:
        proof.anchor, proof.heads = made, listed


def problems(connection: Connection) -> list[str]:
    """What the health check says of the anchors folder: why it is not this database's, or each problem with it that
    no admin has decided on."""
    proof = prove(connection, whole=False)
    if proof.foreign:
        return [proof.foreign]
    return [f"Anchors: {problem}." for problem in undecided_problems(connection, proof)]


class Unreadable(ValueError):
    """An anchor file that is not an anchor: not JSON, or not the fields of one."""


def read_file(path: Path, *, with_heads: bool = False):
    """The anchor in the file (with its heads, if asked); ``None`` when there is no such file."""
    try:
        content = json.loads(path.read_text())
        heads = [Head(*listed) for listed in content.pop("heads", [])] if with_heads else None
        if not with_heads:
            content.pop("heads", None)
        made = Anchor(**content)
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, ValueError, TypeError) as error:
        raise Unreadable(str(error)[:200]) from None
    return (made, heads) if with_heads else made


def _last(record) -> str:
    return "" if record is None else f": the database's last anchor is that of {record.day} ({record.digest[:16]})"


def undecided_problems(connection: Connection, proof: Proof) -> list[str]:
    """The proof's problems no admin has decided on (a finding of the same words on the same record, decided)."""
    if not proof.problems:
        return []
    findings = TamperedEvidence.__table__
    record_id = proof.record.id if proof.record is not None else 0
    decided = set(
        connection.execute(
            select(findings.c.what).where(
                findings.c.kind == "anchor_records",
                findings.c.row_id == record_id,
                findings.c.resolution.is_not(None),
            )
        ).scalars()
    )
    return [] if folder_finding(record_id, proof.problems).what in decided else proof.problems


def folder_finding(record_id: int, problems: list[str]) -> verifying.Finding:
    """One finding on the anchor's record for all that is wrong with the folder (one finding a row stays open)."""
    said = f"the anchors folder: {'; '.join(problems)}"
    return verifying.Finding(seals.kinds()["anchor_records"], record_id, 0, verifying.ANCHOR_BROKEN, said=said)


def _keep_marks(connection: Connection, highest: dict[str, list[int]]) -> None:
    """The anchor's marks, where the database's triggers compare each row of evidence inserted with them (migration
    ``0070``), in the anchor's transaction."""
    if not highest:
        return
    table = EvidenceMark.__table__
    rows = [{"kind": kind, "row_id": row_id, "version": version} for kind, (row_id, version) in sorted(highest.items())]
    added = upsert(table).values(rows)
    connection.execute(
        added.on_conflict_do_update(
            index_elements=[table.c.kind], set_={"row_id": added.excluded.row_id, "version": added.excluded.version}
        )
    )


def kept_marks(connection: Connection) -> dict[str, tuple[int, int]]:
    """The marks the database's triggers compare inserted rows with: those of the anchor that wrote them last."""
    table = EvidenceMark.__table__
    return {kind: (row_id, version) for kind, row_id, version in connection.execute(select(table))}


def deletions(connection: Connection) -> dict[str, int]:
    """The rows deleted, ever, from each table of evidence and from the seals, as the database's own statistics count
    them (``pg_stat_user_tables.n_tup_del``). Rows are never deleted from these tables: one deleted past the guards (a
    movement posted and deleted between two nights, with its seal, leaving every chain whole) moves the count."""
    tables = sorted({evidence.table.name for evidence in seals.kinds().values()} | {seals.seals.name})
    connection.execute(text("SELECT pg_stat_clear_snapshot()"))  # counted now, not as the transaction first read them
    counted = connection.execute(
        text(
            "SELECT relname, n_tup_del FROM pg_stat_user_tables"
            " WHERE schemaname = current_schema() AND relname = ANY(:tables)"
        ),
        {"tables": tables},
    )
    return {table: int(count) for table, count in counted}


def anchors_folder() -> Path:
    return Path(current_app.config["ANCHORS_FOLDER"])


def _write(path: Path, content: dict) -> None:
    """Write ``path`` at once: a reader finds the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w") as written:
            written.write(json.dumps(content, sort_keys=True))  # made whole by the C encoder; dump streams in Python
            written.flush()
            os.fsync(written.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
