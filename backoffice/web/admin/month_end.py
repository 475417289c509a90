"""The Month-end page: an admin chooses a month and what to produce (every customer's statement, every invoice of
the month) and whether to send them; a job does it with its progress, and the page lists the runs with their
reports and the zip of their documents."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from wtforms import BooleanField
from wtforms.validators import InputRequired

from backoffice import jobs
from backoffice.models import JobRecord, Role
from backoffice.models.types import Month
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.platform.i18n import named_month
from backoffice.services import month_end, sending
from backoffice.web.plumbing.auth import requires_role
from backoffice.web.plumbing.fields import MonthField
from backoffice.web.plumbing.forms import FlaskForm
from backoffice.web.plumbing.once import posts_once

bp = Blueprint("month_end", __name__, url_prefix="/admin/month-end")

RUNS_SHOWN = 24


class MonthEndForm(FlaskForm):
    month = MonthField(_l("Month"), validators=[InputRequired(_l("Choose the month."))])
    statements = BooleanField(_l("Every customer's statement of the month"), default=True)
    invoices = BooleanField(_l("Every invoice issued in the month"), default=True)
    send = BooleanField(_l("Send them to the customers"))


@bp.route("", methods=["GET", "POST"])
@requires_role(Role.ADMIN)
@posts_once
def index():
    form = MonthEndForm()
    if form.validate_on_submit():
        month = Month.of(form.month.data)
        if month.first_day > local_today():
            form.month.errors.append(_("This month has not begun: choose this month or an earlier one."))
        elif not (form.statements.data or form.invoices.data):
            form.statements.errors.append(_("Choose what to produce: the statements, the invoices, or both."))
        elif form.send.data and not sending.can_send():
            form.send.errors.append(
                _("No mail server is set (BACKOFFICE_SMTP_URL): documents can be printed, not sent.")
            )
        else:
            args = {
                "month": str(month),
                "statements": form.statements.data,
                "invoices": form.invoices.data,
                "send": form.send.data,
            }
            try:
                record, _created = jobs.enqueue("month_end", args, user=current_user)
            except jobs.QueueUnavailable as error:
                flash(str(error), "error")
                return redirect(url_for("month_end.index"))
            started = _("The month-end run of %(month)s is started: its page follows it.", month=named_month(month))
            flash(started, "info")
            return redirect(url_for("jobs.show", job_id=record.id))
    if not form.is_submitted():
        form.month.data = Month.of(local_today()).first_day
    runs = db.session.scalars(
        select(JobRecord).where(JobRecord.kind == "month_end").order_by(JobRecord.enqueued_at.desc()).limit(RUNS_SHOWN)
    ).all()
    return render_template("admin/month_end.html", form=form, runs=runs), 422 if form.errors else 200


@bp.get("/<month>.zip")
@requires_role(Role.ADMIN)
def download(month: str):
    """The zip of a month-end run's documents."""
    try:
        path = month_end.zip_path(Month.parse(month))
    except ValueError:
        abort(404)
    if not path.is_file():
        abort(404)
    return send_file(path, mimetype="application/zip", as_attachment=True, download_name=path.name)
