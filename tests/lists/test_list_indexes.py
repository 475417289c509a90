"""Each list's first page, in its usual order and in the orders of its own figures, is read off an index in that
order rather than every row sorted: what keeps a page as quick at a million rows as at a thousand."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from backoffice.platform.extensions import db

USUAL = [
    ("/ledger", "ix_balance_transactions_value_date_id"),
    ("/invoices", "ix_invoices_issued_on_id"),
    ("/payments", "ix_payments_paid_on_id"),
    ("/orders", "ix_orders_closing_date_id"),
    ("/customers", "uq_customers_code"),
    ("/books/journal", "pk_journal_entries"),
    ("/reconciliation", "pk_reconciliation_runs"),
    ("/jobs", "ix_jobs_enqueued_at"),
    ("/approvals", "ix_approval_requests_decided_at_id"),
    ("/evidence", "ix_tampered_evidence_resolved_at"),
]
"""Each list and the index its usual order reads."""
SORTED = [
    ("/ledger?sort=id", "pk_balance_transactions"),
    ("/ledger?sort=value_date", "ix_balance_transactions_value_date_id"),
    ("/invoices?sort=due", "ix_invoices_due_on_id"),
    ("/invoices?sort=-amount", "ix_invoices_amount_id"),
    ("/invoices?sort=-outstanding", "ix_invoices_outstanding_id"),
    ("/payments?sort=reference", "ix_payments_reference_id"),
    ("/payments?sort=-amount", "ix_payments_amount_id"),
    ("/orders?sort=-total_price", "ix_orders_total_price_id"),
    ("/orders?sort=additions", "ix_orders_additions_id"),
    ("/orders?sort=-promo", "ix_orders_promo_id"),
    ("/orders?sort=reductions", "ix_orders_reductions_id"),
    ("/customers?sort=-balance", "ix_customers_balance"),
]
"""The orders of a list's own figures on a table no charge writes, and the indexes they read."""


@pytest.mark.parametrize(("path", "index"), USUAL + SORTED)
def test_a_list_s_first_page_reads_an_index_in_its_order(client, admin, path, index):
    """With sorting priced out, as a large table prices it, the page's query reads the index in order: no node sorts
    its rows (an incremental sort orders only the rows the index leaves level, none for a unique column)."""
    plans = [plan for plan in _page_plans(client, path) if index in str(plan)]
    assert plans, f"{path} reads no {index}"
    for plan in plans:
        assert "Sort" not in _node_types(plan), plan


def test_the_home_page_s_owing_suspended_and_month_are_read_off_their_tallies_not_the_rows_they_count(client, admin):
    plans = [str(plan) for plan in _page_plans(client, "/", ordered=False)]
    for index in ("pk_tallies", "ix_tally_changes_figure"):
        assert any(index in plan for plan in plans), index
    for counted in ("monthly_customer_balances", "ix_customers_suspended", "invoices"):
        assert not any(counted in plan for plan in plans), counted


def test_the_checks_latest_full_runs_are_read_off_the_full_runs_alone(client, admin):
    """The dashboard's checks walk back over the runs over everything, not the runs over some customers since."""
    plans = [str(plan) for plan in _page_plans(client, "/", ordered=False)]
    for index in ("ix_reconciliation_runs_full", "ix_reconciliation_runs_full_finished"):
        assert any(index in plan for plan in plans), index


def _page_plans(client, path: str, *, ordered: bool = True) -> list[dict]:
    """The plans of the queries the page runs (those that read a page of rows in an order, when ``ordered``), each
    as PostgreSQL plans it with sorting and whole-table reads priced out."""
    statements = []

    def capture(_connection, _cursor, statement, parameters, _context, _many):
        if statement.lstrip().startswith("SELECT") and (
            not ordered or ("ORDER BY" in statement and "LIMIT" in statement)
        ):
            statements.append((statement, parameters))

    sa.event.listen(db.engine, "before_cursor_execute", capture)
    try:
        assert client.get(path).status_code == 200
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", capture)
    connection = db.session.connection()
    connection.exec_driver_sql("SET LOCAL enable_sort = off; SET LOCAL enable_seqscan = off")
    plans = [
        connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters).scalar()[0]["Plan"]
        for statement, parameters in statements
    ]
    db.session.rollback()
    return plans


def _node_types(plan: dict) -> list[str]:
    return [plan["Node Type"], *(kind for child in plan.get("Plans", []) for kind in _node_types(child))]
