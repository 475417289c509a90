"""wallet movements posted by one function of SQL, a batch of them or one

Revision ID: 0074
Revises: 0073
Create Date: 2026-11-27 18:00:00.000000

- ``wallet_rule_v2``: a row of the rule table: for a kind and the sign of its amount, the accounts it debits and
  credits, what each line adds to its account's balance (1 or -1 an amount), and what the movement adds to each of the
  customer's totals and its month's columns (1, -1 or 0 its signed amount). The application renders its rule table
  (``posting.rules``) into these rows; nothing of the rules is written here.
- ``wallet_movement_v2``: a wallet movement as the posting function takes it: its place in the batch, its fields, and
  what its rule says of it (``ruled`` false where no rule applies), in amounts.
- ``post_wallet_movements_v2``: the batch posted, as pgledger's ``create_transfers`` posts transfers, with a generic
  plan for each of its statements (they are the same whatever the batch): every movement checked in the order given,
  its customer's row locked as it is met (a batch comes in the order of its customers' ids), over the chain of the
  customer's balance and totals; the first that fails raised (SQLSTATE ``WL001``) with its figures, as JSON, in the
  error's detail, and nothing written; else, in the same statement, each movement's journal entry posted with its two
  lines, its ledger row with its balance before and after, and each customer moved by its movements; the months
  shifted (or, for a customer not kept in real time, a recalculation request), when the caller asks; the accounts'
  buckets last, a bucket its column could not hold raised. One movement is a batch of one. Returns the ledger rows
  written.

``post_wallet_movement_v1`` stays beside it until no running version of the application calls it.
All of them run with the privileges of the role that calls them (the runtime role's): none is ``SECURITY DEFINER``.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0074"
down_revision = "0073"
branch_labels = None
depends_on = None


def upgrade():
    op.execute(TYPES)
    op.execute(POST)


def downgrade():
    op.execute(
        "DROP FUNCTION post_wallet_movements_v2(wallet_movement_v2[], integer, date, timestamptz, integer, boolean)"
    )
    op.execute("DROP TYPE wallet_movement_v2")
    op.execute("DROP TYPE wallet_rule_v2")


TYPES = """
CREATE TYPE wallet_rule_v2 AS (
    kind text,
    sign integer,
    debit_account integer,
    credit_account integer,
    debited integer,
    credited integer,
    total_recharged integer,
    total_spent integer,
    total_deposits integer,
    total_purchases integer
);

CREATE TYPE wallet_movement_v2 AS (
    place bigint,
    customer_id integer,
    kind text,
    signed_amount numeric,
    value_date date,
    reference_type text,
    reference_id integer,
    description text,
    reason text,
    occasion text,
    reverses_id integer,
    idempotency_key text,
    allow_overdraft boolean,
    automatic boolean,
    delivered numeric,
    ruled boolean,
    debit_account integer,
    credit_account integer,
    debited numeric,
    credited numeric,
    total_recharged numeric,
    total_spent numeric,
    total_deposits numeric,
    total_purchases numeric
);
"""

POST = """
CREATE FUNCTION post_wallet_movements_v2(
    p_batch wallet_movement_v2[],
    p_buckets integer,
    p_today date,
    p_moment timestamptz,
    p_user_id integer,
    p_months boolean
) RETURNS SETOF balance_transactions LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    most CONSTANT numeric := 999999999999999999.99;
    row_ids CONSTANT regclass := pg_get_serial_sequence('balance_transactions', 'id');
    entry_ids CONSTANT regclass := pg_get_serial_sequence('journal_entries', 'id');
    refused record;
    refusal text;
    written balance_transactions[];
    deferred integer[];
BEGIN
    -- 1. Every movement checked in the order given, its customer's row locked as it is met (a batch comes in the
    --    order of its customers' ids), over the customer's balance and totals after it: a rule for its kind and
    --    sign; dated no later than today; its customer there and open; gas delivered not charged while tampered
    --    evidence of the customer waits for a review; no overdraft unless allowed; the balance and each total within
    --    its column. The first that fails is said with its figures, and nothing is written. Else, in the same
    --    statement, each movement's journal entry, posted with its two lines (the debit first), its ledger row, and
    --    each customer moved by its movements: at the statement's end the books' guards find every entry posted with
    --    all its lines. The ids are taken in the order given, so that a customer's rows are in the order its balances
    --    chain.
    WITH chain AS MATERIALIZED (
        SELECT b.*, c.code, c.id IS NOT NULL AS known, c.closed_at IS NULL AS open,
               NOT b.automatic OR NOT EXISTS (
                   SELECT 1 FROM tampered_evidence AS t WHERE t.customer_id = b.customer_id AND t.resolution IS NULL
               ) AS trusted,
               round(c.balance + sum(b.signed_amount) OVER w, 2) AS balance_after,
               round(c.total_recharged + sum(b.total_recharged) OVER w, 2) AS recharged_after,
               round(c.total_spent + sum(b.total_spent) OVER w, 2) AS spent_after
        FROM unnest(p_batch) AS b
        LEFT JOIN LATERAL (SELECT * FROM customers AS locked WHERE locked.id = b.customer_id FOR UPDATE) AS c ON true
        WINDOW w AS (PARTITION BY b.customer_id ORDER BY b.place ROWS UNBOUNDED PRECEDING)
    ), failed AS (
        SELECT chain.*, CASE
                WHEN NOT ruled THEN 'rule'
                WHEN value_date > p_today THEN 'today'
                WHEN NOT known THEN 'customer'
                WHEN NOT open THEN 'open'
                WHEN NOT trusted THEN 'trusted'
                WHEN NOT (allow_overdraft OR signed_amount >= 0 OR balance_after >= 0) THEN 'covered'
                WHEN abs(balance_after) > most THEN 'balance'
                WHEN abs(recharged_after) > most THEN 'total_recharged'
                ELSE 'total_spent'
            END AS refusal
        FROM chain
        WHERE (
            ruled AND value_date <= p_today AND known AND open AND trusted
            AND (allow_overdraft OR signed_amount >= 0 OR balance_after >= 0)
            AND abs(balance_after) <= most AND abs(recharged_after) <= most AND abs(spent_after) <= most
        ) IS NOT TRUE
        ORDER BY place
        LIMIT 1
    ), taken AS MATERIALIZED (
        SELECT chain.*, nextval(row_ids)::integer AS row_id, nextval(entry_ids)::integer AS entry_id
        FROM (SELECT * FROM chain WHERE NOT EXISTS (SELECT FROM failed) ORDER BY place) AS chain
    ), entries AS (
        INSERT INTO journal_entries (
            id, number, entry_date, description, status, posted_at, posted_by_id, source_type, source_id, created_at
        )
        SELECT entry_id, 'JE-' || entry_id, value_date, '', 'posted', p_moment, p_user_id, 'balance_transaction',
               row_id, p_moment
        FROM taken ORDER BY entry_id
    ), entry_lines AS (
        INSERT INTO journal_lines (entry_id, account_id, debit, credit, description)
        SELECT t.entry_id, side.account_id, side.debit, side.credit, ''
        FROM taken AS t CROSS JOIN LATERAL (
            VALUES (0, t.debit_account, abs(t.signed_amount), 0::numeric),
                   (1, t.credit_account, 0::numeric, abs(t.signed_amount))
        ) AS side(n, account_id, debit, credit)
        ORDER BY t.entry_id, side.n
    ), moved AS (
        UPDATE customers AS c SET
            balance = round(c.balance + s.balance, 2),
            total_recharged = round(c.total_recharged + s.total_recharged, 2),
            total_spent = round(c.total_spent + s.total_spent, 2),
            balance_last_updated_at = p_moment,
            status = customer_status_v1(round(c.balance + s.balance, 2), c.suspend_below)
        FROM (
            SELECT t.customer_id, sum(t.signed_amount) AS balance, sum(t.total_recharged) AS total_recharged,
                   sum(t.total_spent) AS total_spent
            FROM taken AS t GROUP BY t.customer_id
        ) AS s
        WHERE c.id = s.customer_id
        RETURNING c.id, c.use_realtime_calculation AS realtime
    ), ledger_rows AS (
        INSERT INTO balance_transactions (
            id, customer_id, kind, amount, signed_amount, balance_before, balance_after, value_date, reference_type,
            reference_id, description, reason, occasion, reverses_id, idempotency_key, entry_id, created_at,
            created_by_id
        )
        SELECT row_id, customer_id, kind, abs(signed_amount), signed_amount, round(balance_after - signed_amount, 2),
               balance_after, value_date, reference_type, reference_id, description, reason, occasion, reverses_id,
               idempotency_key, entry_id, p_moment, p_user_id
        FROM taken ORDER BY row_id
        RETURNING *
    )
    SELECT (SELECT array_agg(r ORDER BY r.id) FROM ledger_rows AS r),
           (SELECT array_agg(m.id) FROM moved AS m WHERE NOT m.realtime),
           (
               SELECT json_build_object(
                   'refusal', f.refusal, 'place', f.place, 'customer_id', f.customer_id, 'code', f.code,
                   'kind', f.kind, 'amount', f.signed_amount, 'value_date', f.value_date, 'today', p_today,
                   'available', round(f.balance_after - f.signed_amount, 2), 'needed', abs(f.signed_amount)
               )::text
               FROM failed AS f
           )
    INTO written, deferred, refusal;
    IF refusal IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'WL001', MESSAGE = 'wallet movement refused', DETAIL = refusal;
    END IF;

    -- 2. The months, when the caller does not recalculate them: each shifted once by what its movements add; for a
    --    customer not kept in real time, a recalculation request a movement.
    IF p_months THEN
        IF deferred IS NOT NULL THEN
            INSERT INTO recalculation_requests (
                customer_id, from_date, reason, description, requested_at, requested_by_id
            )
            SELECT w.customer_id, w.value_date, 'deferred', w.kind || ' #' || w.id, p_moment, p_user_id
            FROM unnest(written) WITH ORDINALITY AS w JOIN unnest(p_batch) AS b ON b.place = w.ordinality
            WHERE w.customer_id = ANY (deferred)
              AND (b.total_deposits <> 0 OR b.total_purchases <> 0 OR b.delivered <> 0)
            ORDER BY w.id;
        END IF;
        PERFORM shift_customer_month_v1(
            shifted.customer_id, shifted.year_month, shifted.deposits, shifted.purchases, shifted.delivered,
            json_build_object('balance_transaction_id', shifted.last_id), p_moment
        )
        FROM (
            SELECT w.customer_id, to_char(w.value_date, 'YYYY-MM') AS year_month, sum(b.total_deposits) AS deposits,
                   sum(b.total_purchases) AS purchases, sum(b.delivered) AS delivered, max(w.id) AS last_id
            FROM unnest(written) WITH ORDINALITY AS w JOIN unnest(p_batch) AS b ON b.place = w.ordinality
            WHERE NOT (w.customer_id = ANY (coalesce(deferred, '{}')))
            GROUP BY 1, 2
            HAVING sum(b.total_deposits) <> 0 OR sum(b.total_purchases) <> 0 OR sum(b.delivered) <> 0
            ORDER BY 1, 2
        ) AS shifted;
    END IF;

    -- 3. The accounts' buckets, last, in (account, bucket) order: a bucket whose balance its column could not hold is
    --    raised, naming its account.
    WITH moves AS (
        SELECT side.account_id, b.customer_id % p_buckets AS bucket, sum(side.amount) AS amount
        FROM unnest(p_batch) AS b CROSS JOIN LATERAL (
            VALUES (b.debit_account, b.debited), (b.credit_account, b.credited)
        ) AS side(account_id, amount)
        GROUP BY 1, 2
    ), bucket_moved AS (
        INSERT INTO account_balance_buckets AS a (account_id, bucket, balance)
        SELECT account_id, bucket, amount FROM moves ORDER BY account_id, bucket
        ON CONFLICT (account_id, bucket) DO UPDATE SET balance = a.balance + excluded.balance
        WHERE abs(a.balance + excluded.balance) <= most
        RETURNING a.account_id, a.bucket
    )
    SELECT account.code || ' ' || account.name AS account INTO refused
    FROM moves JOIN accounts AS account ON account.id = moves.account_id
    WHERE (moves.account_id, moves.bucket) NOT IN (SELECT account_id, bucket FROM bucket_moved)
    ORDER BY account.code
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'WL001', MESSAGE = 'wallet movement refused',
            DETAIL = json_build_object('refusal', 'account', 'account', refused.account)::text;
    END IF;

    RETURN QUERY SELECT * FROM unnest(written);
END
$$;
"""
