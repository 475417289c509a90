"""The grown installation's benchmark builds a consistent installation: generated past the guards, derived by the
application's writers and sealed a chunk at a time, with its history of runs, requests, payments and reviewed findings,
every check finds nothing wrong."""

from __future__ import annotations

from sqlalchemy import func, make_url, select

from bench import grown
from bench.common import as_the_app_writes, derive, first_days


def test_a_tiny_installation_built_as_the_benchmark_builds_it_is_consistent(app):
    from backoffice.models import ApprovalRequest, ApprovalStatus, Payment, RunMode, TamperedEvidence
    from backoffice.platform.extensions import db
    from backoffice.reconcile.engine import run

    customers = 2 * grown.POSTPAID_EVERY
    months = first_days(grown.MONTHS)
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).set(drivername="postgresql").render_as_string(False)
    grown.generate(url, months, customers)
    grown.history(url, months, customers)
    derive(customers, grown.BATCH, months)
    as_the_app_writes(app, chunk=500)
    grown._payments(app, customers)
    grown._findings(app, customers)

    verified = run(RunMode.VERIFY)

    assert verified.mismatched == 0, [
        (result.check, result.mismatched) for result in verified.results if result.mismatched
    ]
    checked = {result.check: result.checked for result in verified.results}
    assert checked["meter_balance"] == customers
    assert checked["reading_calculation"] == customers * (grown.MOVEMENTS_PER_CUSTOMER // grown.READING_EVERY)
    assert checked["invoice_outstanding"] == customers // grown.POSTPAID_EVERY * grown.INVOICES_PER_METER
    assert db.session.scalar(select(func.count()).select_from(Payment)) == (
        customers // grown.POSTPAID_EVERY * grown.PAID_INVOICES
    )
    asked = select(ApprovalRequest.status, func.count()).group_by(ApprovalRequest.status)
    statuses = dict(db.session.execute(asked).all())
    assert statuses == {ApprovalStatus.REJECTED: 1, ApprovalStatus.PENDING: grown.PENDING_APPROVALS}
    assert db.session.scalar(select(func.count()).where(TamperedEvidence.resolution.is_not(None))) == 1
