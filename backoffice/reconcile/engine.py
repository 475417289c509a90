"""The engine: verify, fix, rebuild or dry-run checks over a scope, recording everything.

Each check is read in key-range chunks by set-based statements, and only the entities found wrong are fixed and
recorded, in batches of one transaction each. ``run`` does it all in one process; ``check_chunk`` does one key range,
which is how a run split into jobs (``fanout``) does the same work on many workers. A run that writes holds its checks
for its whole length (see ``locks``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import groupby

from flask import current_app
from flask_babel import ngettext
from psycopg import sql
from sqlalchemy import ColumnElement, func, inspect, select, text

from backoffice.evidence import quarantine, seals
from backoffice.models import (
    CheckResult,
    Customer,
    Discrepancy,
    ReconciliationRun,
    RunMode,
    RunStatus,
    RunTrigger,
    User,
)
from backoffice.models.types import utcnow
from backoffice.platform import databases, replica
from backoffice.platform.extensions import db
from backoffice.reconcile import CHECKS, Check, Scope, measuring, night, resolve, sources
from backoffice.reconcile.base import Part, at_scale
from backoffice.reconcile.locks import claim, waits
from backoffice.reconcile.transitions import end_run

ProgressCallback = Callable[[str, int, int], None]
"""Called as ``progress(check_name, chunks_done, chunks_total)``."""

_BATCH = 500
"""Wrong entities fixed and recorded per transaction."""


class UnknownCustomer(ValueError):
    def __init__(self, codes: list[str]) -> None:
        super().__init__(
            ngettext(
                "Unknown customer code: %(codes)s.",
                "Unknown customer codes: %(codes)s.",
                len(codes),
                codes=", ".join(codes),
            )
        )


def scope_for(customer_codes=(), from_month=None) -> Scope:
    """A scope from what a user typed; raises :class:`UnknownCustomer`."""
    codes = tuple(dict.fromkeys(customer_codes))
    ids: tuple[int, ...] = ()
    if codes:
        found = dict(db.session.execute(select(Customer.code, Customer.id).where(Customer.code.in_(codes))).all())
        missing = [code for code in codes if code not in found]
        if missing:
            raise UnknownCustomer(missing)
        ids = tuple(found[code] for code in codes)
    return Scope(customer_ids=ids, customer_codes=codes, from_month=from_month)


def run(
    mode: RunMode,
    *,
    checks: list[str] | tuple[str, ...] | None = None,
    scope: Scope | None = None,
    trigger: RunTrigger = RunTrigger.CLI,
    user: User | None = None,
    progress: ProgressCallback | None = None,
    on_start: Callable[[ReconciliationRun], None] | None = None,
) -> ReconciliationRun:
    """Run the named checks (all by default) and return the finished run record.

    ``on_start`` is called with the run record once it is committed, before any check runs.
    Raises :class:`RunRefused`, having done nothing, when another run writes a check this one would
    write (a scheduled run waits for it instead).
    """
    scope = scope or Scope()
    checked = selected(checks, scope)
    with claim(written(mode, checked), scope, wait=waits(trigger)):
        record = new_run(mode, checked, scope, trigger, user)
        # The id as the session knows it: the commit expired the record, and ``record.id`` would read it back.
        of = RunOf(inspect(record).identity[0], mode)
        if on_start:
            on_start(record)
        try:
            if mode is RunMode.DRY_RUN:
                _rehearse(of, checked, scope, progress)
            else:
                for position, check in enumerate(checked):
                    if position:
                        db.session.commit()  # the previous check's result; the last one's commits with the run's end
                    _run_check(of, check, scope, progress)
        except BaseException as error:
            db.session.rollback()
            end_run(of.id, RunStatus.FAILED, f"{type(error).__name__}: {error}")
            db.session.commit()
            raise
        end_run(of.id, RunStatus.SUCCEEDED)
        db.session.commit()
    return record


def new_run(
    mode: RunMode, checks: list[Check], scope: Scope, trigger: RunTrigger, user: User | None
) -> ReconciliationRun:
    """The run's record, committed; none under another seal key than the evidence's (:class:`WrongSealKey`): such a
    run could verify nothing, and its record would be sealed with the wrong key."""
    seals.check_key(db.session.connection())
    record = ReconciliationRun(
        mode=mode,
        trigger=trigger,
        user_id=user.id if user else None,
        scope=scope.describe(),
        checks=[check.name for check in checks],
    )
    db.session.add(record)
    db.session.commit()
    return record


def refuse_if_busy(mode: RunMode, *, checks=None, scope: Scope | None = None) -> None:
    """Raise :class:`RunRefused` if a run of ``mode`` would be refused now: to tell before a job is queued."""
    scope = scope or Scope()
    with claim(written(mode, selected(checks, scope)), scope, wait=False):
        pass


def in_scope(checks, scope: Scope) -> list[tuple[Check, int]]:
    """The checks a run over ``scope`` takes, each with how many of its entities the scope covers: what a rebuild
    recomputes and writes. One count per check."""
    counted = []
    for check in selected(checks, scope):
        scoped = check.scoped(scope)
        count = db.session.scalar(
            select(func.count()).select_from(measuring.source_of(scoped)).where(*scoped.scope_conditions(scope))
        )
        counted.append((scoped, count))
    return counted


def discrepancies(run_id: int, check: str | None = None):
    """The run's discrepancies, largest difference first."""
    query = select(Discrepancy).where(Discrepancy.run_id == run_id)
    if check:
        query = query.where(Discrepancy.check == check)
    return query.order_by(func.abs(Discrepancy.difference).desc(), Discrepancy.id)


def selected(checks, scope: Scope) -> list[Check]:
    """The checks named (all by default); the books' are left out of a run over some customers."""
    return [check for check in resolve(checks) if check.by_customer or not scope.customer_ids]


def written(mode: RunMode, checks: list[Check]) -> list[Check]:
    """Those of the checks a run of ``mode`` may write."""
    return [check for check in checks if check.fixable] if mode.writes else []


KeyRange = tuple[int, int] | None
"""The lowest and highest key of a chunk, both included; ``None``: the whole scope, which fits in one chunk."""


@dataclass
class Tally:
    """What a check found over some of its scope (a chunk) or all of it: how many entities it checked, found
    wrong and fixed, and per field the sum of the stored values and what the fixes move it by."""

    checked: int = 0
    mismatched: int = 0
    fixed: int = 0
    stored: dict[str, Decimal] = field(default_factory=dict)
    correction: dict[str, Decimal] = field(default_factory=dict)
    swept: int = 0
    """Of the entities checked, those a nightly read in the night's stripes (``night``)."""
    swept_ms: int = 0
    """How long reading those took."""
    carried: dict | None = None
    """What a check that keeps sums across nights keeps for the next night (:attr:`Check.keeps_sums`)."""

    @classmethod
    def of(cls, check: Check) -> Tally:
        names = [f.name for f in check.fields() if f.adds]
        return cls(stored=dict.fromkeys(names, Decimal(0)), correction=dict.fromkeys(names, Decimal(0)))

    def add(self, other: Tally) -> None:
        self.checked += other.checked
        self.mismatched += other.mismatched
        self.fixed += other.fixed
        self.swept += other.swept
        self.swept_ms += other.swept_ms
        self.carried = other.carried if other.carried is not None else self.carried
        for name in self.stored:
            self.stored[name] += other.stored[name]
            self.correction[name] += other.correction[name]

    def sums(self) -> dict:
        """The sums as decimal strings, as a chunk keeps them."""
        return {name: [str(value), str(self.correction[name])] for name, value in self.stored.items()}

    @classmethod
    def kept(cls, checked: int, mismatched: int, fixed: int, sums: dict, covered: dict | None = None) -> Tally:
        """The tally a chunk kept (see :meth:`sums`), with what it read of the night's stripes (``covered``)."""
        stored = {name: Decimal(pair[0]) for name, pair in sums.items()}
        corrections = {name: Decimal(pair[1]) for name, pair in sums.items()}
        swept = covered or {}
        return cls(
            checked,
            mismatched,
            fixed,
            stored,
            corrections,
            swept.get("swept", 0),
            swept.get("swept_ms", 0),
            swept.get("carried"),
        )


SPREAD_CHUNKS = 64
"""Chunks a check's keys may span, lowest to highest, before its chunks are planned by the keys that exist."""


def key_ranges(check: Check, scope: Scope) -> list[KeyRange]:
    """The key range of each chunk of ``check`` (as scoped), ``RECONCILE_CHUNK_SIZE`` keys wide, or as many keys as
    hold about that many of the rows it reads many of a key (:func:`_keys_a_chunk`) (read where the run
    compares: on a replica, if one serves). Keys spread wider than :data:`SPREAD_CHUNKS` chunks (an id forged far
    below or above the others) are split by the keys that exist, ``RECONCILE_CHUNK_SIZE`` of them a chunk: no chunk
    is planned for a gap.

    A scope that fits in one chunk is read without bounds: bounds that every row in scope meets select
    nothing more, and comparing each row's key with them costs a tenth of a verify of a million orders. Some
    customers' keys are planned by the keys that exist, however far apart they lie (a customer's movements are spread
    over the whole ledger's ids): a chunk of a few customers' rows is read as such, not the ledger's every range.
    """
    with replica.reading():
        low, high = db.session.execute(check.key_bounds(scope)).one()
        if low is None:
            return []
        size = _keys_a_chunk(check, current_app.config["RECONCILE_CHUNK_SIZE"], high - low + 1)
        if high - low < size:
            return [None]
        if (high - low) // size < SPREAD_CHUNKS and not scope.customer_ids:
            return [(start, min(start + size - 1, high)) for start in range(low, high + 1, size)]
        starts = list(db.session.execute(check.key_starts(scope, size)).scalars())
    if len(starts) == 1:
        return [None]
    return [(start, end - 1) for start, end in zip(starts, starts[1:], strict=False)] + [(starts[-1], high)]


def _keys_a_chunk(check: Check, size: int, span: int) -> int:
    """``size`` keys, or, for a check that reads many rows of a table for each key (``Check.reads_per_key``), as
    many of its ``span`` keys as hold about ``size`` of those rows, as the planner's statistics count them."""
    if check.reads_per_key is None:
        return size
    rows = db.session.scalar(
        text("SELECT CAST(reltuples AS bigint) FROM pg_class WHERE oid = CAST(:name AS regclass)"),
        {"name": check.reads_per_key.name},
    )
    if rows is None or rows <= span:  # never counted (-1), or a row a key or fewer
        return size
    return max(1, size * span // rows)


def check_chunk(
    record: ReconciliationRun | RunOf,
    check: Check,
    scope: Scope,
    key_range: KeyRange,
    *,
    commit: bool,
    share: night.Share | None = None,
) -> Tally:
    """Check one key range of ``check`` (as scoped) for the run, of it the night's ``share`` if given; fix what is
    wrong when the run writes, and record every discrepancy. With ``commit``, each batch of fixes is committed with
    its audit rows; without, all of it is left to the caller's transaction."""
    if check.examines:
        return _examine(record, check, key_range, commit=commit)
    if share is None:
        return _check_part(record, check, scope, key_range, None, commit=commit)
    if check.keeps_sums:
        started = time.monotonic()
        with replica.reading():
            tonight = check.tonight(share)
        swept_ms = int((time.monotonic() - started) * 1000)
        tally = _check_part(record, tonight, scope, key_range, None, commit=commit)
        tally.swept, tally.swept_ms, tally.carried = tonight.swept, swept_ms, tonight.carried
        return tally
    with replica.reading():
        parts = share.parts(check, key_range)
    tally = Tally.of(check)
    for part in parts:
        started = time.monotonic()
        read = _check_part(record, check, scope, key_range, part, commit=commit)
        if part is not None and part.swept:
            read.swept, read.swept_ms = read.checked, int((time.monotonic() - started) * 1000)
        tally.add(read)
    return tally


def _check_part(
    record: ReconciliationRun | RunOf,
    check: Check,
    scope: Scope,
    key_range: KeyRange,
    part: Part | None,
    *,
    commit: bool,
) -> Tally:
    """:func:`check_chunk` of the ``part`` of the key range's rows (``None``: all of them): the rows compared, then
    what is wrong recorded (and fixed, when the run fixes) a batch at a time."""
    check, in_chunk = _narrowed(check, scope, key_range, part)
    fields = check.fields()
    tally = Tally.of(check)
    fixing = _fixing(record.mode, check)
    tally.checked, sums, wrong = _compared(check, fields, in_chunk, fixing)
    for f, total in zip(fields, sums, strict=True):
        if f.adds:
            tally.stored[f.name] += total
    wrong.sort(key=lambda row: (row[0], row[1] or ""))
    # Each batch, its fixes and their audit rows are one transaction (or part of the caller's); what fixes nothing
    # records the chunk's audit rows in one.
    for batch in _batches(wrong, _BATCH if fixing else len(wrong)):
        _recorded(record, check, fields, in_chunk, batch, tally, fixing)
        if commit:
            db.session.commit()
    return tally


def _narrowed(check: Check, scope: Scope, key_range: KeyRange, part: Part | None) -> tuple[Check, list]:
    """The check bounded to the key range and restricted to the part, and the conditions of the rows it reads."""
    if key_range is not None:
        check = check.bounded(*key_range)
    if part is not None:
        check = check.restricted(part)
    in_chunk = [*check.scope_conditions(scope), *check.in_part()]
    if key_range is not None and part is None:  # a part's spans lie within its chunk
        in_chunk += [check.key >= key_range[0], check.key <= key_range[1]]
    return check, in_chunk


def _compared(check: Check, fields: list, in_chunk: list, fixing: bool) -> tuple[int, list, list]:
    """How many rows were compared, the stored fields' sums (when fixing) and the wrong rows. The comparison only
    reads: a replica may serve it; what a fix writes is compared again on the primary."""
    with replica.reading():
        databases.without_jit(replica.connection())
        if check.single_pass:
            return measuring.measured_and_found(check, fields, in_chunk, with_sums=fixing)
        if check.source is None:
            return measuring.measured_and_collected(check, fields, in_chunk, with_sums=fixing)
        checked, sums = measuring.measured(check, fields, in_chunk, with_sums=fixing)
        return checked, sums, measuring.wrong_rows(check, fields, in_chunk)


def _recorded(record, check: Check, fields: list, in_chunk: list, batch: list, tally: Tally, fixing: bool) -> None:
    """A batch of wrong rows recorded as discrepancies, the entities not held by a pending recalculation fixed when
    the run writes, and counted in ``tally``."""
    if fixing and replica.configured():
        batch = measuring.still_wrong(check, fields, in_chunk, batch)
    held = _held(record, check, sorted({row[0] for row in batch})) if fixing else {}
    rows = _discrepancy_rows(record, check, batch, tally, held)
    entities = {(row["entity_type"], row["entity_id"], row["period"]) for row in rows}
    tally.mismatched += len(entities)
    fixable = {(key, period) for _kind, key, period in entities if key not in held}
    if record.mode.writes and check.fixable and fixable:
        rows, fixed = _written(record, check, fixable, rows)
        tally.fixed += fixed
    if rows:
        _record(rows)


def _written(record, check: Check, fixable: set, rows: list[dict]) -> tuple[list[dict], int]:
    """Write the expected values of the ``fixable`` entities, and the audit rows of what the write changed: each
    found row is fixed if its stored value is now the expected one (or the entity is gone, as a stray month is), and
    every other stored value the write changed (of this check, or of another as a consequence,
    :meth:`Check.consequences`) is a row of its own. Returns the rows and how many of the entities found are fixed."""
    keys = {key for key, _period in fixable}
    watched = [(check, check.key.in_(sorted(keys)))]
    watched += [(CHECKS[name], CHECKS[name].key.in_(of(sorted(keys)))) for name, of in check.consequences()]
    before = [_values(watching, where) for watching, where in watched]
    check.write_entities(db.session.connection(), fixable)
    fixed_at = utcnow()
    after = [_values(watching, where) for watching, where in watched]
    changed: dict[tuple, dict] = {}
    for (watching, _where), was, now in zip(watched, before, after, strict=True):
        for row in _changes(record, watching, was, now, fixed_at):
            changed.setdefault((row["check"], row["entity_id"], row["period"], row["field"]), row)
    fields = {name: (i, scale) for i, (name, scale) in enumerate(check.scales)}
    width = len(fields)
    fixed_entities = set()
    for row in rows:
        changed.pop((check.name, row["entity_id"], row["period"], row["field"]), None)
        if row["entity_id"] not in keys:  # held: left as it is
            continue
        now = after[0].get((row["entity_id"], row["period"]))
        i, scale = fields[row["field"]]
        if now is None or at_scale(now[2 + i], scale) == at_scale(now[2 + width + i], scale):
            row.update(fixed=True, fixed_at=fixed_at)
            fixed_entities.add((row["entity_id"], row["period"]))
    return rows + list(changed.values()), len(fixed_entities)


def _values(check: Check, where: ColumnElement) -> dict[tuple, tuple]:
    """``(key, period, stored…, expected…)`` of the check's entities ``where`` selects, as the write's transaction
    has them, by key and period."""
    rows = db.session.execute(
        select(*measuring.compared_columns(check, check.fields())).select_from(measuring.source_of(check)).where(where)
    )
    return {(row[0], row[1]): tuple(row) for row in rows}


def _changes(record, check: Check, before: dict, after: dict, fixed_at) -> Iterator[dict]:
    """The audit row of each stored value of the check that was wrong ``before`` and that the write changed (one that
    was right and moved with a movement the write posted is the ledger's to tell): what it held, what is expected
    now, and whether it is that now."""
    width = len(check.scales)
    gone = (None,) * (2 + 2 * width)  # an entity no longer stored nor expected (a stray month deleted)
    for entity in after | {entity: gone for entity in before.keys() - after.keys()}:
        was, now = before.get(entity), after.get(entity, gone)
        for i, (name, scale) in enumerate(check.scales):
            held = at_scale(was[2 + i], scale) if was is not None else None
            stored, expected = at_scale(now[2 + i], scale), at_scale(now[2 + width + i], scale)
            if held == stored or (was is not None and held == at_scale(was[2 + width + i], scale)):
                continue
            fixed = stored == expected
            yield {
                "run_id": record.id,
                "check": check.name,
                "entity_type": check.entity_type,
                "entity_id": entity[0],
                "period": entity[1],
                "field": name,
                "stored": held,
                "expected": expected,
                "difference": (expected or Decimal(0)) - (held or Decimal(0)),
                "fixed": fixed,
                "fixed_at": fixed_at if fixed else None,
                "reason": None,
            }


def _batches(wrong: list[tuple], size: int) -> Iterator[list[tuple]]:
    """The wrong rows, in key order, in batches of ``size`` entities: an entity's rows (a customer's months) in one.
    What a batch's fix rests on is examined once for the batch, and a customer's evidence read once a batch."""
    batch: list[tuple] = []
    entities = 0
    for _key, rows in groupby(wrong, key=lambda row: row[0]):
        if entities == size:
            yield batch
            batch, entities = [], 0
        batch.extend(rows)
        entities += 1
    if batch:
        yield batch


def _held(record: ReconciliationRun | RunOf, check: Check, keys: list[int]) -> dict[int, str]:
    """The entities a fix leaves as they are: those reading a source row without a sealed history version (whose
    customers this quarantines), the check's own reasons, and quarantine's."""
    connection = db.session.connection()
    unexplained = sources.held(connection, check, keys, record.id)
    return quarantine.held(connection, check.entity_type, keys, record.id) | check.held(connection, keys) | unexplained


def _examine(record: ReconciliationRun | RunOf, check: Check, piece: KeyRange, *, commit: bool) -> Tally:
    """A check computed outside SQL (the seals), of one of its pieces (``None``: all of them): each finding is a
    discrepancy row, and is never fixed."""
    tally = Tally.of(check)
    with replica.reading():  # a fix heals from no source before examining its seals on the primary (``sources``)
        databases.without_jit(replica.connection())
        tally.checked, found = check.examine(record.id, current_app.config["RECONCILE_CHUNK_SIZE"], piece)
    tally.mismatched = len(found)
    rows = [
        {
            "run_id": record.id,
            "check": check.name,
            "entity_type": check.entity_type,
            "entity_id": finding.row_id,
            "period": None,
            "field": finding.evidence.kind,
            "stored": Decimal(0),
            "expected": Decimal(1),
            "difference": Decimal(1),
            "fixed": False,
            "fixed_at": None,
            "reason": finding.what,
        }
        for finding in found
    ]
    if rows:
        _record(rows)
    if commit:
        db.session.commit()
    return tally


def check_result(
    record: ReconciliationRun | RunOf,
    check: Check,
    tally: Tally,
    duration_ms: int,
    share: night.Share | None = None,
) -> CheckResult:
    """The check's counts in the run. A fix, a rebuild and a dry run say what a fix moves (before and after totals
    of each field that adds up: not a price, a factor or a running balance) and what it leaves as it is, and why; a
    plain verify and a check that only reports do not. A nightly says which part of a check that grows with the
    journal it read (``night``)."""
    totals = (
        {
            name: {"before": str(value), "after": str(value + tally.correction[name])}
            for name, value in tally.stored.items()
        }
        if _fixing(record.mode, check)
        else {}
    )
    return CheckResult(
        run_id=record.id,
        check=check.name,
        checked=tally.checked,
        mismatched=tally.mismatched,
        fixed=tally.fixed,
        totals=totals,
        duration_ms=duration_ms,
        covered=share.covered(tally) if share is not None else None,
    )


def _fixing(mode: RunMode, check: Check) -> bool:
    return mode is not RunMode.VERIFY and check.fixable


@dataclass(frozen=True)
class RunOf:
    """What a check needs of its run, read once: the run's record is expired at each commit, and read again at
    the next use of it."""

    id: int
    mode: RunMode


def _run_check(
    record: RunOf, check: Check, scope: Scope, progress: ProgressCallback | None, *, commit: bool = True
) -> CheckResult:
    started = time.monotonic()
    check = check.scoped(scope)
    tally = Tally.of(check)
    with replica.reading():
        share = night.share_of(record.id, check, scope)
    ranges = key_ranges(check, scope)
    for done, key_range in enumerate(ranges, start=1):
        # A chunk that records its discrepancies in one batch and is the check's last commits with the check's
        # result, which follows at once: one flush of the log where there were two.
        last = done == len(ranges) and not _fixing(record.mode, check)
        tally.add(check_chunk(record, check, scope, key_range, commit=commit and not last, share=share))
        if progress:
            progress(check.name, done, len(ranges))
    result = check_result(record, check, tally, int((time.monotonic() - started) * 1000), share)
    if share is not None:
        share.said(check.name, tally)
    db.session.add(result)
    db.session.flush()  # written before the run ends, which refuses rows of a finished run
    return result


def _rehearse(record: RunOf, checks: list[Check], scope: Scope, progress: ProgressCallback | None) -> None:
    """A dry run: the rebuild it stands for, done in one transaction that is then rolled back, keeping only what it
    recorded (each check's result and discrepancies, none of them fixed). So it says exactly what the rebuild would
    write, the values a fix changes as a consequence and those an earlier check's fix leaves right among them; it
    holds the rows the rebuild would write until it ends."""
    rebuild = RunOf(record.id, RunMode.REBUILD)
    rows: list[dict] = []
    results = []
    rehearsing = _REHEARSAL.set(rows)
    try:
        for check in checks:
            result = _run_check(rebuild, check, scope, progress, commit=False)
            results.append({column.key: getattr(result, column.key) for column in CheckResult.__table__.c})
    finally:
        _REHEARSAL.reset(rehearsing)
        db.session.rollback()
    for row in rows:
        row.update(fixed=False, fixed_at=None)
    if rows:
        _record(rows)
    db.session.add_all(CheckResult(**(result | {"id": None, "fixed": 0})) for result in results)
    db.session.flush()


_REHEARSAL: ContextVar[list[dict] | None] = ContextVar("rehearsal", default=None)
"""The audit rows a dry run keeps while it rehearses its rebuild (``_rehearse``): recorded once it rolled it back."""


def _discrepancy_rows(record, check: Check, wrong, tally: Tally, held: dict[int, str]) -> list[dict]:
    """The audit rows of the wrong entities; what a fix moves is added to the tally, unless the entity is held."""
    rows = []
    for row in wrong:
        for found in check.found(row):
            difference = (found.expected or Decimal(0)) - (found.stored or Decimal(0))
            if found.entity_id not in held and found.field in tally.correction:
                tally.correction[found.field] += difference
            rows.append(
                {
                    "run_id": record.id,
                    "check": check.name,
                    "entity_type": found.entity_type or check.entity_type,
                    "entity_id": found.entity_id,
                    "period": found.period,
                    "field": found.field,
                    "stored": found.stored,
                    "expected": found.expected,
                    "difference": difference,
                    "fixed": False,
                    "fixed_at": None,
                    "reason": held.get(found.entity_id) or found.reason,
                }
            )
    return rows


def _record(rows: list[dict]) -> None:
    """Insert the audit rows by ``COPY``.

    A large run records thousands of them: an ``INSERT`` of many rows binding a dozen parameters each
    spends three times as long having its text parsed, planned and bound as ``COPY`` takes to load them.
    """
    if (rehearsal := _REHEARSAL.get()) is not None:
        rehearsal.extend(rows)
        return
    connection = db.session.connection()
    table = Discrepancy.__table__
    names = list(rows[0])
    dialect = connection.dialect
    processors = [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names]
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, names))
    )
    with connection.connection.driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            values = zip(processors, row.values(), strict=True)
            copy.write_row([value if process is None else process(value) for process, value in values])
