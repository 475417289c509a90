"""What a nightly maintenance reads of the checks that grow with the history.

Reading the journal, the ledger and the records' history whole each night would make the night grow with the
installation's age. So in a nightly maintenance each such check reads only its :class:`Share`: the rows added or
changed since its last clean night, and the night's stripe of the rest, so that every row is read again within
``BACKOFFICE_SEAL_SWEEP_DAYS`` nights.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime

from flask import current_app
from sqlalchemy import ColumnElement, Select, func, select

from backoffice.evidence import verifying
from backoffice.evidence.seals import seals
from backoffice.models import CheckResult, Discrepancy, ReconciliationRun, RunStatus
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.reconcile.base import Check, Part, Scope, Span
from backoffice.reconcile.evidence_seals import AUTO_HEAL, SEALED_BEFORE_ANCHOR, nightly_args, swept

log = logging.getLogger("backoffice.reconcile.night")


@dataclass(frozen=True)
class Share:
    """A nightly maintenance's share of one check that grows with the journal, as planned when the check starts."""

    marks: dict[str, int | None]
    """The highest id of each table the check reads by id, when the night planned the check: where the next night
    starts, if this one is clean."""
    after: dict[str, int | None] | None
    """The marks of the check's last clean night: the rows above them are new tonight. ``None``: there was no clean
    night, and every row is read."""
    since: datetime | None
    """Shortly before the last clean night's run started: a row whose seal is newer changed since."""
    previous: int | None
    """The last clean night's run."""
    stripes: verifying.Stripes
    sums: dict | None = None
    """What the last clean night kept for the next of a check that keeps sums across nights
    (:attr:`Check.keeps_sums`): an account's posted lines summed by stripe."""

    def kept(self) -> dict:
        """The share as a chunk keeps it (``ReconciliationChunk.covered``)."""
        return {
            "marks": self.marks,
            "after": self.after,
            "since": self.since.isoformat() if self.since else None,
            "previous": self.previous,
            "stripes": [self.stripes.width, self.stripes.period, self.stripes.phase],
            "sums": self.sums,
        }

    @classmethod
    def of_kept(cls, kept: dict) -> Share:
        width, period, phase = kept["stripes"]
        return cls(
            kept["marks"],
            kept["after"],
            datetime.fromisoformat(kept["since"]) if kept["since"] else None,
            kept["previous"],
            verifying.Stripes(width, period, phase),
            kept.get("sums"),
        )

    def parts(self, check: Check, key_range: tuple[int, int] | None) -> list[Part | None]:
        """What the check reads of the chunk of keys ``key_range`` (``None``: all of them) tonight: the rows added or
        changed since the last clean night, and the night's stripes of the rest, each a part, left out when empty;
        ``[None]``, every row, when there was no clean night."""
        if self.after is None:
            return [None]
        low, high = key_range if key_range is not None else (None, None)
        changed = self._changed(check, low, high)
        new: list[tuple[str, tuple[Span, ...]]] = []
        striped: list[tuple[str, tuple[Span, ...]]] = []
        for table, columns in check.marked().items():
            mark = self.after.get(table)
            if mark is None:  # nothing of it was there at the last clean night: all of it is new
                new.append((table, ((low, high),)))
                continue
            spans: list[Span] = []
            if high is None or high > mark:
                spans.append((mark + 1 if low is None else max(low, mark + 1), high))
            spans += [(key, key) for key in self._unswept(check, table, columns, changed.get(table, []))]
            new.append((table, tuple(spans)))
            bottom = low if low is not None else _lowest(columns)
            top = mark if high is None else min(high, mark)
            if bottom is None or bottom > top:
                continue
            by = check.swept_by().get(table)
            if by is None:
                striped.append((table, tuple(_joined(self.stripes.ranges(bottom, top)))))
                continue
            name, of = by  # the rows at or below the mark of the ids in the night's stripes
            first, last = _lowest(of), _highest(of)
            striped += [(table, ((bottom, top),)), (name, tuple(_joined(self.stripes.ranges(first, last))))]
        parts = [Part(tuple(new), since=self.since)] if any(spans for _table, spans in new) else []
        if any(spans for _table, spans in striped):
            parts.append(Part(tuple(striped), swept=True))
        return parts

    def covered(self, tally) -> dict:
        """What the check's result keeps of the night (its ``engine.Tally``): which part it read, how many rows of
        each, how long the stripes' took, and the marks the next night starts from."""
        return {
            "part": "all" if self.after is None else "changed and stripe",
            # A check that keeps sums compares every entity, and reads the stripe's rows to sum them.
            "changed": tally.checked - tally.swept if tally.carried is None else tally.checked,
            "swept": tally.swept,
            "swept_ms": tally.swept_ms,
            "stripe": self.stripes.phase + 1,
            "stripes": self.stripes.period,
            "since_run": self.previous,
            "after": self.after,
            "marks": self.marks,
        } | ({"sums": tally.carried} if tally.carried is not None else {})

    def said(self, check: str, tally) -> None:
        """The night's log line of the check: what it read (its ``engine.Tally``)."""
        if self.after is None:
            log.info("%s: read all its %d rows (no clean night before); marks %s", check, tally.checked, self.marks)
            return
        covered = self.covered(tally)
        log.info(
            "%s: read %d rows, %d added or changed since the clean night of run %s (above %s) and %d of the "
            "sweep's stripe %d of %d; marks %s",
            check,
            tally.checked,
            covered["changed"],
            self.previous,
            self.after,
            tally.swept,
            self.stripes.phase + 1,
            self.stripes.period,
            self.marks,
        )

    def _unswept(self, check: Check, table: str, columns: tuple[ColumnElement, ...], keys: list[int]) -> list[int]:
        """Of these ids of ``table``'s rows, those the night's stripes do not sweep, which are read with them."""
        by = check.swept_by().get(table)
        if by is None or not keys:
            return [key for key in keys if not self.stripes.contains(key)]
        _name, (of, *_others) = by
        owners = db.session.execute(select(columns[0], of).where(columns[0].in_(keys)))
        swept = {key for key, owner in owners if self.stripes.contains(owner)}
        return [key for key in keys if key not in swept]

    def _changed(self, check: Check, low: int | None, high: int | None) -> dict[str, list[int]]:
        """Per table, the ids at or below its mark (and within ``low`` to ``high``) of the rows the application
        changed since the last clean night, and of those a run found wrong since (until a night finds them right, as
        a night that does not read them would say nothing of them)."""
        marks = self.after or {}
        found: dict[str, set[int]] = {}
        wrong = db.session.execute(
            select(Discrepancy.entity_type, Discrepancy.entity_id)
            .where(Discrepancy.check == check.name, Discrepancy.run_id > self.previous)
            .distinct()
        )
        for entity_type, key in wrong:
            if (table := check.marked_as(entity_type)) is not None:
                found.setdefault(table, set()).add(key)
        for table, query in check.changed(self.since, marks).items():
            ids = query.subquery("changed").c[0]
            bounds = [] if low is None else [ids >= low, ids <= high]
            found.setdefault(table, set()).update(db.session.scalars(select(ids).where(*bounds).distinct()))
        return {
            table: sorted(key for key in keys if key <= marks[table] and (low is None or low <= key <= high))
            for table, keys in found.items()
            if marks.get(table) is not None  # else all of it is new
        }


def share_of(run_id: int, check: Check, scope: Scope) -> Share | None:
    """The share of ``check`` a run reads, planned now: ``None`` (every row) but in a nightly maintenance's or an
    auto-heal's run over everything, for a check that grows with the journal; an auto-heal reads all of a check whose
    latest result left a discrepancy unfixed."""
    if not check.marked() or scope != Scope():
        return None
    args = nightly_args(run_id)
    if args is None or (args["kind"] == AUTO_HEAL and _left(check, run_id)):
        return None
    day = date.fromisoformat(args["date"]) if args.get("date") else local_today()
    marks = {table: _highest(columns) for table, columns in (check.marked() | check.watched()).items()}
    last = db.session.execute(
        select(CheckResult.covered, ReconciliationRun.id, ReconciliationRun.started_at)
        .join(ReconciliationRun, ReconciliationRun.id == CheckResult.run_id)
        .where(
            CheckResult.check == check.name,
            CheckResult.covered.is_not(None),
            CheckResult.mismatched == CheckResult.fixed,
            ReconciliationRun.status == RunStatus.SUCCEEDED,
            ReconciliationRun.id != run_id,
        )
        .order_by(CheckResult.id.desc())
        .limit(1)
    ).first()
    stripes = swept(day, current_app.config["SEAL_SWEEP_DAYS"])
    sums = _sums_kept(run_id, check) if check.keeps_sums else None
    if last is None:
        return Share(marks, None, None, None, stripes, sums)
    covered, previous, started_at = last
    return Share(marks, covered["marks"], started_at - SEALED_BEFORE_ANCHOR, previous, stripes, sums)


def _left(check: Check, run_id: int) -> bool:
    """Whether the latest result of ``check`` before the run ``run_id`` left a discrepancy unfixed."""
    latest = db.session.execute(
        select(CheckResult.mismatched, CheckResult.fixed)
        .where(CheckResult.check == check.name, CheckResult.run_id != run_id)
        .order_by(CheckResult.id.desc())
        .limit(1)
    ).first()
    return latest is not None and latest.mismatched > latest.fixed


def _sums_kept(run_id: int, check: Check) -> dict | None:
    """What the latest nightly that succeeded kept of a check that keeps sums, clean or not: sums of the lines,
    whatever the stored values it compared them with."""
    covered = db.session.scalar(
        select(CheckResult.covered)
        .join(ReconciliationRun, ReconciliationRun.id == CheckResult.run_id)
        .where(
            CheckResult.check == check.name,
            CheckResult.covered.is_not(None),
            ReconciliationRun.status == RunStatus.SUCCEEDED,
            ReconciliationRun.id != run_id,
        )
        .order_by(CheckResult.id.desc())
        .limit(1)
    )
    return None if covered is None else covered.get("sums")


def sealed_since(kinds: list[str], since: datetime | None) -> Select:
    """The ids of the rows of these kinds of evidence sealed since ``since``: written, or posted, since then."""
    return select(seals.c.row_id).where(seals.c.kind.in_(kinds), seals.c.sealed_at > since)


def _highest(columns: tuple[ColumnElement, ...]) -> int | None:
    found = [db.session.scalar(select(func.max(column))) for column in columns]
    return max((value for value in found if value is not None), default=None)


def _lowest(columns: tuple[ColumnElement, ...]) -> int | None:
    found = [db.session.scalar(select(func.min(column))) for column in columns]
    return min((value for value in found if value is not None), default=None)


def _joined(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The ranges, those that touch joined (every stripe, when the sweep takes one night)."""
    joined: list[tuple[int, int]] = []
    for low, high in ranges:
        if joined and joined[-1][1] + 1 >= low:
            joined[-1] = (joined[-1][0], high)
        else:
            joined.append((low, high))
    return joined
