"""verify --check order_grand_total on 1,000,000 orders with and without a read replica, and the processor time each
PostgreSQL server spends on it.

Run with ``make bench`` (or ``python -m bench replica``). It makes a primary and a hot standby streaming from it, of
its own (``tests/clusters.py``: free ports, removed at the end; ``shared_buffers`` 256MB on both, parallel workers
at PostgreSQL's default), generates the orders on the primary as ``verify_orders`` does (0.1 % of the grand totals
one off), records their history and the managers' month totals as the application would have, runs ``VACUUM
ANALYZE`` and waits until the standby has replayed all of it, statistics included. Then, after one untimed turn,
``BENCH_REPLICA_PAIRS`` turns (default 5) of:

- the floor on the primary, the bare ``SELECT count(*) … WHERE grand_total <> …``, and beside it the engine's
  verify (``reconcile.engine.run``) by an app on the primary alone;
- the floor on the standby, and beside it the verify by an app whose ``READ_DATABASE_URL`` is the standby: its
  comparison reads there, its run's records are written to the primary;

each turn starting with the other half. Each is timed, with the processor time each server spent meanwhile (the
user and system time of its postmaster and of every live child, ``/proc/<pid>/stat``, plus what its reaped
children spent: backends that ended, parallel workers) and this process's own. The servers' ``pg_stat_statements``
then show where each read of the orders ran. Last, the verify of every check, once each way. ``BENCH_ORDERS`` makes
the table smaller.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TypeVar

import psycopg
from rich.table import Table

from bench.common import as_the_app_writes, console, migrate, report
from bench.verify_orders import CORRUPT_EVERY, generate
from tests.clusters import Cluster, wait_for

T = TypeVar("T")

ORDERS = int(os.environ.get("BENCH_ORDERS", 1_000_000))
PAIRS = int(os.environ.get("BENCH_REPLICA_PAIRS", 5))
DATABASE = "backoffice_bench"
SERVER_SETTINGS = {"shared_buffers": "'256MB'"}
"""Both servers': room for the orders in memory (the test clusters' 32MB is not)."""
FLOOR = "SELECT count(*) FROM orders WHERE grand_total <> round(total_price + additions - promo - reductions, 2)"
TICKS = os.sysconf("SC_CLK_TCK")
SLOWEST = 3
"""How many of the slowest checks a verify of every check names."""
REPLAY_SECONDS = 900
"""How long the standby may take to replay the generated orders."""
ORDERS_READ = (
    "SELECT s.calls, s.query FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
    "WHERE d.datname = current_database() AND s.query LIKE '%FROM orders%' "
    "AND s.query NOT LIKE '%pg_stat_statements%'"
)
"""Every statement that read the orders on a server, with how many times it ran there."""
WHERE = f"Where the orders were read in the {PAIRS} timed turns (pg_stat_statements)"


@dataclass(frozen=True)
class Taken:
    """One measure: its wall time, the processor time each server spent meanwhile and this process's (the app's, or
    the floor's client), in seconds."""

    wall: float  # float-ok: seconds
    primary: float  # float-ok: seconds
    standby: float  # float-ok: seconds
    app: float  # float-ok: seconds


def main() -> str:
    start_load = os.getloadavg()
    primary = Cluster.create(**SERVER_SETTINGS)
    standby = None
    try:
        standby = Cluster.standby_of(primary, **SERVER_SETTINGS)
        text = measure(primary, standby)
    finally:
        for cluster in (standby, primary):
            if cluster is not None:
                cluster.remove()
    load = f"Load average (1 min) at the start {start_load[0]:.1f}, at the end {os.getloadavg()[0]:.1f}.\n"
    console.print(load)
    return text + "\n" + load


def measure(primary: Cluster, standby: Cluster) -> str:
    """Everything measured on the two servers; the report's Markdown."""
    url = migrate(primary.create_database(DATABASE))
    generate(url, ORDERS)
    from backoffice import create_app

    alone = create_app({"SQLALCHEMY_DATABASE_URI": url, "READ_DATABASE_URL": None}, web=False)
    replicated = create_app({"SQLALCHEMY_DATABASE_URI": url, "READ_DATABASE_URL": standby.url(DATABASE)}, web=False)
    as_installed(alone, url)
    replayed(primary, standby)
    servers = (primary, standby)
    with psycopg.connect(url, autocommit=True) as on_primary, psycopg.connect(standby.url(DATABASE)) as on_standby:
        on_standby.autocommit = True
        halves = (
            (lambda: floor(on_primary, servers), lambda: verify(alone, servers)),
            (lambda: floor(on_standby, servers), lambda: verify(replicated, servers)),
        )
        in_turns(halves, 1)  # untimed: the caches filled, the standby's hint bits set
        for connection in (on_primary, on_standby):
            connection.execute("SELECT pg_stat_statements_reset()")
        taken = in_turns(halves, PAIRS)
        where = where_read(on_primary, on_standby)
    everything = [every_check(app, servers) for app in (alone, replicated)]
    return results(taken, everything) + "\n" + where


def as_installed(app, url: str) -> None:
    """The generated rows as the application would have left them (their history versions, the managers' month
    totals), so that a verify of every check finds only the corrupted grand totals; and ``pg_stat_statements`` in
    the database (the standby has it by replaying it)."""
    from backoffice.models import RunMode
    from backoffice.reconcile.engine import run

    console.print("Recording the generated rows' history…")
    as_the_app_writes(app)
    with app.app_context():
        run(RunMode.FIX, checks=["order_month_totals"])
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CREATE EXTENSION pg_stat_statements")
        connection.execute("VACUUM ANALYZE")


def replayed(primary: Cluster, standby: Cluster) -> None:
    """Wait until the standby has replayed all the primary has written, ``VACUUM ANALYZE`` included."""
    console.print("Waiting for the standby to replay it all…")
    written = primary.execute("SELECT CAST(pg_current_wal_lsn() AS text)")[0][0]
    caught_up = "SELECT pg_last_wal_replay_lsn() >= CAST(:written AS pg_lsn)"
    wait_for(lambda: standby.execute(caught_up, written=written)[0][0], timeout=REPLAY_SECONDS, every=1)
    statistics_of = (
        "SELECT c.reltuples, c.relallvisible, (SELECT count(*) FROM pg_stats WHERE tablename = 'orders') "
        "FROM pg_class c WHERE c.relname = 'orders'"
    )
    on_primary, on_standby = (cluster.execute(statistics_of, DATABASE) for cluster in (primary, standby))
    assert on_primary == on_standby, ("VACUUM ANALYZE not replayed", on_primary, on_standby)


def floor(connection: psycopg.Connection, servers: tuple[Cluster, Cluster]) -> tuple[Taken, int]:
    """The floor on the server ``connection`` is to, measured; the wrong rows it counted."""
    return measured(lambda: connection.execute(FLOOR).fetchone()[0], servers)


def verify(app, servers: tuple[Cluster, Cluster]) -> tuple[Taken, int]:
    """The engine's verify of ``order_grand_total`` in ``app``, measured; how many orders it found wrong."""
    from backoffice.models import RunMode
    from backoffice.reconcile.engine import run

    with app.app_context():
        took, record = measured(lambda: run(RunMode.VERIFY, checks=["order_grand_total"]), servers)
        return took, record.mismatched


def every_check(app, servers: tuple[Cluster, Cluster]) -> tuple[Taken, int, str]:
    """The engine's verify of every check in ``app``, measured; how many entities it found wrong, and which checks
    took longest."""
    from backoffice.models import RunMode
    from backoffice.reconcile.engine import run

    console.print("Verifying every check…")
    with app.app_context():
        took, record = measured(lambda: run(RunMode.VERIFY), servers)
        slowest = sorted(record.results, key=lambda result: result.duration_ms, reverse=True)[:SLOWEST]
        return took, record.mismatched, ", ".join(f"{r.check} {r.duration_ms / 1000:.1f} s" for r in slowest)


def in_turns(halves, turns: int) -> list[list[Taken]]:
    """``turns`` turns of the two halves, each a floor and its verify, the other half first each turn; each
    measure's takes, in the order floor and verify on the primary alone, floor and verify with the replica."""
    taken: list[list[Taken]] = [[], [], [], []]
    for turn in range(turns):
        for half in (0, 1) if turn % 2 == 0 else (1, 0):
            for place, function in enumerate(halves[half]):
                took, found = function()
                assert found == ORDERS // CORRUPT_EVERY, (half, place, found)
                taken[2 * half + place].append(took)
    return taken


def measured(function: Callable[[], T], servers: tuple[Cluster, Cluster]) -> tuple[Taken, T]:
    """``function()`` timed, with each server's processor time meanwhile and this process's; and what it returned."""
    before = [cpu_seconds(cluster) for cluster in servers]
    start, own = time.perf_counter(), time.process_time()
    result = function()
    wall, own = time.perf_counter() - start, time.process_time() - own
    primary, standby = (cpu_seconds(cluster) - was for cluster, was in zip(servers, before, strict=True))
    return Taken(wall, primary, standby, own), result


def cpu_seconds(cluster: Cluster) -> float:  # float-ok: seconds
    """The processor time the server has spent: its postmaster's user and system time and its live children's,
    and what the children it has reaped spent (an ended backend's, a parallel worker's)."""
    postmaster = cluster.postmaster()
    children = Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()
    ticks = 0
    for child in children:
        try:
            ticks += sum(_times(int(child))[:2])
        except FileNotFoundError:  # ended since: its time is the postmaster's children's now
            continue
    return (ticks + sum(_times(postmaster))) / TICKS


def _times(pid: int) -> list[int]:
    """A process's user and system time, and those of its reaped children, in clock ticks (``/proc/<pid>/stat``
    fields 14 to 17; its name, field 2, may hold spaces and parentheses)."""
    after_name = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return [int(value) for value in after_name[11:15]]


def where_read(on_primary: psycopg.Connection, on_standby: psycopg.Connection) -> str:
    """Each statement that read the orders in the timed turns, with its calls on each server; every one of them ran
    as often on the standby as on the primary, and the verifies with the replica added none on the primary."""
    servers = {"primary": on_primary, "standby": on_standby}
    calls = {name: {query: count for count, query in on.execute(ORDERS_READ)} for name, on in servers.items()}
    queries = sorted(calls["primary"].keys() | calls["standby"].keys())
    table = Table("statement reading the orders", "calls on the primary", "calls on the standby", title=WHERE)
    lines = [
        f"### {WHERE}",
        "",
        "| statement reading the orders | calls on the primary | calls on the standby |",
        "| --- | ---: | ---: |",
    ]
    for query in queries:
        on = [str(calls[name].get(query, 0)) for name in ("primary", "standby")]
        shown = " ".join(query.split())
        table.add_row(shown, *on)
        lines.append(f"| `{shown}` | {on[0]} | {on[1]} |")
    console.print(table)
    assert all(calls[name].get(query) == PAIRS for query in queries for name in calls), calls
    return "\n".join(lines) + "\n"


def results(taken: list[list[Taken]], everything: list[tuple[Taken, int, str]]) -> str:
    """The medians of each measure with each server's processor time, the ratios, and the verifies of every check."""
    floor_primary, alone, floor_standby, replicated = (median(takes) for takes in taken)
    rows = [
        ("floor on the primary", floor_primary),
        ("verify, the primary alone", alone),
        ("floor on the standby", floor_standby),
        ("verify, reads on the standby", replicated),
    ]
    slowest = []
    for (took, found, checks), how in zip(everything, ("the primary alone", "reads on the standby"), strict=True):
        rows.append((f"verify of every check ({found:,} found), {how}, once", took))
        slowest.append(f"Verify of every check, {how}: the slowest, {checks}.\n")
    title = f"verify order_grand_total, {ORDERS:,} orders, with and without a read replica (PostgreSQL)"
    text = servers_table(title, rows)
    ratios = [
        ("verify with the replica, wall", replicated.wall, "verify on the primary alone, wall", alone.wall),
        ("verify with the replica, primary CPU", replicated.primary, "verify alone, primary CPU", alone.primary),
        ("verify with the replica, standby CPU", replicated.standby, "verify alone, primary CPU", alone.primary),
        ("verify on the primary alone, wall", alone.wall, "floor on the primary, wall", floor_primary.wall),
        ("verify alone, primary CPU", alone.primary, "floor on the primary, primary CPU", floor_primary.primary),
        ("verify with the replica, wall", replicated.wall, "floor on the standby, wall", floor_standby.wall),
        ("floor on the standby, wall", floor_standby.wall, "floor on the primary, wall", floor_primary.wall),
    ]
    # A baseline shorter than the clock's tick (a small BENCH_ORDERS) has no ratio.
    ratios = [row for row in ratios if row[3] > 0]
    text += "\n" + report(f"The read replica's ratios, medians of {PAIRS} turns", ratios)
    turns = (
        f"With the replica over without, in each of the {PAIRS} turns: wall {spread(taken[3], taken[1], 'wall')}; "
        f"the primary's CPU {spread(taken[3], taken[1], 'primary')}.\n"
    )
    console.print(turns, *slowest)
    return "\n".join([text, turns, *slowest])


def median(takes: list[Taken]) -> Taken:
    """Each figure's median over the takes, on its own."""
    return Taken(*(statistics.median(getattr(took, f.name) for took in takes) for f in fields(Taken)))


def spread(takes: list[Taken], baselines: list[Taken], name: str) -> str:
    """The least, the median and the most of ``name`` in each take over its baseline's."""
    pairs = zip(takes, baselines, strict=True)
    ratios = [getattr(took, name) / getattr(base, name) for took, base in pairs if getattr(base, name) > 0] or [0]
    return f"least {min(ratios):.2f}×, median {statistics.median(ratios):.2f}×, most {max(ratios):.2f}×"


def servers_table(title: str, rows: list[tuple[str, Taken]]) -> str:
    """Print each measure's wall time and the processor times; return the same as a Markdown table."""
    table = Table("measure", "wall s", "primary CPU s", "standby CPU s", "app CPU s", title=title)
    lines = [
        f"### {title}",
        "",
        "| measure | wall s | primary CPU s | standby CPU s | app CPU s |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for measure, took in rows:
        figures = [f"{getattr(took, f.name):.3f}" for f in fields(Taken)]
        table.add_row(measure, *figures)
        lines.append(f"| {measure} | {' | '.join(figures)} |")
    console.print(table)
    return "\n".join(lines) + "\n"
