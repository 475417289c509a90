"""What the system writes in English and keeps (why a fix left a discrepancy, a deleted record's name, the columns
changed outside the application) is said in the reader's language on the run's page and on the command line."""

from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from backoffice.models import Discrepancy, RunMode
from backoffice.platform.extensions import db
from backoffice.reconcile import journal_balanced, ledger_chain, reading_calculation
from backoffice.reconcile.engine import run
from backoffice.reconcile.wording import reason_said
from backoffice.services import wallet
from tests.factories import CustomerFactory, OrderFactory, corrupt, forged_recharge


def _reasons(run_id: int) -> set[str]:
    return set(db.session.scalars(sa.select(Discrepancy.reason).where(Discrepancy.run_id == run_id)))


def _page(client, run_id: int, language: str) -> str:
    return client.get(f"/reconciliation/runs/{run_id}", headers={"Accept-Language": language}).get_data(as_text=True)


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("id", "tidak diperbaiki: rantai mutasi saldo HOTEL terputus pada mutasi #{forged}"),
        ("vi", "không sửa: chuỗi biến động số dư của HOTEL bị đứt tại biến động #{forged}"),
    ],
)
def test_a_runs_page_says_why_a_fix_left_a_discrepancy_in_the_readers_language(client, auth, language, words):
    customer = CustomerFactory(code="HOTEL")
    wallet.recharge(customer, Decimal("1000"))
    forged = forged_recharge(customer.id, "5000")
    record = run(RunMode.FIX, checks=["customer_wallet"])
    kept = f"left unfixed: the ledger chain of HOTEL is broken at movement #{forged}; deal with the ledger first"
    assert _reasons(record.id) == {kept}
    auth.login("finance")
    page = _page(client, record.id, language)
    assert words.format(forged=forged) in page and kept not in page


def test_a_command_says_why_a_fix_left_a_discrepancy_in_the_installations_language(app, runner):
    customer = CustomerFactory(code="HOTEL")
    wallet.recharge(customer, Decimal("1000"))
    forged = forged_recharge(customer.id, "5000")
    app.config["LANGUAGE"] = "id"
    result = runner.invoke(args=["reconcile", "verify", "--fix", "--check", "customer_wallet"])
    output = " ".join(result.output.split())
    assert result.exit_code == 1
    assert f"tidak diperbaiki: rantai mutasi saldo HOTEL terputus pada mutasi #{forged}" in output
    assert "left unfixed" not in output
    kept = f"left unfixed: the ledger chain of HOTEL is broken at movement #{forged}; deal with the ledger first"
    assert _reasons(db.session.scalar(sa.select(sa.func.max(Discrepancy.run_id)))) == {kept}


@pytest.mark.parametrize("language", ["id", "vi"])
def test_an_amount_in_a_reason_is_said_in_the_readers_money_format(app, language):
    from backoffice.platform.money import shown

    with app.test_request_context():
        kept = reading_calculation.ABOVE_LIMIT.write(moved=Decimal("1500000"), code="HOTEL", limit=Decimal("1000000"))
        assert kept.startswith("left unfixed: its fix would move Rp1.500.000,00 on customer HOTEL's wallet")
        with force_locale(language):
            moved, limit = shown(Decimal("1500000")), shown(Decimal("1000000"))
            said = reason_said(kept)
            words = str(reading_calculation.ABOVE_LIMIT.words) % {"moved": moved, "code": "HOTEL", "limit": limit}
        assert said == words and "left unfixed" not in said
        assert reason_said(kept) == kept


def test_every_reason_is_read_back_from_the_text_it_wrote(app):
    with app.test_request_context():
        kept = journal_balanced.UNBALANCED.write(number="JE-7", code="1000")
        assert journal_balanced.UNBALANCED.facts(kept) == {"number": "JE-7", "code": "1000"}
        assert ledger_chain.BROKEN.facts(kept) is None
        with force_locale("id"):
            assert reason_said(kept).startswith("tidak diperbaiki: jurnal JE-7, yang dibukukan ke akun 1000")
            assert reason_said("an older wording, kept") == "an older wording, kept"
            assert reason_said(kept[:40]) == kept[:40]


@pytest.mark.parametrize(
    ("language", "said"), [("id", "pesanan DEMO-0001 (dihapus)"), ("vi", "đơn hàng DEMO-0001 (đã xóa)")]
)
def test_a_deleted_record_is_named_with_its_kind_in_the_readers_language(client, auth, language, said):
    gone = OrderFactory(number="DEMO-0001").id
    db.session.execute(sa.text("DELETE FROM orders WHERE id = :id"), {"id": gone})
    db.session.commit()
    record = run(RunMode.VERIFY, checks=["history_drift"])
    auth.login("finance")
    page = _page(client, record.id, language)
    assert said in page and "order DEMO-0001" not in page


@pytest.mark.parametrize("language", ["id", "vi"])
def test_columns_changed_outside_the_application_are_named_by_their_labels(app, client, auth, language):
    from backoffice.models import Order
    from backoffice.web.oversight.history import labels_of

    order = OrderFactory()
    corrupt("orders", "additions", order.id, "7.00")
    record = run(RunMode.VERIFY, checks=["history_drift"])
    assert set(db.session.scalars(sa.select(Discrepancy.field).where(Discrepancy.run_id == record.id))) == {"additions"}
    auth.login("finance")
    page = _page(client, record.id, language)
    with app.test_request_context(), force_locale(language):
        label = str(labels_of(Order)["additions"])
    assert label != "additions" and label in page and ": additions<" not in page
