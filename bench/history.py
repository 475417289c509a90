"""The nightly over a history four times longer, with the same day's changes.

Run with ``python -m bench history``. It builds two installations of the shape ``bench grown`` builds
(:func:`bench.grown.build`), both of ``BENCH_HISTORY_SCALE`` of 1,000,000 customers' worth (default 0.002: 2,000
customers): one over a year of history, one over ``BENCH_HISTORY_YEARS`` years (default 4) of the same customers, with
as many movements, readings, orders, invoices and payments a year, and the same day's changes (a year's movements over
its days), each in a database of its own (``BENCH_DATABASE_URL`` followed by ``_history_1y`` and ``_history_4y``).
``BENCH_HISTORY_REUSE=1`` measures over the databases a previous run built at the same size instead of building them
again.

Each of ``BENCH_HISTORY_NIGHTS`` nights (default 3), taking turns, runs the nightly maintenance from each
installation's kept anchor, every check, on a copy of its database made for the night, in this process (one check
after the other, so that their times add up to the night's). Measured at each length, the median of the nights:

- the night, from its queuing to its anchor written;
- the sweep's slice: the rows of the history's stripes the night verified (the seals', and those of the checks that
  grow with the journal, ``reconcile.night``) and how long they took, from what the night keeps of them (its job's
  ``seals_swept_ms``, each check's ``covered``); and what a row of it cost;
- the night's work other than the slice: the night less its slice;
- each check's time other than its share of the slice; the seals' with the anchor's (the night less its checks).

The bounds: the work other than the slice within 1.5× of the shorter history's, and a row of the slice costing what it
costs on the shorter one (within 1.25×).
"""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass, field
from datetime import timedelta

from rich.progress import Progress
from rich.table import Table

from bench import grown
from bench.common import BENCH_DATABASE_URL, console, migrate, nightly_from_anchor, timed

SCALE = float(os.environ.get("BENCH_HISTORY_SCALE", "0.002"))  # float-ok: a size factor
YEARS = int(os.environ.get("BENCH_HISTORY_YEARS", 4))
NIGHTS = int(os.environ.get("BENCH_HISTORY_NIGHTS", 3))
REUSE = os.environ.get("BENCH_HISTORY_REUSE") == "1"
OTHER_BOUND = 1.5
"""The night's work other than the sweep's slice, over a history ``YEARS`` times longer, within 1.5× the shorter's."""
ROW_BOUND = 1.25
"""A row of the slice within 1.25× of its cost on the shorter history."""


@dataclass
class Night:
    """What one night took (seconds) and read."""

    seconds: float  # float-ok: seconds
    checks: dict[str, float]  # float-ok: seconds
    """Each check's time."""
    swept: dict[str, float]  # float-ok: seconds
    """Of each check's time, its share of the sweep's slice."""
    swept_rows: int

    @property
    def swept_seconds(self) -> float:  # float-ok: seconds
        return sum(self.swept.values())

    @property
    def other(self) -> float:  # float-ok: seconds
        return self.seconds - self.swept_seconds

    @property
    def anchor(self) -> float:  # float-ok: seconds
        return self.seconds - sum(self.checks.values())


@dataclass
class Length:
    """One length of history: its size, its database and its nights."""

    size: grown.Size
    url: str
    nights: list[Night] = field(default_factory=list)

    def median(self, what) -> float:  # float-ok: seconds
        return statistics.median(what(night) for night in self.nights)


def main() -> str:
    os.environ.pop("REDIS_URL", None)  # the nightly runs in this process
    lengths = [_length(grown.Size(SCALE, years)) for years in (1, YEARS)]
    load_before = os.getloadavg()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("The nightly at each length of history, taking turns", total=NIGHTS * 2)
        for turn in range(NIGHTS):
            for length in lengths if turn % 2 == 0 else lengths[::-1]:
                length.nights.append(_night(length.url, turn))
                progress.advance(task)
    load_after = os.getloadavg()
    loads = (
        f"Load average (1, 5, 15 min): {' '.join(f'{a:.2f}' for a in load_before)} before, "
        f"{' '.join(f'{a:.2f}' for a in load_after)} after."
    )
    report = _report(*lengths)
    console.print(loads)
    return f"{report}\n{loads}\n"


def _length(size: grown.Size) -> Length:
    url = f"{BENCH_DATABASE_URL}_history_{size.years}y"
    if REUSE and grown.built_size(url) == size and grown.built_sealed(url):
        return Length(size, migrate(url))
    return Length(size, grown.build(url, size))


def _night(url: str, turn: int) -> Night:
    """The nightly of the night after the kept anchor's (and ``turn`` more), every check, on a copy of the database."""
    from sqlalchemy import select

    from backoffice.models import CheckResult, JobRecord
    from backoffice.platform.extensions import db

    _mark, files = grown._kept(url)
    night = grown.anchored_on(url) + timedelta(days=turn + 1)
    with grown.copied(url) as copy:
        app = grown.application(copy)
        try:
            seconds, run_id = timed(lambda: nightly_from_anchor(app, files, night), repeat=1)
            with app.app_context():
                results = db.session.scalars(select(CheckResult).where(CheckResult.run_id == run_id)).all()
                found = {result.check: result.mismatched for result in results if result.mismatched}
                assert not found, f"the installation is not consistent: {found}"
                job = db.session.scalar(select(JobRecord.result).where(JobRecord.run_id == run_id))
                checks = {result.check: result.duration_ms / 1000 for result in results}
                swept = {result.check: result.covered["swept_ms"] / 1000 for result in results if result.covered}
                swept["evidence_seals"] = job["seals_swept_ms"] / 1000
                rows = job["seals_swept"]["rows"] + sum(result.covered["swept"] for result in results if result.covered)
        finally:
            with app.app_context():
                db.engine.dispose()
    return Night(seconds, checks, swept, rows)


def _sealed(night: Night) -> float:  # float-ok: seconds
    """The seals' check and the anchor, but their share of the slice (the seals' stripes, and the night's stripe of
    the chains proved and read for the anchor)."""
    return night.checks["evidence_seals"] + night.anchor - night.swept["evidence_seals"]


def _took(check: str):
    """A check's time other than its share of the slice."""
    return lambda night: night.checks[check] - night.swept.get(check, 0)


def _report(short: Length, long: Length) -> str:
    def ratio(what) -> str:
        first = short.median(what)
        return f"{long.median(what) / first:.2f}×" if first else "–"

    def row_cost(length: Length) -> float:  # float-ok: µs
        return length.median(lambda night: night.swept_seconds / night.swept_rows * 1e6)

    rows = [
        ("the night", short.median(lambda n: n.seconds), long.median(lambda n: n.seconds), ratio(lambda n: n.seconds)),
        (
            f"the night's work other than the sweep's slice (bound {OTHER_BOUND}×)",
            short.median(lambda n: n.other),
            long.median(lambda n: n.other),
            ratio(lambda n: n.other),
        ),
        (
            "the sweep's slice",
            short.median(lambda n: n.swept_seconds),
            long.median(lambda n: n.swept_seconds),
            ratio(lambda n: n.swept_seconds),
        ),
        (
            "`evidence_seals` and the anchor, but their slice",
            short.median(_sealed),
            long.median(_sealed),
            ratio(_sealed),
        ),
    ]
    others = [name for name in short.nights[0].checks if name != "evidence_seals"]
    for check in sorted(others, key=lambda name: -long.median(_took(name))):
        took = _took(check)
        rows.append((f"check `{check}`, but its slice", short.median(took), long.median(took), ratio(took)))
    title = (
        f"The nightly over 1 and {YEARS} years of history, {short.size.customers:,} customers, "
        f"{short.size.day:,} movements of the day (median of {NIGHTS} nights)"
    )
    table = Table(title=title)
    for column in ("", "1 year", f"{YEARS} years", "ratio"):
        table.add_column(column, justify="left" if not column else "right")
    markdown = [f"#### {title}", "", f"| | 1 year | {YEARS} years | ratio |", "| --- | ---: | ---: | ---: |"]
    for label, first, second, shown in rows:
        table.add_row(label, f"{first:.2f} s", f"{second:.2f} s", shown)
        markdown.append(f"| {label} | {first:.2f} s | {second:.2f} s | {shown} |")
    per_row = row_cost(long) / row_cost(short)
    slice_line = (
        f"A row of the slice: {row_cost(short):.1f} µs over 1 year ({short.median(lambda n: n.swept_rows):,.0f} rows), "
        f"{row_cost(long):.1f} µs over {YEARS} years ({long.median(lambda n: n.swept_rows):,.0f} rows): "
        f"{per_row:.2f}× (bound {ROW_BOUND}×)."
    )
    console.print(table)
    console.print(slice_line)
    sizes = "; ".join(f"{length.size.years} year(s): {length.size.movements:,} movements" for length in (short, long))
    return "\n".join(markdown) + f"\n\n{slice_line} Sizes: {sizes}.\n"
