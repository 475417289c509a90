"""Money moved by hand waits for a second admin whatever door it comes through: an import of opening balances that
moves more than the approval limit, one row or in total, waits whole on Approvals with its file, rows and total,
and writes when a second admin approves it; so does a recharge typed by a clerk, on the form or the command. A charge
through the clients' API is the client's system's, not a hand's: it posts as before."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice.imports import kept
from backoffice.models import (
    ApprovalKind,
    ApprovalRequest,
    ApprovalStatus,
    BalanceTransaction,
    Customer,
    Import,
    ImportStatus,
)
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.posting.rules import Kind
from tests.factories import CustomerFactory, UserFactory
from tests.logins import log_in
from tests.pages import ENGLISH, INDONESIAN, opened
from tests.workers import run_worker


@pytest.fixture
def customers(app, limit):
    """C0001 and C0002, live customers; the approval limit Rp50.000."""
    return [CustomerFactory(code=code) for code in ("C0001", "C0002")]


def _file(*rows: tuple[str, str]) -> bytes:
    day = local_today().replace(day=1).isoformat()
    return ("Customer code;Opening balance;Cut-over date\n" + "".join(f"{c};{a};{day}\n" for c, a in rows)).encode()


def openings() -> list[BalanceTransaction]:
    db.session.rollback()
    return db.session.scalars(sa.select(BalanceTransaction).where(BalanceTransaction.kind == Kind.OPENING.value)).all()


def request_of(import_id: int) -> ApprovalRequest:
    db.session.rollback()
    return db.session.scalar(sa.select(ApprovalRequest).where(ApprovalRequest.kind == ApprovalKind.IMPORT))


@pytest.mark.parametrize(
    "rows",
    [
        [("C0001", "9.000.000.000.000")],  # one row beyond the limit
        [("C0002", "-50.000.000")],  # taken away counts as much as given
        [("C0001", "30.000"), ("C0002", "30.000")],  # each within, beyond in total
    ],
    ids=["one-row", "negative", "in-total"],
)
def test_an_import_of_openings_beyond_the_limit_waits_whole_for_a_second_admin(
    app, runner, tmp_path, customers, admins, client, rows
):
    maker, checker = admins
    path = tmp_path / "saldo.csv"
    path.write_bytes(_file(*rows))

    dry = runner.invoke(args=["import", "balances", str(path), "--dry-run"], env={"BACKOFFICE_LANGUAGE": "en"})
    assert "it waits for a second admin's approval before it writes" in dry.output, dry.output

    result = runner.invoke(
        args=["import", "balances", str(path), "--user", maker.email], env={"BACKOFFICE_LANGUAGE": "en"}
    )
    assert result.exit_code != 0
    assert "waits for a second admin's approval (request #" in result.output, result.output
    assert openings() == []
    record = db.session.scalar(sa.select(Import).order_by(Import.id))
    assert record.status == ImportStatus.WAITING
    asked = request_of(record.id)
    total = sum(abs(Decimal(amount.replace(".", ""))) for _code, amount in rows)
    assert (asked.status, asked.amount, asked.requested_by_id) == (ApprovalStatus.PENDING, total, maker.id)
    assert (asked.correction["file"], asked.correction["rows"]) == ("saldo.csv", len(rows))

    # Imported again meanwhile, it asks nothing twice and writes nothing.
    again = runner.invoke(
        args=["import", "balances", str(path), "--user", maker.email], env={"BACKOFFICE_LANGUAGE": "en"}
    )
    assert again.exit_code != 0 and openings() == []
    assert f"Import #{record.id} of the same file waits for a second admin's approval already" in again.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ApprovalRequest)) == 1

    # The one who asked cannot approve it; the Approvals page shows its file, rows and total to the other.
    log_in(client, maker)
    page = client.get("/approvals", headers=ENGLISH).get_data(as_text=True)
    assert f"import #{record.id}</a> of saldo.csv, {len(rows)} rows" in page
    url = f"/approvals/{asked.id}/approve"
    assert client.post(url, data=opened(client, "/approvals", url)).status_code == 403
    assert openings() == []

    # Asked in English by the command, it is said in the reader's language, from its facts, dated by its rows.
    indonesian = " ".join(client.get("/approvals", headers=INDONESIAN).get_data(as_text=True).split())
    assert f"Impor #{record.id} dari saldo.csv: {len(rows)} baris memindahkan" in indonesian
    assert "rows moving" not in indonesian and "hari disetujui" not in indonesian

    log_in(client, checker)
    approved = client.post(url, data=opened(client, "/approvals", url))
    assert approved.status_code == 302 and approved.location.endswith(f"/imports/{record.id}")
    done = db.session.get(Import, record.id)
    assert done.status == ImportStatus.DONE, done.error
    decided = " ".join(client.get("/approvals", headers=ENGLISH).get_data(as_text=True).split())
    assert f"import #{record.id} let run" in decided and "JE-None" not in decided
    assert sorted(abs(o.signed_amount) for o in openings()) == sorted(
        abs(Decimal(amount.replace(".", ""))) for _code, amount in rows
    )


def test_an_import_beyond_the_limit_run_by_no_one_is_refused_and_writes_nothing(app, runner, tmp_path, customers):
    path = tmp_path / "saldo.csv"
    path.write_bytes(_file(("C0001", "9.000.000.000.000")))
    result = runner.invoke(args=["import", "balances", str(path)], env={"BACKOFFICE_LANGUAGE": "en"})
    assert result.exit_code != 0
    assert "an admin asks for (the command's --user). Nothing was written." in result.output, result.output
    assert openings() == [] and db.session.scalar(sa.select(sa.func.count()).select_from(ApprovalRequest)) == 0


def test_an_import_within_the_limit_writes_at_once(app, runner, tmp_path, customers):
    path = tmp_path / "saldo.csv"
    path.write_bytes(_file(("C0001", "20.000"), ("C0002", "-10.000")))
    result = runner.invoke(args=["import", "balances", str(path)], env={"BACKOFFICE_LANGUAGE": "en"})
    assert result.exit_code == 0, result.output
    assert db.session.scalar(sa.select(Customer.balance).where(Customer.code == "C0001")) == Decimal("20000.00")


def test_a_rejected_import_stays_unwritten_and_says_why(app, runner, tmp_path, customers, admins, client):
    maker, checker = admins
    path = tmp_path / "saldo.csv"
    path.write_bytes(_file(("C0001", "9.000.000")))
    runner.invoke(args=["import", "balances", str(path), "--user", maker.email])
    record = db.session.scalar(sa.select(Import))
    asked = request_of(record.id)
    log_in(client, checker)
    url = f"/approvals/{asked.id}/reject"
    rejected = client.post(url, data=opened(client, "/approvals", url) | {f"reject-{asked.id}-reason": "Wrong file"})
    assert rejected.status_code == 302
    db.session.rollback()
    stopped = db.session.get(Import, record.id)
    assert stopped.status == ImportStatus.FAILED and "was rejected: Wrong file" in stopped.error
    page = client.get(f"/imports/{record.id}", headers=ENGLISH).get_data(as_text=True)
    assert "was rejected: Wrong file. Nothing was written." in page
    assert openings() == []


def test_the_page_starts_an_import_that_waits_and_says_so(app, client, customers, maker):
    log_in(client, maker)
    sent = client.post(
        "/imports",
        data={"kind": "balances", "file": (io.BytesIO(_file(("C0001", "9.000.000"))), "saldo.csv")},
        content_type="multipart/form-data",
    )
    page_url = sent.headers["Location"]
    assert client.post(page_url + "/run").status_code == 302
    page = client.get(page_url, headers=ENGLISH).get_data(as_text=True)
    assert "waiting for approval" in page
    assert "it waits for a second admin&#39;s approval (request #" in page
    assert openings() == []


def test_a_clerks_recharge_over_the_limit_waits_for_an_admin_and_posts_when_approved(app, client, customers, checker):
    clerk = UserFactory(email="clerk@example.com", role="finance")
    log_in(client, clerk)
    url = "/customers/C0001/recharge"
    shown = opened(client, "/customers/C0001?tab=ledger", url)
    typed = shown | {"recharge-amount": "150.000", "recharge-description": "Transfer BCA 0042"}
    sent = client.post(url, data=typed, headers=ENGLISH)
    assert sent.status_code == 302
    assert wallet_rows("C0001") == []
    asked = db.session.scalar(sa.select(ApprovalRequest).where(ApprovalRequest.kind == ApprovalKind.RECHARGE))
    assert (asked.amount, asked.status, asked.requested_by_id) == (
        Decimal("150000.00"),
        ApprovalStatus.PENDING,
        clerk.id,
    )
    assert client.post(url, data=typed, headers=ENGLISH).status_code == 302  # sent again: asked once
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ApprovalRequest)) == 1

    unsaid = client.post(url, data=shown | {"recharge-amount": "150.000", "recharge-idempotency_key": "other"})
    assert unsaid.status_code == 422 and "say why" in unsaid.get_data(as_text=True)

    log_in(client, checker)
    approve = f"/approvals/{asked.id}/approve"
    assert client.post(approve, data=opened(client, "/approvals", approve)).status_code == 302
    assert [(row.kind.value, row.amount) for row in wallet_rows("C0001")] == [("recharge", Decimal("150000.00"))]


def test_a_command_s_recharge_over_the_limit_is_refused_and_within_it_posts(app, runner, customers):
    refused = runner.invoke(args=["ledger", "recharge", "C0001", "150.000"], env={"BACKOFFICE_LANGUAGE": "en"})
    assert refused.exit_code != 0 and "above the approval limit" in refused.output, refused.output
    assert wallet_rows("C0001") == []
    posted = runner.invoke(args=["ledger", "recharge", "C0001", "50.000"], env={"BACKOFFICE_LANGUAGE": "en"})
    assert posted.exit_code == 0, posted.output
    assert len(wallet_rows("C0001")) == 1


def test_a_charge_through_the_api_beyond_the_limit_posts_as_the_clients(app, customers, maker):
    from backoffice.services import api_clients, wallet

    wallet.recharge(customers[0], Decimal("1000000"))
    token = api_clients.issue("portal", by=maker)[1]
    answer = app.test_client().post(
        "/api/v1/customers/C0001/charges",
        json={"amount": "150000.00", "service_type": "parking_fee", "reference": 7},
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "k-1"},
    )
    assert answer.status_code == 201, answer.get_json()


def wallet_rows(code: str) -> list[BalanceTransaction]:
    db.session.rollback()
    customer = db.session.scalar(sa.select(Customer).where(Customer.code == code))
    return db.session.scalars(sa.select(BalanceTransaction).where(BalanceTransaction.customer_id == customer.id)).all()


def _waiting_import(runner, tmp_path, maker, rows) -> tuple[Import, ApprovalRequest]:
    path = tmp_path / "saldo.csv"
    path.write_bytes(_file(*rows))
    runner.invoke(args=["import", "balances", str(path), "--user", maker.email])
    record = db.session.scalar(sa.select(Import).order_by(Import.id))
    return record, request_of(record.id)


def test_an_approved_import_pointed_at_another_file_by_sql_writes_nothing(
    app, runner, tmp_path, customers, admins, client
):
    maker, checker = admins
    record, asked = _waiting_import(runner, tmp_path, maker, [("C0001", "60.000")])
    other = tmp_path / "other.csv"
    other.write_bytes(_file(("C0001", "9.000.000.000")))
    sha256, _size = kept.keep_file(other)
    db.session.commit()
    with db.engine.begin() as connection:
        connection.execute(sa.text("UPDATE imports SET sha256 = :sha WHERE id = :id"), {"sha": sha256, "id": record.id})
    log_in(client, checker)
    url = f"/approvals/{asked.id}/approve"
    assert client.post(url, data=opened(client, "/approvals", url)).status_code == 302
    db.session.rollback()
    stopped = db.session.get(Import, record.id)
    assert stopped.status == ImportStatus.FAILED and "approved another file" in stopped.error
    assert openings() == []


@pytest.mark.production_path("real workers")
def test_an_import_waits_for_approval_then_a_worker_writes_it_as_the_runtime_role(
    app, client, customers, admins, redis_url
):
    maker, checker = admins
    log_in(client, maker)
    sent = client.post(
        "/imports",
        data={"kind": "balances", "file": (io.BytesIO(_file(("C0001", "9.000.000"))), "saldo.csv")},
        content_type="multipart/form-data",
    )
    page = sent.headers["Location"]
    run_worker(app, redis_url, approval_above=app.config["APPROVAL_ABOVE"])  # the check
    assert client.post(page + "/run").status_code == 302
    run_worker(app, redis_url, approval_above=app.config["APPROVAL_ABOVE"])
    record = db.session.scalar(sa.select(Import))
    assert record.status == ImportStatus.WAITING and openings() == []
    asked = request_of(record.id)
    assert asked.requested_by_id == maker.id and asked.status is ApprovalStatus.PENDING

    log_in(client, checker)
    url = f"/approvals/{asked.id}/approve"
    assert client.post(url, data=opened(client, "/approvals", url)).status_code == 302
    run_worker(app, redis_url, approval_above=app.config["APPROVAL_ABOVE"])
    db.session.rollback()
    done = db.session.get(Import, record.id)
    assert done.status == ImportStatus.DONE, done.error
    assert [o.signed_amount for o in openings()] == [Decimal("9000000.00")]
