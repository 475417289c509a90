"""The ``backoffice`` command: users, demo data, and the console script itself."""

import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

from backoffice import create_app
from backoffice.models import (
    AccountManager,
    BalanceTransaction,
    Customer,
    Invoice,
    Meter,
    Order,
    Role,
    Target,
    User,
    grand_total_of,
)
from backoffice.models.formulas import achieved_amount_sql
from backoffice.platform.extensions import db
from tests.checkout import CONSOLE_SCRIPT
from tests.factories import AccountManagerFactory, CustomerFactory, UserFactory


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_users_create_reads_the_password_from_stdin(runner):
    result = runner.invoke(
        args=["users", "create", "Clerk@Example.com", "--role", "finance", "--password-stdin"],
        input="a long enough password\n",
    )
    assert result.exit_code == 0, result.output
    assert "Created finance user clerk@example.com" in result.output
    user = db.session.scalar(sa.select(User))
    assert user.email == "clerk@example.com" and user.role is Role.FINANCE
    assert user.check_password("a long enough password")


def test_users_create_prompts_for_the_password_when_not_piped(runner):
    result = runner.invoke(
        args=["users", "create", "boss@example.com", "--role", "admin"],
        input="a long enough password\na long enough password\n",
    )
    assert result.exit_code == 0, result.output
    assert db.session.scalar(sa.select(User.role)) is Role.ADMIN


def test_users_create_refuses_bad_input_and_writes_nothing(runner):
    UserFactory(email="taken@example.com")
    cases = [
        (["taken@example.com", "--role", "admin"], "already exists"),
        (["not-an-email", "--role", "admin"], "is not an email address"),
        (["new@example.com", "--role", "owner"], "Invalid value for '--role'"),
        (["new@example.com"], "Missing option '--role'"),
    ]
    for args, message in cases:
        result = runner.invoke(args=["users", "create", *args, "--password-stdin"], input="a long enough password\n")
        assert result.exit_code != 0, args
        assert message in result.output, result.output
    short = runner.invoke(
        args=["users", "create", "new@example.com", "--role", "admin", "--password-stdin"], input="short\n"
    )
    assert short.exit_code == 1
    assert "at least 10 characters" in short.output
    assert count(User) == 1


def test_demo_data_is_idempotent_and_consistent(runner):
    first = runner.invoke(args=["demo-data"])
    assert first.exit_code == 0, first.output
    assert "admin@example.com" in first.output and "password" in first.output
    assert "controller@example.com" in first.output
    counts = {
        model: count(model)
        for model in (User, AccountManager, Customer, Order, Target, BalanceTransaction, Meter, Invoice)
    }
    assert all(counts.values())
    second = runner.invoke(args=["demo-data"])
    assert second.exit_code == 0
    for kind in ("orders", "wallet movements", "meters", "invoices", "readings"):
        assert f"0 {kind} added" in second.output
    assert {model: count(model) for model in counts} == counts
    wrong_totals = sa.select(sa.func.count()).where(
        Order.grand_total != grand_total_of(Order.total_price, Order.additions, Order.promo, Order.reductions)
    )
    wrong_targets = sa.select(sa.func.count()).where(Target.achieved_amount != achieved_amount_sql())
    assert db.session.scalar(wrong_totals) == 0
    assert db.session.scalar(wrong_targets) == 0
    verified = runner.invoke(args=["reconcile", "verify"])
    assert verified.exit_code == 0, verified.output


def test_demo_data_loads_again_after_an_installation_added_customers_and_managers(demo_data, runner):
    """A clerk's customer, an imported manager: the next make run's load works on the demo's own rows alone."""
    AccountManagerFactory(email="aa@example.com")
    CustomerFactory(code="A0001")
    before = count(BalanceTransaction)
    again = runner.invoke(args=["demo-data"])
    assert again.exit_code == 0, again.output
    assert "0 wallet movements added" in again.output
    assert count(BalanceTransaction) == before


def test_demo_data_says_where_to_log_in_at_the_address_it_is_given(demo_data, runner):
    """On the demo loaded already: the load itself is the test above's."""
    assert "http://127.0.0.1:5000/login" in runner.invoke(args=["demo-data"]).output
    result = runner.invoke(args=["demo-data", "--url", "http://127.0.0.1:5001/"])
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:5001/login" in result.output


def test_demo_data_is_refused_in_production(app, runner):
    app.config["BACKOFFICE_ENV"] = "production"
    result = runner.invoke(args=["demo-data"])
    assert result.exit_code == 1
    assert "not loaded in production" in result.output
    assert count(User) == 0


def test_the_console_script_is_the_flask_cli_bound_to_the_app(app):
    env = os.environ | {"DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "SECRET_KEY": "test"}
    help_text = subprocess.run([CONSOLE_SCRIPT, "--help"], env=env, capture_output=True, text=True, check=True).stdout
    for command in ("run", "db", "users", "demo-data"):
        assert command in help_text
    created = subprocess.run(
        [CONSOLE_SCRIPT, "users", "create", "script@example.com", "--role", "finance", "--password-stdin"],
        env=env,
        input="a long enough password\n",
        capture_output=True,
        text=True,
    )
    assert created.returncode == 0, created.stderr
    again = subprocess.run(
        [CONSOLE_SCRIPT, "users", "create", "script@example.com", "--role", "finance", "--password-stdin"],
        env=env,
        input="a long enough password\n",
        capture_output=True,
        text=True,
    )
    assert again.returncode == 1
    assert "already exists" in again.stderr
    assert db.session.scalar(sa.select(User.email)) == "script@example.com"


def test_the_console_script_migrates_a_new_database(new_database_url):
    env = os.environ | {"DATABASE_URL": new_database_url, "SECRET_KEY": "test"}
    upgraded = subprocess.run([CONSOLE_SCRIPT, "db", "upgrade"], env=env, capture_output=True, text=True)
    assert upgraded.returncode == 0, upgraded.stderr
    current = subprocess.run([CONSOLE_SCRIPT, "db", "current"], env=env, capture_output=True, text=True, check=True)
    assert "(head)" in current.stdout


# What a command does not use, it does not import: every cron line pays for its start-up (bench/startup.py). The web
# layer (pages, forms, the API, security headers) is built only for the commands that serve or show it.
NOT_IMPORTED_BY_COMMANDS = (
    "alembic",
    "rq",
    "redis",
    "email_validator",
    "secure",
    "prometheus_client",
    "backoffice.web",
    "flask_wtf",
    "wtforms",
    "playwright",
    "flask_limiter",
)


def test_a_command_imports_neither_migrations_nor_the_queue_nor_what_only_pages_use(new_database_url):
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env |= {"DATABASE_URL": new_database_url, "SECRET_KEY": "test"}
    subprocess.run([CONSOLE_SCRIPT, "db", "upgrade"], env=env, capture_output=True, check=True)
    probe = (
        "import sys\n"
        "from backoffice.command import main\n"
        "sys.argv = ['backoffice', 'reconcile', 'verify']\n"
        "try:\n    main()\nexcept SystemExit as end:\n    assert not end.code, end.code\n"
        f"print(' '.join(name for name in {NOT_IMPORTED_BY_COMMANDS!r} if name in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == ""


@pytest.mark.parametrize(
    ("arguments", "status"),
    [(["reconcile", "verify", "--help"], 0), (["users", "--help"], 0), (["health", "--url", "http://127.0.0.1:9"], 2)],
)
def test_a_command_that_does_not_read_the_database_does_not_declare_the_models(new_database_url, arguments, status):
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env |= {"DATABASE_URL": new_database_url, "SECRET_KEY": "test"}
    probe = (
        "import sys\n"
        "from backoffice.command import main\n"
        f"sys.argv = ['backoffice', *{arguments!r}]\n"
        "try:\n    main()\nexcept SystemExit as end:\n    print('exit', end.code or 0)\n"
        "print(' '.join(name for name in ('backoffice.models', 'sqlalchemy_continuum') if name in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert result.stdout.splitlines()[-2:] == [f"exit {status}", ""], result.stderr


def test_a_command_closes_its_connections_and_leaves_the_rest_to_the_exiting_process(new_database_url):
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env |= {"DATABASE_URL": new_database_url, "SECRET_KEY": "test"}
    subprocess.run([CONSOLE_SCRIPT, "db", "upgrade"], env=env, capture_output=True, check=True)
    probe = (
        "import gc, sys\n"
        "from backoffice.command import main\n"
        "sys.argv = ['backoffice', 'reconcile', 'verify']\n"
        "try:\n    main()\nexcept SystemExit as end:\n    assert not end.code, end.code\n"
        "print(gc.get_freeze_count())"
    )
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    # Python's last collections would walk every object the libraries and the app made; they are frozen instead.
    assert int(result.stdout.splitlines()[-1]) > 0


def test_the_commands_that_serve_or_show_pages_build_the_web_layer(new_database_url):
    env = os.environ | {"DATABASE_URL": new_database_url, "SECRET_KEY": "test"}
    routes = subprocess.run([CONSOLE_SCRIPT, "routes"], env=env, capture_output=True, text=True, check=True).stdout
    for endpoint in ("auth.login", "orders.index", "api.health_check"):
        assert endpoint in routes
    limits = subprocess.run([CONSOLE_SCRIPT, "limiter", "limits"], env=env, capture_output=True, text=True, check=True)
    assert "auth.login" in limits.stdout


def test_an_app_without_its_web_layer_has_no_pages(new_database_url):
    settings = {"SQLALCHEMY_DATABASE_URI": new_database_url, "SECRET_KEY": "test"}
    assert not create_app(settings, web=False).blueprints
    assert {"auth", "orders", "api"} <= set(create_app(settings).blueprints)


def test_a_bad_environment_is_one_line_and_exit_status_2():
    env = os.environ | {"BACKOFFICE_LOCALE": "xx_YY"}
    result = subprocess.run([CONSOLE_SCRIPT, "users", "--help"], env=env, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "Error: BACKOFFICE_LOCALE='xx_YY' is not a locale Babel knows (e.g. id_ID, en_US)."
    ]


@pytest.mark.parametrize(
    ("arguments", "shown"),
    [
        ([b"customers", b"close", b"HOTEL\xff", b"--user", b"admin@example.com"], "HOTEL\\xff"),
        ([b"ledger", b"recharge", b"HOTEL", b"10\xe9000"], "10\\xe9000"),
        ([b"db", b"restore-check", b"postgresql://owner@127.0.0.1/restored\xff"], "restored\\xff"),
    ],
)
def test_an_argument_that_is_not_utf_8_is_one_line_and_exit_status_2(new_database_url, arguments, shown):
    env = os.environ | {"DATABASE_URL": new_database_url, "SECRET_KEY": "test"}
    result = subprocess.run([bytes(CONSOLE_SCRIPT), *arguments], env=env, capture_output=True)
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.decode().splitlines()
    assert line.startswith("Error: The argument '") and f"{shown}' is not UTF-8 text: " in line, line
    assert result.stdout == b""
    assert _connections_ever(new_database_url) == 0  # refused before anything was opened


def _connections_ever(url: str) -> int:
    """How many transactions the database has seen since it was made (the server's statistics of it)."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1).rsplit("/", 1)[0] + "/postgres")
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT pg_stat_clear_snapshot()")
            return connection.scalar(
                sa.text("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = :name"),
                {"name": url.rsplit("/", 1)[1]},
            )
    finally:
        engine.dispose()
