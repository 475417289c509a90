"""The grown installation's benchmark builds a consistent installation: generated past the guards, derived by the
application's writers and sealed a chunk at a time, every check finds nothing wrong."""

from __future__ import annotations

from sqlalchemy import make_url

from bench import grown
from bench.common import as_the_app_writes, derive, first_days


def test_a_tiny_installation_built_as_the_benchmark_builds_it_is_consistent(app):
    from backoffice.models import RunMode
    from backoffice.reconcile.engine import run

    customers = 2 * grown.POSTPAID_EVERY
    months = first_days(grown.MONTHS)
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).set(drivername="postgresql")
    grown.generate(url.render_as_string(hide_password=False), months, customers)
    derive(customers, grown.BATCH, months)
    as_the_app_writes(app, chunk=500)

    verified = run(RunMode.VERIFY)

    assert verified.mismatched == 0, [
        (result.check, result.mismatched) for result in verified.results if result.mismatched
    ]
    checked = {result.check: result.checked for result in verified.results}
    assert checked["meter_balance"] == customers
    assert checked["reading_calculation"] == customers * (grown.MOVEMENTS_PER_CUSTOMER // grown.READING_EVERY)
    assert checked["invoice_outstanding"] == customers // grown.POSTPAID_EVERY * grown.INVOICES_PER_METER
