"""The app factory: settings, the database, the models, hooks and seals, the commands, and the web layer."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: dict | None = None, *, web: bool = True, database: bool = True) -> Flask:
    """The app; with ``web=False``, without its web layer (pages, forms, log-ins, the API, and the log handler:
    a command prints what it has to say, and the worker sets its logs up itself); with ``database=False`` too,
    without the database bound (:func:`backoffice.services.listeners.bind` binds it later).

    Only what serves or shows requests needs the web layer: the ``backoffice`` commands other than Flask's
    ``run``, ``routes`` and ``shell`` build the app without it (see ``cli``), for every cron line and script pays for
    what its start-up builds; the worker builds it whole, as it draws documents from the pages' templates. What it
    imports, it imports here, when it is called: the ``backoffice`` command imports this module before it knows what
    it is asked to run.
    """
    from backoffice.platform import config, databases, i18n, logs

    app = Flask(
        "backoffice",
        instance_path=str(ROOT / "instance"),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.extensions["backoffice.pid"] = os.getpid()
    app.config.update(config.from_environment(app.instance_path))
    if test_config:
        app.config.update(test_config)
        app.config["SQLALCHEMY_DATABASE_URI"] = databases.database_url(app.config["SQLALCHEMY_DATABASE_URI"])
        embedded = "SQLALCHEMY_DATABASE_URI" not in test_config
        app.config["DATABASE_EMBEDDED"] = test_config.get("DATABASE_EMBEDDED", embedded)
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = databases.engine_options(
        app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {}),
        prepared=app.config["DATABASE_PREPARED_STATEMENTS"],
    )
    app.config["SQLALCHEMY_BINDS"] = databases.binds(app.config)

    i18n.init_app(app)
    if database or web:
        from backoffice.services.listeners import bind

        bind(app)
    if web:
        logs.configure(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"])
        register_web(app)
    register_commands(app)
    return app


def register_migrations(app: Flask) -> None:
    """Bind Flask-Migrate, with its ``db`` commands (and ``db grant-runtime`` and ``db restore-check``), to the app.

    Only what migrates binds it (the ``db`` commands, see ``cli``; the tests' set-up): Alembic takes a fifth
    of a second to import, which every other command, every worker and every web process would pay.
    """
    from flask_migrate import Migrate
    from flask_migrate.cli import db as db_commands

    from backoffice.cli.grant_runtime import grant_runtime_command
    from backoffice.cli.restore_check import ON_ANOTHER_DATABASE, restore_check_command
    from backoffice.platform.extensions import db
    from backoffice.services.listeners import bind

    bind(app)
    if "migrate" not in app.extensions:
        Migrate(app, db, directory=str(ROOT / "migrations"), compare_type=True)
    # The runtime role's grant beside the migrations: both are the owner's to run
    # (see backoffice/platform/runtime_role.py). The check of a restored database compares it with both.
    db_commands.add_command(grant_runtime_command)
    db_commands.add_command(restore_check_command)
    app.extensions[ON_ANOTHER_DATABASE] = partial(on_another_database, app)


def on_another_database(app: Flask, url: str, **config) -> Flask:
    """An app of ``app``'s settings (and ``config``) bound to the database at ``url``, without its web layer: what
    ``backoffice db restore-check`` checks a restored database through, its app's own database untouched. Built here,
    where apps are built, and handed to the command (which sits below this module)."""
    settings = {name: value for name, value in app.config.items() if not name.startswith("SQLALCHEMY_")}
    return create_app(settings | config | {"SQLALCHEMY_DATABASE_URI": url}, web=False)


def register_web(app: Flask) -> None:
    """The web layer: request timing, request ids and log lines, log-ins, CSRF protection, request screening, the
    blueprints, template filters, error pages and security headers."""
    from backoffice.web.oversight import history
    from backoffice.web.plumbing import auth, errors, filters, metrics, once, request_log, screening, security
    from backoffice.web.plumbing.extensions import csrf, login_manager

    metrics.init_app(app)
    request_log.init_app(app)
    auth.init_app(app)
    csrf.init_app(app)
    login_manager.init_app(app)
    screening.init_app(app)
    register_blueprints(app)
    filters.init_app(app)
    history.init_app(app)
    once.init_app(app)
    errors.init_app(app)
    security.init_app(app)


def register_blueprints(app: Flask) -> None:
    from backoffice.web import columns, home, notices, saved_filters, search
    from backoffice.web.admin import approvals, imports, issuer, month_end
    from backoffice.web.admin import users as admin
    from backoffice.web.api import clients as client_api
    from backoffice.web.api import health as api
    from backoffice.web.billing import changes as billing
    from backoffice.web.billing import receivables, statements
    from backoffice.web.books import journal as books
    from backoffice.web.books import movements, periods, tax_register
    from backoffice.web.customers import ledger, monthly
    from backoffice.web.customers import money as customer_money
    from backoffice.web.customers import records as customers
    from backoffice.web.metering import meters, route_sheet, tariff
    from backoffice.web.metering import readings as metering
    from backoffice.web.oversight import evidence, history, jobs, reconciliation
    from backoffice.web.plumbing import auth
    from backoffice.web.sales import managers, orders, targets

    screens = (
        orders,
        customers,
        customer_money,
        ledger,
        movements,
        receivables,
        statements,
        meters,
        metering,
        route_sheet,
        monthly,
        billing,
        targets,
        managers,
        books,
        periods,
        tax_register,
        reconciliation,
        jobs,
        history,
        approvals,
        notices,
        evidence,
        search,
    )
    others = (columns, saved_filters, tariff, admin, issuer, month_end, imports, api, client_api)
    for module in (auth, home, *screens, *others):
        app.register_blueprint(module.bp)
    _label_histories()


def _label_histories() -> None:
    """Each record's history labelled with its forms' fields, the edit form first."""
    from backoffice import models
    from backoffice.web.admin import issuer
    from backoffice.web.admin import users as admin
    from backoffice.web.billing import changes as billing
    from backoffice.web.customers import forms as customer_forms
    from backoffice.web.customers import records as customers
    from backoffice.web.metering import meters
    from backoffice.web.metering import readings as metering
    from backoffice.web.oversight import history
    from backoffice.web.sales import managers, orders, targets

    history.label_with(
        {
            models.Order: (orders.OrderForm,),
            models.Target: (targets.TargetForm,),
            models.Customer: (customers.CustomerForm, customers.NewCustomerForm),
            models.AccountManager: (managers.ManagerForm,),
            models.Meter: (meters.MeterForm, meters.RetireForm),
            models.MeterAssignment: (customer_forms.AssignMeterForm,),
            models.CustomerPricing: (customer_forms.PricingForm,),
            models.MeterReading: (metering.CorrectionForm, customer_forms.ReadingForm),
            models.Invoice: (billing.InvoiceChangeForm, customer_forms.InvoiceForm),
            models.Payment: (billing.PaymentChangeForm, customer_forms.PaymentForm),
            models.User: (admin.UserChangeForm, admin.UserForm),
            models.Issuer: (issuer.IssuerForm,),
        }
    )


def register_commands(app: Flask) -> None:
    from backoffice import cli

    cli.init_app(app)
