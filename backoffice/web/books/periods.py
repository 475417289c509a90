"""The books' periods: the months and whether each is closed, by whom and when; an admin closes a month (asked
first what closing it does and what waits that it would refuse) and reopens one, saying why."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import func, select
from wtforms import StringField
from wtforms.validators import InputRequired, Length

from backoffice.models import ApprovalRequest, ApprovalStatus, EntryStatus, JournalEntry, Role
from backoffice.models.types import Month
from backoffice.platform.extensions import db
from backoffice.platform.i18n import named_month
from backoffice.platform.lines import DESCRIPTION_LENGTH
from backoffice.services import periods
from backoffice.web.plumbing.auth import requires_role
from backoffice.web.plumbing.forms import FlaskForm, errors_text

bp = Blueprint("periods", __name__, url_prefix="/books")


class CloseForm(FlaskForm):
    note = StringField(_l("Note"), validators=[Length(max=DESCRIPTION_LENGTH)])


class ReopenForm(FlaskForm):
    reason = StringField(
        _l("Reason"), validators=[InputRequired(_l("Say why the month is reopened.")), Length(max=DESCRIPTION_LENGTH)]
    )


@bp.get("/periods")
def index():
    """The months and whether each is closed, by whom and when; admins close and reopen them."""
    return _periods()


@bp.get("/periods/<month>/close")
@requires_role(Role.ADMIN)
def confirm_close(month: str):
    """What closing the month will do, asked before it is done: the months it closes, what is then refused, and
    what waits that it would refuse (drafts, pending approvals)."""
    overview = periods.overview()
    state = next((m for m in overview.months if m.month == month), None)
    if (refusal := _not_closable(month, state)) is not None:
        return render_template("books/close_month.html", month=month, refusal=refusal)
    waiting = db.session.execute(
        select(
            select(func.count(JournalEntry.id))
            .where(JournalEntry.status == EntryStatus.DRAFT, JournalEntry.entry_date <= state.last)
            .scalar_subquery(),
            select(func.count(ApprovalRequest.id))
            .where(ApprovalRequest.status == ApprovalStatus.PENDING, ApprovalRequest.value_date <= state.last)
            .scalar_subquery(),
        )
    ).one()
    return render_template(
        "books/close_month.html",
        month=month,
        state=state,
        closing=[m for m in overview.months if m.closable and m.last <= state.last],
        drafts=waiting[0],
        pending=waiting[1],
        form=CloseForm(formdata=None),
    )


def _not_closable(month: str, state: periods.MonthState | None) -> str | None:
    """Why the month cannot be closed from the periods page, if it cannot."""
    if state is None:
        try:
            periods.month_days(month)
        except periods.PeriodError as error:
            return str(error)
        return _("%(month)s is not one of the months the periods page lists.", month=_named(month))
    if state.closed:
        return _("%(month)s is already closed.", month=_named(month))
    if not state.closable:
        return _("%(month)s has not ended yet: it can be closed once it has.", month=_named(month))
    return None


@bp.post("/periods/<month>/close")
@requires_role(Role.ADMIN)
def close_month(month: str):
    form = CloseForm()
    done = _l("%(month)s closed.")
    return _period_action(form, month, lambda: periods.close(month, current_user, form.note.data or ""), done)


@bp.post("/periods/<month>/reopen")
@requires_role(Role.ADMIN)
def reopen_month(month: str):
    form = ReopenForm()
    done = _l("%(month)s reopened.")
    return _period_action(form, month, lambda: periods.reopen(month, current_user, form.reason.data or ""), done)


def _period_action(form: FlaskForm, month: str, act, done):
    if form.validate_on_submit():
        try:
            action = act()
        except periods.PeriodError as error:
            return _periods(month, str(error)), 422
        flash(str(done) % {"month": _named(action.year_month)}, "success")
        return redirect(url_for("periods.index"))
    return _periods(month, errors_text(form)), 422


def _named(month: str) -> str:
    """A month typed ``YYYY-MM`` (one the periods page lists) as a sentence names it."""
    return named_month(Month.parse(month))


def _periods(month: str | None = None, error: str | None = None) -> str:
    """The periods page; ``error`` says why what was asked of ``month`` was refused."""
    return render_template(
        "books/periods.html", overview=periods.overview(), error_month=month, error=error, typed=request.form
    )
