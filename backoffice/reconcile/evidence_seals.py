from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import ARRAY, ColumnElement, and_, any_, bindparam, literal, select, update
from sqlalchemy.engine import Connection

from backoffice.evidence import anchors, chain_proof, quarantine, seals, verifying
from backoffice.models import EvidenceInsertedBelow, JobRecord, Seal
from backoffice.platform import replica
from backoffice.platform.extensions import db
from backoffice.reconcile.base import Check, CheckedField, Scope

log = logging.getLogger("backoffice.reconcile.evidence_seals")

STRIPE = 1_000
"""Ids per stripe of the nightly sweep. Fixed, so that the night a stripe is verified on does not move as the
evidence grows or the chunk size changes."""
SEALED_BEFORE_ANCHOR = timedelta(days=1)
"""How long before the anchor was written a seal still counts as new: a transaction open across the anchor seals
with the moment it ran, yet commits after."""
NIGHTLY = "nightly_maintenance"
AUTO_HEAL = "auto_heal"
READ_AS_A_NIGHT = (NIGHTLY, AUTO_HEAL)
"""The jobs whose runs read what a night reads: what changed since the last clean night, and the day's stripes."""
SWEPT_BY = "seals_swept_run"
SWEPT_MS = "seals_swept_ms"
"""What a nightly's job keeps beside its sweep's rows: how long verifying them and proving the night's stripe of the
chains took, in milliseconds."""
"""The run whose sweep a nightly job's row counts while it runs: an earlier attempt's run counted rows of its own."""

Range = tuple[int, int]


class EvidenceSeals(Check):
    """Every row of evidence carries a valid seal (``backoffice.evidence.seals``); what does not is tampered evidence.

    Each finding is reported and kept as :class:`TamperedEvidence` until an admin decides on it: meanwhile the
    customer it moves is quarantined (no charge, re-pricing or fix moves it) and the accounts its entry posts to
    are left unfixed. A chain shorter than the latest anchor says, outside the database, is tampered evidence too, named
    after its anchored last row. Verify-only: a seal is never written for a row found without one.

    The nightly maintenance verifies in full what was added or sealed since the latest anchor and sweeps the older
    evidence one slice a night (:class:`Night`), so that its cost follows the day's work; any other run verifies
    every row.
    """

    name = "evidence_seals"
    label = _l("Sealed evidence")
    description = _l(
        "every wallet movement, posted journal entry, history version, approval request and decision, and "
        "finished reconciliation run carries a valid seal, every sealed row is still there, and every chain still "
        "reaches the last night's anchor. The nightly maintenance verifies every night all that was added or sealed "
        "since that anchor, and the older evidence in slices: a row changed in place is found within "
        "BACKOFFICE_SEAL_SWEEP_DAYS nights"
    )
    entity_type = "evidence"
    by_customer = False
    fixable = False
    examines = True
    table = Seal.__table__

    def fields(self):
        return [CheckedField("seal", literal(1), literal(1), scale=0)]

    def scope_conditions(self, scope: Scope):
        return []

    def key_bounds(self, scope: Scope):
        return select(literal(0), literal(0))

    def pieces(self, chunk_size: int) -> list[tuple[int, int]]:
        """The proof of the chains against the latest anchor first (position 0), one of the longest parts, then the
        kinds of evidence (positions 1 on, in the order of ``seals.kinds``), consecutive kinds together up to
        ``chunk_size`` ids (a larger kind alone): a job for each kind would spend more on starting than most kinds
        take."""
        connection = replica.connection()
        kinds = list(seals.kinds().values())
        pieces, first, ids = [(0, 0)], 1, 0
        for position, evidence in enumerate(kinds, start=1):
            low, high = verifying.bounds(connection, evidence)
            span = 0 if low is None else high - low + 1
            if ids and ids + span > chunk_size:
                pieces.append((first, position - 1))
                first, ids = position, 0
            ids += span
        return [*pieces, (first, len(kinds))]

    def examine(
        self, run_id: int | None, chunk_size: int, piece: tuple[int, int] | None = None
    ) -> tuple[int, list[verifying.Finding]]:
        """Verify the evidence, ``chunk_size`` ids at a time (all of it, or the night's share when the run is a
        nightly maintenance's), and prove that every chain still reaches the latest anchor
        (``backoffice.evidence.anchors``); record what is new as tampered evidence. Of one of the :meth:`pieces`
        alone, when given."""
        connection = replica.connection()
        night = Night.of(run_id)
        kinds = list(seals.kinds().values())
        first, last = piece if piece is not None else (0, len(kinds))
        examined = kinds[max(first, 1) - 1 : last]
        checked, found = 0, []
        for evidence in examined:
            low, high = verifying.bounds(connection, evidence)
            if low is None:
                continue
            if night is None:
                verified = _ranges(connection, evidence, [(low, high)], chunk_size)
            else:
                verified = night.verify(connection, evidence, low, high, chunk_size)
            checked += verified.checked
            found += verified.findings
        if examined and night is not None:
            night.said(checked, None if piece is None else ", ".join(evidence.kind for evidence in examined))
        if first == 0:
            started = time.monotonic()
            found += chain_proof.broken(connection, night.day if night is not None else None)
            if night is not None:  # the proof of the night's stripe of the chains: the anchors' share of the sweep
                night.swept_ms += int((time.monotonic() - started) * 1000)
        _keep_the_sweep(run_id, night, checked)
        quarantine.record(db.session.connection(), found, run_id)
        return checked, found


@dataclass
class Night:
    """A nightly maintenance's share of the seals: every row added or sealed since the latest anchor, and one slice
    of the older rows.

    The older rows are cut by id into stripes of :data:`STRIPE` ids; the night of day number ``d`` verifies the
    stripes whose number is ``d`` modulo ``days`` (``BACKOFFICE_SEAL_SWEEP_DAYS``), so any ``days`` consecutive
    nights verify every stripe, with nothing kept between nights. A row changed in place (its id kept) is found by
    the night whose slice holds it: within ``days`` nights. The anchors still prove every night that each chain
    reaches its anchored head.
    """

    day: date
    days: int
    since: datetime
    marks: dict[str, tuple[int, int]]
    """Per kind of evidence, the highest row id and version the anchor's heads hold."""
    anchor_day: str
    recorded: frozenset[str] = frozenset()
    """The kinds whose rows inserted at or below the anchor's marks the database recorded (``EvidenceInsertedBelow``):
    those whose marks in the database are the anchor's."""
    new: int = 0
    swept: int = 0
    swept_ms: int = 0
    """How long verifying the night's stripes took, and proving its stripe of the chains against their anchor."""
    stripes: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, run_id: int | None) -> Night | None:
        """The night of a nightly maintenance's run, when it has an anchor to start from; ``None`` for any other
        run (verified in full), and for a nightly with no anchor, or one whose file does not match its digest."""
        args = nightly_args(run_id)
        found = anchors.anchored(db.session.connection()) if args is not None else None
        if found is None:
            return None
        made, heads = found
        marks = {kind: (row_id, version) for kind, (row_id, version) in anchors.marks(made, heads).items()}
        day = date.fromisoformat(args["date"]) if args.get("date") else date.fromisoformat(made.day)
        since = datetime.fromisoformat(made.at) - SEALED_BEFORE_ANCHOR
        kept = anchors.kept_marks(db.session.connection())
        recorded = frozenset(kind for kind, mark in marks.items() if kept.get(kind) == mark)
        return cls(day, current_app.config["SEAL_SWEEP_DAYS"], since, marks, made.day, recorded)

    @property
    def slice(self) -> int:
        return self.stripes_swept.phase

    def verify(
        self, connection: Connection, evidence: seals.Evidence, low: int, high: int, chunk_size: int
    ) -> verifying.Verified:
        """The night's share of one kind: its rows above the anchored ones and their seals, its rows newer than the
        anchor below them, and the night's stripes of the rest."""
        mark = self.marks.get(evidence.kind)
        if mark is None:
            # Nothing of this kind was anchored: all of it is new.
            verified = _ranges(connection, evidence, [(low, high)], chunk_size)
            self.new += verified.checked
            return verified
        anchored = min(mark[0], high)
        verified = _ranges(connection, evidence, [(anchored + 1, high)] if high > anchored else [], chunk_size)
        if low <= anchored:
            for where in self._changed(evidence, mark):
                # The ids first, then their rows: planned for the rows it may find, the read of the rows with their
                # seals would prepare for every seal of the kind, where a night finds none or a few.
                keys = connection.execute(select(evidence.key).where(where).distinct()).scalars().all()
                if not keys:
                    continue
                found = evidence.key == any_(bindparam("keys", keys, type_=ARRAY(evidence.key.type)))  # one value
                changed = verifying.verify(connection, evidence, where=and_(where, found))
                verified.checked += changed.checked
                verified.findings += changed.findings
        self.new += verified.checked
        stripes = self._stripes(low, anchored)
        started = time.monotonic()
        swept = _ranges(connection, evidence, [(low, anchored)] if stripes else [], chunk_size, self.stripes_swept)
        self.swept += swept.checked
        self.swept_ms += int((time.monotonic() - started) * 1000)
        if stripes:
            self.stripes.append(f"{evidence.kind} {len(stripes)}, ids {stripes[0][0]} to {stripes[-1][1]}")
        return verifying.Verified(verified.checked + swept.checked, verified.findings + swept.findings)

    def said(self, checked: int, kind: str | None = None) -> None:
        """What the night verified: of every kind, or of one (a piece of a run split into jobs)."""
        log.info(
            "Verified the seals of %d rows%s: %d added or sealed since the anchor of %s, and %d of the sweep's slice "
            "%d of %d (night of %s; its stripes of %d ids: %s)",
            checked,
            "" if kind is None else f" of {kind}",
            self.new,
            self.anchor_day,
            self.swept,
            self.slice + 1,
            self.days,
            self.day,
            STRIPE,
            "; ".join(self.stripes) or "none",
        )

    def _changed(self, evidence: seals.Evidence, mark: tuple[int, int]) -> tuple[ColumnElement, ColumnElement]:
        """The rows at or below the anchored ids that are newer than the anchor: a history version after the
        anchored versions, or a row sealed since shortly before the anchor (a decision, a posting, a finished run:
        sealed later than inserted); then the others with no seal at all (inserted past the application, whatever id
        it took). Two reads, each a plan of its own: the newer rows by the seals' index, the unsealed ones among the
        rows the database recorded inserted at or below the marks since (of a kind it recorded them of, else every
        row, by one anti-join of the kind's ids with its seals': one condition of both would test each row by
        itself). The night's stripes are left to the sweep, which verifies them anyway."""
        recent = seals.seals.alias("recent")
        version = evidence.table.c[evidence.version] if evidence.version else literal(0)
        unsealed = ~(
            select(recent.c.row_id)
            .where(recent.c.kind == evidence.kind, recent.c.row_id == evidence.key, recent.c.version == version)
            .exists()
        )
        if evidence.version:
            newer = evidence.table.c[evidence.version] > mark[1]
        else:
            newer = evidence.key.in_(
                select(recent.c.row_id).where(
                    recent.c.kind == evidence.kind, recent.c.sealed_at > self.since, recent.c.row_id <= mark[0]
                )
            )
        older = and_(evidence.key <= mark[0], ~self.stripes_swept.holds(evidence.key))
        if evidence.kind in self.recorded:
            below = EvidenceInsertedBelow.__table__
            unsealed = and_(
                evidence.key.in_(
                    select(below.c.row_id).where(below.c.kind == evidence.kind, below.c.inserted_at > self.since)
                ),
                unsealed,
            )
        return and_(older, newer), and_(older, unsealed, ~newer)

    @property
    def stripes_swept(self) -> verifying.Stripes:
        """The night's stripes of every kind's older rows."""
        return swept(self.day, self.days)

    def _stripes(self, low: int, high: int) -> list[Range]:
        """The id ranges of the night's stripes between ``low`` and ``high``."""
        return self.stripes_swept.ranges(low, high)


def swept(day: date, days: int) -> verifying.Stripes:
    """The stripes of the older rows the night of ``day`` sweeps, of a sweep over ``days`` nights: those whose number
    is the day's number modulo ``days``. Any ``days`` consecutive nights sweep every stripe, with nothing kept between
    nights; every id, a negative one too, lies in exactly one night's stripes (:meth:`verifying.Stripes.holds`). The
    seals' sweep and the checks that grow with the journal (``reconcile.night``) sweep the same stripes."""
    return verifying.Stripes(STRIPE, days, day.toordinal() % days)


def nightly_args(run_id: int | None) -> dict | None:
    """The arguments of the nightly maintenance or the auto-heal whose run this is, with its ``kind``: both read what
    a night reads; ``None`` for any other run."""
    if run_id is None:
        return None
    found = db.session.execute(
        select(JobRecord.kind, JobRecord.args).where(JobRecord.run_id == run_id, JobRecord.kind.in_(READ_AS_A_NIGHT))
    ).first()
    return None if found is None else found.args | {"kind": found.kind}


def _keep_the_sweep(run_id: int | None, night: Night | None, checked: int) -> None:
    """What a nightly maintenance's sweep of the older seals verified, added to what its job's row keeps for the
    result the job ends with (``jobs.run_result``): the rows of the night's slice, and which slice of how many; on a
    night with no anchor to start from, every row, one slice of one. The row is locked first: the pieces of a run split
    into jobs add theirs side by side, each under the run's id (:data:`SWEPT_BY`). Nothing for any other run."""
    if run_id is None:
        return
    kept = (
        db.session.connection()  # the primary's, which the row is locked on, whether a replica serves the reads or not
        .execute(
            select(JobRecord.id, JobRecord.result)
            .where(JobRecord.run_id == run_id, JobRecord.kind == NIGHTLY)
            .with_for_update()
        )
        .first()
    )
    if kept is None:
        return
    if night is None:
        part, ms = {"rows": checked, "slice": 1, "slices": 1}, 0
    else:
        part, ms = {"rows": night.swept, "slice": night.slice + 1, "slices": night.days}, night.swept_ms
    result = kept.result or {}
    if result.get(SWEPT_BY) == run_id:  # else kept by an earlier attempt's run
        part["rows"] += result["seals_swept"]["rows"]
        ms += result.get(SWEPT_MS, 0)
    result = result | {"seals_swept": part, SWEPT_MS: ms, SWEPT_BY: run_id}
    db.session.execute(update(JobRecord).where(JobRecord.id == kept.id).values(result=result))


def _ranges(
    connection: Connection,
    evidence: seals.Evidence,
    ranges: list[Range],
    chunk_size: int,
    stripes: verifying.Stripes | None = None,
):
    """Verify the rows (and the seals whose rows are gone) in each id range (of ``stripes``, if given),
    ``chunk_size`` ids at a time."""
    result = verifying.Verified()
    for low, high in ranges:
        for start in range(low, high + 1, chunk_size):
            end = min(start + chunk_size - 1, high)
            verified = verifying.verify(connection, evidence, start, end, stripes=stripes)
            result.checked += verified.checked
            result.findings += verified.findings
    return result
