"""what only the application makes: a job's row sealed at its creation, a decision on tampered evidence written
through the owner's function, a history transaction's id taken from its sequence

Revision ID: 0048
Revises: 0047
Create Date: 2026-11-25 22:00:00.000000

- ``jobs.seal``: an HMAC under the seal key over what the job was made for (its id, kind, arguments and who asked),
  made by the application as it creates the row. The runtime role can insert a job's row, and move it through
  ``move_job`` to finished: a row for tomorrow's nightly so made held that night off. A row without a valid seal
  holds nothing: the scheduler ignores it, says so in its log, and takes the next attempt's id.
- ``decide_tampered_evidence``: the one way a finding of tampered evidence is decided, owned by the owner
  (``SECURITY DEFINER``): once, from open, by an active admin, with a reason, stamped by the database's clock. The
  runtime role no longer updates ``tampered_evidence`` itself (``backoffice db grant-runtime``), so it cannot close a
  finding with any ``reviewed_seal`` it likes; a decision it makes through the function carries no seal, and is
  found as such.
- ``history_transactions.id`` is always its sequence's next value, whatever an ``INSERT`` says: a row inserted with
  the id the application would take next no longer makes the application's next change fail.
- ``payment_allocations``: an allocation whose payment or invoice is not of its meter is refused (the application never
  writes one; one written by SQL made the next payment on the meter fail).
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0048"
down_revision = "0047"
branch_labels = None
depends_on = None

REFUSED = "an allocation pays an invoice of its meter with a payment of its meter: this one is refused"

GUARDS = f"""
CREATE FUNCTION decide_tampered_evidence(finding bigint, decision text, why text, reviewed text, decided_by bigint)
RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    IF decision NOT IN ('reversed', 'accepted') THEN
        RAISE EXCEPTION 'a finding of tampered evidence is reversed or accepted, not %', decision
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM users WHERE id = decided_by AND role = 'admin' AND active) THEN
        RAISE EXCEPTION 'only an active admin decides on tampered evidence' USING ERRCODE = 'insufficient_privilege';
    END IF;
    UPDATE tampered_evidence SET resolution = decision, reason = why, reviewed_seal = reviewed,
        resolved_by_id = decided_by, resolved_at = clock_timestamp()
    WHERE id = finding AND resolution IS NULL;
    RETURN FOUND;
END
$$;
REVOKE EXECUTE ON FUNCTION decide_tampered_evidence(bigint, text, text, text, bigint) FROM PUBLIC;

CREATE FUNCTION history_transactions_numbered() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.id := nextval(pg_get_serial_sequence('history_transactions', 'id'));
    RETURN NEW;
END
$$;
ALTER TABLE history_transactions ALTER COLUMN id DROP DEFAULT;
CREATE TRIGGER history_transactions_numbered BEFORE INSERT ON history_transactions
    FOR EACH ROW EXECUTE FUNCTION history_transactions_numbered();

CREATE FUNCTION payment_allocations_of_the_meter() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM payments WHERE id = NEW.payment_id AND meter_id = NEW.meter_id)
        OR NOT EXISTS (SELECT 1 FROM invoices WHERE id = NEW.invoice_id AND meter_id = NEW.meter_id) THEN
        RAISE EXCEPTION '{REFUSED}' USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER payment_allocations_of_the_meter BEFORE INSERT ON payment_allocations
    FOR EACH ROW EXECUTE FUNCTION payment_allocations_of_the_meter();
"""


def upgrade():
    op.add_column("jobs", sa.Column("seal", sa.String(64), nullable=True))
    op.execute(GUARDS)


def downgrade():
    op.execute("DROP TRIGGER payment_allocations_of_the_meter ON payment_allocations")
    op.execute("DROP FUNCTION payment_allocations_of_the_meter()")
    op.execute("DROP TRIGGER history_transactions_numbered ON history_transactions")
    op.execute("DROP FUNCTION history_transactions_numbered()")
    op.execute(
        "ALTER TABLE history_transactions ALTER COLUMN id"
        " SET DEFAULT nextval(pg_get_serial_sequence('history_transactions', 'id'))"
    )
    op.execute("DROP FUNCTION decide_tampered_evidence(bigint, text, text, text, bigint)")
    op.drop_column("jobs", "seal")
