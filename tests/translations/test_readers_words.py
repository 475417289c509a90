"""What the application wrote, said on a record's page and on the evidence and reconciliation screens in the
reader's language: a history's fields, values and who made each change, a row of tampered evidence, a run's entity
tags and a seal's figures."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import click
import pytest
import rq

from backoffice.evidence.verifying import PROBLEMS, problem_of
from backoffice.models import Customer, JobRecord, JobStatus, RunMode
from backoffice.models.types import utcnow
from backoffice.platform.extensions import db
from backoffice.reconcile import engine
from backoffice.services import wallet
from tests.factories import CustomerFactory, OrderFactory, TargetFactory, corrupt, forge_in_the_chain
from tests.pages import INDONESIAN, VIETNAMESE, shown


def shown_once_answered(response) -> str:
    """The page's words (:func:`tests.pages.shown`), once it answered 200."""
    assert response.status_code == 200, response.status_code
    return shown(response)


def history_of(page: str) -> str:
    """The page's history panel, as text."""
    return page.split("Riwayat" if "Riwayat" in page else "Lịch sử", 1)[-1]


def made_by_demo_data(factory, **values):
    """A record made as ``backoffice demo-data`` makes it: its version's actor is the command's."""
    program = click.Context(click.Group("backoffice"), info_name="backoffice")
    with click.Context(click.Command("demo-data"), info_name="demo-data", parent=program):
        return factory(**values)


def test_a_customers_history_says_labels_values_and_who_in_the_readers_language(client, admin):
    customer = made_by_demo_data(CustomerFactory, code="HOTEL", name="Hotel Melati", suspend_below=Decimal("0"))
    client.post(
        "/customers/HOTEL/edit",
        data={
            "name": "Hotel Melati Baru",
            "account_manager_id": customer.account_manager.email,
            "suspend_below": "250.000",
            "version": str(customer.version),
        },
    )
    client.post("/customers/HOTEL/realtime/off")

    indonesian = history_of(shown_once_answered(client.get("/customers/HOTEL", headers=INDONESIAN)))
    assert "data demo dibuat" in indonesian
    assert "Tangguhkan di bawah : Rp0,00 → Rp250.000,00" in indonesian
    assert "Nama : Hotel Melati → Hotel Melati Baru" in indonesian
    assert "Dihitung secara waktu nyata : ya → tidak" in indonesian
    assert "Kode : — → HOTEL" in indonesian and "Dibuat : — →" in indonesian
    vietnamese = history_of(shown_once_answered(client.get("/customers/HOTEL", headers=VIETNAMESE)))
    assert "dữ liệu mẫu tạo" in vietnamese
    assert "Tạm ngưng khi dưới : 0,00 IDR → 250.000,00 IDR" in vietnamese
    assert "Tính theo thời gian thực : có → không" in vietnamese
    for page in (indonesian, vietnamese):
        for english in ("command backoffice", "demo-data", "Suspend below", "Created at", "Use realtime calculation"):
            assert english not in page


def test_a_targets_history_says_its_month_and_amount_as_its_screen_does(client, admin):
    target = TargetFactory()
    form = {
        "account_manager_id": target.account_manager.email,
        "period_start": "2026-12",
        "target_amount": "120.000.000",
    }
    assert client.post(f"/targets/{target.id}/edit", data=form | {"version": target.version}).status_code == 302
    indonesian = shown_once_answered(client.get(f"/history/target/{target.id}", headers=INDONESIAN))
    assert f"Riwayat target #{target.id}" in indonesian
    assert "Bulan : 2026-11 → 2026-12" in indonesian
    assert "Jumlah target : Rp100.000.000,00 → Rp120.000.000,00" in indonesian
    vietnamese = shown_once_answered(client.get(f"/history/target/{target.id}", headers=VIETNAMESE))
    assert f"Lịch sử của chỉ tiêu #{target.id}" in vietnamese and "Tháng : 2026-11 → 2026-12" in vietnamese
    for page in (indonesian, vietnamese):
        assert "Period start" not in page and "Target amount" not in page and "History of target" not in page


@pytest.mark.parametrize(("others", "said"), [(0, "pemeliharaan malam"), (1, "tugas latar belakang")])
def test_a_change_a_job_made_names_the_job_when_only_it_was_running(client, admin, monkeypatch, others, said):
    kinds = {"nightly-x": "nightly_maintenance"} | {f"verify-{n}": "verify" for n in range(others)}
    for job_id, kind in kinds.items():
        db.session.add(JobRecord(id=job_id, kind=kind, queue="maintenance"))
    db.session.commit()
    for job_id in kinds:
        job = db.session.get(JobRecord, job_id)
        job.status, job.started_at = JobStatus.STARTED, utcnow() - timedelta(minutes=1)
    db.session.commit()
    monkeypatch.setattr(rq, "get_current_job", lambda: SimpleNamespace(func_name="backoffice.jobs.running.execute"))
    order = OrderFactory()
    monkeypatch.undo()
    page = shown_once_answered(client.get(f"/history/order/{order.id}", headers=INDONESIAN))
    assert f"{said} dibuat" in page and "job execute" not in page
    assert "Nomor pesanan : — →" in page and "Total keseluruhan : — → Rp9.300.000,00" in page


def test_the_deleted_orders_say_who_deleted_them_in_words(client, admin):
    order = made_by_demo_data(OrderFactory, number="SO-DEMO")
    made_by_demo_data(lambda: (db.session.delete(order), db.session.commit()))
    page = shown_once_answered(client.get("/orders/deleted", headers=VIETNAMESE))
    assert "SO-DEMO" in page and "dữ liệu mẫu" in page and "command backoffice" not in page


@pytest.fixture
def forged(app):
    """HOTEL with Rp1.000 recharged and a forged recharge of Rp5.000 (its movement and entry), found by a verify."""
    customer = CustomerFactory(code="HOTEL", name="Hotel Melati")
    wallet.recharge(customer, Decimal("1000"))
    movement, entry = forge_in_the_chain(customer, "5000")
    run = engine.run(RunMode.VERIFY, checks=["evidence_seals"])
    return run.id, movement, entry


def test_tampered_evidence_is_said_from_its_facts_in_the_readers_language(client, auth, forged):
    _run, movement, _entry = forged
    auth.login(role="admin")
    response = client.get("/evidence", headers=INDONESIAN)
    indonesian = shown_once_answered(response)
    assert f"Mutasi dompet #{movement}, mutasi #{movement} milik HOTEL — Hotel Melati: tanpa segel" in indonesian
    assert "Rp5.000,00 pada" in indonesian
    assert "Jurnal #" in indonesian
    html = response.get_data(as_text=True)
    assert '<legend class="label">Keputusan</legend>' in html and 'class="choices"' in html
    assert 'type="radio"' in html and '<ul id="decision"' not in html
    vietnamese = shown_once_answered(client.get("/evidence", headers=VIETNAMESE))
    assert f"Biến động ví #{movement}" in vietnamese and "không có niêm phong: không do ứng dụng ghi" in vietnamese
    assert "5.000,00 IDR ngày" in vietnamese
    customer = shown_once_answered(client.get("/customers/HOTEL", headers=INDONESIAN))
    assert f"Mutasi dompet #{movement}" in customer
    for page in (indonesian, vietnamese, customer):
        assert "of balance_transactions" not in page and "it has no seal" not in page
        assert "wallet movement" not in page


def test_a_finding_keeps_its_english_for_the_logs_and_its_problem_code_for_screens(app, forged):
    _run, movement, _entry = forged
    from backoffice.models import TamperedEvidence

    found = db.session.scalars(db.select(TamperedEvidence).where(TamperedEvidence.row_id == movement)).first()
    assert found.what == (
        f"wallet movement {movement} of balance_transactions: it has no seal: it was not written by the application"
    )
    assert problem_of(found.what) == ("no_seal", None)
    previous = f"x 9 of y: {PROBLEMS['previous_gone'].format(previous=8)}"
    assert problem_of(previous) == ("previous_gone", 8)
    assert problem_of("something else") == (None, None)


def test_a_runs_seals_are_states_and_its_entities_are_tagged_in_words(client, auth, forged):
    run_id, movement, _entry = forged
    auth.login(role="admin")
    indonesian = shown_once_answered(
        client.get(f"/reconciliation/runs/{run_id}?check=evidence_seals", headers=INDONESIAN)
    )
    assert "tanpa segel yang sah" in indonesian and "tersegel" in indonesian
    assert f"mutasi dompet HOTEL #{movement}" in indonesian
    vietnamese = shown_once_answered(
        client.get(f"/reconciliation/runs/{run_id}?check=evidence_seals", headers=VIETNAMESE)
    )
    assert "không có niêm phong hợp lệ" in vietnamese and "đã niêm phong" in vietnamese
    for page in (indonesian, vietnamese):
        assert "Rp0,00" not in page and "Rp1,00" not in page and "IDR" not in page
        assert f"balance transaction {movement}" not in page


def test_a_runs_customer_is_tagged_with_its_code_in_words(client, auth):
    customer = CustomerFactory(code="C0007", name="Toko Tujuh")
    wallet.recharge(customer, Decimal("1000"))
    corrupt("customers", "balance", customer.id, "999")
    run = engine.run(RunMode.VERIFY, checks=["customer_wallet"])
    auth.login(role="admin")
    indonesian = shown_once_answered(client.get(f"/reconciliation/runs/{run.id}", headers=INDONESIAN))
    assert "pelanggan C0007" in indonesian and f"customer {customer.id}" not in indonesian
    vietnamese = shown_once_answered(client.get(f"/reconciliation/runs/{run.id}", headers=VIETNAMESE))
    assert "khách hàng C0007" in vietnamese and f"customer {customer.id}" not in vietnamese
    assert db.session.get(Customer, customer.id).balance == Decimal("999.00")
