"""a wallet movement posted by a function of SQL, and a month shifted by one

Revision ID: 0054
Revises: 0053
Create Date: 2026-11-26 07:00:00.000000

- ``customer_status_v1``: a customer's status as its balance makes it, suspended while the balance is below its
  threshold, else active: the one definition that the posting, a threshold's change and the ``customer_status``
  check use (``formulas.status_sql`` calls it; PostgreSQL inlines it in a query).
- ``shift_customer_month_v1``: what one event adds to a customer's month (deposits, purchases, gas delivered), the
  month created at the previous month's closing when it has no row, every later month's opening and closing
  carrying its net, and a month left with nothing in it deleted. A wallet movement's month and a reading's
  calculation coming or going shift their month with it.
- ``post_wallet_movement_v1``: one wallet movement, as the application posts it: the customer's row locked and
  moved on the conditions it must meet after it; its journal entry posted with its two lines and its ledger row, in
  one statement (the books' guards run when it ends); its month shifted, or, for a customer not kept in real time, a
  recalculation request; the accounts' buckets. What the movement adds to each total and month column, its accounts
  and its buckets are the caller's, by the rule table; so is the gas delivered its month counts with it, when a
  reading's calculation comes or goes with its charge (the month is written once). A refused movement writes nothing
  and returns no row.

All three run with the privileges of the role that calls them (the runtime role's): none is ``SECURITY DEFINER``.
A change of what they do is a new function of the next version, beside this one until nothing calls it.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0054"
down_revision = "0053"
branch_labels = None
depends_on = None


def upgrade():
    op.execute(CUSTOMER_STATUS)
    op.execute(SHIFT_CUSTOMER_MONTH)
    op.execute(POST_WALLET_MOVEMENT)


def downgrade():
    op.execute(
        "DROP FUNCTION post_wallet_movement_v1(integer, text, numeric, date, text, integer, text, text, text, integer,"
        " text, boolean, boolean, timestamptz, integer, numeric, numeric, numeric, numeric, numeric, integer, integer,"
        " integer, integer, numeric, integer, numeric)"
    )
    op.execute("DROP FUNCTION shift_customer_month_v1(integer, text, numeric, numeric, numeric, json, timestamptz)")
    op.execute("DROP FUNCTION customer_status_v1(numeric, numeric)")


CUSTOMER_STATUS = """
CREATE FUNCTION customer_status_v1(balance numeric, suspend_below numeric) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN balance < suspend_below THEN 'suspended' ELSE 'active' END
$$;
"""


SHIFT_CUSTOMER_MONTH = """
CREATE FUNCTION shift_customer_month_v1(
    p_customer_id integer,
    p_year_month text,
    p_deposits numeric,
    p_purchases numeric,
    p_volume_sm3 numeric,
    p_details json,
    p_moment timestamptz
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    net numeric := p_deposits - p_purchases;
    emptied boolean;
BEGIN
    INSERT INTO monthly_customer_balances AS m (
        customer_id, year_month, opening_balance, total_deposits, total_purchases, total_volume_sm3,
        closing_balance, calculation_details, last_calculated_at
    )
    SELECT p_customer_id, p_year_month, previous.closing, p_deposits, p_purchases, p_volume_sm3,
           round(previous.closing + net, 2), p_details, p_moment
    FROM (
        SELECT coalesce((
            SELECT closing_balance FROM monthly_customer_balances
            WHERE customer_id = p_customer_id AND year_month < p_year_month
            ORDER BY year_month DESC LIMIT 1
        ), 0) AS closing
    ) AS previous
    ON CONFLICT (customer_id, year_month) DO UPDATE SET
        total_deposits = round(m.total_deposits + excluded.total_deposits, 2),
        total_purchases = round(m.total_purchases + excluded.total_purchases, 2),
        total_volume_sm3 = round(m.total_volume_sm3 + excluded.total_volume_sm3, 4),
        closing_balance = round(m.closing_balance + net, 2),
        calculation_details = excluded.calculation_details,
        last_calculated_at = excluded.last_calculated_at
    RETURNING m.total_deposits = 0 AND m.total_purchases = 0 AND m.total_volume_sm3 = 0 INTO emptied;

    IF emptied THEN
        DELETE FROM monthly_customer_balances WHERE customer_id = p_customer_id AND year_month = p_year_month;
    END IF;

    IF net <> 0 THEN
        UPDATE monthly_customer_balances
        SET opening_balance = round(opening_balance + net, 2), closing_balance = round(closing_balance + net, 2)
        WHERE customer_id = p_customer_id AND year_month > p_year_month;
    END IF;
END
$$;
"""

POST_WALLET_MOVEMENT = """
CREATE FUNCTION post_wallet_movement_v1(
    -- the movement
    p_customer_id integer,
    p_kind text,
    p_signed_amount numeric,
    p_value_date date,
    p_reference_type text,
    p_reference_id integer,
    p_description text,
    p_reason text,
    p_occasion text,
    p_reverses_id integer,
    p_idempotency_key text,
    p_allow_overdraft boolean,
    p_automatic boolean,
    -- the posting: when, by whom
    p_moment timestamptz,
    p_user_id integer,
    -- what it adds, by its rule, to the customer's totals and to its month's columns
    p_total_recharged numeric,
    p_total_spent numeric,
    p_total_deposits numeric,
    p_total_purchases numeric,
    -- the gas delivered its month counts with it (a reading's calculation coming or going with its charge)
    p_total_volume_sm3 numeric,
    -- the accounts its rule debits and credits, and what it moves in their buckets, in (account, bucket) order
    p_debit_account integer,
    p_credit_account integer,
    p_bucket integer,
    p_first_account integer,
    p_first_by numeric,
    p_second_account integer,
    p_second_by numeric
) RETURNS TABLE (posted balance_transactions, buckets_moved integer) LANGUAGE plpgsql AS $$
DECLARE
    most CONSTANT numeric := 999999999999999999.99;
    balance_after numeric;
    realtime boolean;
    row_id integer;
    entry_id integer;
    written balance_transactions;
BEGIN
    -- 1. The customer's row, locked and moved, on the conditions it meets after the movement: open; gas delivered
    --    not charged while tampered evidence of the customer waits for a review; no overdraft unless allowed; the
    --    balance and each total within its column. A row that refuses the movement is not moved: nothing is written.
    UPDATE customers AS c SET
        balance = round(c.balance + p_signed_amount, 2),
        total_recharged = round(c.total_recharged + p_total_recharged, 2),
        total_spent = round(c.total_spent + p_total_spent, 2),
        balance_last_updated_at = p_moment,
        status = customer_status_v1(round(c.balance + p_signed_amount, 2), c.suspend_below)
    WHERE c.id = p_customer_id
      AND c.closed_at IS NULL
      AND (NOT p_automatic OR NOT EXISTS (
          SELECT 1 FROM tampered_evidence AS t WHERE t.customer_id = c.id AND t.resolution IS NULL))
      AND (p_allow_overdraft OR p_signed_amount >= 0 OR round(c.balance + p_signed_amount, 2) >= 0)
      AND abs(round(c.balance + p_signed_amount, 2)) <= most
      AND abs(round(c.total_recharged + p_total_recharged, 2)) <= most
      AND abs(round(c.total_spent + p_total_spent, 2)) <= most
    RETURNING c.balance, c.use_realtime_calculation INTO balance_after, realtime;
    IF NOT FOUND THEN
        RETURN;
    END IF;

    -- 2. Its journal entry, posted with its two lines (the debit first), and its ledger row: one statement, at whose
    --    end the books' guards find the entry posted with all its lines.
    row_id := nextval(pg_get_serial_sequence('balance_transactions', 'id'));
    entry_id := nextval(pg_get_serial_sequence('journal_entries', 'id'));
    WITH entry AS (
        INSERT INTO journal_entries (
            id, number, entry_date, description, status, posted_at, posted_by_id, source_type, source_id, created_at
        )
        VALUES (
            entry_id, 'JE-' || entry_id, p_value_date, '', 'posted', p_moment, p_user_id, 'balance_transaction',
            row_id, p_moment
        )
    ), entry_lines AS (
        INSERT INTO journal_lines (entry_id, account_id, debit, credit, description)
        VALUES (entry_id, p_debit_account, abs(p_signed_amount), 0, ''),
               (entry_id, p_credit_account, 0, abs(p_signed_amount), '')
    )
    INSERT INTO balance_transactions (
        id, customer_id, kind, amount, signed_amount, balance_before, balance_after, value_date, reference_type,
        reference_id, description, reason, occasion, reverses_id, idempotency_key, entry_id, created_at, created_by_id
    )
    VALUES (
        row_id, p_customer_id, p_kind, abs(p_signed_amount), p_signed_amount,
        round(balance_after - p_signed_amount, 2), balance_after, p_value_date, p_reference_type, p_reference_id,
        p_description, p_reason, p_occasion, p_reverses_id, p_idempotency_key, entry_id, p_moment, p_user_id
    )
    RETURNING * INTO written;

    -- 3. Its month, shifted once by what it adds; or, for a customer not kept in real time, a recalculation request.
    IF p_total_deposits <> 0 OR p_total_purchases <> 0 OR p_total_volume_sm3 <> 0 THEN
        IF realtime THEN
            PERFORM shift_customer_month_v1(
                p_customer_id, to_char(p_value_date, 'YYYY-MM'), p_total_deposits, p_total_purchases,
                p_total_volume_sm3, json_build_object('balance_transaction_id', row_id), p_moment
            );
        ELSE
            INSERT INTO recalculation_requests (
                customer_id, from_date, reason, description, requested_at, requested_by_id
            )
            VALUES (p_customer_id, p_value_date, 'deferred', p_kind || ' #' || row_id, p_moment, p_user_id);
        END IF;
    END IF;

    -- 4. The accounts' buckets, last, in (account, bucket) order: a bucket whose balance its column could not hold
    --    is not moved, and the caller, finding fewer than two moved, refuses the movement.
    WITH moved AS (
        INSERT INTO account_balance_buckets AS b (account_id, bucket, balance)
        VALUES (p_first_account, p_bucket, p_first_by), (p_second_account, p_bucket, p_second_by)
        ON CONFLICT (account_id, bucket) DO UPDATE SET balance = b.balance + excluded.balance
        WHERE abs(b.balance + excluded.balance) <= most
        RETURNING b.account_id
    )
    SELECT count(*) INTO buckets_moved FROM moved;

    posted := written;
    RETURN NEXT;
END
$$;
"""
