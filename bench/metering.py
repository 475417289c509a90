"""Monthly balances: rebuild and verify ``monthly_balance`` for 10,000 customers × 24 months × 30 readings,
and recalculate one customer with two years of readings, each beside its baseline measured in the same run.

- rebuild from an empty table, beside the floor: one hand-written ``INSERT … SELECT`` of the same
  rows (the same sums and window) through psycopg, its commit timed; beside the floor plus what a rebuild
  does first, the seals of the evidence it writes from verified (every wallet movement and journal entry); and
  beside the floor plus a raw read of what the rebuild rests on (every wallet movement and its posted journal
  entry, each with its seal, and the entries' lines, fetched through psycopg, no HMAC): the bound's floor. They
  take turns (``BENCH_REBUILD_TURNS``, default 3);
- verify with 0.1 % of the months corrupted, beside the floor: the same comparison as one query,
  and beside a per-customer loop (one query per customer for its sources, compared in Python);
- one customer: the months recalculated in a transaction (what a fix and a recalculation request
  do) beside the same by hand; and the "Recalculate customer" job end to end (pending requests,
  then verify-and-fix of every check for the customer), as p50 and p95 over 20 customers;
- re-pricing one customer's 720 readings from their first date at a new price: the service's
  statements in a transaction, and ``set_pricing`` as the pricing form calls it, beside the same
  statements written by hand in raw SQL, as p50 and p95 over 20 customers each; and ``set_pricing`` again on
  customers whose readings were re-priced (corrected) 3 and 10 times before (:data:`CORRECTED`), whose time must not
  grow with that;
- a tariff change over 2,000 customers × 720 readings (``change_tariff`` then ``reprice_tariff``, what
  the command does), beside the same statements written by hand (the hand-written one runs first, so
  the service's re-pricing reads twice the ledger rows it did); ``BENCH_METERING_TARIFF=0`` leaves it out.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from datetime import date
from decimal import Decimal

import psycopg
from rich.progress import Progress
from sqlalchemy import update

from bench.common import WALLETS_FROM_LEDGER, as_the_app_writes, console, migrated_database, report, timed

CUSTOMERS = int(os.environ.get("BENCH_METERING_CUSTOMERS", 10_000))
MONTHS = 24
READINGS_PER_MONTH = 30
BATCH = 250
SAMPLE = 20
REBUILD_TURNS = int(os.environ.get("BENCH_REBUILD_TURNS", 3))
FIRST_MONTH = "2024-11-01"
TARIFF_CUSTOMERS = min(2_000, CUSTOMERS)
"""The tariff change's customers: the first ones, all of one account manager."""
TARIFF_MANAGER = "tariff@example.com"
CORRECTED = (3, 10)
"""How often, besides never, the readings of the customers a re-pricing is timed on were corrected before."""
TARIFF = os.environ.get("BENCH_METERING_TARIFF", "1") != "0"
"""``BENCH_METERING_TARIFF=0`` leaves the tariff change out (a few minutes at 2,000 customers), e.g. while iterating
on one customer's re-pricing."""

SOURCES = """
    SELECT customer_id, to_char(value_date, 'YYYY-MM') AS year_month,
           CASE WHEN kind = 'charge' OR (kind = 'reversal' AND signed_amount > 0) THEN 0 ELSE signed_amount END AS d,
           CASE WHEN kind = 'charge' OR (kind = 'reversal' AND signed_amount > 0) THEN -signed_amount ELSE 0 END AS p,
           0 AS v
    FROM balance_transactions WHERE true {ledger}
    UNION ALL
    SELECT customer_id, year_month, 0, 0, volume_sm3 FROM transaction_calculations {calculations}
"""
EXPECTED = f"""
    SELECT customer_id, year_month, round(closing - d + p, 2) AS opening, d, p, closing, v FROM (
      SELECT customer_id, year_month, d, p, v,
             round(sum(d - p) OVER (PARTITION BY customer_id ORDER BY year_month), 2) AS closing FROM (
        SELECT customer_id, year_month, round(sum(d), 2) AS d, round(sum(p), 2) AS p, round(sum(v), 4) AS v
        FROM ({SOURCES}) s GROUP BY customer_id, year_month
        HAVING round(sum(d), 2) <> 0 OR round(sum(p), 2) <> 0 OR round(sum(v), 4) <> 0) months) chained
"""
FLOOR_REBUILD = f"""
    INSERT INTO monthly_customer_balances (customer_id, year_month, opening_balance, total_deposits,
        total_purchases, closing_balance, total_volume_sm3, calculation_details, last_calculated_at)
    SELECT customer_id, year_month, opening, d, p, closing, v, '{{{{}}}}', now() FROM ({EXPECTED}) e
"""
SEALED_READ = (
    "SELECT t.*, s.seal FROM balance_transactions t "
    "LEFT JOIN seals s ON s.kind = 'balance_transactions' AND s.row_id = t.id AND s.version = 0",
    "SELECT e.*, s.seal FROM journal_entries e JOIN balance_transactions t ON t.entry_id = e.id "
    "LEFT JOIN seals s ON s.kind = 'journal_entries' AND s.row_id = e.id AND s.version = 0 WHERE e.status = 'posted'",
    "SELECT l.* FROM journal_lines l JOIN balance_transactions t ON t.entry_id = l.entry_id",
)
"""What a rebuild rests on, read raw: every customer's wallet movements and their posted journal entries, each with
its seal, and the entries' lines (which an entry's seal covers); fetched whole, no HMAC computed."""
FLOOR_VERIFY = f"""
    SELECT count(*) FROM ({EXPECTED.format(ledger="", calculations="")}) e
    FULL JOIN monthly_customer_balances m USING (customer_id, year_month)
    WHERE m.id IS NULL OR e.customer_id IS NULL OR m.opening_balance <> e.opening OR m.total_deposits <> e.d
       OR m.total_purchases <> e.p OR m.closing_balance <> e.closing OR m.total_volume_sm3 <> e.v
"""


def main() -> str:
    url = migrated_database()
    _generate(url)
    os.environ["DATABASE_URL"] = url

    from backoffice import create_app, jobs
    from backoffice.evidence import seals, verifying
    from backoffice.models import CustomerPricing, RunMode
    from backoffice.platform.extensions import db
    from backoffice.posting import months
    from backoffice.reconcile.engine import run

    app = create_app({"REDIS_URL": None})
    as_the_app_writes(app)
    rows = CUSTOMERS * MONTHS
    floor_times, rebuild_times, seal_times, read_times = [], [], [], []
    with psycopg.connect(url) as connection:

        def floor() -> None:
            connection.execute(FLOOR_REBUILD.format(ledger="", calculations=""))
            connection.commit()

        def read_sealed() -> None:
            for statement in SEALED_READ:
                connection.execute(statement).fetchall()
            connection.commit()

        def verify_seals() -> None:
            """What a rebuild does before it writes a customer's months from its evidence: verify the seals of
            every wallet movement and posted journal entry (``quarantine.examine_customers``), here all at once."""
            with db.engine.connect() as sealed:
                for kind in ("balance_transactions", "journal_entries"):
                    assert not verifying.verify(sealed, seals.kinds()[kind]).findings

        for _turn in range(REBUILD_TURNS):  # the floor and the rebuild take turns, each from an empty table
            floor_times.append(_once(url, floor))
            assert connection.execute("SELECT count(*) FROM monthly_customer_balances").fetchone()[0] == rows
            connection.commit()  # its lock on the table would keep the next truncate waiting
            read_times.append(timed(read_sealed, repeat=1)[0])
            with app.app_context():
                seal_times.append(timed(verify_seals, repeat=1)[0])
                seconds = _once(url, lambda: run(RunMode.REBUILD, checks=["monthly_balance"]))
                rebuild_times.append(seconds)
                assert run(RunMode.VERIFY, checks=["monthly_balance"]).mismatched == 0
    floor_rebuild, rebuild_seconds = statistics.median(floor_times), statistics.median(rebuild_times)
    rebuild_spread = sorted(r / f for r, f in zip(rebuild_times, floor_times, strict=True))
    equal_work = [f + v for f, v in zip(floor_times, seal_times, strict=True)]
    floor_and_read = [f + r for f, r in zip(floor_times, read_times, strict=True)]
    read_spread = sorted(r / f for r, f in zip(rebuild_times, floor_and_read, strict=True))

    with psycopg.connect(url) as connection:
        connection.execute(
            "UPDATE monthly_customer_balances SET total_purchases = total_purchases + 1 "
            "WHERE id % 1000 = (SELECT min(id) FROM monthly_customer_balances) % 1000"
        )
        connection.commit()
        with psycopg.connect(url, autocommit=True) as vacuum:
            vacuum.execute("VACUUM ANALYZE monthly_customer_balances")
        floor_seconds, floor_count = timed(lambda: connection.execute(FLOOR_VERIFY).fetchone()[0])
    with app.app_context():
        verify_seconds, record = timed(lambda: run(RunMode.VERIFY, checks=["monthly_balance"]))
        assert record.mismatched == floor_count > 0, (record.mismatched, floor_count)
    loop_seconds, loop_count = timed(lambda: _per_customer_loop(url), repeat=1)
    assert loop_count == floor_count, (loop_count, floor_count)
    with app.app_context():
        run(RunMode.FIX, checks=["monthly_balance"])

    sample = random.Random(7).sample(range(1, CUSTOMERS + 1), SAMPLE)
    with app.app_context():

        def recalculate(customer_id: int) -> None:
            with db.engine.begin() as connection:
                months.recalculate(connection, [customer_id])

        months_times = _each(sample, recalculate)
        job_times = _each(sample, lambda c: jobs.enqueue("recalculate_customer", {"customer_id": c}))
    with psycopg.connect(url) as connection:

        def by_hand(customer_id: int) -> None:
            with connection.transaction():
                connection.execute("DELETE FROM monthly_customer_balances WHERE customer_id = %s", (customer_id,))
                only = {"ledger": "AND customer_id = %(c)s", "calculations": "WHERE customer_id = %(c)s"}
                connection.execute(FLOOR_REBUILD.format(**only), {"c": customer_id})

        raw_times = _each(sample, by_hand)
    repricing_lines = _repricing(app, url)

    # The re-pricings' new prices were set with SQL, and the hand-written ones' rows are left unsealed.
    as_the_app_writes(
        app, {CustomerPricing: CustomerPricing.__table__.c.effective_from == date.fromisoformat(FIRST_MONTH)}
    )
    with app.app_context():
        verified = run(RunMode.VERIFY)
        assert verified.mismatched == 0, [(r.check, r.mismatched) for r in verified.results if r.mismatched]

    floor = "raw SQL (floor)"
    lines = report(
        f"monthly_balance, {CUSTOMERS:,} customers × {MONTHS} months × {READINGS_PER_MONTH} readings (PostgreSQL)",
        [
            (f"engine rebuild, empty table ({rows:,} months)", rebuild_seconds, "raw INSERT … SELECT", floor_rebuild),
            (
                f"engine rebuild, empty table ({rows:,} months)",
                rebuild_seconds,
                "raw INSERT … SELECT + the evidence's seals verified",
                statistics.median(equal_work),
            ),
            (
                f"engine rebuild, empty table ({rows:,} months)",
                rebuild_seconds,
                "raw INSERT … SELECT + a raw read of the rows and seals it rests on",
                statistics.median(floor_and_read),
            ),
            ("the evidence's seals verified", statistics.median(seal_times), "raw INSERT … SELECT", floor_rebuild),
            ("a raw read of the rows and seals", statistics.median(read_times), "raw INSERT … SELECT", floor_rebuild),
            ("engine verify, 0.1 % corrupted", verify_seconds, "raw compare (floor)", floor_seconds),
            ("per-customer loop verify", loop_seconds, "raw compare (floor)", floor_seconds),
            ("engine verify, 0.1 % corrupted", verify_seconds, "per-customer loop", loop_seconds),
        ],
    )
    lines += (
        f"Rebuild over the floor in each of {REBUILD_TURNS} turns: least {rebuild_spread[0]:.2f}×, median "
        f"{statistics.median(rebuild_spread):.2f}×, most {rebuild_spread[-1]:.2f}×; over the floor and the raw read: "
        f"least {read_spread[0]:.2f}×, median {statistics.median(read_spread):.2f}×, most {read_spread[-1]:.2f}×.\n"
    )
    lines += "\n" + report(
        f"one customer, {MONTHS * READINGS_PER_MONTH} readings over {MONTHS} months (p50 / p95 of {SAMPLE})",
        [
            ("months recalculated, p50", _p(months_times, 50), f"{floor}, p50", _p(raw_times, 50)),
            ("months recalculated, p95", _p(months_times, 95), f"{floor}, p95", _p(raw_times, 95)),
            ("Recalculate customer job, p50", _p(job_times, 50), f"{floor}, p50", _p(raw_times, 50)),
            ("Recalculate customer job, p95", _p(job_times, 95), f"{floor}, p95", _p(raw_times, 95)),
        ],
    )
    return lines + "\n" + repricing_lines


def _repricing(app, url: str) -> str:
    """Re-pricing one customer's readings, and a tariff change, each beside the same statements by hand."""
    from backoffice.platform.extensions import db
    from backoffice.posting.locking import lock_customers
    from backoffice.services import metering
    from backoffice.services.metering.repricing import pricing, readings

    first = date.fromisoformat(FIRST_MONTH)
    app.config["REPRICE_IN_REQUEST_LIMIT"] = MONTHS * READINGS_PER_MONTH
    chosen = random.Random(11).sample(range(1, CUSTOMERS + 1), (3 + len(CORRECTED)) * SAMPLE)
    statements, form, by_hand = chosen[:SAMPLE], chosen[SAMPLE : 2 * SAMPLE], chosen[2 * SAMPLE : 3 * SAMPLE]
    corrected = {times: chosen[(3 + n) * SAMPLE : (4 + n) * SAMPLE] for n, times in enumerate(CORRECTED)}
    with app.app_context():

        def reprice(customer_id: int) -> None:
            with db.engine.begin() as connection:
                lock_customers(connection, [customer_id])
                connection.execute(
                    update(pricing)
                    .where(pricing.c.customer_id == customer_id, pricing.c.effective_from == first)
                    .values(price_per_sm3=NEW_PRICE, version=pricing.c.version + 1)
                )
                mine = (readings.c.customer_id == customer_id) & (readings.c.reading_date >= first)
                metering.reprice_where(connection, mine, [customer_id])

        statement_times = _each(statements, reprice)
        form_times = _each(form, lambda c: metering.set_pricing(c, first, NEW_PRICE, Decimal("1.012345")))
        corrected_times = {}
        for times, customers in corrected.items():
            for customer_id in customers:
                for n in range(times):  # each a correction of every reading, each dearer: nothing given back to hold
                    metering.set_pricing(customer_id, first, NEW_PRICE - times + n, Decimal("1.012345"))
            corrected_times[times] = _each(
                customers, lambda c: metering.set_pricing(c, first, NEW_PRICE, Decimal("1.012345"))
            )
    with psycopg.connect(url, autocommit=True) as connection:
        ACCOUNTS.update(connection.execute("SELECT code, id FROM accounts WHERE code IN ('2000', '4000')").fetchall())
        raw_times = _each(by_hand, lambda c: _reprice_by_hand(connection, [c], first, NEW_PRICE))
        if TARIFF:
            tariff_ids = list(range(1, TARIFF_CUSTOMERS + 1))
            raw_tariff, _ = timed(lambda: _tariff_by_hand(connection, tariff_ids, first), repeat=1)
    floor = "raw SQL, same statements"
    rows = [
        ("re-pricing statements, p50", _p(statement_times, 50), f"{floor}, p50", _p(raw_times, 50)),
        ("re-pricing statements, p95", _p(statement_times, 95), f"{floor}, p95", _p(raw_times, 95)),
        ("set_pricing (pricing form), p50", _p(form_times, 50), f"{floor}, p50", _p(raw_times, 50)),
        ("set_pricing (pricing form), p95", _p(form_times, 95), f"{floor}, p95", _p(raw_times, 95)),
    ]
    for times, each in corrected_times.items():
        rows += [
            (
                f"set_pricing, readings corrected {times} times, p50",
                _p(each, 50),
                "set_pricing, never corrected, p50",
                _p(form_times, 50),
            ),
            (
                f"set_pricing, readings corrected {times} times, p95",
                _p(each, 95),
                "set_pricing, never corrected, p95",
                _p(form_times, 95),
            ),
        ]
    readings_count = MONTHS * READINGS_PER_MONTH
    title = f"re-pricing {readings_count} readings of one customer from its first date (p50 / p95 of {SAMPLE} each)"
    if TARIFF:
        with app.app_context():
            tariff = metering.checked_tariff(first, TARIFF_PRICE, None, TARIFF_MANAGER)

            def change() -> None:
                metering.change_tariff(tariff)
                metering.reprice_tariff(first)

            tariff_seconds, _ = timed(change, repeat=1)
        rows.append((f"tariff change, {TARIFF_CUSTOMERS:,} customers", tariff_seconds, floor, raw_tariff))
        title += f", and a tariff change over {TARIFF_CUSTOMERS:,} customers × {readings_count} readings"
    return report(f"{title} (PostgreSQL)", rows)


ACCOUNTS: dict[str, int] = {}
"""Customer deposits' and gas revenue's ids, by code."""
NEW_PRICE = Decimal("9100.00")
TARIFF_PRICE, TARIFF_PRICE_BY_HAND = Decimal("9300.00"), Decimal("9200.00")
SET_PRICE = (
    "UPDATE customer_pricing SET price_per_sm3 = %(price)s, version = version + 1 "
    "WHERE customer_id = ANY(%(ids)s) AND effective_from = %(from)s"
)
CHOSEN = "r.customer_id = ANY(%(ids)s) AND r.reading_date >= %(from)s"
IN_FORCE = (
    "(SELECT *, lead(effective_from) OVER (PARTITION BY customer_id ORDER BY effective_from) AS until "
    " FROM customer_pricing WHERE customer_id = ANY(%(ids)s)) p"
)
PRICED = (
    "p.customer_id = r.customer_id AND p.effective_from <= r.reading_date "
    "AND (p.until IS NULL OR r.reading_date < p.until)"
)
CALCULATION = {
    "customer_id": "r.customer_id",
    "year_month": "to_char(r.reading_date, 'YYYY-MM')",
    "transaction_date": "r.reading_date",
    "volume_flow_meter": "r.volume_flow_meter",
    "meter_correction": "p.meter_correction",
    "volume_sm3": "round(r.volume_flow_meter * p.meter_correction, 4)",
    "price_per_sm3": "p.price_per_sm3",
    "total_price": "round(round(r.volume_flow_meter * p.meter_correction, 4) * p.price_per_sm3, 2)",
    "pricing": "json_build_object('pricing_id', p.id, 'effective_from', to_char(p.effective_from, 'YYYY-MM-DD'), "
    "'price_per_sm3', p.price_per_sm3::text, 'meter_correction', p.meter_correction::text)",
    "calculated_at": "now()",
}
COUNT = f"SELECT count(*) FROM meter_readings r WHERE {CHOSEN}"
"""The readings to re-price (the service counts them as it checks that each one can be priced)."""
REWRITE = (
    f"UPDATE transaction_calculations t SET {', '.join(f'{name} = {value}' for name, value in CALCULATION.items())} "
    f"FROM meter_readings r, {IN_FORCE} WHERE t.reading_id = r.id AND {CHOSEN} AND {PRICED}"
)
UNCALCULATED = (
    f"INSERT INTO transaction_calculations (reading_id, {', '.join(CALCULATION)}) "
    f"SELECT r.id, {', '.join(CALCULATION.values())} FROM meter_readings r JOIN {IN_FORCE} ON {PRICED} "
    f"WHERE {CHOSEN} AND NOT EXISTS (SELECT FROM transaction_calculations t WHERE t.reading_id = r.id)"
)
"""The calculations of readings that have none: written only when the rewrite found fewer than the readings."""
BY_HAND = [
    "CREATE TEMP TABLE IF NOT EXISTS by_hand (row_id bigint, entry_id bigint, customer_id int, position bigint, "
    "kind varchar(20), signed_amount numeric(15,2), value_date date, reading_id int, balance_after numeric(20,2), "
    "code varchar(32)) ON COMMIT DELETE ROWS",
    "INSERT INTO by_hand SELECT nextval((SELECT pg_get_serial_sequence('balance_transactions', 'id')::regclass)), "
    "       nextval((SELECT pg_get_serial_sequence('journal_entries', 'id')::regclass)), s.* FROM ("
    "  WITH picked AS (SELECT id, customer_id, reading_date FROM meter_readings "
    "                  WHERE customer_id = ANY(%(ids)s) AND reading_date >= %(from)s), "
    "  items AS (SELECT p.customer_id, p.id AS reading_id, p.reading_date, l.value_date AS day, "
    "                   -l.signed_amount AS amount "
    "            FROM balance_transactions l JOIN picked p ON l.reference_type = 'meter_reading' "
    "             AND l.reference_id = p.id AND l.customer_id = p.customer_id WHERE l.customer_id = ANY(%(ids)s) "
    "            UNION ALL "
    "            SELECT p.customer_id, p.id, p.reading_date, p.reading_date, -t.total_price "
    "            FROM picked p JOIN transaction_calculations t ON t.reading_id = p.id), "
    "  moves AS (SELECT customer_id, reading_id, day AS value_date, "
    "                   CASE WHEN day = reading_date THEN 1 ELSE 0 END AS last, round(sum(amount), 2) AS signed "
    "            FROM items GROUP BY customer_id, reading_id, reading_date, day HAVING round(sum(amount), 2) <> 0), "
    "  ordered AS (SELECT *, row_number() OVER (PARTITION BY customer_id ORDER BY reading_id, last, value_date) "
    "                       AS position FROM moves) "
    "  SELECT m.customer_id, m.position, CASE WHEN m.signed < 0 THEN 'charge' ELSE 'reversal' END, m.signed, "
    "         m.value_date, m.reading_id, round(c.balance + sum(m.signed) OVER (PARTITION BY m.customer_id "
    "                                     ORDER BY m.position ROWS UNBOUNDED PRECEDING), 2), c.code "
    "  FROM ordered m JOIN customers c ON c.id = m.customer_id ORDER BY m.customer_id, m.position) s",
    # The entries written posted with their lines, the ledger rows and the customers' totals: one statement.
    "WITH entries AS ("
    "  INSERT INTO journal_entries (id, number, entry_date, description, status, source_type, source_id, "
    "                               created_at, posted_at) "
    "  SELECT entry_id, 'JE-' || entry_id, value_date, initcap(kind) || ' #' || row_id || ' of ' || code, "
    "         'posted', 'balance_transaction', row_id, now(), now() FROM by_hand ORDER BY entry_id), "
    "lines AS ("
    "  INSERT INTO journal_lines (entry_id, account_id, debit, credit, description) "
    "  SELECT entry_id, account_id, debit, credit, '' FROM ("
    "    SELECT entry_id, 0 AS side, CASE WHEN signed_amount < 0 THEN %(deposits)s ELSE %(revenue)s END AS account_id, "
    "           abs(signed_amount) AS debit, 0 AS credit FROM by_hand "
    "    UNION ALL "
    "    SELECT entry_id, 1, CASE WHEN signed_amount < 0 THEN %(revenue)s ELSE %(deposits)s END, 0, abs(signed_amount) "
    "    FROM by_hand) sides ORDER BY entry_id, side), "
    "ledger AS ("
    "  INSERT INTO balance_transactions (id, customer_id, kind, amount, signed_amount, balance_before, balance_after, "
    "                                    value_date, reference_type, reference_id, description, entry_id, created_at) "
    "  SELECT row_id, customer_id, kind, abs(signed_amount), signed_amount, round(balance_after - signed_amount, 2), "
    "         balance_after, value_date, 'meter_reading', reading_id, 'Re-pricing of gas, reading #' || reading_id, "
    "         entry_id, now() FROM by_hand ORDER BY row_id) "
    "UPDATE customers c SET balance = round(c.balance + s.net, 2), total_spent = round(c.total_spent - s.net, 2), "
    "       balance_last_updated_at = now(), "
    "       status = CASE WHEN round(c.balance + s.net, 2) < c.suspend_below THEN 'suspended' ELSE 'active' END "
    "FROM (SELECT customer_id, sum(signed_amount) AS net FROM by_hand GROUP BY customer_id) s "
    "WHERE c.id = s.customer_id",
]
"""Re-pricing the readings of the customers ``ids`` from the date ``from``: what the service does, by hand."""
MOVE_BUCKETS = (
    "INSERT INTO account_balance_buckets AS b (account_id, bucket, balance) "
    "SELECT a.id, h.customer_id %% 64, sum(a.sign * h.signed_amount) "
    "FROM by_hand h, (VALUES (%(deposits)s, 1), (%(revenue)s, -1)) a (id, sign) "
    "GROUP BY a.id, h.customer_id %% 64 ORDER BY 1, 2 "
    "ON CONFLICT (account_id, bucket) DO UPDATE SET balance = b.balance + excluded.balance"
)
"""The accounts moved by the re-pricing's net, each customer's in its bucket: Customer deposits by it, Gas revenue
against it (one row each per bucket, in (account, bucket) order)."""


def _reprice_by_hand(connection, ids: list[int], since: date, price: Decimal | None) -> None:
    """The re-pricing's statements by hand, in one transaction: the customers locked (and their price set, as the
    measured service transaction does), the statements above, the two accounts moved, the months recalculated."""
    with connection.transaction():
        _statements_by_hand(connection, ids, since, price)


def _statements_by_hand(connection, ids: list[int], since: date, price: Decimal | None) -> None:
    values = {"ids": ids, "from": since, "price": price, "deposits": ACCOUNTS["2000"], "revenue": ACCOUNTS["4000"]}
    connection.execute("SELECT id FROM customers WHERE id = ANY(%(ids)s) ORDER BY id FOR NO KEY UPDATE", values)
    if price is not None:
        connection.execute(SET_PRICE, values)
    (count,) = connection.execute(COUNT, values).fetchone()
    if connection.execute(REWRITE, values).rowcount < count:
        connection.execute(UNCALCULATED, values)
    for statement in BY_HAND:
        connection.execute(statement, values)
    connection.execute(MOVE_BUCKETS, values)
    month = since.strftime("%Y-%m")
    connection.execute(
        "DELETE FROM monthly_customer_balances WHERE customer_id = ANY(%s) AND year_month >= %s", (ids, month)
    )
    only = {"ledger": "AND customer_id = ANY(%(ids)s)", "calculations": "WHERE customer_id = ANY(%(ids)s)"}
    connection.execute(FLOOR_REBUILD.format(**only) + " WHERE year_month >= %(month)s", {"ids": ids, "month": month})


def _tariff_by_hand(connection, ids: list[int], since: date) -> None:
    """The tariff change by hand: the customers' rows and requests in one transaction, then re-priced fifty
    customers a transaction, each batch's requests marked done."""
    with connection.transaction():
        connection.execute("SELECT id FROM customers WHERE id = ANY(%s) ORDER BY id FOR NO KEY UPDATE", (ids,))
        connection.execute(SET_PRICE, {"ids": ids, "from": since, "price": TARIFF_PRICE_BY_HAND})
        connection.execute(
            "INSERT INTO recalculation_requests (customer_id, from_date, reason, description, requested_at) "
            "SELECT id, %s, 'pricing_change', 'Tariff by hand', now() FROM unnest(%s::int[]) id",
            (since, ids),
        )
    for start in range(0, len(ids), 50):
        batch = ids[start : start + 50]
        with connection.transaction():
            _statements_by_hand(connection, batch, since, None)
            connection.execute(
                "UPDATE recalculation_requests SET done_at = now() WHERE customer_id = ANY(%s) AND done_at IS NULL",
                (batch,),
            )


def _generate(url: str) -> None:
    """Customers with a meter, a price, 30 readings a month for 24 months, each with its calculation and its charge
    (dated on the reading), and a deposit on the first of each month; each ledger row with its posted journal entry;
    wallets and accounts consistent with their ledgers. The first ``TARIFF_CUSTOMERS`` have one account manager."""
    with psycopg.connect(url) as connection, Progress(console=console, transient=True) as progress:
        connection.execute(
            "INSERT INTO account_managers (name, email, active) VALUES ('Tariff', %s, true)", (TARIFF_MANAGER,)
        )
        connection.execute(
            "INSERT INTO customers (code, name, status, created_at, balance, total_recharged, total_spent, "
            "suspend_below, use_realtime_calculation, amount_due, overpayment, account_manager_id) "
            "SELECT 'M' || lpad(n::text, 6, '0'), 'Customer ' || n, 'active', now(), 0, 0, 0, -1e12, true, 0, 0, "
            "       CASE WHEN n <= %s THEN (SELECT id FROM account_managers) END "
            "FROM generate_series(1, %s) n",
            (TARIFF_CUSTOMERS, CUSTOMERS),
        )
        connection.execute(
            "INSERT INTO meters (serial, status, balance, overpayment, created_at) "
            "SELECT 'BM' || lpad(n::text, 6, '0'), 'active', 0, 0, now() FROM generate_series(1, %s) n",
            (CUSTOMERS,),
        )
        connection.execute(
            "INSERT INTO customer_pricing (customer_id, effective_from, price_per_sm3, meter_correction) "
            "SELECT id, %s, 7500.00 + id %% 50, 1.012345 FROM customers",
            (FIRST_MONTH,),
        )
        task = progress.add_task(
            f"Generating {CUSTOMERS * MONTHS * READINGS_PER_MONTH:,} readings with calculations and charges",
            total=CUSTOMERS,
        )
        for start in range(1, CUSTOMERS + 1, BATCH):
            stop = min(start + BATCH - 1, CUSTOMERS)
            _generate_batch(connection, start, stop)
            connection.commit()
            progress.update(task, completed=stop)
        connection.execute(WALLETS_FROM_LEDGER)
        connection.execute(
            "INSERT INTO account_balance_buckets (account_id, bucket, balance) "
            "SELECT a.id, 0, sum(CASE WHEN a.type IN ('asset', 'expense') THEN l.debit - l.credit "
            "                         ELSE l.credit - l.debit END) "
            "FROM journal_lines l JOIN accounts a ON a.id = l.account_id GROUP BY a.id"
        )
        connection.commit()
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")


def _generate_batch(connection, start: int, stop: int) -> None:
    between = {"start": start, "stop": stop, "first": FIRST_MONTH, "months": MONTHS, "per": READINGS_PER_MONTH}
    # Generated rows are written past the database's guards (as a superuser may): each is whole when committed.
    connection.execute("SET LOCAL session_replication_role = replica")
    connection.execute(
        "INSERT INTO meter_readings (meter_id, customer_id, reading_date, volume_flow_meter, note, created_at) "
        "SELECT c, c, (%(first)s::date + make_interval(months => m) + make_interval(days => d))::date, "
        "       ((c * 7 + m * 13 + d * 17) %% 900 + 10) + 0.25, '', now() "
        "FROM generate_series(%(start)s::int, %(stop)s::int) c, generate_series(0, %(months)s - 1) m, "
        "     generate_series(0, %(per)s - 1) d ORDER BY c, m, d",
        between,
    )
    connection.execute(
        "INSERT INTO transaction_calculations (customer_id, reading_id, year_month, transaction_date, "
        "volume_flow_meter, meter_correction, volume_sm3, price_per_sm3, total_price, pricing, calculated_at) "
        "SELECT r.customer_id, r.id, to_char(r.reading_date, 'YYYY-MM'), r.reading_date, r.volume_flow_meter, "
        "       p.meter_correction, round(r.volume_flow_meter * p.meter_correction, 4), p.price_per_sm3, "
        "       round(round(r.volume_flow_meter * p.meter_correction, 4) * p.price_per_sm3, 2), '{}', now() "
        "FROM meter_readings r JOIN customer_pricing p ON p.customer_id = r.customer_id "
        "WHERE r.customer_id BETWEEN %(start)s AND %(stop)s",
        between,
    )
    connection.execute(
        "CREATE TEMP TABLE generated ON COMMIT DROP AS "
        "SELECT nextval(pg_get_serial_sequence('balance_transactions', 'id')) AS id, "
        "       nextval(pg_get_serial_sequence('journal_entries', 'id')) AS entry_id, * FROM ("
        "  SELECT *, sum(signed) OVER (PARTITION BY customer_id ORDER BY on_date, ref_id NULLS FIRST) AS running FROM ("
        "    SELECT c.customer_id, 'charge' AS kind, c.total_price AS amount, -c.total_price AS signed,"
        "           'meter_reading' AS ref_type, c.reading_id AS ref_id, c.transaction_date AS on_date"
        "    FROM transaction_calculations c WHERE c.customer_id BETWEEN %(start)s AND %(stop)s AND c.total_price > 0"
        "    UNION ALL"
        "    SELECT c, 'recharge', 250000000.00, 250000000.00, NULL, NULL,"
        "           (%(first)s::date + make_interval(months => m))::date"
        "    FROM generate_series(%(start)s::int, %(stop)s::int) c, generate_series(0, %(months)s - 1) m"
        "  ) movements ORDER BY customer_id, on_date, ref_id NULLS FIRST) chained",
        between,
    )
    connection.execute(
        "INSERT INTO journal_entries (id, number, entry_date, description, status, source_type, source_id, "
        "created_at, posted_at) "
        "SELECT entry_id, 'JE-' || entry_id, on_date, initcap(kind) || ' #' || id, 'posted', 'balance_transaction', "
        "       id, now(), now() FROM generated"
    )
    connection.execute(
        "INSERT INTO journal_lines (entry_id, account_id, debit, credit, description) "
        "SELECT entry_id, (SELECT id FROM accounts WHERE code = CASE WHEN kind = 'charge' THEN '2000' ELSE '1000' END),"
        "       amount, 0, '' FROM generated "
        "UNION ALL "
        "SELECT entry_id, (SELECT id FROM accounts WHERE code = CASE WHEN kind = 'charge' THEN '4000' ELSE '2000' END),"
        "       0, amount, '' FROM generated"
    )
    connection.execute(
        "INSERT INTO balance_transactions (id, customer_id, kind, amount, signed_amount, balance_before, "
        "balance_after, value_date, reference_type, reference_id, description, entry_id, created_at) "
        "SELECT id, customer_id, kind, amount, signed, running - signed, running, on_date, ref_type, ref_id, '', "
        "       entry_id, now() FROM generated ORDER BY id"
    )


def _per_customer_loop(url: str) -> int:
    """The naive verifier: each customer's sources and stored months, one query each, compared in Python."""
    wrong = 0
    with psycopg.connect(url) as connection:
        for (customer_id,) in connection.execute("SELECT id FROM customers ORDER BY id").fetchall():
            only = {"ledger": "AND customer_id = %(c)s", "calculations": "WHERE customer_id = %(c)s"}
            expected = {
                row[1]: tuple(row[2:])
                for row in connection.execute(EXPECTED.format(**only), {"c": customer_id}).fetchall()
            }
            stored = {
                row[0]: tuple(row[1:])
                for row in connection.execute(
                    "SELECT year_month, opening_balance, total_deposits, total_purchases, closing_balance, "
                    "total_volume_sm3 FROM monthly_customer_balances WHERE customer_id = %s",
                    (customer_id,),
                ).fetchall()
            }
            wrong += sum(expected.get(month) != stored.get(month) for month in expected.keys() | stored.keys())
    return wrong


def _once(url: str, function) -> float:  # float-ok: seconds
    _truncate(url)
    seconds, _ = timed(function, repeat=1)
    return seconds


def _truncate(url: str) -> None:
    with psycopg.connect(url) as connection:
        connection.execute("TRUNCATE monthly_customer_balances")


def _each(customer_ids: list[int], function) -> list[float]:  # float-ok: seconds
    times = []
    for customer_id in customer_ids:
        start = time.perf_counter()
        function(customer_id)
        times.append(time.perf_counter() - start)
    return times


def _p(times: list[float], percent: int) -> float:  # float-ok: seconds
    return statistics.quantiles(times, n=100, method="inclusive")[percent - 1]


if __name__ == "__main__":
    print(main())
