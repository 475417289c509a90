"""a job's status and a run's end move only by their real transitions, through the owner's functions

Revision ID: 0041
Revises: 0040
Create Date: 2026-11-24 20:30:00.000000

Whoever could write ``jobs.status`` could mark tomorrow's nightly finished, so that neither the scheduler nor the
hourly catch-up ran it; whoever could write a run's status could end it "succeeded" with every check clean. So:

- a job is inserted ``queued`` only, and its status moves only by the transitions a job makes: queued → started
  or abandoned; started → finished, failed, abandoned, or queued again (a scheduled job waiting for a run ahead of
  it); failed → started (RQ's retry of a job the database failed). Finished and abandoned are final.
- a reconciliation run is inserted ``running`` only (it ended once, and then nothing changes it: migration 0011).

By triggers; and the runtime role may not ``UPDATE`` a job's ``status``, ``started_at``
or ``ended_at``, nor a run's ``status``, ``error`` or ``finished_at`` (``backoffice db grant-runtime``): it moves
them through ``move_job`` and ``end_reconciliation_run``, owned by the owner (``SECURITY DEFINER``), which move one
row by its id, from the states the caller names. A run's end is stamped by the database's clock; a job's moves by
the job's (its durations are the worker's to measure), which nothing trusts: a nightly's success is its sealed
run's.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0041"
down_revision = "0040"
branch_labels = None
depends_on = None

JOB_MOVES = (
    "queued>started",
    "queued>abandoned",
    "started>queued",
    "started>finished",
    "started>failed",
    "started>abandoned",
    "failed>started",
)
"""Each transition of a job's status, ``from>to``."""

_MOVES = ", ".join(f"'{move}'" for move in JOB_MOVES)
_REFUSED_MOVE = "a job''s status moves only by its transitions: this change is refused"
_REFUSED_JOB = "a job is inserted queued: a job inserted in another state is refused"
_REFUSED_RUN = "a reconciliation run is inserted running: a run inserted ended is refused"

GUARDS = f"""
CREATE FUNCTION jobs_status_moves() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' AND NEW.status <> 'queued' THEN
        RAISE EXCEPTION '{_REFUSED_JOB}' USING ERRCODE = 'restrict_violation';
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.status <> OLD.status AND OLD.status || '>' || NEW.status NOT IN ({_MOVES}) THEN
        RAISE EXCEPTION '{_REFUSED_MOVE}' USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER jobs_status_moves BEFORE INSERT OR UPDATE ON jobs
    FOR EACH ROW EXECUTE FUNCTION jobs_status_moves();

CREATE FUNCTION reconciliation_runs_inserted_running() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status <> 'running' THEN
        RAISE EXCEPTION '{_REFUSED_RUN}' USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER reconciliation_runs_inserted_running BEFORE INSERT ON reconciliation_runs
    FOR EACH ROW EXECUTE FUNCTION reconciliation_runs_inserted_running();

CREATE FUNCTION move_job(job_id text, from_states text[], to_state text, moved timestamptz)
RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    UPDATE jobs SET
        status = to_state,
        started_at = CASE WHEN to_state = 'started' THEN moved ELSE started_at END,
        ended_at = CASE WHEN to_state IN ('finished', 'failed', 'abandoned') THEN moved END
    WHERE id = job_id AND status = ANY (from_states);
    RETURN FOUND;
END
$$;
REVOKE EXECUTE ON FUNCTION move_job(text, text[], text, timestamptz) FROM PUBLIC;

CREATE FUNCTION end_reconciliation_run(run_id bigint, to_state text, failure text) RETURNS timestamptz
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    moved timestamptz := clock_timestamp();
BEGIN
    IF to_state NOT IN ('succeeded', 'failed') THEN
        RAISE EXCEPTION 'a reconciliation run ends succeeded or failed, not %', to_state
            USING ERRCODE = 'restrict_violation';
    END IF;
    UPDATE reconciliation_runs SET status = to_state, error = failure, finished_at = moved
    WHERE id = run_id AND status = 'running';
    RETURN CASE WHEN FOUND THEN moved END;
END
$$;
REVOKE EXECUTE ON FUNCTION end_reconciliation_run(bigint, text, text) FROM PUBLIC;
"""


def upgrade():
    op.execute(GUARDS)


def downgrade():
    op.execute("DROP FUNCTION end_reconciliation_run(bigint, text, text)")
    op.execute("DROP FUNCTION move_job(text, text[], text, timestamptz)")
    op.execute("DROP TRIGGER reconciliation_runs_inserted_running ON reconciliation_runs")
    op.execute("DROP FUNCTION reconciliation_runs_inserted_running()")
    op.execute("DROP TRIGGER jobs_status_moves ON jobs")
    op.execute("DROP FUNCTION jobs_status_moves()")
