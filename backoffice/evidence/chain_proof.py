"""The chains as anchored, proved against the seals as they are.

A chain must still end on its anchored last row with the same seal, and hold its anchored rows plus those sealed since.
A chain that does not reach its anchor is tampered evidence, and quarantines its customer. A verify proves every chain;
a nightly proves its stripe of them, or every chain when rows of evidence may have been deleted.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from flask import current_app
from sqlalchemy import case, func, select
from sqlalchemy.engine import Connection

from backoffice.evidence import anchors, seals, verifying
from backoffice.models import Customer

log = logging.getLogger("backoffice.evidence.anchors")


def broken(connection: Connection, night: date | None = None) -> list[verifying.Finding]:
    """What does not match the database's record of its anchors (the folder's files, by name), and the chains as
    anchored that no longer reach their anchor, each named after its anchored last row: every chain, or the chains of
    the ``night``'s stripe when it is a nightly's and the database counts no row of evidence deleted since the anchor
    (:func:`stripe_of`). Nothing without an anchors folder (``backoffice db restore-check``'s): an anchor describes
    the database it was taken of on its night, not a copy of another moment."""
    if current_app.config["ANCHORS_FOLDER"] is None:
        return []
    proof = anchors.prove(connection)
    if proof.foreign:
        log.error("%s Nothing was proved against it.", proof.foreign)
        return []
    if proof.problems:
        record_id = proof.record.id if proof.record is not None else 0
        undecided = anchors.undecided_problems(connection, proof)
        return [anchors.folder_finding(record_id, undecided)] if undecided else []
    if proof.anchor is None:
        # The first anchor: no row of evidence has ever been deleted, since the database was made.
        return _removed(connection, None, "the database was made, before its first anchor", 0)[0]
    removed, told = _removed(connection, proof.anchor.deleted, f"the anchor of {proof.anchor.day}", proof.record.id)
    stripe = anchors.stripe_of(night) if night is not None and told and not removed else None
    anchored, problems = _anchored(connection, proof, stripe)
    findings = removed + ([anchors.folder_finding(proof.record.id, problems)] if problems else [])
    return findings + _findings(connection, _short(connection, anchored, stripe))


def _short(connection: Connection, anchored: dict, stripe: verifying.Stripes | None) -> list[tuple]:
    """The chains as anchored that no longer reach their anchor: their anchored head no longer sealed as it was, or
    the chain now shorter than it was plus the rows sealed since; each with its evidence, its head (of the length
    expected), its head now, whether the anchored head is still sealed so, and its anchor's day."""
    now = {(head.kind, head.chain): head for head in anchors.heads(connection, stripe)}
    still = _still_sealed(connection, [chain.head for chain in anchored.values()])
    since = _sealed_since(connection, anchored, stripe)
    known = seals.kinds()
    short = []
    for key, chain in anchored.items():
        head, current = chain.head, now.get(key)
        same = still.get((head.kind, head.row_id, head.version)) == head.seal
        expected = chain.length + since.get(key, 0)
        if head.kind in known and not (same and current is not None and current.length >= expected):
            short.append((known[head.kind], replace(head, length=expected), current, same, chain.day))
    return short


def _findings(connection: Connection, short: list[tuple]) -> list[verifying.Finding]:
    """A finding for each chain of :func:`_short`, named after its customer's code where it is a customer's."""
    customers = Customer.__table__
    ids = {head.chain for evidence, head, *_rest in short if _customer_chain(evidence)}
    codes = (
        dict(connection.execute(select(customers.c.id, customers.c.code).where(customers.c.id.in_(ids))).all())
        if ids
        else {}
    )
    findings = []
    for evidence, head, current, same, day in short:
        customer_id = head.chain if _customer_chain(evidence) else None
        if customer_id is None:
            whose = f"the chain of {evidence.label}s"
        else:
            what = "wallet movements" if evidence.chain == "customer_id" else "history"
            whose = f"customer {codes.get(customer_id, customer_id)}'s {what}"
        problem = _problem(whose, head, current, same, day)
        findings.append(
            verifying.Finding(
                evidence, head.row_id, head.version, verifying.ANCHOR_BROKEN, customer_id=customer_id, said=problem
            )
        )
    return findings


def _kept(name: str, day: str, file_seal: str, proof: anchors.Proof) -> tuple[anchors.Anchor, list] | str:
    """The anchor and heads of the dated file ``name`` as the database recorded them (the proof's own, for the
    latest), or what is wrong with it."""
    if day == proof.anchor.day and file_seal == proof.anchor.seal:
        return proof.anchor, proof.heads
    try:
        kept = anchors.read_file(anchors.anchors_folder() / name, with_heads=True)
    except anchors.Unreadable as error:
        return f"{name} cannot be read ({error})"
    if kept is None:
        return f"{name} is missing: it held the heads of the anchor of {day}"
    made, listed = kept
    sealed = seals.same(made.seal, anchors.sealed(made)) and made.seal == file_seal
    if not sealed or anchors.digest(listed) != made.digest:
        return f"{name} was edited: it is not the anchor of {day} the database recorded"
    return made, listed


@dataclass(frozen=True)
class Anchored:
    """A chain as anchored: its newest anchored head and the day of the anchor that holds it, and how many rows the
    chain had at ``since`` (0 for a chain begun after it), the moment its stripe's or the full anchor's heads were
    read."""

    head: anchors.Head
    day: str
    length: int
    since: datetime


def _anchored(
    connection: Connection, proof: anchors.Proof, stripe: verifying.Stripes | None
) -> tuple[dict[tuple[str, int | None], Anchored], list[str]]:
    """The chains as anchored (of ``stripe`` alone, when given), from the latest anchor back: on each stripe's newest
    file (or, for a stripe not written since, the last full anchor's heads), the heads of the deltas after it; and
    what is wrong with the files read, by name. Reads the anchors back to the oldest stripe needed: within
    ``BACKOFFICE_SEAL_SWEEP_DAYS`` nights once every stripe was written."""
    period = current_app.config["SEAL_SWEEP_DAYS"]
    wanted = {stripe.phase} if stripe is not None else set(range(period))

    bases: dict[int, tuple[datetime, dict]] = {}
    newest: dict[tuple[str, int | None], tuple[anchors.Head, str]] = {}
    problems: list[str] = []
    records = anchors.recorded_anchors()
    found = connection.execute(
        select(records.c.day, records.c.ordinal, records.c.file_seal).order_by(records.c.id.desc())
    )
    for day, ordinal, file_seal in found:
        name = anchors.dated(day, ordinal)
        kept = _kept(name, day, file_seal, proof)
        if isinstance(kept, str):
            problems.append(kept)
            break
        made, listed = kept
        if not made.delta:
            rest, lengths = wanted - bases.keys(), {}
            for head in listed:
                if _phase_of(head.chain, period) in rest:
                    newest.setdefault((head.kind, head.chain), (head, made.day))
                    lengths[head.kind, head.chain] = head.length
            bases |= dict.fromkeys(rest, (datetime.fromisoformat(made.at), lengths))
            break
        written = made.stripe
        if written and written["period"] == period and written["phase"] in wanted - bases.keys():
            kept_stripe, said = _stripe(written, made.day)
            if said:
                problems.append(said)
            else:
                moment = datetime.fromisoformat(written["at"])
                bases[written["phase"]] = (moment, {(h.kind, h.chain): h.length for h in kept_stripe})
                for head in kept_stripe:
                    newest.setdefault((head.kind, head.chain), (head, made.day))
        for head in listed:
            if _phase_of(head.chain, period) in wanted - bases.keys():
                newest.setdefault((head.kind, head.chain), (head, made.day))
        if not wanted - bases.keys():
            break
    anchored = {}
    for key, (head, day) in newest.items():
        base = bases.get(_phase_of(key[1], period))
        if base is not None:
            anchored[key] = Anchored(head, day, base[1].get(key, 0), base[0])
    return anchored, problems


def _stripe(written: dict, day: str) -> tuple[list[anchors.Head], str | None]:
    """The heads of the stripe file an anchor of ``day`` wrote (``written``: what the anchor says of it), or why
    they cannot be trusted."""
    path = anchors.stripe_file(written["phase"])
    try:
        content = json.loads(path.read_text())
        listed = [anchors.Head(*head) for head in content["heads"]]
        kept_day = content["day"]
    except FileNotFoundError:
        return [], f"{path.name} is missing: it held the heads of a stripe of the chains, of the anchor of {day}"
    except (OSError, UnicodeDecodeError, ValueError, TypeError, KeyError) as error:
        return [], f"{path.name} cannot be read ({str(error)[:200]})"
    if kept_day != day or anchors.digest(listed) != written["digest"]:
        return [], f"{path.name} was edited: it is not the stripe of the chains the anchor of {day} wrote"
    return listed, None


def _removed(
    connection: Connection, then: dict[str, int] | None, since: str, record_id: int
) -> tuple[list[verifying.Finding], bool]:
    """The rows of evidence deleted since the counts ``then`` (an anchor's; none before the first), per table, as one
    finding on the anchor's record; and whether deletions can be told. Counts lower than ``then`` are statistics
    reset (a crash, or whoever may reset them): logged, deletions then cannot be told."""
    now = anchors.deletions(connection)
    deleted, told = [], True
    for table, was in sorted((dict.fromkeys(now, 0) if then is None else then).items()):
        count = now.get(table)
        if count is not None and count < was:
            log.warning("The statistics of %s were reset since %s: deletions cannot be told", table, since)
            told = False
        elif count is not None and count > was:
            deleted.append(f"{count - was} from {table}")
    if not deleted:
        return [], told
    said = (
        f"rows of evidence, which are never deleted, were deleted since {since} (the database's statistics count "
        f"them): {', '.join(deleted)}"
    )
    return [verifying.Finding(seals.kinds()["anchor_records"], record_id, 0, verifying.ANCHOR_BROKEN, said=said)], told


def _sealed_since(
    connection: Connection, anchored: dict[tuple[str, int | None], Anchored], stripe: verifying.Stripes | None
) -> dict[tuple[str, int | None], int]:
    """Per chain as anchored, the rows sealed after its stripe's heads were read (``Anchored.since``): a chain must
    hold its anchored rows and these, so that a row removed while others were added since is found. A seal made within
    a second of that moment (which is cut to the second) may be among its heads, and is not counted. Read by the
    seals' moment from the oldest stripe's on (of ``stripe``'s chains alone, when given)."""
    if not anchored:
        return {}
    table = seals.seals
    period = current_app.config["SEAL_SWEEP_DAYS"]
    moments = {_phase_of(chain, period): found.since for (_kind, chain), found in anchored.items()}
    # Every chain of a stripe counts from its stripe's moment: one statement per kind, counted by the database.
    after = case(
        *(
            (verifying.Stripes(anchors.CHAIN_STRIPE, period, phase).holds(func.coalesce(table.c.chain, 0)), moment)
            for phase, moment in moments.items()
        )
    )
    oldest = min(moments.values())
    counted: dict[tuple[str, int | None], int] = {}
    for kind in {kind for kind, _chain in anchored}:
        where = [table.c.kind == kind, table.c.sealed_at > oldest + timedelta(seconds=1)]
        if stripe is not None:
            chained = stripe.holds(func.coalesce(table.c.chain, 0))
            where.append(table.c.chain.is_(None) if seals.kinds()[kind].chain is None else chained)
        where.append(table.c.sealed_at > after + timedelta(seconds=1))
        for chain, count in connection.execute(
            select(table.c.chain, func.count()).where(*where).group_by(table.c.chain)
        ):
            if (kind, chain) in anchored:
                counted[kind, chain] = count
    return counted


def _phase_of(chain: int | None, period: int) -> int:
    """The phase of a chain's stripe (a kind whose rows stand alone is key 0), as :meth:`verifying.Stripes.holds`
    counts it."""
    return ((0 if chain is None else chain) // anchors.CHAIN_STRIPE) % period


def _still_sealed(connection: Connection, kept: list[anchors.Head]) -> dict[tuple[str, int, int], str]:
    """The seals the anchored last rows carry now, by kind, row and version."""
    table = seals.seals
    found: dict[tuple[str, int, int], str] = {}
    by_kind: dict[str, list[anchors.Head]] = {}
    for head in kept:
        by_kind.setdefault(head.kind, []).append(head)
    for kind, listed in by_kind.items():
        for start in range(0, len(listed), anchors.BATCH):
            batch = listed[start : start + anchors.BATCH]
            wanted = {(head.row_id, head.version) for head in batch}
            # By row id alone, which the seals' key leads with: a list of (row, version) pairs is compared with
            # every seal of the kind.
            for row_id, version, seal in connection.execute(
                select(table.c.row_id, table.c.version, table.c.seal).where(
                    table.c.kind == kind, seals.among(table.c.row_id, {row for row, _ in wanted})
                )
            ):
                if (row_id, version) in wanted:
                    found[kind, row_id, version] = seal
    return found


def _customer_chain(evidence: seals.Evidence) -> bool:
    """Whether the chain key is a customer's id: a customer's wallet movements, or a customer record's history."""
    return evidence.chain == "customer_id" or evidence.table.name == "customers_history"


def _problem(whose: str, head: anchors.Head, current: anchors.Head | None, same: bool, day: str) -> str:
    """Where the chain ends now and where its anchor says it ended."""
    ends = "have no sealed row left" if current is None else f"end at {current.row_id}"
    if current is not None and current.version:
        ends += f" (version {current.version})"
    said = f"{head.row_id}" + (f" (version {head.version})" if head.version else "")
    shorter = (
        ""
        if current is None or current.length >= head.length
        else f", {current.length} rows of the {head.length} it held and sealed since"
    )
    changed = "" if same or current is None else ", and that row's seal is gone or changed"
    return f"{whose} {ends}, the anchor of {day} says {said} (seal {head.seal[:16]}){shorter}{changed}"
