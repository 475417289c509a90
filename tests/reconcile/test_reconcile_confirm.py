"""Starting a fix or a rebuild from the reconciliation page: what it will do is said first, and the page shows
the new run when its job ends."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from backoffice.models import JobRecord, JobStatus, ReconciliationRun, RunMode
from backoffice.platform.extensions import db
from tests.factories import CustomerFactory, OrderFactory, corrupt, stored
from tests.pages import text
from tests.workers import run_worker


@pytest.fixture
def orders(app):
    hotel, bakery = CustomerFactory(code="HOTEL"), CustomerFactory(code="BAKERY")
    made = [OrderFactory(customer=hotel), OrderFactory(customer=hotel), OrderFactory(customer=bakery)]
    corrupt("orders", "grand_total", made[0].id, "1.00")
    return made


def started() -> tuple[int, int]:
    db.session.rollback()
    return (
        db.session.scalar(sa.select(sa.func.count(JobRecord.id))),
        db.session.scalar(sa.select(sa.func.count(ReconciliationRun.id))),
    )


def test_fix_and_rebuild_lead_to_a_confirmation_and_verify_starts_at_once(client, admin, orders):
    page = text(client.get("/reconciliation"))
    assert 'href="/reconciliation/confirm/fix"' in page and 'href="/reconciliation/confirm/rebuild"' in page
    assert '<button type="submit" name="mode" value="verify">Verify now</button>' in page


def test_the_rebuild_confirmation_counts_the_entities_in_scope(client, admin, orders):
    page = text(client.get("/reconciliation/confirm/rebuild"))
    assert "Rebuild: every check?" in page
    assert "Order grand totals: 3" in page
    whole = int(
        re.search(r"It recomputes and writes <strong>([\d,]+)</strong> entities", page).group(1).replace(",", "")
    )
    assert whole >= 3

    narrowed = text(client.get("/reconciliation/confirm/rebuild?check=order_grand_total&customer=HOTEL"))
    assert "Rebuild: Order grand totals, for HOTEL?" in narrowed
    assert "It recomputes and writes <strong>2</strong> entities" in narrowed
    assert 'id="confirm-run">Rebuild 2 entities</button>' in narrowed
    assert started() == (0, 0)


def test_the_fix_confirmation_says_what_each_check_may_change(client, admin, orders):
    page = text(client.get("/reconciliation/confirm/fix", headers={"HX-Request": "true"}))
    assert page.startswith('<section id="job-panel"')
    said = "an order's grand total is its total price plus additions, less promo and reductions"
    assert f"Order grand totals (3 in scope): may change Grand total — {said}" in page
    assert "Balance sheet (1 in scope): reports only, changes nothing" in page
    assert "writes the expected value back" in page
    assert started() == (0, 0)


def test_confirming_starts_the_run_on_the_chosen_scope(client, admin, orders):
    response = client.post(
        "/reconciliation/runs", data={"mode": "fix", "check": "order_grand_total", "customer": "HOTEL"}
    )
    assert response.status_code == 302
    run = db.session.scalar(sa.select(ReconciliationRun))
    assert (run.mode, run.checks, run.scope) == (RunMode.FIX, ["order_grand_total"], {"customers": ["HOTEL"]})
    assert stored("orders", "grand_total", orders[0].id) == 9300000


@pytest.mark.parametrize(
    ("query", "status"),
    [("verify", 404), ("delete", 404), ("fix?check=nope", 400), ("fix?customer=NOPE", 422)],
)
def test_a_confirmation_that_cannot_be_asked_is_refused(client, admin, orders, query, status):
    response = client.get(f"/reconciliation/confirm/{query}")
    assert response.status_code == status
    if status == 422:
        assert "NOPE" in re.search(r'id="error-customer">([^<]*)<', response.get_data(as_text=True)).group(1)
    assert started() == (0, 0)


def test_a_run_for_an_unknown_customer_is_refused_with_a_message(client, admin, orders):
    panel = client.post(
        "/reconciliation/runs", data={"mode": "rebuild", "customer": "NOPE"}, headers={"HX-Request": "true"}
    )
    assert panel.status_code == 422 and "NOPE" in text(panel)
    page = client.post("/reconciliation/runs", data={"mode": "rebuild", "customer": "NOPE"}, follow_redirects=True)
    assert "NOPE" in text(page)
    assert started() == (0, 0)


def test_a_finance_user_gets_no_confirmation(client, auth, orders):
    auth.login("finance")
    assert client.get("/reconciliation/confirm/rebuild").status_code == 403


@pytest.mark.production_path("real workers")
def test_the_runs_refresh_when_the_job_started_from_the_page_ends(app, client, admin, orders, redis_url):
    assert 'hx-trigger="job-ended from:body"' in text(client.get("/reconciliation"))
    response = client.post("/reconciliation/runs", data={"mode": "fix"}, headers={"HX-Request": "true"})
    assert response.status_code == 200 and "HX-Trigger" not in response.headers
    record = db.session.scalar(sa.select(JobRecord))
    polling = client.get(f"/jobs/{record.id}/panel")
    assert 'hx-trigger="every 1s"' in text(polling) and "HX-Trigger" not in polling.headers
    assert "No run yet." in text(client.get("/reconciliation/runs"))

    run_worker(app, redis_url)

    record = db.session.get(JobRecord, record.id)
    assert record.status is JobStatus.FINISHED
    ended = client.get(f"/jobs/{record.id}/panel")
    assert ended.headers["HX-Trigger"] == "job-ended"
    runs = text(client.get("/reconciliation/runs"))
    assert runs.startswith('<div id="runs"') and f'id="run-{record.run_id}"' in runs


def test_a_run_done_in_process_ends_with_the_event_at_once(client, admin, orders):
    response = client.post("/reconciliation/runs", data={"mode": "verify"}, headers={"HX-Request": "true"})
    assert response.status_code == 200 and response.headers["HX-Trigger"] == "job-ended"
    assert "finished" in text(response)


@pytest.mark.parametrize("language", ["id", "vi"])
def test_a_fix_s_confirmation_lists_the_fields_by_label_and_the_formula_in_words(app, client, auth, language):
    from flask_babel import force_locale

    from backoffice.reconcile import CHECKS
    from backoffice.reconcile.wording import field_label

    auth.login("admin")
    page = client.get(
        "/reconciliation/confirm/fix?check=customer_wallet", headers={"Accept-Language": language}
    ).get_data(as_text=True)
    with app.test_request_context(), force_locale(language):
        labels = ", ".join(
            field_label("customer_wallet", name) for name in ("balance", "total_recharged", "total_spent")
        )
        formula = str(CHECKS["customer_wallet"].description)
    assert labels in page and "balance, total_recharged, total_spent" not in page
    assert formula in page and "customers.balance" not in page and "<code>" not in page
