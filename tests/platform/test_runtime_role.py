"""The runtime role: ``backoffice db grant-runtime ROLE`` grants what the running application needs and nothing more.

Each test process makes a login role of its own (named after the database it claimed), grants it with the command
as the owner, and connects as it (trust on 127.0.0.1, no password): the role cannot pass a guard or rewrite the
evidence, and the application's writing flows all work under it.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice import jobs
from backoffice.models import (
    ApprovalStatus,
    BalanceTransaction,
    Customer,
    EntryStatus,
    JobRecord,
    JobStatus,
    JournalLine,
    Order,
    ReconciliationRun,
    RunMode,
    RunStatus,
    TamperedEvidence,
    User,
)
from backoffice.models.types import utcnow
from backoffice.operations import health
from backoffice.platform.databases import analyze_due
from backoffice.platform.extensions import db
from backoffice.platform.runtime_role import (
    CHANGED_AFTER_INSERT,
    MOVED_BY_FUNCTION,
    READ_ONLY_TABLES,
    RoleRefused,
    append_only_tables,
    grant_runtime,
)
from backoffice.posting.movement import Movement
from backoffice.posting.post import post
from backoffice.posting.rules import Kind
from backoffice.reconcile import evidence_review
from backoffice.reconcile.engine import run as engine_run
from backoffice.reconcile.transitions import end_run, move_job
from backoffice.services import (
    api_clients,
    approvals,
    books,
    installation,
    issuer,
    meter_invoices,
    meter_lifecycle,
    metering,
    periods,
    transaction,
    wallet,
)
from backoffice.services.customers import Details, create_customer
from backoffice.services.orders import save_order
from backoffice.services.periods import GUARDED
from tests.factories import MeterFactory, OrderFactory, UserFactory, forge_in_the_chain, imported, job_in
from tests.roles import drop_role, grant, runtime_app

D = Decimal
INSUFFICIENT_PRIVILEGE = "42501"


def _privileges(role: str) -> dict:
    rows = db.session.execute(
        sa.text(
            "SELECT c.relname, p.privilege, has_table_privilege(:role, c.oid, p.privilege) FROM pg_class c"
            " CROSS JOIN unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'])"
            " AS p(privilege) WHERE c.relkind = 'r' AND c.relnamespace = current_schema()::regnamespace"
        ),
        {"role": role},
    )
    return {(table, privilege): held for table, privilege, held in rows}


def test_the_grant_is_read_from_the_catalogue_and_running_it_again_changes_nothing(app, role):
    first = grant(app, role)
    assert first.exit_code == 0, first.output
    assert f"Granted {role} the runtime privileges" in first.output
    assert "UPDATE (status, posted_at, posted_by_id, source_id, description) on journal_entries" in first.output
    assert "lock_period_actions(), lock_period_writers()" in first.output
    assert "move_job(" in first.output and "end_reconciliation_run(" in first.output
    assert "SELECT, INSERT, DELETE, UPDATE (" in first.output and ") on jobs" in first.output
    held = _privileges(role)
    second = grant(app, role)
    assert (second.exit_code, second.output) == (0, first.output)
    assert _privileges(role) == held

    append_only = set(append_only_tables(db.session.connection()))
    assert {"balance_transactions", "journal_lines", "period_actions", "customers_history"} <= append_only
    tables = {table for table, _privilege in held}
    assert held["posting_rules", "SELECT"] and not held["posting_rules", "INSERT"]  # the rules are the owner's
    for table in tables - {*READ_ONLY_TABLES, *MOVED_BY_FUNCTION}:
        assert held[table, "SELECT"] and held[table, "INSERT"], table
        assert held[table, "UPDATE"] is held[table, "DELETE"] is (table not in append_only), table
    assert not any(held[table, p] for table in tables for p in ("TRUNCATE", "REFERENCES", "TRIGGER"))
    assert [p for p in ("SELECT", "INSERT", "UPDATE", "DELETE") if held["alembic_version", p]] == ["SELECT"]
    columns = db.session.execute(
        sa.text(
            "SELECT table_name, column_name FROM information_schema.column_privileges"
            " WHERE grantee = :role AND privilege_type = 'UPDATE' AND table_name = ANY(:tables)"
        ),
        {"role": role, "tables": sorted(append_only)},
    ).all()
    assert sorted(columns) == sorted((table, column) for table, cs in CHANGED_AFTER_INSERT.items() for column in cs)
    for table, withheld in MOVED_BY_FUNCTION.items():
        assert held[table, "SELECT"] and held[table, "INSERT"] and held[table, "DELETE"], table
        updated = db.session.scalars(
            sa.text(
                "SELECT column_name FROM information_schema.column_privileges"
                " WHERE grantee = :role AND privilege_type = 'UPDATE' AND table_name = :table"
            ),
            {"role": role, "table": table},
        ).all()
        assert updated and not set(withheld) & set(updated), table
    assert (
        db.session.scalar(
            sa.text("SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles WHERE rolname = :role)"),
            {"role": role},
        )
        == 0
    )

    # A grant made by hand (or by an earlier version) beyond what the application needs goes on the next run.
    db.session.execute(sa.text(f'GRANT UPDATE, DELETE, TRUNCATE ON balance_transactions TO "{role}"'))
    db.session.commit()
    assert grant(app, role).exit_code == 0
    assert _privileges(role) == held


def test_the_runtime_role_seals_and_decides_findings_only_by_the_owner_s_function(app, role):
    with db.engine.connect() as connection, connection.begin() as outer:
        grant = grant_runtime(connection, role)
        assert grant.append_only["seals"] == []
        assert grant.append_only["tampered_evidence"] == []
        assert any(function.startswith("decide_tampered_evidence(finding bigint") for function in grant.functions)
        can = connection.execute(
            sa.text(
                "SELECT has_table_privilege(:role, 'seals', 'INSERT'), has_table_privilege(:role, 'seals', 'UPDATE'),"
                " has_table_privilege(:role, 'seals', 'DELETE'),"
                " has_column_privilege(:role, 'tampered_evidence', 'resolution', 'UPDATE'),"
                " has_column_privilege(:role, 'tampered_evidence', 'what', 'UPDATE'),"
                " has_table_privilege(:role, 'tampered_evidence', 'DELETE')"
            ),
            {"role": role},
        ).one()
        assert tuple(can) == (True, False, False, False, False, False)
        outer.rollback()


@pytest.mark.production_path("the runtime role")
def test_the_runtime_role_cannot_close_a_finding_and_the_function_needs_an_admin(app, runtime_url):
    clerk, admin = UserFactory(role="finance"), UserFactory(role="admin")
    finding = TamperedEvidence(kind="balance_transactions", row_id=7, version=0, what="forged", found_at=utcnow())
    db.session.add(finding)
    db.session.commit()
    engine = sa.create_engine(runtime_url)
    decide = "SELECT decide_tampered_evidence(:id, 'accepted', 'fine', 'gone', :by)"
    try:
        with engine.connect() as connection, pytest.raises(sa.exc.DBAPIError) as refused:
            connection.execute(
                sa.text("UPDATE tampered_evidence SET resolution = 'accepted', reviewed_seal = 'gone', reason = 'x'")
            )
        assert refused.value.orig.sqlstate == INSUFFICIENT_PRIVILEGE
        with engine.connect() as connection, pytest.raises(sa.exc.DBAPIError, match="only an active admin"):
            connection.execute(sa.text(decide), {"id": finding.id, "by": clerk.id})
        with engine.begin() as connection:
            assert connection.execute(sa.text(decide), {"id": finding.id, "by": admin.id}).scalar() is True
            assert connection.execute(sa.text(decide), {"id": finding.id, "by": admin.id}).scalar() is False
    finally:
        engine.dispose()
    db.session.rollback()
    # Decided past the application: the decision carries no seal, and decides nothing.
    assert evidence_review.unsealed_decisions() == [finding.id]
    said = health.assess().reasons
    assert f"Tampered evidence: the decision on finding(s) {finding.id} carries no valid seal" in " ".join(said)


def test_a_role_missing_or_able_to_pass_the_guards_is_refused_and_granted_nothing(app, role):
    missing = grant(app, "no_such_role")
    assert missing.exit_code != 0
    assert 'The role "no_such_role" does not exist' in missing.output and "Nothing was granted." in missing.output

    superuser = grant(app, db.session.scalar(sa.text("SELECT current_user")))
    assert superuser.exit_code != 0 and "is a superuser" in superuser.output

    for making, refusal in [
        (f'ALTER TABLE targets OWNER TO "{role}"', "owns the table targets"),
        (f'GRANT CREATE ON SCHEMA public TO "{role}"', "may create tables in the schema"),
    ]:
        with db.engine.connect() as connection, connection.begin() as outer:
            connection.exec_driver_sql(making)
            with pytest.raises(RoleRefused, match=refusal):
                grant_runtime(connection, role)
            outer.rollback()
    assert not any(_privileges(role).values())


@pytest.mark.parametrize("power", ["CREATEROLE", "CREATEDB", "BYPASSRLS", "REPLICATION"])
def test_a_role_with_power_over_roles_databases_rows_or_replication_is_refused(app, role, power):
    with db.engine.begin() as connection:
        connection.exec_driver_sql(f'ALTER ROLE "{role}" {power}')
    refused = grant(app, role)
    assert refused.exit_code != 0
    assert f'"{role}" has {power}: the runtime role must be an ordinary role' in refused.output
    assert "Nothing was granted." in refused.output
    assert not any(_privileges(role).values())

    with db.engine.begin() as connection:
        connection.exec_driver_sql(f'ALTER ROLE "{role}" NO{power}')
    assert grant(app, role).exit_code == 0


def test_any_member_of_the_owner_or_a_powerful_role_is_refused_and_granted_nothing(app, role):
    owner, middle = f"{role}_owner", f"{role}_middle"
    for made in (owner, middle):
        drop_role(made)
    try:
        with db.engine.begin() as connection:
            connection.exec_driver_sql(f'CREATE ROLE "{owner}" NOLOGIN')
            connection.exec_driver_sql(f'CREATE ROLE "{middle}" NOLOGIN')
            connection.exec_driver_sql(f'GRANT "{owner}" TO "{middle}"')
            connection.exec_driver_sql(f'GRANT "{middle}" TO "{role}"')
        with db.engine.connect() as connection, connection.begin() as outer:
            connection.exec_driver_sql(f'ALTER TABLE targets OWNER TO "{owner}"')
            with pytest.raises(RoleRefused, match=f"is a member of {owner}, which owns the table targets"):
                grant_runtime(connection, role)
            outer.rollback()
        with db.engine.connect() as connection, connection.begin() as outer:
            connection.exec_driver_sql(f'ALTER DATABASE "{connection.engine.url.database}" OWNER TO "{role}"')
            with pytest.raises(RoleRefused, match=f'"{role}" owns the database'):
                grant_runtime(connection, role)
            outer.rollback()
        with db.engine.begin() as connection:
            connection.exec_driver_sql(f'ALTER ROLE "{owner}" CREATEROLE')
        refused = grant(app, role)
        assert refused.exit_code != 0
        assert f'"{role}" is a member of {owner}, which has CREATEROLE' in refused.output
        assert not any(_privileges(role).values())
    finally:
        for made in (middle, owner):
            drop_role(made)


@pytest.mark.production_path("the runtime role")
def test_the_guards_and_the_evidence_are_beyond_the_runtime_role(app, runtime_url):
    customer = create_customer("HOTEL", Details(name="Hotel Cempaka"))
    movement = wallet.recharge(customer, D("100000"))
    line = db.session.scalar(sa.select(JournalLine).where(JournalLine.entry_id == movement.entry_id).limit(1))
    history = db.session.scalar(sa.text("SELECT transaction_id FROM customers_history LIMIT 1"))
    assert history is not None
    refused = [
        "ALTER TABLE balance_transactions DISABLE TRIGGER ALL",
        "ALTER TABLE journal_lines DISABLE TRIGGER journal_lines_immutable",
        "ALTER TABLE customers_history DISABLE TRIGGER customers_history_append_only",
        f"UPDATE balance_transactions SET amount = amount + 1 WHERE id = {movement.id}",
        f"DELETE FROM balance_transactions WHERE id = {movement.id}",
        f"UPDATE journal_lines SET debit = debit + 1, credit = credit + 1 WHERE id = {line.id}",
        f"DELETE FROM journal_lines WHERE id = {line.id}",
        f"UPDATE journal_entries SET entry_date = entry_date - 1 WHERE id = {movement.entry_id}",
        f"DELETE FROM journal_entries WHERE id = {movement.entry_id}",
        f"UPDATE customers_history SET name = 'Forged' WHERE transaction_id = {history}",
        f"DELETE FROM history_transactions WHERE id = {history}",
        "UPDATE words_written_before SET through_id = through_id + 1",
        "DELETE FROM words_written_before",
        "TRUNCATE balance_transactions",
        "TRUNCATE customers",
        "CREATE TABLE forged (id integer)",
        "DROP TABLE orders",
        "SET session_replication_role = replica",
    ]
    engine = sa.create_engine(runtime_url)
    try:
        for statement in refused:
            with engine.connect() as connection:
                with pytest.raises(sa.exc.DBAPIError) as error:
                    connection.exec_driver_sql(statement)
                assert error.value.orig.sqlstate == INSUFFICIENT_PRIVILEGE, (statement, str(error.value.orig))
        # A column it may update is still guarded by the trigger: a posted entry is not voided.
        with engine.connect() as connection, pytest.raises(sa.exc.DBAPIError, match="is immutable"):
            connection.exec_driver_sql(f"UPDATE journal_entries SET status = 'void' WHERE id = {movement.entry_id}")
    finally:
        engine.dispose()
    db.session.rollback()
    assert db.session.get(BalanceTransaction, movement.id).amount == D("100000")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(JournalLine)) == 2


@pytest.mark.production_path("the runtime role")
def test_the_application_works_under_the_runtime_role(app, runtime_url):
    with runtime_app(runtime_url, APPROVAL_ABOVE=D("50000")) as runtime:
        maker = UserFactory(email="maker@example.com", role="admin", password="correct horse battery")
        checker = UserFactory(email="checker@example.com", role="admin")
        customer = create_customer("HOTEL", Details(name="Hotel Cempaka"))
        customer_id = customer.id

        # The wallet: a recharge, an adjustment, one above the limit approved by a second admin, a reversal.
        wallet.recharge(customer_id, D("200000"), description="opening deposit")
        small = wallet.adjust(customer_id, D("-5000"), reason="goodwill", user=maker)
        asked = approvals.ask_adjustment(
            wallet.adjustment(customer_id, D("-60000"), reason="goodwill", user=maker), user=maker, reason="Goodwill"
        )
        assert approvals.approve(asked.id, checker).status is ApprovalStatus.APPROVED
        wallet.reverse(small, description="Entered by mistake", user=maker)

        # A meter, its price, a reading with its charge, corrected, then deleted.
        meter = MeterFactory()
        meter_lifecycle.assign_meter(meter, db.session.get(Customer, customer_id), date(2026, 11, 1))
        metering.set_pricing(customer_id, date(2026, 11, 1), D("1000.00"), D("1"))
        reading_id = metering.record_reading(meter.id, date(2026, 11, 5), D("10"))
        metering.correct_reading(reading_id, date(2026, 11, 5), D("12"))
        metering.delete_reading(reading_id)

        # VAT: a rate saved on the Issuer page (VAT payable joins the chart), an invoice charged it, then withdrawn.
        rate = issuer.Rate(D("11"), date(2026, 11, 1), 0)
        issuer.save({"name": "PT Gas Nusantara"}, version=None, rate=rate, user=maker)
        invoice = meter_invoices.add_invoice(meter, "INV-VAT", D("100000"), date(2026, 11, 6), date(2026, 11, 30))
        assert (invoice.amount, invoice.vat) == (D("111000.00"), D("11000.00"))
        meter_invoices.withdraw_invoice(invoice, "issued twice", user=maker)

        # An order, then edited.
        order = OrderFactory()
        order.promo = D("1000")
        save_order(order, user=maker)

        # The books: a manual entry posted, a draft voided, an entry above the limit approved (the draft posted).
        lines = [books.Line("5000", D("70000"), D("0"), ""), books.Line("1000", D("0"), D("70000"), "")]
        small_lines = [books.Line("5000", D("1000"), D("0"), ""), books.Line("1000", D("0"), D("1000"), "")]
        with transaction() as session:
            movement = Movement(
                kind=Kind.MANUAL, value_date=date(2026, 11, 20), description="stationery", lines=tuple(small_lines)
            )
            post(installation(), session.connection(), movement)
        with transaction() as session:
            draft = books.save_draft(
                installation(), session.connection(), date(2026, 11, 20), "kept aside", small_lines
            )
            books.void_draft(session.connection(), draft)
        entry = approvals.ask_entry(date(2026, 11, 20), "new boiler", lines, user=maker)
        approved = approvals.approve(entry.id, checker)
        assert approved.status is ApprovalStatus.APPROVED
        assert db.session.scalar(sa.text(f"SELECT status FROM journal_entries WHERE id = {entry.entry_id}")) == (
            EntryStatus.POSTED.value
        )

        # A month closed and reopened (the close locks the guarded tables through the owner's functions).
        periods.close("2026-09", checker, "checked")
        periods.reopen("2026-09", checker, "one more invoice")

        # The reconciliation: verify, then verify --fix of a derived figure gone wrong, from the command line.
        db.session.execute(sa.update(Order).where(Order.id == order.id).values(grand_total=D("1")))
        db.session.commit()
        runner = runtime.test_cli_runner()
        found = runner.invoke(args=["reconcile", "verify"])
        assert found.exit_code != 0 and "order_grand_total" in found.output, found.output
        fixed = runner.invoke(args=["reconcile", "verify", "--fix"])
        assert re.search(r"order_grand_total +1 +1 +1 ", fixed.output), fixed.output  # checked, mismatched, fixed
        again = runner.invoke(args=["reconcile", "verify"])
        assert again.exit_code == 0, again.output

        # The nightly job, run in-process (no Redis): verify and fix everything.
        record, created = jobs.enqueue_nightly(date(2026, 11, 23))
        assert created
        db.session.refresh(record)
        assert record.status.value == "finished", (record.status, record.error)

        # A clerk's requests: logging in (the session token), a page, a recharge from the customer's page.
        client = runtime.test_client()
        clerk = UserFactory(email="clerk@example.com", role="finance", password="correct horse battery")
        login = {"email": clerk.email, "password": "correct horse battery"}
        assert client.post("/login", data=login).status_code == 302
        assert client.get("/").status_code == 200
        assert client.get("/customers/HOTEL").status_code == 200
        form = {"recharge-amount": "50.000", "recharge-description": "transfer", "recharge-idempotency_key": "form-1"}
        assert client.post("/customers/HOTEL/recharge", data=form).status_code == 302
        assert db.session.get(Customer, customer_id).balance == D("190000.00")
    assert run_clean(app)


@pytest.mark.production_path("the runtime role")
def test_the_runtime_role_cannot_mark_a_nightly_finished_nor_end_a_run_by_hand(app, runtime_url):
    customer = create_customer("HOTEL", Details(name="Hotel Cempaka"))
    wallet.recharge(customer, D("100000"))
    record, _ = jobs.enqueue_nightly(date(2026, 11, 23))
    assert record.status is JobStatus.FINISHED
    job_in(JobStatus.QUEUED, id="nightly-2026-11-24", kind="nightly_maintenance", queue="maintenance")
    succeeded = jobs.last_success("nightly_maintenance")
    beyond_its_grant = [
        "UPDATE jobs SET status = 'finished' WHERE id = 'nightly-2026-11-24'",
        "UPDATE jobs SET ended_at = now() WHERE id = 'nightly-2026-11-23'",
        f"UPDATE reconciliation_runs SET status = 'failed' WHERE id = {record.run_id}",
        f"UPDATE reconciliation_runs SET finished_at = now() WHERE id = {record.run_id}",
    ]
    not_a_transition = [
        "INSERT INTO jobs (id, kind, args, queue, status, progress, message, in_process, attempts, enqueued_at)"
        " VALUES ('nightly-2026-11-25', 'nightly_maintenance', '{}', 'maintenance', 'finished', 100, '', false, 1,"
        " now())",
        "INSERT INTO reconciliation_runs (mode, trigger, scope, checks, status, started_at)"
        " VALUES ('fix', 'schedule', '{}', '[]', 'succeeded', now())",
        "SELECT move_job('nightly-2026-11-24', ARRAY['queued'], 'finished', now())",
        "SELECT move_job('nightly-2026-11-23', ARRAY['finished'], 'started', now())",
    ]
    engine = sa.create_engine(runtime_url)
    try:
        for statement in beyond_its_grant:
            with engine.connect() as connection, pytest.raises(sa.exc.DBAPIError) as error:
                connection.exec_driver_sql(statement)
            assert error.value.orig.sqlstate == INSUFFICIENT_PRIVILEGE, (statement, str(error.value.orig))
        for statement in not_a_transition:
            with engine.connect() as connection, pytest.raises(sa.exc.DBAPIError, match="is refused"):
                connection.exec_driver_sql(statement)
        with engine.connect() as connection:
            ended = connection.exec_driver_sql(f"SELECT end_reconciliation_run({record.run_id}, 'failed', 'forged')")
            assert ended.scalar() is None  # a run ends once
            # Through the functions, a nightly can be moved to finished: without a sealed run, it is no success.
            connection.exec_driver_sql("SELECT move_job('nightly-2026-11-24', ARRAY['queued'], 'started', now())")
            connection.exec_driver_sql("SELECT move_job('nightly-2026-11-24', ARRAY['started'], 'finished', now())")
            connection.commit()
    finally:
        engine.dispose()
    db.session.rollback()
    assert db.session.get(JobRecord, "nightly-2026-11-24").status is JobStatus.FINISHED
    assert db.session.get(ReconciliationRun, record.run_id).status is RunStatus.SUCCEEDED
    assert jobs.last_success("nightly_maintenance") == succeeded


def test_a_job_s_status_and_a_run_s_end_move_only_by_their_transitions(app):
    job_in(JobStatus.QUEUED, id="nightly-2026-11-24", kind="nightly_maintenance", queue="maintenance")
    for statement in (
        "UPDATE jobs SET status = 'finished' WHERE id = 'nightly-2026-11-24'",
        "INSERT INTO jobs (id, kind, args, queue, status, progress, message, in_process, attempts, enqueued_at)"
        " VALUES ('nightly-2026-11-25', 'nightly_maintenance', '{}', 'maintenance', 'finished', 100, '', false, 1,"
        " CURRENT_TIMESTAMP)",
        "INSERT INTO reconciliation_runs (mode, trigger, scope, checks, status, started_at)"
        " VALUES ('fix', 'schedule', '{}', '[]', 'succeeded', CURRENT_TIMESTAMP)",
    ):
        with pytest.raises(sa.exc.DBAPIError, match="is refused"):
            db.session.execute(sa.text(statement))
        db.session.rollback()
    assert not move_job("nightly-2026-11-24", JobStatus.FINISHED, from_=(JobStatus.STARTED,))
    assert move_job("nightly-2026-11-24", JobStatus.STARTED, from_=(JobStatus.QUEUED,))
    assert move_job("nightly-2026-11-24", JobStatus.FINISHED, from_=(JobStatus.STARTED,))
    db.session.commit()
    with pytest.raises(sa.exc.DBAPIError, match="is refused"):  # finished is final
        move_job("nightly-2026-11-24", JobStatus.STARTED, from_=(JobStatus.FINISHED,))
    db.session.rollback()
    run = engine_run(RunMode.VERIFY)
    assert end_run(run.id, RunStatus.FAILED, "forged") is None
    db.session.rollback()
    assert db.session.get(JobRecord, "nightly-2026-11-24").status is JobStatus.FINISHED
    assert db.session.get(ReconciliationRun, run.id).status is RunStatus.SUCCEEDED


def run_clean(app) -> bool:
    from backoffice.reconcile.engine import run

    db.session.rollback()
    return run(RunMode.VERIFY).mismatched == 0


def test_guarded_tables_are_append_only_to_the_grant_and_locked_by_the_close(app):
    connection = db.session.connection()
    append_only = set(append_only_tables(connection))
    guarded = set(
        connection.execute(
            sa.text(
                "SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
                " JOIN pg_proc p ON p.oid = t.tgfoid WHERE NOT t.tgisinternal AND (p.proname LIKE '%append_only'"
                " OR p.proname IN ('journal_posted_immutable', 'reconciliation_run_finished_immutable'))"
            )
        ).scalars()
    )
    assert guarded and guarded <= append_only
    columns = {(t.name, c.name) for t in db.metadata.tables.values() for c in t.columns}
    for table, changed in CHANGED_AFTER_INSERT.items():
        assert table in append_only
        assert {(table, column) for column in changed} <= columns
    definition = connection.scalar(sa.text("SELECT pg_get_functiondef('lock_period_writers()'::regprocedure)"))
    assert f"LOCK TABLE {', '.join(GUARDED)} IN SHARE ROW EXCLUSIVE MODE" in definition


@pytest.mark.production_path("the runtime role")
def test_a_history_transaction_id_taken_out_of_turn_costs_the_forger_not_a_clerk(app, runtime_url):
    order = OrderFactory()
    ahead = db.session.scalar(sa.text("SELECT last_value + 2 FROM history_transactions_id_seq"))
    engine = sa.create_engine(runtime_url)
    try:
        with engine.begin() as connection:
            taken = connection.execute(
                sa.text(
                    "INSERT INTO history_transactions (id, issued_at, actor) VALUES (:id, now(), 'forged') RETURNING id"
                ),
                {"id": ahead},
            ).scalar_one()
    finally:
        engine.dispose()
    assert taken != ahead  # the sequence's next id, not the one the forger wrote

    for promo in ("1000", "2000"):  # the clerk's next two edits take the ids after it
        order.promo = D(promo)
        db.session.commit()

    assert db.session.scalar(sa.text("SELECT count(*) FROM orders_history WHERE id = :id"), {"id": order.id}) == 3


@pytest.mark.production_path("the runtime role")
@pytest.mark.parametrize(("decision", "balance"), [("reverse", D("1000.00")), ("accept", D("1500.00"))])
def test_an_admin_decides_a_forged_movements_finding_on_the_web_as_the_runtime_role(
    app, runtime_url, decision, balance
):
    """Reverse and Accept on the Tampered evidence page, served as the role production serves with: the review's
    lock is one the role may take."""
    customer = create_customer("HOTEL", Details(name="Hotel Cempaka"))
    wallet.recharge(customer.id, D("1000"))
    forge_in_the_chain(customer, "500")
    engine_run(RunMode.VERIFY, checks=["evidence_seals"])
    found = [finding.id for finding in evidence_review.open_findings(customer.id)]
    assert found
    UserFactory(email="reviewer@example.com", role="admin", password="correct horse battery")
    db.session.commit()
    with runtime_app(runtime_url) as runtime:
        client = runtime.test_client()
        login = {"email": "reviewer@example.com", "password": "correct horse battery"}
        assert client.post("/login", data=login).status_code == 302
        answer = client.post("/evidence/review", data={"findings": found, "decision": decision, "reason": "checked"})
        assert answer.status_code == 302, answer.get_data(as_text=True)
    db.session.rollback()
    assert evidence_review.open_findings(customer.id) == []
    assert db.session.get(Customer, customer.id).balance == balance


WALK_PARAMETERS = {
    "code": "SELECT c.code FROM customers c JOIN meter_assignments a ON a.customer_id = c.id"
    " JOIN invoices i ON i.meter_id = a.meter_id ORDER BY c.code LIMIT 1",
    "invoice_id": "SELECT i.id FROM invoices i JOIN meter_assignments a ON a.meter_id = i.meter_id"
    " JOIN customers c ON c.id = a.customer_id WHERE c.code = :code ORDER BY i.id LIMIT 1",
    "payment_id": "SELECT p.id FROM payments p JOIN meter_assignments a ON a.meter_id = p.meter_id"
    " JOIN customers c ON c.id = a.customer_id WHERE c.code = :code ORDER BY p.id LIMIT 1",
    "reading_id": "SELECT r.id FROM meter_readings r JOIN meter_assignments a ON a.meter_id = r.meter_id"
    " JOIN customers c ON c.id = a.customer_id WHERE c.code = :code ORDER BY r.id LIMIT 1",
    "movement_id": "SELECT m.id FROM balance_transactions m JOIN customers c ON c.id = m.customer_id"
    " WHERE c.code = :code ORDER BY m.id LIMIT 1",
    "assignment_id": "SELECT a.id FROM meter_assignments a JOIN customers c ON c.id = a.customer_id"
    " WHERE c.code = :code ORDER BY a.id LIMIT 1",
    "pricing_id": "SELECT p.id FROM customer_pricing p JOIN customers c ON c.id = p.customer_id"
    " WHERE c.code = :code ORDER BY p.id LIMIT 1",
    "month": "SELECT to_char(max(value_date) - interval '1 month', 'YYYY-MM') FROM balance_transactions",
    "entry_id": "SELECT id FROM journal_entries ORDER BY id LIMIT 1",
    "manager_id": "SELECT id FROM account_managers ORDER BY id LIMIT 1",
    "meter_id": "SELECT id FROM meters ORDER BY id LIMIT 1",
    "order_id": "SELECT id FROM orders ORDER BY id LIMIT 1",
    "target_id": "SELECT id FROM targets ORDER BY id LIMIT 1",
    "request_id": "SELECT id FROM approval_requests ORDER BY id DESC LIMIT 1",
    "import_id": "SELECT id FROM imports ORDER BY id LIMIT 1",
    "job_id": "SELECT id FROM jobs ORDER BY enqueued_at LIMIT 1",
    "run_id": "SELECT id FROM reconciliation_runs ORDER BY id LIMIT 1",
    "notice_id": "SELECT id FROM notices ORDER BY id LIMIT 1",
    "filter_id": "SELECT id FROM saved_filters ORDER BY id LIMIT 1",
    "client_id": "SELECT id FROM api_clients ORDER BY id LIMIT 1",
    "user_id": "SELECT id FROM users WHERE email = 'finance@example.com'",
    "record_id": "SELECT id FROM customers WHERE code = :code",
}
"""What fills each part of an address the walk asks for: a row of the demo's, the customer's own where it has one."""
WALK_NAMES = {"name": "customers", "kind": "customer", "filename": "app.css"}
NOT_WALKED = {
    "static": "files, served by the web server",
    "auth.logout": "it ends the walk's session",
    "auth.login": "the walk is logged in",
    "client_api.v1.charge": "the clients' API, with a client's token",
    "client_api.v1.reading": "the clients' API, with a client's token",
}


def _walk_order(rule) -> tuple:
    """What ends a row (deletes, withdraws, closes it) last, so that the pages of the rows before it are read."""
    ending = any(word in rule.rule for word in ("delete", "withdraw", "retire", "deactivate", "close", "revoke"))
    return ending, rule.rule, rule.endpoint


def _walked_address(rule, values: dict) -> str:
    filled = {}
    if rule.endpoint.startswith("books."):
        values = values | {"code": "1000"}  # an account's
    for name in rule.arguments:
        converter = rule._converters[name]
        if hasattr(converter, "items"):
            filled[name] = sorted(converter.items)[0]
        else:
            filled[name] = values.get(name, WALK_NAMES.get(name, 0))
    return rule.build(filled)[1]


@pytest.mark.production_path("the runtime role")
def test_every_route_an_admin_reaches_answers_as_the_runtime_role(app, runtime_url, demo_data):
    """Every address production serves, each method, asked by an admin through the web as the role that serves:
    GETs with the demo's rows in their addresses, POSTs with an empty form (a refusal under its field, an action
    taken, a 404): none answers 500, as a privilege the runtime role lacks would make it."""
    customer = db.session.scalar(sa.text(WALK_PARAMETERS["code"]))
    admin = db.session.scalar(sa.select(User).where(User.email == "admin@example.com"))
    movement = wallet.adjustment(
        db.session.scalar(sa.select(Customer).where(Customer.code == customer)),
        app.config["APPROVAL_ABOVE"] + 1,
        description="walked",
        user=admin,
    )
    approvals.ask_adjustment(movement, user=admin, reason="walked")
    jobs.enqueue("verify", {"checks": ["order_grand_total"]}, user=admin)
    imported(b"Customer code;Name\nC 1;Warung\n", kind="customers")
    api_clients.issue("Meter app", by=admin)
    values = {"code": customer}
    for name, sql in WALK_PARAMETERS.items():
        if name != "code":
            values[name] = db.session.scalar(sa.text(sql), {"code": customer}) or 0
    db.session.commit()
    failed = []
    with runtime_app(runtime_url) as runtime:
        client = runtime.test_client()
        login = {"email": "controller@example.com", "password": "controller-demo-password"}  # the second admin
        for rule in sorted(runtime.url_map.iter_rules(), key=_walk_order):
            if rule.endpoint in NOT_WALKED:
                continue
            address = _walked_address(rule, values)
            for method in sorted(rule.methods & {"GET", "POST"}):
                if client.get("/account/password").status_code != 200:
                    assert client.post("/login", data=login).status_code == 302
                answer = client.open(address, method=method, data={})
                answer.close()  # a download streams
                if answer.status_code >= 500:
                    failed.append(f"{method} {address}: {answer.status_code}")
    assert not failed, failed


@pytest.mark.production_path("the runtime role")
def test_the_runtime_role_refreshes_the_statistics_of_what_it_loaded_and_no_more(app, runtime_url):
    """After a bulk write the planner's statistics are refreshed by the owner's ``analyze_due``, which the runtime
    role may run (an ``ANALYZE`` of its own is only the owner's); a table changed by less than autovacuum's threshold
    is left as it is."""
    runtime = sa.create_engine(runtime_url)
    try:
        _submissions_loaded(runtime, "k", 500)
        with runtime.begin() as connection:
            assert analyze_due(connection) >= 1
        _statistics_flushed(runtime)
        with runtime.begin() as connection:
            analysed = connection.execute(
                sa.text("SELECT c.reltuples FROM pg_class c WHERE c.oid = 'sent_keys'::regclass AND c.reltuples > 0")
            ).scalar()
            assert analysed == 500
        count = "SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'sent_keys'"
        with runtime.begin() as connection:
            before = connection.exec_driver_sql(count).scalar()
            analyze_due(connection)
        _statistics_flushed(runtime)
        with runtime.begin() as connection:
            assert connection.exec_driver_sql(count).scalar() == before  # nothing changed since
            refused = connection.execute(
                sa.text("SELECT has_function_privilege('public', 'analyze_due()', 'EXECUTE')")
            ).scalar()
            assert refused is False
    finally:
        runtime.dispose()


@pytest.mark.production_path("the runtime role")
def test_a_table_analysed_by_its_own_settings_as_autovacuum_would(app, runtime_url):
    """``analyze_due`` honours a table's own ``autovacuum_analyze_threshold`` and scale factor, as autovacuum does:
    ``seals``, where a kind of evidence new to the statistics would be read a row at a time, is analysed once a
    hundredth of it changed."""
    options = "SELECT reloptions FROM pg_class WHERE oid = 'seals'::regclass"
    assert "autovacuum_analyze_scale_factor=0.01" in db.session.execute(sa.text(options)).scalar()
    db.session.execute(
        sa.text("ALTER TABLE sent_keys SET (autovacuum_analyze_threshold = 5, autovacuum_analyze_scale_factor = 0)")
    )
    db.session.commit()
    runtime = sa.create_engine(runtime_url)
    count = "SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'sent_keys'"
    try:
        with runtime.begin() as connection:
            analyze_due(connection)
        _statistics_flushed(runtime)
        with runtime.begin() as connection:
            before = connection.exec_driver_sql(count).scalar()
        _submissions_loaded(runtime, "own", 10)
        with runtime.begin() as connection:
            assert analyze_due(connection) >= 1
        _statistics_flushed(runtime)
        with runtime.begin() as connection:
            assert connection.exec_driver_sql(count).scalar() == before + 1
    finally:
        runtime.dispose()
        db.session.execute(sa.text("ALTER TABLE sent_keys RESET (autovacuum_analyze_threshold)"))
        db.session.execute(sa.text("ALTER TABLE sent_keys RESET (autovacuum_analyze_scale_factor)"))
        db.session.commit()


def _submissions_loaded(runtime, prefix: str, rows: int) -> None:
    """``rows`` form submissions inserted by the runtime role, the statistics they move flushed for ``analyze_due``."""
    with runtime.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO sent_keys (key, door, sent_at) "
                "SELECT :prefix || n, 'loaded', now() FROM generate_series(1, :rows) n"
            ),
            {"prefix": prefix, "rows": rows},
        )
    _statistics_flushed(runtime)


def _statistics_flushed(runtime) -> None:
    with runtime.begin() as connection:
        connection.exec_driver_sql("SELECT pg_stat_force_next_flush()")
