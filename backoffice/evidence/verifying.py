"""Telling a sealed row from one written without the key.

:func:`verify` reads the rows with their seals in id order and names every row whose seal is missing or wrong,
and every seal whose row is gone. It verifies only under the key the evidence was sealed with: the database keeps
that key's fingerprint (:func:`backoffice.evidence.seals.check_key`), and a verify under another key stops
(:class:`backoffice.evidence.seals.WrongSealKey`) rather than find every row tampered and quarantine every customer.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field, replace

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    func,
    literal,
    select,
)
from sqlalchemy.engine import Connection

from backoffice.evidence import reading, sealing
from backoffice.evidence.seals import Evidence, check_key, digest, kinds, same, seal_key, seals, version_column
from backoffice.models.seals import TamperedEvidence
from backoffice.platform.extensions import db


def untrusted(connection: Connection, kind: str, where: ColumnElement) -> set[int]:
    """The rows of ``kind`` that ``where`` selects and nothing vouches for: their seal is missing or fails, and
    this transaction did not insert them itself (what it inserted is sealed as it commits)."""
    session = db.session()
    own = {row_id for of, row_id, _version in sealing.registered(session) if of == kind}
    return {finding.row_id for finding in verify(connection, kinds()[kind], where=where).findings} - own


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
"""The problem code of a chain that no longer reaches its anchor (``backoffice.evidence.anchors``), said in its own
words."""


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


@dataclass(frozen=True)
class Stripes:
    """Some of a range's ids: those whose stripe of ``width`` ids, counted from id 0, is ``phase`` modulo
    ``period``. A sweep verifies a slice of all the rows in one read a range, not one read a stripe."""

    width: int
    period: int
    phase: int

    def holds(self, key: ColumnElement) -> ColumnElement:
        """Whether the key's stripe is the phase's."""
        return self.phase_of(key) == self.phase

    def phase_of(self, key: ColumnElement) -> ColumnElement:
        """The phase of the key's stripe, counted as Python counts (a floor, a remainder never negative), so that a
        negative id lies in a stripe of its own like any other; the databases' ``/`` and ``%`` truncate towards
        zero."""
        stripe = (key - _remainder(key, self.width)) // self.width
        return _remainder(stripe, self.period)

    def contains(self, key: int) -> bool:
        """:meth:`holds` of one id, in Python."""
        return (key // self.width) % self.period == self.phase

    def ranges(self, low: int, high: int) -> list[tuple[int, int]]:
        """The id ranges of the phase's stripes between ``low`` and ``high``, both included: a read by ranges of an
        index, where :meth:`holds` is a filter of every row."""
        first = low // self.width + (self.phase - low // self.width) % self.period
        return [
            (max(low, stripe * self.width), min(high, (stripe + 1) * self.width - 1))
            for stripe in range(first, high // self.width + 1, self.period)
        ]


def _remainder(value: ColumnElement, by: int) -> ColumnElement:
    return ((value % by) + by) % by


@dataclass
class Verified:
    checked: int = 0
    findings: list[Finding] = field(default_factory=list)
    sealed: int = 0
    """How many of the rows checked have a seal: when the seals of their range are as many, none is a gone row's."""


def verify(
    connection: Connection,
    evidence: Evidence,
    low: int | None = None,
    high: int | None = None,
    *,
    where: ColumnElement | None = None,
    stripes: Stripes | None = None,
) -> Verified:
    """Check the seal of every row of ``evidence`` with an id in ``[low, high]`` (of those ``stripes``, if given;
    or that ``where`` selects); name what fails. Under another key than the evidence's, nothing is checked:
    :class:`WrongSealKey`."""
    check_key(connection)
    table = evidence.table
    version = table.c[evidence.version] if evidence.version else literal(0)
    previous = seals.alias("previous")
    conditions = [*([evidence.sealed] if evidence.sealed is not None else [])]
    in_range = [where] if where is not None else []
    if low is not None:
        in_range += [evidence.key >= low, evidence.key <= high]
    if stripes is not None:
        in_range.append(stripes.holds(evidence.key))
    entry = evidence.entry() if evidence.entry else literal(None)
    made = reading.canonical(evidence)
    query = (
        select(
            evidence.key.label("row_id"),
            version.label("version"),
            seals.c.seal,
            previous.c.seal.label("previous_seal"),
            seals.c.prev_row_id,
            entry.label("entry_id"),
            *([made] if made is not None else evidence.columns()),
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
    reviewed = _reviewed(connection, evidence)
    if made is not None:
        with closing(_as_read(connection, query)) as rows:  # a failure ends the read, and the connection's lock
            result = _verify_made(evidence, rows, reviewed)
    else:
        result = _verify_in_python(connection, evidence, connection.execute(query).all(), reviewed)
    _customers(connection, evidence, result.findings)
    if where is None:
        result.findings.extend(_gone(connection, evidence, low, high, stripes, result.sealed))
    return result


def _verify_in_python(
    connection: Connection, evidence: Evidence, rows: list, reviewed: dict[tuple[int, int], str]
) -> Verified:
    """Verify rows read with their covered columns, making each canonical text in Python: the kinds whose text
    PostgreSQL cannot make exactly (a JSON column, whose text is Python's ``json.dumps``: an approval request's
    correction, a run's scope and checks)."""
    details = reading.details(connection, evidence, rows) if evidence.details and rows else {}
    key = seal_key()
    result = Verified(checked=len(rows), sealed=sum(row.seal is not None for row in rows))
    for row in rows:
        problem, previous = None, None
        if (row.row_id, row.version) in reviewed:
            as_reviewed = digest(
                key, evidence, row.row_id, row.version, row[6:], details.get((row.row_id, row.version), ()), REVIEWED
            )
            if not same(reviewed[row.row_id, row.version], as_reviewed):
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
                row[6:],
                details.get((row.row_id, row.version), ()),
                row.previous_seal or "",
            )
            if not same(row.seal, expected):
                problem = "seal_mismatch"
        if problem:
            result.findings.append(
                Finding(evidence, row.row_id, row.version, problem, entry_id=row.entry_id, previous=previous)
            )
    return result


def _customers(connection: Connection, evidence: Evidence, findings: list[Finding]) -> None:
    """The customer of each row found, read for those rows alone: an entry's customer is its movement's, a lookup a
    row that PostgreSQL makes in its leader alone, after the parallel workers, were it read with every row."""
    if evidence.customer is None or not findings:
        return
    version = version_column(evidence)
    owners = {
        (row_id, version_): customer_id
        for row_id, version_, customer_id in connection.execute(
            select(evidence.key, version, evidence.customer()).where(
                evidence.key.in_(sorted({finding.row_id for finding in findings}))
            )
        )
    }
    for finding in findings:
        finding.customer_id = owners.get((finding.row_id, finding.version))


def _as_read(connection: Connection, query: Select) -> Iterator[tuple]:
    """The rows as the driver hands them (ints, bytes, text), a chunk at a time as PostgreSQL sends them: the rows
    of a chunk are verified while PostgreSQL makes the texts of the next ones, rather than after it has made them
    all. Making a row object of each would cost more than its HMAC."""
    compiled = query.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.params
    if compiled.positional:
        params = [params[name] for name in compiled.positiontup]
    with connection.connection.driver_connection.cursor() as cursor:
        yield from cursor.stream(str(compiled), params, size=_CHUNK)


_CHUNK = 1_000
"""Rows a chunk of :func:`_as_read`: enough that a chunk's overhead is nothing beside its HMACs, few enough that
PostgreSQL goes on making rows while a chunk is verified."""


def _verify_made(evidence: Evidence, rows: Iterable[tuple], reviewed: dict[tuple[int, int], str]) -> Verified:
    """Verify rows read with their canonical text made by PostgreSQL (``backoffice.evidence.reading``): an HMAC
    and a comparison per row, and a :class:`Finding` only for a row that fails."""
    key = seal_key()
    keyed = hmac.new(key, digestmod="sha256")
    result = Verified()
    for row_id, version, seal, previous_seal, prev_row_id, entry_id, text in rows:
        result.checked += 1
        if seal is not None:
            result.sealed += 1
        if reviewed and (row_id, version) in reviewed:
            made = hmac.digest(key, text + reading.SEPARATOR + REVIEWED.encode(), "sha256").hex()
            if same(reviewed[row_id, version], made):
                continue
            problem, previous = "reviewed_then_changed", None
        elif seal is None:
            problem, previous = "no_seal", None
        elif prev_row_id is not None and previous_seal is None:
            problem, previous = "previous_gone", prev_row_id
        elif same(seal, _digest(keyed, text + reading.SEPARATOR + (previous_seal or "").encode())):
            continue
        else:
            problem, previous = "seal_mismatch", None
        result.findings.append(Finding(evidence, row_id, version, problem, entry_id=entry_id, previous=previous))
    return result


def _digest(keyed, text: bytes) -> str:
    """The HMAC of ``text`` under the key ``keyed`` holds: a copy of it, keyed once for all the rows read, which
    spares each row the key's own hashing."""
    made = keyed.copy()
    made.update(text)
    return made.hexdigest()


REVIEWED = "reviewed"
"""What a reviewed row's seal covers in place of a previous seal."""


def _reviewed(connection: Connection, evidence: Evidence) -> dict[tuple[int, int], str]:
    """The rows of ``evidence`` an admin reviewed (reversed or accepted), with the seal of the row as reviewed: only
    decisions whose own seal holds vouch for a row, so that a decision written past the application leaves it
    tampered."""
    findings = TamperedEvidence.__table__
    reviewed = findings.c.kind == evidence.kind, findings.c.reviewed_seal.is_not(None)
    rows = connection.execute(
        select(findings.c.id, findings.c.row_id, findings.c.version, findings.c.reviewed_seal).where(*reviewed)
    ).all()
    forged = set()
    if rows and evidence.kind != "evidence_decisions":  # with no review of the kind, no decision to verify
        forged = {
            found.row_id for found in verify(connection, kinds()["evidence_decisions"], where=and_(*reviewed)).findings
        }
    return {(row_id, version): seal for id_, row_id, version, seal in rows if id_ not in forged}


def reviewed_seal(connection: Connection, evidence: Evidence, row_id: int, version: int) -> str | None:
    """The seal of a row as it is now, as an admin's review vouches for it; None when the row is gone. Under another
    key than the evidence's, none: :class:`WrongSealKey`."""
    check_key(connection)
    rows = sealing.unsealed(
        connection,
        replace(evidence, sealed=None),
        and_(evidence.key == row_id, version_column(evidence) == version),
        all_=True,
    )
    if not rows:
        return None
    row = rows[0]
    details = reading.details(connection, evidence, rows) if evidence.details else {}
    return digest(
        seal_key(),
        evidence,
        row.row_id,
        row.version,
        row[sealing.COVERED :],
        details.get((row.row_id, row.version), ()),
        REVIEWED,
    )


def _gone(
    connection: Connection,
    evidence: Evidence,
    low: int | None,
    high: int | None,
    stripes: Stripes | None,
    matched: int,
) -> list[Finding]:
    """Seals whose row is no longer there (or no longer evidence), of the ``matched`` seals of the range that
    :func:`verify` read with their rows: looked for only when the range holds more seals than those (a count of
    the seals' index, where the search is a scan of the range's rows)."""
    in_range = [seals.c.kind == evidence.kind]
    if low is not None:
        in_range += [seals.c.row_id >= low, seals.c.row_id <= high]
    if stripes is not None:
        in_range.append(stripes.holds(seals.c.row_id))
    if connection.execute(select(func.count()).where(*in_range)).scalar_one() == matched:
        return []
    table = evidence.table
    version = table.c[evidence.version] if evidence.version else literal(0)
    there = select(evidence.key).where(
        evidence.key == seals.c.row_id,
        version == seals.c.version,
        *([evidence.sealed] if evidence.sealed is not None else []),
    )
    query = select(seals.c.row_id, seals.c.version, seals.c.chain).where(*in_range, ~there.exists())
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
