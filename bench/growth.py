"""Growth: the same screens at 10× the data, measured at two sizes of one installation in one run.

Run with ``python -m bench growth``. It builds two installations of the shape ``bench grown`` builds
(:func:`bench.grown.build`), ``BENCH_GROWTH_SMALL`` and ``BENCH_GROWTH_LARGE`` of 1,000,000 customers' worth (default
0.002 and 0.02: 2,000 and 20,000 customers, 200,000 and 2,000,000 wallet movements), each in a database of its own
(``BENCH_DATABASE_URL`` followed by ``_growth_small`` and ``_growth_large``). ``BENCH_GROWTH_REUSE=1`` measures over
a database a previous run built at the same scale (migrated to the head) instead of building it again; each keeps
how long its build took. ``BENCH_GROWTH_PARTS`` (default ``nightly,pages,post,export,charges``) names what is
measured. ``BENCH_GROWTH_SEALED=0`` builds the sources and their derived figures alone (``grown.build``'s
``sealed``: no evidence sealed, no payments, no anchor), in a tenth of the time, for the pages, the post, the export
and the charges at sizes whose whole build takes hours; the nightly needs the sealed build.

Every figure is measured at both sizes taking turns, the small one and the large one one after the other, so that
the other work on a shared machine weighs on both alike:

- the nightly maintenance as production runs it, split into jobs done by ``BENCH_GROWTH_WORKERS`` real workers
  (default 2; 0: in this process), every check, from each installation's kept anchor (``BENCH_GROWTH_NIGHTS``
  nights each, default 3, as ``bench grown`` runs it, each on a copy of the database made for it), and at each size
  its floor: the raw compares of the wallets and the months and the raw read of the movements, entries, lines and
  seals the night verifies; and the auto-heal of each of those days as the operations API queues it, on the same
  workers, on a copy of its own;
- every list page, the home page, the search (a name typed with a slip; a word every name shares typed with a slip)
  and every picker, served by gunicorn (one worker of 4 threads a size, ``BENCH_GROWTH_PORT`` and the port after it)
  to an admin logged in over HTTP, one request at a time over a connection kept alive, as one clerk waits for them:
  ``BENCH_GROWTH_REQUESTS`` timed requests a page a size (default 100) after 5 untimed, fewer once a page has taken
  ``BENCH_GROWTH_SECONDS`` (default 60) and each size has had 20; the same text is typed at both sizes, and the pages
  name the same customer, which both have;
- a recharge posted through the customer page's form (``BENCH_GROWTH_POSTS``, default 100, on customers picked at
  random), each sent with the session's CSRF token and a key of its own, as a form shown anew carries: it moves money
  once, through the posting core, and is answered with the redirect to the customer's ledger;
- the customers export (``/customers/export.csv``, streamed), its time over its rows, ``BENCH_GROWTH_EXPORTS`` turns
  (default 10) after one untimed;
- a charge through the posting core (``services.wallet.charge``), in process, ``BENCH_GROWTH_CHARGES`` (default 200)
  after 6 untimed, on customers picked at random.

Each figure's p50 and p95 at each size (``n``: how many were timed at each), and the large one's over the small
one's: the bound each must meet is beside it (a list, the search or a picker: p50 within 1.25×, p95 within 1.5×; a
charge: p95 within 1.5×; the nightly: at the large size within 4× of its floor; auto-heal: p50 within 1.25×, and at
the large size within 1.5× the nightly's). The load average before and after is said with them.
"""

from __future__ import annotations

import html
import http.client
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
from rich.progress import Progress
from rich.table import Table

from bench import grown, pages
from bench.common import BENCH_DATABASE_URL, console, migrate

SMALL = float(os.environ.get("BENCH_GROWTH_SMALL", "0.002"))  # float-ok: a size factor
LARGE = float(os.environ.get("BENCH_GROWTH_LARGE", "0.02"))  # float-ok: a size factor
REUSE = os.environ.get("BENCH_GROWTH_REUSE") == "1"
SEALED = os.environ.get("BENCH_GROWTH_SEALED", "1") != "0"
PARTS = [part for part in os.environ.get("BENCH_GROWTH_PARTS", "nightly,pages,post,export,charges").split(",") if part]
NIGHTS = int(os.environ.get("BENCH_GROWTH_NIGHTS", 3))
WORKERS = int(os.environ.get("BENCH_GROWTH_WORKERS", 2))
REQUESTS = int(os.environ.get("BENCH_GROWTH_REQUESTS", 100))
SECONDS = int(os.environ.get("BENCH_GROWTH_SECONDS", 60))
"""A page's requests stop at ``SECONDS`` (both sizes together), once each size has had ``LEAST`` timed."""
LEAST = 20
POSTS = int(os.environ.get("BENCH_GROWTH_POSTS", 100))
EXPORTS = int(os.environ.get("BENCH_GROWTH_EXPORTS", 10))
CHARGES = int(os.environ.get("BENCH_GROWTH_CHARGES", 200))
PORT = int(os.environ.get("BENCH_GROWTH_PORT", 8766))
WARM_UP = 5
"""Requests of each page at each size before the clock starts."""
CHARGES_WARM_UP = 6
"""Charges at each size before the clock starts: psycopg prepares a statement on its fifth execution."""
WEB_WORKERS, WEB_THREADS = 1, 4
"""Each size's server: one clerk's requests, one at a time, all reach the one worker the warm-up warmed."""
RECHARGE = "1000"
"""A recharge's amount as a clerk types it, whatever the language's separators."""
CHARGE = Decimal("1000.00")
PAGE_P50, PAGE_P95 = 1.25, 1.5
"""A list's, the search's and a picker's bounds: their p50 at the large size within 1.25× the small one's, their p95
within 1.5×."""
CHARGE_P95 = 1.5
NIGHTLY_FLOOR = 4
"""The nightly at the large size within 4× its floor."""
AUTO_HEAL_GROWTH, AUTO_HEAL_BESIDE = 1.25, 1.5
"""Auto-heal: its median at the large size within 1.25× the small one's, and within 1.5× the nightly's there."""
TABLES = (
    "customers",
    "balance_transactions",
    "journal_lines",
    "orders",
    "invoices",
    "payments",
    "approval_requests",
    "reconciliation_runs",
    "jobs",
    "tampered_evidence",
    "seals",
)


@dataclass
class Installation:
    """One size of the installation: its database, the address its server serves on, and its app in this process."""

    name: str
    size: grown.Size
    url: str
    built: str
    bind: str
    app: object = None


@dataclass
class Measured:
    """One item's times at each size (seconds), and how it is shown and bounded."""

    label: str
    unit: str
    """``ms``, ``µs`` or ``s``."""
    times: dict[str, list[float]] = field(default_factory=dict)  # float-ok: seconds
    p50_bound: float | None = None  # float-ok: a ratio
    p95_bound: float | None = None  # float-ok: a ratio
    floor: float | None = None  # float-ok: the large size's median over its floor's
    beside: float | None = None  # float-ok: the large size's median over the nightly's there
    said: str = ""
    """What the bound column says, when it is not the ratios' bounds."""


def main() -> str:
    unknown = set(PARTS) - {"nightly", "pages", "post", "export", "charges"}
    if unknown:
        raise SystemExit(f"Unknown part(s) in BENCH_GROWTH_PARTS: {', '.join(sorted(unknown))}")
    if not SEALED and "nightly" in PARTS:
        raise SystemExit("The nightly needs the sealed build: leave nightly out of BENCH_GROWTH_PARTS.")
    os.environ.pop("REDIS_URL", None)  # the nightly runs in this process
    os.environ |= {
        "SECRET_KEY": pages.SECRET_KEY,
        "BACKOFFICE_API_TOKEN": pages.API_TOKEN,
        "BACKOFFICE_SEAL_KEY": pages.SEAL_KEY,
    }
    sizes = (("small", SMALL), ("large", LARGE))
    both = [_installation(name, scale, PORT + index) for index, (name, scale) in enumerate(sizes)]
    said = [_described(each) for each in both]
    for line in said:
        console.print(line)
    load_before = os.getloadavg()
    measured = []
    if "nightly" in PARTS:
        measured += _nightly(both)
    for each in both:  # connected only now: a night copies the database, which nothing may be connected to
        each.app = grown.application(each.url)
    if {"pages", "post", "export"} & set(PARTS):
        measured += _served(both)
    if "charges" in PARTS:
        measured.append(_charges(both))
    load_after = os.getloadavg()
    loads = (
        f"Load average (1, 5, 15 min): {' '.join(f'{a:.2f}' for a in load_before)} before, "
        f"{' '.join(f'{a:.2f}' for a in load_after)} after."
    )
    console.print(loads)
    return _report(both, measured) + "\n" + "\n".join(f"- {line}" for line in said) + f"\n\n{loads}\n"


def _installation(name: str, scale: float, port: int) -> Installation:  # float-ok: a size factor
    """The installation of ``scale`` in its database, built unless ``REUSE`` finds it built at that scale."""
    size = grown.Size(scale)
    url = f"{BENCH_DATABASE_URL}_growth_{name}"
    if REUSE and grown.built_size(url) == size and grown.built_sealed(url) == SEALED:
        url = migrate(url)
        how = "reused"
    else:
        url = grown.build(url, size, sealed=SEALED)
        how = "built"
    if not SEALED:
        how += " unsealed (sources and derived figures alone)"
    seconds = grown.built_seconds(url)
    took = f"its build took {seconds:,} s" if seconds is not None else "its build's time was not kept"
    return Installation(name, size, url, f"{how}; {took}", f"127.0.0.1:{port}")


def _described(each: Installation) -> str:
    with psycopg.connect(each.url) as connection:
        counts = {table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in TABLES}
        (size,) = connection.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()
    data = ", ".join(f"{count:,} {table}" for table, count in counts.items())
    return f"{each.name} (scale {each.size.scale}, `{each.url.rsplit('/', 1)[1]}`): {data}; {size}; {each.built}."


def _in_turns(both: list[Installation], turn: int) -> list[Installation]:
    """The two sizes in the order of the turn: the small one first, then the large one first, and so on."""
    return both if turn % 2 == 0 else both[::-1]


def _nightly(both: list[Installation]) -> list[Measured]:
    """The nightly maintenance from each installation's kept anchor, and its floor, ``NIGHTS`` nights at each size in
    turns, each on a copy of its database (:func:`bench.grown.nightly_on_a_copy`); and the auto-heal of each of those
    days, on a copy of its own (:func:`bench.grown.auto_heal_on_a_copy`)."""
    nightly = Measured("the nightly maintenance, every check, from the kept anchor", "s")
    healed = Measured("auto-heal the same day, every check, from the kept anchor", "s")
    floors: dict[str, list[float]] = {each.name: [] for each in both}  # float-ok: seconds
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(
            "The nightly, its floor and auto-heal at each size, taking turns", total=NIGHTS * len(both)
        )
        for turn in range(NIGHTS):
            for each in _in_turns(both, turn):
                night = grown.anchored_on(each.url) + timedelta(days=turn + 1)
                seconds, floor, _checked = grown.nightly_on_a_copy(each.url, night, WORKERS)
                nightly.times.setdefault(each.name, []).append(seconds)
                floors[each.name].append(floor)
                healed.times.setdefault(each.name, []).append(grown.auto_heal_on_a_copy(each.url, night, WORKERS))
                progress.advance(task)
    over = {name: statistics.median(nightly.times[name]) / statistics.median(floors[name]) for name in floors}
    nightly.floor = over["large"]
    nightly.said = (
        f"large ÷ its floor ≤ {NIGHTLY_FLOOR}×: {over['large']:.2f}× "
        f"(floor {statistics.median(floors['large']):.1f} s; small ÷ its floor {over['small']:.2f}×)"
    )
    beside = {name: statistics.median(healed.times[name]) / statistics.median(nightly.times[name]) for name in floors}
    healed.p50_bound, healed.beside = AUTO_HEAL_GROWTH, beside["large"]
    healed.said = (
        f"p50 ≤ {AUTO_HEAL_GROWTH}×; large ÷ the nightly's ≤ {AUTO_HEAL_BESIDE}×: {beside['large']:.2f}× "
        f"(small ÷ the nightly's {beside['small']:.2f}×)"
    )
    return [nightly, healed]


def _served(both: list[Installation]) -> list[Measured]:
    """The pages, the form post and the export, each size served by its own gunicorn."""
    code = f"C{1 + both[0].size.customers // 2:07d}"
    listed = [
        ("home", "/"),
        ("customers", "/customers"),
        ("orders", "/orders"),
        ("invoices", "/invoices"),
        ("payments", "/payments"),
        ("meters", "/meters"),
        ("ledger movements", "/ledger"),
        ("the journal", "/books/journal"),
        ("reconciliation runs", "/reconciliation"),
        ("jobs", "/jobs"),
        ("approvals", "/approvals"),
        ("tampered evidence", "/evidence"),
        ("search, a name typed with a slip", f"/search?q=Custmer%20{1 + both[0].size.customers // 3}"),
        ("search, a word every name shares typed with a slip", "/search?q=Custmer"),
        ("customer picker, a code's first characters", f"/search/pick/customer?q={code[:6]}"),
        ("meter picker, a customer's meters", f"/search/pick/meter?customer={code}&q=MTR"),
        ("account manager picker, a name", "/search/pick/manager?q=Manager%207"),
    ]
    measured = []
    with _Servers(both) as browsers:
        if "pages" in PARTS:
            for label, path in listed:
                item = Measured(f"{label} (`{path}`)", "ms", p50_bound=PAGE_P50, p95_bound=PAGE_P95)
                _requested(both, browsers, item, lambda _each, path=path: ("GET", path, None, (200,)))
                measured.append(item)
        if "post" in PARTS:
            measured.append(_recharges(both, browsers, code))
        if "export" in PARTS:
            measured.append(_exports(both, browsers))
    return measured


def _requested(both: list[Installation], browsers: dict, item: Measured, asked, count: int = REQUESTS) -> None:
    """``count`` requests (``asked(installation)``: method, path, form, statuses expected) at each size in turns,
    after ``WARM_UP`` untimed, or fewer once ``SECONDS`` have passed (``LEAST`` at least); their times in ``item``."""
    console.print(f"Loading {item.label}…")
    started = time.perf_counter()
    for turn in range(WARM_UP + count):
        if turn >= WARM_UP + LEAST and time.perf_counter() - started > SECONDS:
            break
        for each in _in_turns(both, turn):
            seconds, _body = browsers[each.name].timed(*asked(each))
            if turn >= WARM_UP:
                item.times.setdefault(each.name, []).append(seconds)


def _recharges(both: list[Installation], browsers: dict, code: str) -> Measured:
    """Recharges posted through the customer page's form, on customers picked at random, each with the form's
    fields as the page shows them (its CSRF token, today's value date) and a key of its own."""
    picked = random.Random(11)
    shown = {each.name: browsers[each.name].form(f"/customers/{code}?tab=ledger", "/recharge") for each in both}

    def asked(each: Installation):
        customer = f"C{picked.randint(1, each.size.customers):07d}"
        fields = shown[each.name] | {"recharge-amount": RECHARGE, "recharge-idempotency_key": uuid.uuid4().hex}
        return "POST", f"/customers/{customer}/recharge", fields, (302, 303)

    item = Measured("a recharge posted through its form (`/customers/<code>/recharge`)", "ms")
    _requested(both, browsers, item, asked, POSTS)
    return item


def _exports(both: list[Installation], browsers: dict) -> Measured:
    """``/customers/export.csv``, read whole, its time over its rows, ``EXPORTS`` turns after one untimed."""
    console.print("Exporting the customers…")
    item = Measured("`/customers/export.csv`, streamed, per row", "µs")
    for turn in range(EXPORTS + 1):
        for each in _in_turns(both, turn):
            seconds, body = browsers[each.name].timed("GET", "/customers/export.csv", None, (200,))
            if turn:
                item.times.setdefault(each.name, []).append(seconds / (body.count(b"\n") - 1))
    return item


def _charges(both: list[Installation]) -> Measured:
    """``CHARGES`` charges through the posting core at each size in turns, after ``CHARGES_WARM_UP``, on customers
    picked at random."""
    from backoffice.services import wallet as wallets

    console.print("Charging through the posting core…")
    picked = random.Random(7)
    item = Measured("a charge through the posting core (`services.wallet.charge`)", "ms", p95_bound=CHARGE_P95)
    for turn in range(CHARGES_WARM_UP + CHARGES):
        for each in _in_turns(both, turn):
            customer = picked.randint(1, each.size.customers)
            with each.app.app_context():
                start = time.perf_counter()
                wallets.charge(customer, CHARGE, description="bench")
                seconds = time.perf_counter() - start
            if turn >= CHARGES_WARM_UP:
                item.times.setdefault(each.name, []).append(seconds)
    return item


class _Servers:
    """A gunicorn for each installation while the block runs, and a browser logged in as the admin on each."""

    def __init__(self, both: list[Installation]):
        self.both = both
        self.servers: list[tuple[subprocess.Popen, object]] = []

    def __enter__(self) -> dict[str, _Browser]:
        command = [str(Path(sys.executable).with_name("gunicorn")), "--config", str(pages.CONFIG)]
        browsers = {}
        for each in self.both:
            pages._refuse_a_taken_port(each.bind)
            env = os.environ | {
                "DATABASE_URL": each.url,
                "BACKOFFICE_ENV": "production",
                "BACKOFFICE_ANCHORS_FOLDER": each.app.config["ANCHORS_FOLDER"],
                "BACKOFFICE_WEB_BIND": each.bind,
                "BACKOFFICE_WEB_WORKERS": str(WEB_WORKERS),
                "BACKOFFICE_WEB_THREADS": str(WEB_THREADS),
            }
            log = tempfile.TemporaryFile()
            server = subprocess.Popen(command, env=env, stdout=log, stderr=log, start_new_session=True)
            self.servers.append((server, log))
            pages._wait_until_serving(server, log, each.bind)
            browsers[each.name] = _Browser(each.bind, pages._log_in(each.bind, grown.ADMIN_EMAIL))
        console.print(
            f"Serving {len(self.both)} sizes with gunicorn ({WEB_WORKERS} worker × {WEB_THREADS} threads each)…"
        )
        return browsers

    def __exit__(self, *_exception) -> None:
        for (server, log), each in zip(self.servers, self.both, strict=False):
            pages._still_ours(server, log, each.bind)
        for server, log in self.servers:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait()
            log.close()


class _Browser:
    """One clerk's browser on one server: a connection kept alive, the session's cookie."""

    def __init__(self, bind: str, cookie: str):
        self.bind = bind
        self.headers = {"Cookie": cookie, "User-Agent": pages.USER_AGENT}
        self.connection = http.client.HTTPConnection(bind, timeout=300)

    def timed(self, method: str, path: str, form: dict | None, expected: tuple[int, ...]) -> tuple[float, bytes]:
        """One request and its whole answer: how long it took (seconds) and the body; a connection the server closed
        meanwhile is opened again and the request sent on it (a form's key makes a second sending write once)."""
        body = urllib.parse.urlencode(form) if form is not None else None
        headers = self.headers | ({"Content-Type": "application/x-www-form-urlencoded"} if form is not None else {})
        for _attempt in range(3):
            start = time.perf_counter()
            try:
                self.connection.request(method, path, body=body, headers=headers)
                response = self.connection.getresponse()
                answer = response.read()
            except (http.client.RemoteDisconnected, ConnectionError):
                self.connection.close()
                self.connection = http.client.HTTPConnection(self.bind, timeout=300)
                continue
            seconds = time.perf_counter() - start
            if response.status not in expected:
                said = re.findall(r'class="field-error"[^>]*>([^<]+)<', answer.decode()) or [answer[:2000].decode()]
                raise SystemExit(f"{method} {path} on {self.bind}: {response.status}\n" + "\n".join(said))
            return seconds, answer
        raise SystemExit(f"{method} {path} on {self.bind}: the server closed the connection three times")

    def form(self, path: str, action: str) -> dict[str, str]:
        """The fields of the form of ``path`` whose action ends with ``action``, as the page shows them."""
        _seconds, page = self.timed("GET", path, None, (200,))
        found = re.search(rf'<form[^>]*action="[^"]*{re.escape(action)}"[^>]*>(.*?)</form>', page.decode(), re.S)
        if found is None:
            raise SystemExit(f"{path} on {self.bind} shows no form posted to {action}")
        fields = {}
        for tag in re.findall(r"<input[^>]*>", found.group(1)):
            name = re.search(r'name="([^"]+)"', tag)
            value = re.search(r'value="([^"]*)"', tag)
            if name is not None:
                fields[html.unescape(name.group(1))] = html.unescape(value.group(1)) if value else ""
        return fields


def _report(both: list[Installation], measured: list[Measured]) -> str:
    """Print the table; return it as Markdown."""
    small, large = (each.name for each in both)
    title = (
        f"Growth: scale {both[0].size.scale} ({both[0].size.customers:,} customers) and {both[1].size.scale} "
        f"({both[1].size.customers:,})"
    )
    columns = ["item", "n", "p50 small", "p95 small", "p50 large", "p95 large", "p50 ratio", "p95 ratio", "bound", ""]
    table = Table(*columns, title=title)
    lines = [
        f"### {title}",
        "",
        "| " + " | ".join(columns[:-1]) + " | within |",
        "| --- |" + " ---: |" * 7 + " --- | --- |",
    ]
    for item in measured:
        p50 = {name: statistics.median(times) for name, times in item.times.items()}
        p95 = {name: _p95(times) for name, times in item.times.items()}
        ratio50, ratio95 = p50[large] / p50[small], p95[large] / p95[small]
        bound, within = _bound(item, ratio50, ratio95)
        cells = [
            item.label,
            str(len(item.times[large])),
            *(_shown(value, item.unit) for value in (p50[small], p95[small], p50[large], p95[large])),
            f"{ratio50:.2f}×",
            f"{ratio95:.2f}×",
            bound,
            within,
        ]
        table.add_row(*cells)
        lines.append("| " + " | ".join(cells) + " |")
    console.print(table)
    return "\n".join(lines) + "\n"


def _p95(times: list[float]) -> float:  # float-ok: seconds
    return statistics.quantiles(times, n=100, method="inclusive")[94] if len(times) > 1 else times[0]


def _bound(item: Measured, ratio50: float, ratio95: float) -> tuple[str, str]:  # float-ok: ratios
    """What the item must meet, and whether it does (``within``, ``over``, or ``—`` where nothing bounds it)."""
    if item.floor is not None:
        return item.said, "within" if item.floor <= NIGHTLY_FLOOR else "over"
    if item.beside is not None:
        met = ratio50 <= item.p50_bound and item.beside <= AUTO_HEAL_BESIDE
        return item.said, "within" if met else "over"
    said, met = [], []
    if item.p50_bound is not None:
        said.append(f"p50 ≤ {item.p50_bound}×")
        met.append(ratio50 <= item.p50_bound)
    if item.p95_bound is not None:
        said.append(f"p95 ≤ {item.p95_bound}×")
        met.append(ratio95 <= item.p95_bound)
    if not said:
        return "—", "—"
    return ", ".join(said), "within" if all(met) else "over"


def _shown(seconds: float, unit: str) -> str:  # float-ok: seconds
    if unit == "ms":
        return f"{seconds * 1000:,.1f} ms"
    if unit == "µs":
        return f"{seconds * 1_000_000:,.2f} µs"
    return f"{seconds:,.1f} s"


if __name__ == "__main__":
    print(main())
