"""Account managers: the list (downloaded as CSV or a workbook), adding and editing one, and for admins deactivating
and reactivating one."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, literal, select
from wtforms import EmailField, StringField
from wtforms.validators import InputRequired, Length

from backoffice.models import AccountManager, Customer, Role
from backoffice.platform.extensions import db
from backoffice.platform.replica import reads
from backoffice.services import ChangedMeanwhile, managers
from backoffice.web.plumbing.auth import requires_role
from backoffice.web.plumbing.forms import FlaskForm
from backoffice.web.plumbing.lists import Column, Filters, Listing
from backoffice.web.plumbing.versions import Versioned, refused_edit

bp = Blueprint("managers", __name__, url_prefix="/managers")

COLUMNS = [Column("active", _l("Status"), AccountManager.active, then=AccountManager.name)]
CSV_COLUMNS = ["name", "email", "active", "customers"]
CUSTOMERS = func.count(Customer.id).label("customers")


class ManagerForm(Versioned, FlaskForm):
    name = StringField(
        _l("Name"),
        validators=[
            InputRequired(_l("Enter the manager's name.")),
            Length(max=120, message=_l("Use at most 120 characters.")),
        ],
    )
    email = EmailField(
        _l("Email"),
        validators=[
            InputRequired(_l("Enter the manager's email.")),
            Length(max=254, message=_l("Use at most 254 characters.")),
        ],
    )


@bp.get("")
def index():
    listing = _listing()
    rows = db.session.execute(listing.select(_with_customers(AccountManager))).all()
    return render_template("managers/index.html", listing=listing, rows=rows)


@bp.get("/export.<any(csv, xlsx):format>")
@reads
def export(format: str):
    """Every account manager, in the list's order (the active first, by name), with how many customers each has,
    streamed."""
    active = case((AccountManager.active, literal("yes")), else_=literal("no"))
    rows = _with_customers(AccountManager.name, AccountManager.email, active)
    return _listing().export("account-managers", CSV_COLUMNS, rows, format=format)


def _listing() -> Listing:
    return Listing(
        Filters(request.args),
        COLUMNS,
        lambda _filters: [],
        default="-active",
        tiebreak=AccountManager.id,
        csv_endpoint="managers.export",
    )


def _with_customers(*columns):
    """``columns`` of each account manager, and how many customers the manager has."""
    return (
        select(*columns, CUSTOMERS)
        .select_from(AccountManager)
        .outerjoin(Customer, Customer.account_manager_id == AccountManager.id)
        .group_by(AccountManager.id)
    )


@bp.route("/new", methods=["GET", "POST"])
def new():
    form = ManagerForm()
    if form.validate_on_submit():
        try:
            manager = managers.create_manager(form.name.data, form.email.data)
        except managers.ManagerError as error:
            form[error.field].errors.append(str(error))
        else:
            flash(_("Account manager %(name)s added.", name=manager.name), "success")
            return redirect(url_for("managers.index"))
    return render_template("managers/form.html", form=form, manager=None), 422 if form.errors else 200


@bp.route("/<int:manager_id>/edit", methods=["GET", "POST"])
def edit(manager_id: int):
    manager = _get(manager_id)
    form = ManagerForm(obj=manager)
    if form.validate_on_submit():
        try:
            managers.change_manager(manager, form.name.data, form.email.data, version=form.version.data)
        except managers.ManagerError as error:
            form[error.field].errors.append(str(error))
        except ChangedMeanwhile:
            gone_to = url_for("managers.index")
            if gone := refused_edit(form, AccountManager, manager_id, "account manager", gone_to=gone_to):
                return gone
        else:
            flash(_("Account manager %(name)s saved.", name=manager.name), "success")
            return redirect(url_for("managers.index"))
    status = 409 if form.changed else 422 if form.errors else 200
    return render_template("managers/form.html", form=form, manager=manager), status


@bp.route("/<int:manager_id>/deactivate", methods=["GET", "POST"])
@requires_role(Role.ADMIN)
def deactivate(manager_id: int):
    """The page says what deactivating keeps; its button deactivates."""
    manager = _get(manager_id)
    if not manager.active:
        flash(_("%(name)s is inactive already.", name=manager.name), "info")
        return redirect(url_for("managers.index"))
    form = FlaskForm()
    if form.validate_on_submit():
        return _set_active(manager, False)
    customers, targets = managers.what_refers_to(manager)
    return render_template("managers/deactivate.html", manager=manager, form=form, customers=customers, targets=targets)


@bp.post("/<int:manager_id>/reactivate")
@requires_role(Role.ADMIN)
def reactivate(manager_id: int):
    return _set_active(_get(manager_id), True)


def _set_active(manager: AccountManager, active: bool):
    try:
        managers.set_active(manager, active)
    except managers.ManagerError as error:
        flash(str(error), "info")
    else:
        done = _("Account manager %(name)s reactivated.") if active else _("Account manager %(name)s deactivated.")
        flash(done % {"name": manager.name}, "success")
    return redirect(url_for("managers.index"))


def _get(manager_id: int) -> AccountManager:
    manager = db.session.get(AccountManager, manager_id)
    if manager is None:
        abort(404)
    return manager
