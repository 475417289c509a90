"""A month's targets for every active account manager at once, on screen and by ``targets generate``."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice.models import ReconciliationRun, Target
from backoffice.platform.extensions import db
from tests.factories import AccountManagerFactory, OrderFactory, TargetFactory, corrupt, stored

D = Decimal


def targets(period_start: date) -> dict[str, tuple[Decimal, Decimal]]:
    db.session.rollback()
    return {
        target.account_manager.name: (target.target_amount, target.achieved_amount)
        for target in db.session.scalars(sa.select(Target).where(Target.period_start == period_start))
    }


def count() -> int:
    db.session.rollback()
    return db.session.scalar(sa.select(sa.func.count(Target.id)))


@pytest.fixture
def team():
    """Dewi has a target for November and December; Budi for November; Gone is inactive; Sari is new."""
    dewi, budi = AccountManagerFactory(name="Dewi"), AccountManagerFactory(name="Budi")
    AccountManagerFactory(name="Gone", active=False)
    AccountManagerFactory(name="Sari")
    TargetFactory(account_manager=dewi, period_start=date(2026, 11, 1), target_amount=D("100000000"))
    TargetFactory(account_manager=budi, period_start=date(2026, 11, 1), target_amount=D("80000000"))
    TargetFactory(account_manager=dewi, period_start=date(2026, 12, 1), target_amount=D("5"))
    OrderFactory(account_manager=budi, customer__account_manager=budi, closing_date=date(2026, 12, 3))
    return dewi, budi


def test_a_clerk_sets_targets_from_an_amount_for_the_active_managers_without_one(client, auth, team):
    auth.login("finance")
    page = client.get("/targets/generate").get_data(as_text=True)
    assert "Set a month's targets" in page and 'placeholder="0,00"' in page
    response = client.post("/targets/generate", data={"month": "2026-12", "source": "amount", "amount": "50.000.000"})
    assert response.status_code == 302
    assert targets(date(2026, 12, 1)) == {
        "Dewi": (D("5.00"), D("0.00")),
        "Budi": (D("50000000.00"), D("9300000.00")),
        "Sari": (D("50000000.00"), D("0.00")),
    }
    listed = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Targets for December 2026: 2 set; 1 kept as they were (Dewi)." in listed


def test_the_previous_months_targets_are_taken_and_the_amount_for_who_had_none(client, auth, team):
    auth.login("finance")
    data = {"month": "2026-12", "source": "previous", "amount": "1.000"}
    assert client.post("/targets/generate", data=data).status_code == 302
    assert targets(date(2026, 12, 1)) == {
        "Dewi": (D("5.00"), D("0.00")),
        "Budi": (D("80000000.00"), D("9300000.00")),
        "Sari": (D("1000.00"), D("0.00")),
    }


def test_without_an_amount_a_manager_with_no_past_target_gets_none_and_is_named(client, auth, team):
    auth.login("finance")
    response = client.post("/targets/generate", data={"month": "2026-12", "source": "previous"}, follow_redirects=True)
    assert "1 set; 1 kept as they were (Dewi); 1 not set, with no previous target and no amount (Sari)." in (
        response.get_data(as_text=True)
    )
    assert set(targets(date(2026, 12, 1))) == {"Dewi", "Budi"}


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"month": "", "source": "amount", "amount": "1"}, "month", "Enter the month as YYYY-MM."),
        ({"month": "12-2026", "source": "amount", "amount": "1"}, "month", "Write the month as YYYY-MM"),
        ({"month": "2026-12", "source": "amount", "amount": ""}, "amount", "Give an amount, or take"),
        ({"month": "2026-12", "source": "amount", "amount": "-1"}, "amount", "must not be negative"),
        ({"month": "2026-12", "source": "amount", "amount": "1,234.5"}, "amount", "separators are not read"),
        ({"month": "2026-12", "source": "other", "amount": "1"}, "source", "Not a valid choice"),
    ],
)
def test_targets_that_cannot_be_generated_say_why_and_nothing_is_written(client, auth, team, data, field, message):
    auth.login("finance")
    before = count()
    response = client.post("/targets/generate", data=data)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page.split(f'id="error-{field}">', 1)[1].split("</div>", 1)[0]
    assert count() == before


def test_targets_generate_sets_the_months_targets_by_command(runner, team):
    result = runner.invoke(args=["targets", "generate", "2026-12", "--amount", "50.000.000"])
    assert result.exit_code == 0, result.output
    assert result.output == "Targets for December 2026: 2 set; 1 kept as they were (Dewi).\n"
    assert targets(date(2026, 12, 1))["Sari"] == (D("50000000.00"), D("0.00"))
    again = runner.invoke(args=["targets", "generate", "2027-01", "--from-previous"])
    assert again.exit_code == 0, again.output
    assert targets(date(2027, 1, 1)) == {
        "Dewi": (D("5.00"), D("0.00")),
        "Budi": (D("50000000.00"), D("0.00")),
        "Sari": (D("50000000.00"), D("0.00")),
    }


def test_targets_generate_update_recomputes_the_achieved_amounts_through_the_engine(runner, team):
    _dewi, budi = team
    december = db.session.scalar(sa.select(Target.id).where(Target.period_start == date(2026, 12, 1)))
    corrupt("targets", "achieved_amount", december, "123.45")
    result = runner.invoke(args=["targets", "generate", "2026-12", "--amount", "1.000", "--update"])
    assert result.exit_code == 0, result.output
    run = db.session.scalar(sa.select(ReconciliationRun))
    assert run.checks == ["target_achieved"] and run.scope == {"from_month": "2026-12"}
    assert f"Achieved amounts from December 2026 recomputed (run {run.id}): 3 target(s), 1 changed." in result.output
    assert stored("targets", "achieved_amount", december) == D("0.00")
    only_update = runner.invoke(args=["targets", "generate", "2026-11", "--update"])
    assert only_update.exit_code == 0, only_update.output
    assert "Targets for" not in only_update.output and "recomputed" in only_update.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["2026-13", "--amount", "1"], "Write the month as YYYY-MM"),
        (["2026-12"], "Give an amount, or take each manager's target of the previous month."),
        (["2026-12", "--amount", "abc"], "Not an amount"),
        (["2026-12", "--amount", "-5"], "must not be negative"),
    ],
)
def test_targets_generate_refuses_bad_input_with_exit_status_2_and_writes_nothing(runner, team, args, message):
    before = count()
    result = runner.invoke(args=["targets", "generate", *args], catch_exceptions=False)
    assert result.exit_code == 2
    assert message in result.output
    assert count() == before
