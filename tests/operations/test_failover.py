"""Failover: the primary killed while clerks move money, its synchronous standby promoted, and nothing acknowledged
lost or posted twice.

Two PostgreSQL servers of the test's own (``tests/clusters.py``): a primary that acknowledges a commit once its
standby named ``standby`` has it (``synchronous_standby_names``, ``synchronous_commit = on``), and that standby. The
app is served by gunicorn, as production serves it, with a multi-host ``DATABASE_URL`` naming both servers and
``target_session_attrs=read-write``. Clerks recharge and charge through the web forms and the command line at once,
each movement under a key of its own, retried with that key until it is acknowledged. Mid-way the primary is killed
(SIGKILL to every process of it: the machine gone); once every clerk has been told to try again, the standby is
promoted, as an operator (or Patroni) would. See docs/operators.md, "High availability".
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import count
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests
import sqlalchemy as sa
from flask_migrate import upgrade

from backoffice import create_app, register_migrations
from backoffice.models import Customer
from backoffice.platform.extensions import db
from backoffice.services import wallet
from tests import clusters
from tests.checkout import CONSOLE_SCRIPT, ROOT
from tests.clusters import Cluster, free_port, wait_for
from tests.conftest import require_service
from tests.factories import PASSWORD, CustomerFactory, UserFactory
from tests.serving import hidden_fields

pytestmark = pytest.mark.production_path("a primary killed")

SWITCHING_OVER = "The database is switching over, try again."
OPENING = Decimal("10000000")
"""Each customer's opening balance: far more than the test's charges take."""
SECRETS = {"SECRET_KEY": "failover-test", "BACKOFFICE_SEAL_KEY": "f" * 64}
RECOVERY_BOUND = 30
"""Seconds within which, once the standby is promoted, each clerk's movements are acknowledged again."""


@pytest.fixture
def pair():
    """A primary and its synchronous standby, streaming; removed, files and all, however the test ends."""
    if clusters.binaries() is None:
        require_service("PostgreSQL's server binaries", "initdb not found (Debian's postgresql package)")
    made = []
    try:
        primary = Cluster.create(synchronous_standby_names="'standby'", synchronous_commit="on")
        made.append(primary)
        # Once promoted, it is alone: it acknowledges commits without waiting for a standby it no longer has.
        standby = Cluster.standby_of(primary, synchronous_standby_names="''")
        made.append(standby)
        wait_for(lambda: _sync_state(primary) == "sync")
        yield primary, standby
    finally:
        for cluster in reversed(made):
            cluster.remove()


def test_a_primary_killed_mid_work_loses_and_doubles_nothing_acknowledged(pair, tmp_path):
    primary, standby = pair
    primary.create_database("backoffice")
    url = (
        f"postgresql://postgres@/backoffice?host=127.0.0.1:{primary.port}&host=127.0.0.1:{standby.port}"
        "&target_session_attrs=read-write&connect_timeout=3"
    )
    env = os.environ | SECRETS | {"DATABASE_URL": url, "REDIS_URL": "", "BACKOFFICE_ANCHORS_FOLDER": str(tmp_path)}
    with _served(env, tmp_path / "server.log") as server:
        clerk, codes = _migrated_and_seeded(url, tmp_path)  # while the server's processes start
        server.wait_until_it_answers()
        switch = Switch()
        web = [WebClerk(server.address, clerk, codes, switch) for _ in range(3)]
        script = CommandLine(env, codes, switch)
        _kill_and_promote(primary, standby, [*web, script], switch)
        movements = [movement for client in (*web, script) for movement in client.movements]

        assert all(movement.acknowledged for movement in movements), [m for m in movements if not m.acknowledged]
        # Every try was answered: moved (302, exit 0), or try again with the sentence (503 with Retry-After, exit
        # 75); never a failure.
        answers = {
            channel: Counter(status for m in movements if m.channel == channel for status in m.answers)
            for channel in ("web", "cli")
        }
        assert set(answers["web"]) == {302, 503} and set(answers["cli"]) == {0, 75}, answers
        assert all(said == SWITCHING_OVER for movement in movements for said in movement.told)
        pages = [page for clerk in web for page in clerk.pages]
        assert {status for status, _said in pages} <= {200, 503}, pages
        assert all(said == SWITCHING_OVER for status, said in pages if status == 503)
        # Recovered by itself (the server never restarted): each clerk's movements acknowledged again soon after the
        # promotion.
        recovered = max(clerk.first_after(switch.promoted_at) for clerk in web) - switch.promoted_at
        assert recovered < RECOVERY_BOUND, recovered
        assert script.first_after(switch.promoted_at) - switch.promoted_at < RECOVERY_BOUND

        # Sent once more now, with their keys, the movements a clerk was told to retry post nothing more (the script's
        # were: each run after an exit 75 is one).
        for movement in [m for m in movements if m.told and m.channel == "web"][:4]:
            assert web[0].send(movement)
        for clerk in web:
            clerk.browser.close()

    assert len(server.lines("INFO", "Booting worker")) == 2  # the two processes it started with, never replaced
    warned = server.lines("WARNING", "The database is switching over: ")
    assert warned and not server.lines("ERROR") and not server.lines("CRITICAL"), server.log.read_text()[-3000:]
    # On the promoted standby: every acknowledged movement once, and nothing else; balances and checks agree.
    posted, balances = _ledger(standby)
    assert posted == {movement.key: 1 for movement in movements}
    for code in codes:
        assert balances[code] == OPENING + sum(m.signed for m in movements if m.code == code)
    verified = subprocess.run(
        [CONSOLE_SCRIPT, "reconcile", "verify"], env=env, capture_output=True, text=True, timeout=120
    )
    assert verified.returncode == 0, verified.stdout[-3000:] + verified.stderr[-3000:]


def _kill_and_promote(primary: Cluster, standby: Cluster, clients: list[Clerk], switch: Switch) -> None:
    """The clerks at work; the primary killed once they have moved money; the standby promoted once every one of
    them has been told to try again; the clerks stopped once each has had movements acknowledged since (the pages
    two, the script one: a command's start takes a second or two)."""
    for client in clients:
        client.start()

    def until(condition) -> None:
        wait_for(lambda: switch.abandoned.is_set() or condition(), timeout=60)
        assert not switch.abandoned.is_set()

    try:
        until(lambda: sum(client.acknowledged() for client in clients) >= 8)
        primary.kill()
        switch.killed.set()
        until(lambda: all(client.told_to_retry for client in clients))
        standby.promote()
        switch.promoted_at = time.monotonic()
        until(lambda: all(client.acknowledged(after=switch.promoted_at) >= client.after for client in clients))
    except BaseException:
        switch.abandoned.set()
        raise
    finally:
        switch.stop.set()
        for client in clients:
            client.join(timeout=150)
        failures = [client.failure for client in clients if client.failure is not None]
        assert not failures, failures
    assert not any(client.is_alive() for client in clients)


# --- The servers and the app --------------------------------------------------------------------------------------


def _sync_state(primary: Cluster) -> str | None:
    rows = primary.execute("SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby'")
    return rows[0][0] if rows else None


def _migrated_and_seeded(url: str, folder: Path) -> tuple[str, list[str]]:
    """The schema, by the project's migrations, a clerk and three customers each with an opening balance."""
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": SECRETS["SECRET_KEY"],
            "SEAL_KEY": SECRETS["BACKOFFICE_SEAL_KEY"],
            "ANCHORS_FOLDER": str(folder),
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        }
    )
    register_migrations(app)
    with app.app_context():
        try:
            upgrade()
            clerk = UserFactory(role="finance").email
            codes = [CustomerFactory().code for _ in range(3)]
            for code in codes:
                customer = db.session.scalar(sa.select(Customer).where(Customer.code == code))
                wallet.recharge(customer, OPENING, description="opening balance")
        finally:
            db.session.remove()
            db.engine.dispose()
    return clerk, codes


def _ledger(cluster: Cluster) -> tuple[dict[str, int], dict[str, Decimal]]:
    """What the server holds: how many wallet movements each of the test's keys posted, and each customer's balance."""
    engine = sa.create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{cluster.port}/backoffice")
    try:
        with engine.connect() as connection:
            assert not connection.scalar(sa.text("SELECT pg_is_in_recovery()"))
            posted = connection.execute(
                sa.text(
                    "SELECT idempotency_key, count(*) FROM balance_transactions "
                    "WHERE idempotency_key LIKE 'failover-%' GROUP BY idempotency_key"
                )
            )
            balances = connection.execute(sa.text("SELECT code, balance FROM customers"))
            return dict(posted.all()), dict(balances.all())
    finally:
        engine.dispose()


@dataclass
class Server:
    address: str
    process: subprocess.Popen
    log: Path

    def wait_until_it_answers(self) -> None:
        wait_for(lambda: self.process.poll() is not None or _answers(self.address), timeout=60)
        assert self.process.poll() is None, self.log.read_text()[-3000:]

    def lines(self, level: str, starting: str = "") -> list[dict]:
        """The server's log lines of ``level`` whose message starts with ``starting``."""
        lines = [json.loads(line) for line in self.log.read_text().splitlines() if line.startswith("{")]
        return [line for line in lines if line["level"] == level and line["message"].startswith(starting)]


@contextmanager
def _served(env: dict, log: Path):
    """gunicorn with gunicorn.conf.py on a free port, two processes of two threads, logging JSON lines; stopped
    with SIGTERM."""
    port = free_port()
    settings = {"BACKOFFICE_WEB_BIND": f"127.0.0.1:{port}", "BACKOFFICE_WEB_WORKERS": "2"}
    settings |= {"BACKOFFICE_WEB_THREADS": "2", "BACKOFFICE_LOG_FORMAT": "json"}
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py"],
            cwd=ROOT,
            env=env | settings,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield Server(f"http://127.0.0.1:{port}", process, log)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _answers(address: str) -> bool:
    try:
        return requests.get(address + "/login", timeout=5).status_code == 200
    except requests.RequestException:
        return False


# --- The clerks ---------------------------------------------------------------------------------------------------


@dataclass
class Movement:
    channel: str
    key: str
    kind: str
    code: str
    amount: Decimal
    answers: list[int] = field(default_factory=list)
    """Each try's answer: the HTTP status, or the command's exit status."""
    told: list[str] = field(default_factory=list)
    """What each try refused for now said."""
    acknowledged: float | None = None
    """When it was acknowledged (``time.monotonic``)."""

    @property
    def signed(self) -> Decimal:
        return self.amount if self.kind == "recharge" else -self.amount

    @property
    def typed(self) -> str:
        """The amount as a clerk types it in the installation's locale (id_ID: ``25.000``)."""
        return f"{self.amount:,.0f}".replace(",", ".")


@dataclass
class Switch:
    killed: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    """Set: each clerk ends with the movement under way, once acknowledged."""
    abandoned: threading.Event = field(default_factory=threading.Event)
    """Set: the test failed; each clerk ends now."""
    promoted_at: float | None = None


KEYS = count(1)


class Clerk(threading.Thread):
    """Moves money, one movement after another, each tried again with its key until it is acknowledged (two minutes
    at most: then it is left unacknowledged, which fails the test)."""

    channel = ""
    told_to_retry = False
    failure: BaseException | None = None
    after = 2
    """The movements acknowledged after the promotion that end the test."""

    def __init__(self, codes: list[str], amounts: dict[str, Decimal], switch: Switch) -> None:
        super().__init__(daemon=True)
        self.codes, self.amounts, self.switch = codes, amounts, switch
        self.movements: list[Movement] = []

    def run(self) -> None:
        try:
            self._work()
        except BaseException as error:  # the test says what broke, and ends the others
            self.failure = error
            self.switch.abandoned.set()

    def _work(self) -> None:
        while not self.switch.stop.is_set():
            n = next(KEYS)
            kind = ("recharge", "charge")[n % 2]
            movement = Movement(
                self.channel, f"failover-{self.channel}-{n}", kind, self.codes[n % len(self.codes)], self.amounts[kind]
            )
            self.movements.append(movement)
            time.sleep(0.2)  # a clerk types the next one
            deadline = time.monotonic() + 120
            while not self.send(movement) and time.monotonic() < deadline and not self.switch.abandoned.is_set():
                time.sleep(0.2)

    def send(self, movement: Movement) -> bool:
        """Try the movement once: whether it is acknowledged."""
        raise NotImplementedError

    def acknowledged(self, after: float | None = None) -> int:
        return sum(1 for m in self.movements if m.acknowledged and (after is None or m.acknowledged > after))

    def first_after(self, moment: float) -> float:
        return min(m.acknowledged for m in self.movements if m.acknowledged and m.acknowledged > moment)

    def _answered(self, movement: Movement, status: int, done: bool, said: str | None) -> bool:
        movement.answers.append(status)
        if said is not None:
            movement.told.append(said)
            self.told_to_retry = self.told_to_retry or self.switch.killed.is_set()
        if done and movement.acknowledged is None:
            movement.acknowledged = time.monotonic()
        return done


class WebClerk(Clerk):
    """A finance clerk's browser: logged in once, then the customer's ledger tab's forms."""

    channel = "web"

    def __init__(self, address: str, email: str, codes: list[str], switch: Switch) -> None:
        super().__init__(codes, {"recharge": Decimal("25000"), "charge": Decimal("10000")}, switch)
        self.address, self.browser = address, requests.Session()
        login = self.browser.get(address + "/login", timeout=30)
        form = hidden_fields(login.text) | {"email": email, "password": PASSWORD}
        assert self.browser.post(address + "/login", data=form, allow_redirects=False, timeout=30).status_code == 302
        self.fields = hidden_fields(self.browser.get(f"{address}/customers/{codes[0]}?tab=ledger", timeout=30).text)
        self.pages: list[tuple[int, str | None]] = []
        """The ledger tab shown after each movement, as a browser follows the answer: its status, and a 503's
        sentence."""

    def send(self, movement: Movement) -> bool:
        prefix = movement.kind
        form = self.fields | {
            f"{prefix}-amount": movement.typed,
            f"{prefix}-description": "at the counter",
            f"{prefix}-idempotency_key": movement.key,
        }
        address = f"{self.address}/customers/{movement.code}/{movement.kind}"
        answer = self.browser.post(address, data=form, allow_redirects=False, timeout=60)
        said = _retry(answer) if answer.status_code == 503 else None
        if answer.status_code == 302:
            page = self.browser.get(urljoin(address, answer.headers["Location"]), timeout=60)
            self.pages.append((page.status_code, _retry(page) if page.status_code == 503 else None))
        elif answer.status_code != 503:
            raise AssertionError(f"{movement.key}: {answer.status_code}\n{answer.text[-2000:]}")
        return self._answered(movement, answer.status_code, answer.status_code == 302, said)


class CommandLine(Clerk):
    """A script at a terminal: ``backoffice ledger recharge|charge CODE AMOUNT --idempotency-key KEY``, run again
    with the same key while it exits 75 (try again)."""

    channel = "cli"
    after = 1

    def __init__(self, env: dict, codes: list[str], switch: Switch) -> None:
        super().__init__(codes, {"recharge": Decimal("7000"), "charge": Decimal("3000")}, switch)
        self.env = env

    def send(self, movement: Movement) -> bool:
        command = ["ledger", movement.kind, movement.code, movement.typed, "--idempotency-key", movement.key]
        ran = subprocess.run([CONSOLE_SCRIPT, *command], env=self.env, capture_output=True, text=True, timeout=120)
        said = ran.stderr.strip().removeprefix("Error: ") if ran.returncode == 75 else None
        if ran.returncode not in (0, 75):
            raise AssertionError(f"{movement.key}: exit {ran.returncode}\n{ran.stderr[-2000:]}")
        return self._answered(movement, ran.returncode, ran.returncode == 0, said)


def _retry(answer: requests.Response) -> str:
    """What a 503 page says, and its ``Retry-After`` unless it is the one expected."""
    said = re.search(r"<h1>[^<]*</h1>\s*<p>([^<]*)</p>", answer.text)[1]
    retry_after = answer.headers.get("Retry-After")
    return said if retry_after == "3" else f"{said} (Retry-After: {retry_after})"
