"""The heads of the sealed chains, anchored outside the database every night, and the proof that each chain still
reaches its anchor.

A seal vouches for a row and for the row before it in its chain, but nothing in the database remembers how long a
chain was: whoever may delete rows past the guards can take a chain's newest rows away, with their seals, and every
seal left still verifies. So at the end of every nightly maintenance that succeeded, the head of each chain (per
kind of evidence and chain key: a customer's wallet movements, a record's history versions, and each kind whose rows
stand alone as one chain) is written where the database's roles cannot reach: its length (the count of its sealed
rows), its last row and that row's seal, every head folded into one SHA-256 digest. The heads go to ``<date>.json``
in ``BACKOFFICE_ANCHORS_FOLDER`` (the instance folder's ``anchors`` by default), the digest to ``latest.json``
beside it, to the job's log line and to ``/metrics``.

The ``evidence_seals`` check proves each chain of the latest anchor against the seals as they are: the anchored
last row must still carry the same seal, and the chain must not have grown shorter. A chain that does not reach its
anchor is tampered evidence, named after its anchored last row ("customer C0002's wallet movements end at 306, the
anchor of 2026-11-23 says 307"), and quarantines the customer it belongs to. Heads are read set-based: one
statement per kind of evidence.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from backoffice.evidence import seals, verifying
from backoffice.models import Customer
from backoffice.models.types import utcnow

log = logging.getLogger("backoffice.evidence.anchors")

LATEST = "latest.json"
_BATCH = 5_000
"""Anchored rows looked up per statement when a chain is proved."""


@dataclass(frozen=True)
class Head:
    """The newest sealed row of one chain and how many sealed rows the chain has."""

    kind: str
    chain: int | None
    """The chain key (a customer's id for wallet movements, a record's id for history); ``None``: the kind's rows
    stand alone, counted as one chain."""
    length: int
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


def heads(connection: Connection) -> list[Head]:
    """The head of every sealed chain: per kind, one statement over its seals."""
    table = seals.seals
    found: list[Head] = []
    for kind in seals.kinds():
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
            .where(table.c.kind == kind)
            .subquery()
        )
        for chain, row_id, version, seal, length, _place in connection.execute(
            select(ranked).where(ranked.c.place == 1)
        ):
            found.append(Head(kind, chain, length, row_id, version, seal))
    return sorted(found, key=lambda head: (head.kind, -1 if head.chain is None else head.chain))


def digest(listed: list[Head]) -> str:
    """SHA-256 over the heads' canonical listing: a line per chain, its fields tab-separated, in kind and chain
    order."""
    text = "".join("\t".join("" if field is None else str(field) for field in head.listed()) + "\n" for head in listed)
    return hashlib.sha256(text.encode()).hexdigest()


def anchor(connection: Connection, day: date, run_id: int | None = None) -> Anchor:
    """Write the heads of every chain now under ``day``'s file and the digest to ``latest.json``; log it."""
    listed = heads(connection)
    made = Anchor(day.isoformat(), digest(listed), len(listed), utcnow().isoformat(timespec="seconds"), run_id)
    folder = _folder()
    _write(folder / f"{made.day}.json", vars(made) | {"heads": [head.listed() for head in listed]})
    _write(folder / LATEST, vars(made))
    log.info("Anchored %d chains of sealed evidence of %s: sha256 %s (%s)", made.chains, made.day, made.digest, folder)
    return made


def latest() -> Anchor | None:
    """The latest anchor, as ``latest.json`` says; ``None`` before the first."""
    path = _folder() / LATEST
    if not path.exists():
        return None
    return Anchor(**json.loads(path.read_text()))


def anchored() -> tuple[Anchor, list[Head]] | None:
    """The latest anchor with the heads its dated file keeps; ``None`` before the first, and when the file does not
    match the digest of ``latest.json`` (the folder itself was changed: nothing is proved against it)."""
    made = latest()
    if made is None:
        return None
    path = _folder() / f"{made.day}.json"
    kept = [Head(*listed) for listed in json.loads(path.read_text())["heads"]] if path.exists() else []
    if digest(kept) != made.digest:
        log.error("The anchor file %s does not match the digest of %s: it is not proved against", path, LATEST)
        return None
    return made, kept


def broken(connection: Connection) -> list[verifying.Finding]:
    """The chains of the latest anchor that no longer reach it, each named after its anchored last row."""
    found = anchored()
    if found is None:
        return []
    made, kept = found
    now = {(head.kind, head.chain): head for head in heads(connection)}
    still = _still_sealed(connection, kept)
    known = seals.kinds()
    short = []
    for head in kept:
        current = now.get((head.kind, head.chain))
        same = still.get((head.kind, head.row_id, head.version)) == head.seal
        if head.kind in known and not (same and current is not None and current.length >= head.length):
            short.append((known[head.kind], head, current, same))
    customers = Customer.__table__
    ids = {head.chain for evidence, head, _current, _same in short if _customer_chain(evidence)}
    codes = (
        dict(connection.execute(select(customers.c.id, customers.c.code).where(customers.c.id.in_(ids))).all())
        if ids
        else {}
    )
    findings = []
    for evidence, head, current, same in short:
        customer_id = head.chain if _customer_chain(evidence) else None
        if customer_id is None:
            whose = f"the chain of {evidence.label}s"
        else:
            what = "wallet movements" if evidence.chain == "customer_id" else "history"
            whose = f"customer {codes.get(customer_id, customer_id)}'s {what}"
        problem = _problem(whose, head, current, same, made.day)
        findings.append(
            verifying.Finding(
                evidence, head.row_id, head.version, verifying.ANCHOR_BROKEN, customer_id=customer_id, said=problem
            )
        )
    return findings


def _still_sealed(connection: Connection, kept: list[Head]) -> dict[tuple[str, int, int], str]:
    """The seals the anchored last rows carry now, by kind, row and version."""
    table = seals.seals
    found: dict[tuple[str, int, int], str] = {}
    by_kind: dict[str, list[Head]] = {}
    for head in kept:
        by_kind.setdefault(head.kind, []).append(head)
    for kind, listed in by_kind.items():
        for start in range(0, len(listed), _BATCH):
            batch = listed[start : start + _BATCH]
            wanted = {(head.row_id, head.version) for head in batch}
            # By row id alone, which the seals' key leads with: a list of (row, version) pairs is compared with
            # every seal of the kind.
            for row_id, version, seal in connection.execute(
                select(table.c.row_id, table.c.version, table.c.seal).where(
                    table.c.kind == kind, seals.among(connection, table.c.row_id, {row for row, _ in wanted})
                )
            ):
                if (row_id, version) in wanted:
                    found[kind, row_id, version] = seal
    return found


def _customer_chain(evidence: seals.Evidence) -> bool:
    """Whether the chain key is a customer's id: a customer's wallet movements, or a customer record's history."""
    return evidence.chain == "customer_id" or evidence.table.name == "customers_history"


def _problem(whose: str, head: Head, current: Head | None, same: bool, day: str) -> str:
    """Where the chain ends now and where its anchor says it ended."""
    ends = "have no sealed row left" if current is None else f"end at {current.row_id}"
    if current is not None and current.version:
        ends += f" (version {current.version})"
    said = f"{head.row_id}" + (f" (version {head.version})" if head.version else "")
    shorter = "" if current is None or current.length >= head.length else f", {current.length} rows of {head.length}"
    changed = "" if same or current is None else ", and that row's seal is gone or changed"
    return f"{whose} {ends}, the anchor of {day} says {said} (seal {head.seal[:16]}){shorter}{changed}"


def _folder() -> Path:
    return Path(current_app.config["ANCHORS_FOLDER"])


def _write(path: Path, content: dict) -> None:
    """Write ``path`` at once: a reader finds the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w") as written:
            json.dump(content, written, sort_keys=True)
            written.flush()
            os.fsync(written.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
