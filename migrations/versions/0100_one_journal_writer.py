"""one function of SQL writes the journal, the rules read from a table

Revision ID: 0100
Revises: 0099
Create Date: 2026-11-30 02:00:00.000000

- ``posting_rules``: the rule table in the database, a row a kind and sign of amount: whether it moves a wallet, the
  accounts it debits and credits (codes: an account may come later, as VAT payable with the first rate saved), the
  account whose line its VAT is split off and where the VAT goes, and what it adds
  to each of the customer's totals and its month's columns (1, -1 or 0 its signed amount). Written here from the
  application's rule table (``posting.rules``, which a test holds equal to it); the runtime role only reads it.
- ``journal_lines_v1(entries, lines)``: the lines of a batch of entries as JSON: the lines given; a rule's two lines
  for an entry of a kind and an amount (its VAT split off the taxed account's line); a draft's stored lines.
- ``journal_refusal_v1(entries, lines, today)``: the first thing the books refuse in the batch, with its figures, as
  JSON (none: null): a draft no longer a draft, no rule or a VAT a rule does not carry, a date after today, too few
  lines, a line's amount, side or account, debits unequal to credits, a manual line on a control account, an account
  the chart does not have.
- ``move_account_buckets_v1(moves)``: the accounts' buckets moved in (account, bucket) order, one statement; a balance
  its column could not hold refused (SQLSTATE ``JL001``, the accounts in the detail).
- ``post_journal_v1(entries, lines, buckets, today, moment, user)``: the only writer of ``journal_entries`` and
  ``journal_lines``: the batch refused with the first refusal (``JL001``) and nothing written, or its entries written
  with their lines (a draft's posted as saved) and the accounts' buckets moved by the posted ones. Returns each entry's
  place and id.
- ``post_wallet_movements_v3``: ``post_wallet_movements_v2`` reading its rules from ``posting_rules`` (a movement is
  its own fields, nothing of the rules given by the caller) and writing its entries through ``post_journal_v1``, called
  within its one statement before the ledger rows that name the entries.
  ``post_wallet_movements_v2`` and its types are dropped: a second writer of the journal nobody calls is one an
  attacker or a script can.

All of them are PL/pgSQL, so that each of their statements is planned once a connection, and run with the privileges
of the role that calls them; none is ``SECURITY DEFINER``.
"""

import importlib.util
from pathlib import Path

from alembic import op

# revision identifiers, used by Alembic.
revision = "0100"
down_revision = "0099"
branch_labels = None
depends_on = None

RULES = """
INSERT INTO posting_rules (
    kind, sign, wallet, debit_account, credit_account, taxed_account, vat_account,
    total_recharged, total_spent, total_deposits, total_purchases, meaning
) VALUES
    ('recharge', 1, true, '1000', '2000', NULL, NULL, 1, 0, 1, 0, 'money deposited'),
    ('charge', -1, true, '2000', '4000', NULL, NULL, 0, -1, 0, -1, 'gas sold'),
    ('adjustment', 1, true, '4000', '2000', NULL, NULL, 0, 0, 1, 0, 'balance corrected up'),
    ('adjustment', -1, true, '2000', '4000', NULL, NULL, 0, 0, 1, 0, 'balance corrected down'),
    ('reversal', 1, true, '4000', '2000', NULL, NULL, 0, -1, 0, -1, 'a charge undone'),
    ('reversal', -1, true, '2000', '1000', NULL, NULL, 1, 0, 1, 0, 'a deposit undone'),
    ('opening', 1, true, '3100', '2000', NULL, NULL, 0, 0, 1, 0, 'a balance brought in'),
    ('opening', -1, true, '2000', '3100', NULL, NULL, 0, 0, 1, 0, 'a debt brought in'),
    ('invoice', 1, false, '1100', '4000', '4000', '2300', 0, 0, 0, 0, 'postpaid gas invoiced'),
    ('invoice', -1, false, '4000', '1100', '4000', '2300', 0, 0, 0, 0, 'an invoice withdrawn or reduced'),
    ('payment', 1, false, '1000', '1100', NULL, NULL, 0, 0, 0, 0, 'a postpaid payment received'),
    ('payment', -1, false, '1100', '1000', NULL, NULL, 0, 0, 0, 0, 'a payment withdrawn or reduced'),
    ('settlement', 1, false, '3100', '1100', NULL, NULL, 0, 0, 0, 0, 'paid in the system before'),
    ('settlement', -1, false, '1100', '3100', NULL, NULL, 0, 0, 0, 0, 'a settlement withdrawn or reduced')
"""

TABLE = """
CREATE TABLE posting_rules (
    kind varchar(20) NOT NULL,
    sign smallint NOT NULL CONSTRAINT ck_posting_rules_sign CHECK (sign IN (-1, 1)),
    wallet boolean NOT NULL,
    debit_account varchar(20) NOT NULL,
    credit_account varchar(20) NOT NULL,
    taxed_account varchar(20),
    vat_account varchar(20),
    total_recharged smallint NOT NULL,
    total_spent smallint NOT NULL,
    total_deposits smallint NOT NULL,
    total_purchases smallint NOT NULL,
    meaning varchar(80) NOT NULL,
    CONSTRAINT pk_posting_rules PRIMARY KEY (kind, sign),
    CONSTRAINT ck_posting_rules_vat_split CHECK ((taxed_account IS NULL) = (vat_account IS NULL))
);
"""

ENTRY_FIELDS = (
    "place integer, id integer, entry_date date, description text, status text, source_type text, source_id integer, "
    "reverses_id integer, idempotency_key text, bucket_key integer, manual boolean, kind text, amount numeric, "
    "tax numeric, draft_id integer"
)
"""An entry of a batch as JSON gives it: its place (its lines name it); its id (null: taken from the sequence); what
the entry says; ``status`` ``posted`` or ``draft``; whose money it moves (``bucket_key``, a customer's id, null for the
company's own); ``manual`` (no line on a control account); ``kind``, ``amount`` and ``tax`` for an entry whose lines
its rule makes; ``draft_id`` for a draft posted as it was saved."""

FUNCTIONS = f"""
CREATE FUNCTION journal_lines_v1(p_entries jsonb, p_lines jsonb)
RETURNS TABLE (place integer, number bigint, account text, debit numeric, credit numeric, description text,
               stored boolean)
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH entry AS (SELECT * FROM jsonb_to_recordset(p_entries) AS e({ENTRY_FIELDS}))
    SELECT l.place, l.number, btrim(coalesce(l.account, '')), coalesce(l.debit, 0), coalesce(l.credit, 0),
           coalesce(l.description, ''), false
    FROM ROWS FROM (
             jsonb_to_recordset(p_lines) AS (place integer, account text, debit numeric, credit numeric,
                                             description text)
         ) WITH ORDINALITY AS l(place, account, debit, credit, description, number)
    WHERE l.place IN (SELECT e.place FROM entry AS e WHERE e.kind IS NULL AND e.draft_id IS NULL)
    UNION ALL
    SELECT e.place, side.number, side.account, side.debit, side.credit, '', false
    FROM entry AS e
    JOIN posting_rules AS r ON r.kind = e.kind AND r.sign = sign(e.amount)
    CROSS JOIN LATERAL (
        SELECT abs(e.amount) AS size, abs(coalesce(e.tax, 0)) AS tax
    ) AS amounts
    CROSS JOIN LATERAL (
        VALUES (1, r.debit_account,
                CASE WHEN r.debit_account = r.taxed_account THEN amounts.size - amounts.tax ELSE amounts.size END, 0),
               (2, r.vat_account, CASE WHEN r.debit_account = r.taxed_account THEN amounts.tax ELSE 0 END, 0),
               (3, r.credit_account, 0,
                CASE WHEN r.credit_account = r.taxed_account THEN amounts.size - amounts.tax ELSE amounts.size END),
               (4, r.vat_account, 0, CASE WHEN r.credit_account = r.taxed_account THEN amounts.tax ELSE 0 END)
    ) AS side(number, account, debit, credit)
    WHERE e.kind IS NOT NULL AND e.draft_id IS NULL AND (side.debit > 0 OR side.credit > 0)
    UNION ALL
    SELECT e.place, row_number() OVER (PARTITION BY e.place ORDER BY stored.id), account.code, stored.debit,
           stored.credit, stored.description, true
    FROM entry AS e
    JOIN journal_lines AS stored ON stored.entry_id = e.draft_id
    JOIN accounts AS account ON account.id = stored.account_id;
END
$$;

CREATE FUNCTION journal_refusal_v1(p_entries jsonb, p_lines jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
BEGIN
    RETURN (
    WITH entry AS (SELECT * FROM jsonb_to_recordset(p_entries) AS e({ENTRY_FIELDS})),
    line AS MATERIALIZED (
        SELECT l.*, row_number() OVER (PARTITION BY l.place ORDER BY l.stored, l.number) AS n
        FROM journal_lines_v1(p_entries, p_lines) AS l
    ),
    draft AS (
        SELECT e.place, e.draft_id, d.number, d.status, d.entry_date
        FROM entry AS e LEFT JOIN journal_entries AS d ON d.id = e.draft_id
        WHERE e.draft_id IS NOT NULL
    ),
    posted AS (
        SELECT e.place, coalesce(draft.entry_date, e.entry_date) AS entry_date,
               e.draft_id IS NOT NULL OR e.status = 'posted' AS posting, coalesce(e.manual, false) AS manual,
               e.kind IS NULL AND e.draft_id IS NULL AS typed
        FROM entry AS e LEFT JOIN draft ON draft.place = e.place
    ),
    refusal AS (
        SELECT d.place, 1 AS priority, 0::bigint AS n,
               jsonb_build_object('refusal', 'draft', 'id', d.draft_id, 'number', d.number, 'status', d.status)
               AS found
        FROM draft AS d WHERE d.status IS DISTINCT FROM 'draft'
        UNION ALL
        SELECT e.place, 2, 0, jsonb_build_object(
                   'refusal', 'rule', 'kind', e.kind, 'amount', e.amount, 'tax', coalesce(e.tax, 0))
        FROM entry AS e LEFT JOIN posting_rules AS r ON r.kind = e.kind AND r.sign = sign(e.amount)
        WHERE e.kind IS NOT NULL AND e.draft_id IS NULL AND (
            r.kind IS NULL OR (coalesce(e.tax, 0) <> 0 AND (
                r.taxed_account IS NULL OR abs(e.tax) > abs(e.amount) OR sign(e.tax) <> sign(e.amount))))
        UNION ALL
        SELECT p.place, 3, 0, jsonb_build_object('refusal', 'today', 'today', p_today)
        FROM posted AS p WHERE p.posting AND p.entry_date > p_today
        UNION ALL
        SELECT p.place, 4, 0, jsonb_build_object('refusal', 'lines', 'posting', p.posting)
        FROM posted AS p
        WHERE (SELECT count(*) FROM line AS l WHERE l.place = p.place) < CASE WHEN p.posting THEN 2 ELSE 1 END
        UNION ALL
        SELECT l.place, 5, l.n, CASE
                   WHEN NOT ok.debit THEN jsonb_build_object('refusal', 'amount', 'number', l.n, 'amount', l.debit::text)
                   WHEN NOT ok.credit THEN jsonb_build_object('refusal', 'amount', 'number', l.n,
                                                              'amount', l.credit::text)
                   WHEN (l.debit > 0) = (l.credit > 0) THEN jsonb_build_object('refusal', 'side', 'number', l.n)
                   ELSE jsonb_build_object('refusal', 'blank', 'number', l.n)
               END
        FROM line AS l JOIN posted AS p ON p.place = l.place
        CROSS JOIN LATERAL (
            SELECT bool_and(fits) FILTER (WHERE s.side = 1) AS debit, bool_and(fits) FILTER (WHERE s.side = 2) AS credit
            FROM (VALUES (1, l.debit), (2, l.credit)) AS s(side, amount)
            CROSS JOIN LATERAL (
                SELECT s.amount <> 'NaN' AND s.amount >= 0 AND s.amount <= 9999999999999.99
                       AND (NOT p.typed OR s.amount = round(s.amount, currency_places_v1())) AS fits
            ) AS checked
        ) AS ok
        WHERE NOT l.stored AND NOT (ok.debit AND ok.credit AND (l.debit > 0) <> (l.credit > 0) AND l.account <> '')
        UNION ALL
        SELECT p.place, 6, 0, jsonb_build_object('refusal', 'balanced', 'debits', sums.debits, 'credits', sums.credits)
        FROM posted AS p
        CROSS JOIN LATERAL (
            SELECT sum(l.debit) AS debits, sum(l.credit) AS credits FROM line AS l WHERE l.place = p.place
        ) AS sums
        WHERE p.posting AND sums.debits <> sums.credits
        UNION ALL
        SELECT l.place, 7, l.n, jsonb_build_object(
                   'refusal', 'control', 'number', l.n, 'account', a.code || ' ' || a.name,
                   'controlled_by', a.controlled_by)
        FROM line AS l JOIN posted AS p ON p.place = l.place JOIN accounts AS a ON a.code = l.account
        WHERE p.manual AND a.controlled_by IS NOT NULL
        UNION ALL
        SELECT l.place, 8, 0, jsonb_build_object(
                   'refusal', 'account', 'codes', string_agg(DISTINCT l.account, ', ' ORDER BY l.account))
        FROM line AS l WHERE NOT EXISTS (SELECT FROM accounts AS a WHERE a.code = l.account)
        GROUP BY l.place
    )
    SELECT r.found || jsonb_build_object('place', r.place) FROM refusal AS r ORDER BY r.place, r.priority, r.n LIMIT 1
    );
END
$$;

CREATE FUNCTION move_account_buckets_v1(p_moves jsonb) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    most CONSTANT numeric := 999999999999999999.99;
    refused text;
BEGIN
    -- One statement, its rows in (account, bucket) order: two postings never lock the same buckets in opposite
    -- orders. A bucket whose balance its column could not hold is not moved, and named.
    WITH moves AS (
        SELECT m.account_id, m.bucket, sum(m.amount) AS amount
        FROM jsonb_to_recordset(p_moves) AS m(account_id integer, bucket integer, amount numeric)
        GROUP BY 1, 2
    ), moved AS (
        INSERT INTO account_balance_buckets AS a (account_id, bucket, balance)
        SELECT account_id, bucket, amount FROM moves ORDER BY account_id, bucket
        ON CONFLICT (account_id, bucket) DO UPDATE SET balance = a.balance + excluded.balance
        WHERE abs(a.balance + excluded.balance) <= most
        RETURNING a.account_id, a.bucket
    )
    SELECT string_agg(DISTINCT account.code || ' ' || account.name, ', ') INTO refused
    FROM moves JOIN accounts AS account ON account.id = moves.account_id
    WHERE (moves.account_id, moves.bucket) NOT IN (SELECT account_id, bucket FROM moved);
    IF refused IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'JL001', MESSAGE = 'journal entry refused',
            DETAIL = json_build_object('refusal', 'bucket', 'accounts', refused)::text;
    END IF;
END
$$;

CREATE FUNCTION post_journal_v1(
    p_entries jsonb, p_lines jsonb, p_buckets integer, p_today date, p_moment timestamptz, p_user_id integer
) RETURNS TABLE (place integer, entry_id integer) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    entry_ids CONSTANT regclass := pg_get_serial_sequence('journal_entries', 'id');
    refusal jsonb;
    written jsonb;
    moves jsonb;
BEGIN
    -- 1. The drafts to post, locked in id order: of two admins posting or voiding one at once, the second waits, then
    --    finds it settled. Then the batch checked: the first refusal raised with its figures, nothing written.
    PERFORM 1 FROM journal_entries AS d
    WHERE d.id IN (SELECT (e ->> 'draft_id')::integer FROM jsonb_array_elements(p_entries) AS e)
    ORDER BY d.id FOR UPDATE;
    refusal := journal_refusal_v1(p_entries, p_lines, p_today);
    IF refusal IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'JL001', MESSAGE = 'journal entry refused', DETAIL = refusal::text;
    END IF;

    -- 2. The entries with their lines, in one statement (the books' guards see each posted entry with all its lines
    --    when it ends), ids taken in the order given; a draft posted as it was saved.
    WITH entry AS MATERIALIZED (
        SELECT e.*, coalesce(e.draft_id, e.id, nextval(entry_ids)::integer) AS entry_id
        FROM (
            SELECT * FROM jsonb_to_recordset(p_entries) AS e({ENTRY_FIELDS}) ORDER BY e.place
        ) AS e
    ), new_entries AS (
        INSERT INTO journal_entries (
            id, number, entry_date, description, status, posted_at, posted_by_id, source_type, source_id,
            reverses_id, idempotency_key, created_at
        )
        SELECT e.entry_id, 'JE-' || e.entry_id, e.entry_date, left(btrim(coalesce(e.description, '')), 300),
               e.status, CASE WHEN e.status = 'posted' THEN p_moment END,
               CASE WHEN e.status = 'posted' THEN p_user_id END, e.source_type, e.source_id, e.reverses_id,
               e.idempotency_key, p_moment
        FROM entry AS e WHERE e.draft_id IS NULL ORDER BY e.entry_id
    ), new_lines AS (
        INSERT INTO journal_lines (entry_id, account_id, debit, credit, description)
        SELECT e.entry_id, a.id, l.debit, l.credit, left(btrim(l.description), 300)
        FROM journal_lines_v1(p_entries, p_lines) AS l
        JOIN entry AS e ON e.place = l.place
        JOIN accounts AS a ON a.code = l.account
        WHERE NOT l.stored
        ORDER BY e.entry_id, l.number
        RETURNING journal_lines.entry_id, journal_lines.account_id, journal_lines.debit, journal_lines.credit
    ), drafts_posted AS (
        UPDATE journal_entries AS d SET status = 'posted', posted_at = p_moment, posted_by_id = p_user_id
        FROM entry AS e WHERE d.id = e.draft_id
    ), posted_lines AS (
        SELECT l.entry_id, l.account_id, l.debit, l.credit FROM new_lines AS l
        UNION ALL
        SELECT s.entry_id, s.account_id, s.debit, s.credit
        FROM journal_lines AS s JOIN entry AS e ON s.entry_id = e.draft_id
    )
    SELECT (
               SELECT jsonb_agg(jsonb_build_object('place', e.place, 'entry_id', e.entry_id) ORDER BY e.place)
               FROM entry AS e
           ),
           (
               SELECT jsonb_agg(jsonb_build_object(
                          'account_id', l.account_id, 'bucket', coalesce(e.bucket_key, 0) % p_buckets,
                          'amount', CASE WHEN a.type IN ('asset', 'expense') THEN l.debit - l.credit
                                         ELSE l.credit - l.debit END))
               FROM posted_lines AS l
               JOIN entry AS e ON e.entry_id = l.entry_id
               JOIN accounts AS a ON a.id = l.account_id
               WHERE e.draft_id IS NOT NULL OR e.status = 'posted'
           )
    INTO written, moves;

    -- 3. The accounts' buckets, last, moved by the posted entries' lines in each account's normal direction.
    PERFORM move_account_buckets_v1(coalesce(moves, '[]'));

    RETURN QUERY
    SELECT w.place, w.entry_id
    FROM jsonb_to_recordset(coalesce(written, '[]')) AS w(place integer, entry_id integer)
    ORDER BY w.place;
END
$$;
"""

WALLET_TYPE = """
CREATE TYPE wallet_movement_v3 AS (
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
    delivered numeric
);
"""

WALLET = """
CREATE FUNCTION post_wallet_movements_v3(
    p_batch wallet_movement_v3[],
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
    refusal text;
    written balance_transactions[];
    deferred integer[];
BEGIN
    -- 1. Every movement checked in the order given, its customer's row locked as it is met (a batch comes in the
    --    order of its customers' ids), over the customer's balance and totals after it, by its rule (``posting_rules``):
    --    a rule for its kind and sign that moves a wallet; dated no later than today; its customer there and open; gas
    --    delivered not charged while tampered evidence of the customer waits for a review; no overdraft unless
    --    allowed; the balance and each total within its column. The first that fails is said with its figures, and
    --    nothing is written. Else, in the same statement, each movement's journal entry posted by its rule's lines
    --    through the journal's one writer (``post_journal_v1``, which moves the accounts' buckets), its ledger row with
    --    its balance before and after, and each customer moved by its movements. The ids are taken in the order
    --    given, so that a customer's rows are in the order its balances chain.
    WITH chain AS MATERIALIZED (
        SELECT b.*, c.code, c.id IS NOT NULL AS known, c.closed_at IS NULL AS open, r.kind IS NOT NULL AS ruled,
               b.signed_amount * coalesce(r.total_recharged, 0) AS total_recharged,
               b.signed_amount * coalesce(r.total_spent, 0) AS total_spent,
               NOT b.automatic OR NOT EXISTS (
                   SELECT 1 FROM tampered_evidence AS t WHERE t.customer_id = b.customer_id AND t.resolution IS NULL
               ) AS trusted,
               round(c.balance + sum(b.signed_amount) OVER w, 2) AS balance_after,
               round(c.total_recharged + sum(b.signed_amount * coalesce(r.total_recharged, 0)) OVER w, 2)
                   AS recharged_after,
               round(c.total_spent + sum(b.signed_amount * coalesce(r.total_spent, 0)) OVER w, 2) AS spent_after
        FROM unnest(p_batch) AS b
        LEFT JOIN posting_rules AS r ON r.kind = b.kind AND r.sign = sign(b.signed_amount) AND r.wallet
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
    ), journal AS MATERIALIZED (
        SELECT posted.entry_id
        FROM post_journal_v1(
            (
                SELECT jsonb_agg(jsonb_build_object(
                           'place', t.place, 'id', t.entry_id, 'entry_date', t.value_date, 'status', 'posted',
                           'source_type', 'balance_transaction', 'source_id', t.row_id, 'bucket_key', t.customer_id,
                           'kind', t.kind, 'amount', t.signed_amount) ORDER BY t.place)
                FROM taken AS t
            ),
            '[]', p_buckets, p_today, p_moment, p_user_id
        ) AS posted
        WHERE EXISTS (SELECT FROM taken)
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
        SELECT t.row_id, t.customer_id, t.kind, abs(t.signed_amount), t.signed_amount,
               round(t.balance_after - t.signed_amount, 2), t.balance_after, t.value_date, t.reference_type,
               t.reference_id, t.description, t.reason, t.occasion, t.reverses_id, t.idempotency_key, t.entry_id,
               p_moment, p_user_id
        FROM taken AS t JOIN journal AS j ON j.entry_id = t.entry_id
        ORDER BY t.row_id
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

    -- 2. The months, when the caller does not recalculate them: each shifted once by what its movements add (by their
    --    rules); for a customer not kept in real time, a recalculation request a movement.
    IF p_months AND written IS NOT NULL THEN
        IF deferred IS NOT NULL THEN
            INSERT INTO recalculation_requests (
                customer_id, from_date, reason, description, requested_at, requested_by_id
            )
            SELECT w.customer_id, w.value_date, 'deferred', w.kind || ' #' || w.id, p_moment, p_user_id
            FROM unnest(written) WITH ORDINALITY AS w JOIN unnest(p_batch) AS b ON b.place = w.ordinality
            JOIN posting_rules AS r ON r.kind = w.kind AND r.sign = sign(w.signed_amount)
            WHERE w.customer_id = ANY (deferred)
              AND (r.total_deposits <> 0 OR r.total_purchases <> 0 OR b.delivered <> 0)
            ORDER BY w.id;
        END IF;
        PERFORM shift_customer_month_v1(
            shifted.customer_id, shifted.year_month, shifted.deposits, shifted.purchases, shifted.delivered,
            json_build_object('balance_transaction_id', shifted.last_id), p_moment
        )
        FROM (
            SELECT w.customer_id, to_char(w.value_date, 'YYYY-MM') AS year_month,
                   sum(w.signed_amount * r.total_deposits) AS deposits,
                   sum(w.signed_amount * r.total_purchases) AS purchases, sum(b.delivered) AS delivered,
                   max(w.id) AS last_id
            FROM unnest(written) WITH ORDINALITY AS w JOIN unnest(p_batch) AS b ON b.place = w.ordinality
            JOIN posting_rules AS r ON r.kind = w.kind AND r.sign = sign(w.signed_amount)
            WHERE NOT (w.customer_id = ANY (coalesce(deferred, '{}')))
            GROUP BY 1, 2
            HAVING sum(w.signed_amount * r.total_deposits) <> 0 OR sum(w.signed_amount * r.total_purchases) <> 0
                OR sum(b.delivered) <> 0
            ORDER BY 1, 2
        ) AS shifted;
    END IF;

    RETURN QUERY SELECT * FROM unnest(written);
END
$$;
"""

DROPPED = (
    "DROP FUNCTION post_wallet_movements_v2(wallet_movement_v2[], integer, date, timestamptz, integer, boolean);"
    "DROP TYPE wallet_movement_v2; DROP TYPE wallet_rule_v2;"
)


def upgrade():
    op.execute(TABLE)
    op.execute(RULES)
    op.execute(FUNCTIONS)
    op.execute(WALLET_TYPE)
    op.execute(WALLET)
    op.execute(DROPPED)


def downgrade():
    path = Path(__file__).with_name("0074_wallet_movements_posted_as_a_batch.py")
    spec = importlib.util.spec_from_file_location("wallet_movements_0074", path)
    made = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(made)
    op.execute(made.TYPES)
    op.execute(made.POST)
    op.execute(
        "DROP FUNCTION post_wallet_movements_v3(wallet_movement_v3[], integer, date, timestamptz, integer, boolean);"
        "DROP TYPE wallet_movement_v3;"
        "DROP FUNCTION post_journal_v1(jsonb, jsonb, integer, date, timestamptz, integer);"
        "DROP FUNCTION move_account_buckets_v1(jsonb);"
        "DROP FUNCTION journal_refusal_v1(jsonb, jsonb, date);"
        "DROP FUNCTION journal_lines_v1(jsonb, jsonb);"
        "DROP TABLE posting_rules;"
    )
