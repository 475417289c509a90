"""The reconciliation screens: runs, a run's discrepancies, CSV downloads, and the admin buttons."""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template, request, stream_with_context, url_for
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import SelectField
from wtforms.fields.choices import SelectChoice

from backoffice.extensions import db
from backoffice.models import ReconciliationRun, Role, RunMode
from backoffice.reconcile import CHECKS, engine
from backoffice.reconcile.report import csv_filename, csv_lines, named_entities
from backoffice.web.auth import requires_role
from backoffice.web.jobs import start as start_job

bp = Blueprint("reconciliation", __name__, url_prefix="/reconciliation")

JOBS = {
    RunMode.VERIFY: ("verify", {"fix": False}),
    RunMode.FIX: ("verify", {"fix": True}),
    RunMode.REBUILD: ("rebuild", {"dry_run": False}),
}
BUTTONS = {
    RunMode.VERIFY: "Verify now",
    RunMode.FIX: "Verify and fix",
    RunMode.REBUILD: "Rebuild",
}


class StartRunForm(FlaskForm):
    mode = SelectField(choices=[SelectChoice(mode.value, label) for mode, label in BUTTONS.items()])


@bp.get("")
def index():
    runs = db.paginate(select(ReconciliationRun).order_by(ReconciliationRun.id.desc()), per_page=25, error_out=False)
    return render_template("reconciliation/index.html", runs=runs, buttons=BUTTONS, form=StartRunForm())


@bp.post("/runs")
@requires_role(Role.ADMIN)
def start():
    form = StartRunForm()
    if not form.validate_on_submit():
        abort(400)
    kind, args = JOBS[RunMode(form.mode.data)]
    return start_job(kind, args, fallback=url_for("reconciliation.index"))


@bp.get("/runs/<int:run_id>")
def show(run_id: int):
    record = _get(run_id)
    check = request.args.get("check") or None
    if check is not None and check not in CHECKS:
        abort(404)
    found = db.paginate(engine.discrepancies(run_id, check), per_page=50, error_out=False)
    named = entity_names({(d.entity_type, d.entity_id) for d in found.items})
    return render_template(
        "reconciliation/show.html", run=record, discrepancies=found, check=check, checks=list(CHECKS), named=named
    )


def entity_names(entities: set[tuple[str, int]]) -> dict[tuple[str, int], tuple[str, str | None]]:
    """What each ``(entity type, id)`` is, as a clerk names it, and the address of the page showing it."""
    return {
        key: (text, url_for(endpoint, **values) if endpoint else None)
        for key, (text, endpoint, values) in named_entities(entities).items()
    }


@bp.get("/runs/<int:run_id>.csv")
def download(run_id: int):
    record = _get(run_id)
    check = request.args.get("check") or None
    return Response(
        stream_with_context(csv_lines(record.id, check)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{csv_filename(record)}"'},
    )


def _get(run_id: int) -> ReconciliationRun:
    record = db.session.get(ReconciliationRun, run_id)
    if record is None:
        abort(404)
    return record
