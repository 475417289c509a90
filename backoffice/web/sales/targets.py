"""Account-manager targets: target, achieved (kept by the hooks) and progress per month, downloaded as CSV or a
workbook."""

from __future__ import annotations

from decimal import Decimal

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import contains_eager
from wtforms import RadioField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired

from backoffice.models import AccountManager, Target
from backoffice.models.types import Month
from backoffice.platform.extensions import db
from backoffice.platform.i18n import named_month
from backoffice.platform.money import shown
from backoffice.platform.replica import reads
from backoffice.services import ChangedMeanwhile
from backoffice.services.targets import (
    DuplicateTarget,
    TargetError,
    delete_target,
    generate_targets,
    save_target,
)
from backoffice.web.plumbing.fields import MoneyField, MonthField, OptionalMoneyField
from backoffice.web.plumbing.forms import FlaskForm
from backoffice.web.plumbing.lists import Column, Counted, Filters, Listing
from backoffice.web.plumbing.pickers import PickerField
from backoffice.web.plumbing.versions import Versioned, refused_edit

bp = Blueprint("targets", __name__, url_prefix="/targets")

TARGETS_PER_PAGE = 50
"""A month of every manager's targets fits on a page; the totals are of every target the filters select."""
COLUMNS = [Column("month", _l("Month"), Target.period_start, then=AccountManager.name)]
CSV_COLUMNS = ["period", "account_manager", "target_amount", "achieved_amount"]


class TargetForm(Versioned, FlaskForm):
    account_manager_id = PickerField(
        _l("Account manager"), [InputRequired(_l("Choose an account manager."))], kind="manager"
    )
    period_start = MonthField(_l("Month"), validators=[InputRequired(_l("Enter the month as YYYY-MM."))])
    target_amount = MoneyField(_l("Target amount"))


FROM_AMOUNT, FROM_PREVIOUS = "amount", "previous"


class GenerateForm(FlaskForm):
    """A month's targets for every active account manager at once."""

    month = MonthField(_l("Month"), validators=[InputRequired(_l("Enter the month as YYYY-MM."))])
    source = RadioField(
        _l("Each target"),
        choices=[
            SelectChoice(FROM_AMOUNT, _l("this amount")),
            SelectChoice(FROM_PREVIOUS, _l("the manager's target of the previous month, else this amount")),
        ],
        default=FROM_AMOUNT,
        validators=[InputRequired(_l("Choose where the targets come from."))],
    )
    amount = OptionalMoneyField(
        _l("Amount"),
        description=_l("Needed for managers without a target the previous month."),
        zero_example=True,
    )


class TargetFilterForm(Filters):
    manager = PickerField(_l("Account manager"), kind="manager", render_kw={"placeholder": _l("All managers")})
    month = MonthField(_l("Month"))


@bp.get("")
def index():
    listing = _listing()
    # The totals and the page's count in one statement: the targets are counted once.
    count, total_target, total_achieved = db.session.execute(
        select(
            func.count(Target.id),
            func.coalesce(func.sum(Target.target_amount), 0),
            func.coalesce(func.sum(Target.achieved_amount), 0),
        ).where(*listing.conditions)
    ).one()
    query = select(Target).join(Target.account_manager).options(contains_eager(Target.account_manager))
    return render_template(
        "targets/index.html",
        listing=listing,
        filters=listing.filters,
        page=listing.page(query, TARGETS_PER_PAGE, counted=Counted(count)),
        total_target=Decimal(total_target),
        total_achieved=Decimal(total_achieved),
    )


@bp.get("/export.<any(csv, xlsx):format>")
@reads
def export(format: str):
    """Every target the filters select, in the list's order (newest month first, then by manager), streamed."""
    listing = _listing()
    if not listing.valid:
        return index(), 422
    rows = select(
        func.to_char(Target.period_start, "YYYY-MM"), AccountManager.name, Target.target_amount, Target.achieved_amount
    ).join(Target.account_manager)
    return listing.export("targets", CSV_COLUMNS, rows, format=format)


def _listing() -> Listing:
    filters = TargetFilterForm(request.args)
    return Listing(filters, COLUMNS, _conditions, default="-month", tiebreak=Target.id, csv_endpoint="targets.export")


def _conditions(filters: TargetFilterForm) -> list:
    conditions = []
    if filters.manager.data:
        conditions.append(Target.account_manager_id == filters.manager.data)
    if filters.month.data:
        conditions.append(Target.period_start == filters.month.data)
    return conditions


@bp.route("/generate", methods=["GET", "POST"])
def generate():
    """Targets for a month for every active account manager who has none: an amount, or their previous month's.
    A manager's existing target for the month is left as it is."""
    form = GenerateForm()
    if form.validate_on_submit():
        try:
            done = generate_targets(
                Month.of(form.month.data), amount=form.amount.data, from_previous=form.source.data == FROM_PREVIOUS
            )
        except TargetError as error:
            form[error.field].errors.append(str(error))
        else:
            amount = (
                " " + _("Amount read: %(amount)s.", amount=shown(form.amount.data))
                if form.amount.data is not None
                else ""
            )
            flash(done.describe() + amount, "success" if done.created else "info")
            return redirect(url_for("targets.index", month=str(done.month)))
    return render_template("targets/generate.html", form=form), 422 if form.errors else 200


@bp.route("/new", methods=["GET", "POST"])
def new():
    return _edit(Target(), _l("Target created: %(amount)s for %(manager)s in %(month)s."))


@bp.route("/<int:target_id>/edit", methods=["GET", "POST"])
def edit(target_id: int):
    return _edit(_get(target_id), _l("Target saved: %(amount)s for %(manager)s in %(month)s."))


@bp.post("/<int:target_id>/delete")
def delete(target_id: int):
    try:
        delete_target(_get(target_id))
    except ChangedMeanwhile:
        flash(_("This target was changed by someone else meanwhile; it was not deleted."), "error")
        return redirect(url_for("targets.edit", target_id=target_id))
    flash(_("Target deleted."), "success")
    return redirect(url_for("targets.index"))


def _edit(target: Target, saved_message):
    form = TargetForm(obj=target)
    target_id = target.id
    if form.validate_on_submit():
        form.populate_obj(target)
        try:
            save_target(target, version=form.version.data)
        except DuplicateTarget as error:
            form.period_start.errors.append(str(error))
        except ChangedMeanwhile:
            if gone := refused_edit(form, Target, target_id, "target", gone_to=url_for("targets.index")):
                return gone
        else:
            saved = {
                "amount": shown(target.target_amount),
                "manager": target.account_manager,
                "month": named_month(target.period_start),
            }
            flash(str(saved_message) % saved, "success")
            return redirect(url_for("targets.index", month=target.period))
    status = 409 if form.changed else 422 if form.errors else 200
    return render_template("targets/form.html", form=form, target=target), status


def _get(target_id: int) -> Target:
    target = db.session.get(Target, target_id)
    if target is None:
        abort(404)
    return target
