"""The reconciliation screens: runs, a run's discrepancies, CSV downloads, and the admin buttons."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload
from wtforms import SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length

from backoffice.evidence import verifying
from backoffice.models import CheckResult, ReconciliationRun, Role, RunMode
from backoffice.platform.extensions import db
from backoffice.platform.replica import reads
from backoffice.reconcile import CHECKS, Scope, engine, history_drift
from backoffice.reconcile.report import (
    CSV_COLUMNS,
    csv_filename,
    csv_lines,
    entity_of,
    name_of,
    named_entities,
    run_rows,
)
from backoffice.reconcile.wording import entity_kind, entity_tag, field_label, reason_said
from backoffice.services.workbooks import xlsx_chunks
from backoffice.web.oversight import history
from backoffice.web.oversight.evidence import described, drift_problem
from backoffice.web.oversight.jobs import start as start_job
from backoffice.web.plumbing.auth import requires_role
from backoffice.web.plumbing.forms import FlaskForm, errors_text
from backoffice.web.plumbing.lists import cell_words, csv_download, xlsx_download

bp = Blueprint("reconciliation", __name__, url_prefix="/reconciliation")

JOBS = {
    RunMode.VERIFY: ("verify", {"fix": False}),
    RunMode.FIX: ("verify", {"fix": True}),
    RunMode.REBUILD: ("rebuild", {"dry_run": False}),
}
BUTTONS = {
    RunMode.VERIFY: _l("Verify now"),
    RunMode.FIX: _l("Verify and fix"),
    RunMode.REBUILD: _l("Rebuild"),
}


CONFIRMED = (RunMode.FIX, RunMode.REBUILD)
"""What writes is confirmed first, on a page saying what it may change (a plain verify only reads)."""


class StartRunForm(FlaskForm):
    mode = SelectField(choices=[SelectChoice(mode.value, label) for mode, label in BUTTONS.items()])
    check = SelectField(
        _l("Check"),
        choices=[SelectChoice("", _l("Every check")), *(SelectChoice(name, c.label) for name, c in CHECKS.items())],
        default="",
    )
    customer = StringField(
        _l("Customer code"),
        validators=[Length(max=20)],
        filters=[lambda text: text.strip() if text else text],
        description=_l("Blank: every customer."),
    )

    def job_args(self) -> dict:
        """The job's checks and customers, as chosen (nothing chosen: everything)."""
        chosen: dict = {}
        if self.check.data:
            chosen["checks"] = [self.check.data]
        if self.customer.data:
            chosen["customers"] = [self.customer.data]
        return chosen

    def scope(self) -> Scope | None:
        """The scope chosen, or ``None`` with an error under the customer's field."""
        try:
            return engine.scope_for([self.customer.data] if self.customer.data else [])
        except engine.UnknownCustomer as error:
            self.customer.errors = [*self.customer.errors, str(error)]
            return None


@bp.get("")
def index():
    return render_template(
        "reconciliation/index.html",
        **_runs(),
        buttons=BUTTONS,
        modes=RunMode,
        confirmed=CONFIRMED,
        form=StartRunForm(),
    )


@bp.get("/runs")
def runs():
    """The runs' table: the page asks for it again when a job started from it ends."""
    return render_template("reconciliation/_runs.html", **_runs())


@bp.get("/confirm/<any(fix, rebuild):mode>")
@requires_role(Role.ADMIN)
def confirm(mode: str):
    """What a fix or a rebuild will do over the checks and customers chosen, before it is started."""
    form = StartRunForm(request.args, meta={"csrf": False})
    form.mode.data = mode
    if not form.validate():
        abort(400)
    form = StartRunForm(formdata=None, mode=mode, check=form.check.data, customer=form.customer.data)
    scope = form.scope()
    counted = engine.in_scope([form.check.data] if form.check.data else None, scope) if scope is not None else []
    template = "reconciliation/_confirm.html" if request.headers.get("HX-Request") else "reconciliation/confirm.html"
    return render_template(
        template,
        form=form,
        mode=RunMode(form.mode.data),
        button=BUTTONS[RunMode(form.mode.data)],
        counted=counted,
        total=sum(count for _check, count in counted),
    ), 200 if scope is not None else 422


@bp.post("/runs")
@requires_role(Role.ADMIN)
def start():
    form = StartRunForm()
    if not form.validate_on_submit():
        abort(400)
    if form.scope() is None:
        message = errors_text(form.customer)
        if request.headers.get("HX-Request"):
            return render_template("jobs/_unavailable.html", message=message), 422
        flash(message, "error")
        return redirect(url_for("reconciliation.index"))
    kind, args = JOBS[RunMode(form.mode.data)]
    return start_job(kind, args | form.job_args(), fallback=url_for("reconciliation.index"))


def _runs() -> dict:
    """A page of the runs, newest first, with each run's counts summed over its checks' results (0 for none)."""
    runs = db.paginate(
        select(ReconciliationRun).options(selectinload(ReconciliationRun.user)).order_by(ReconciliationRun.id.desc()),
        per_page=25,
        error_out=False,
    )
    counted = db.session.execute(
        select(
            CheckResult.run_id,
            func.sum(CheckResult.checked),
            func.sum(CheckResult.mismatched),
            func.sum(CheckResult.fixed),
        )
        .where(CheckResult.run_id.in_([run.id for run in runs.items]))
        .group_by(CheckResult.run_id)
    )
    counts = {run.id: RunCounts() for run in runs.items} | {run_id: RunCounts(*summed) for run_id, *summed in counted}
    return {"runs": runs, "counts": counts}


@dataclass(frozen=True)
class RunCounts:
    checked: int = 0
    mismatched: int = 0
    fixed: int = 0

    @property
    def left(self) -> int:
        """Mismatches the run found and did not fix."""
        return self.mismatched - self.fixed


@bp.get("/runs/<int:run_id>")
def show(run_id: int):
    record = _get(run_id)
    check = request.args.get("check") or None
    if check is not None and check not in CHECKS:
        abort(404)
    found = db.paginate(engine.discrepancies(run_id, check), per_page=50, error_out=False)
    return render_template(
        "reconciliation/show.html",
        run=record,
        discrepancies=found,
        check=check,
        checks=list(CHECKS),
        named=entity_names(found.items),
        reasons=reasons(found.items),
    )


def entity_names(found) -> dict[int, tuple[str, str, str | None, str, str]]:
    """Per discrepancy id: its entity's business key, its name as a clerk names it, the address of the page
    showing it, its tag (its type in words and its key; its type alone where its name says the key), and the entity
    as the run recorded it (its type in words and its id)."""
    named = named_entities({entity_of(d) for d in found})
    pages = {}
    for d in found:
        entity = name_of(d, named)
        kind, entity_id = entity_of(d)
        page = url_for(entity.endpoint, **entity.values) if entity.endpoint else None
        recorded = entity_tag(d.entity_type, "", d.entity_id)
        key = entity.shown_key
        tag = entity_kind(kind) if key and key in entity.name else entity_tag(kind, key, entity_id)
        pages[d.id] = (entity.key, entity.name, page, tag, recorded)
    return pages


@dataclass(frozen=True)
class _Kept:
    """A discrepancy of ``evidence_seals`` as the finding it records (what :func:`described` reads)."""

    id: int
    kind: str
    row_id: int
    version: int
    what: str


def reasons(found) -> dict[int, str]:
    """Per discrepancy id, what its reason says, in the reader's words: a tampered row as the tampered evidence's
    page says it (without its amount: the row's figures are the seal's states), a record changed outside the
    application from its facts, a reason for leaving it unfixed from its facts; a reason in other words as kept."""
    kept = [
        _Kept(d.id, d.field, d.entity_id, verifying.version_of(d.reason), d.reason)
        for d in found
        if d.check == "evidence_seals" and d.reason
    ]
    said = described(kept, amounts=False)
    for d in found:
        if d.check == "history_drift":
            said[d.id] = _drift(d)
        elif d.reason and d.id not in said:
            said[d.id] = reason_said(d.reason)
    return said


@bp.app_template_filter()
def discrepancy_field(d) -> str:
    """A discrepancy's field as a clerk reads it: the columns a record had changed outside the application by the
    labels its forms give them (whole from its reason: its field may be cut), any other by its check's words."""
    if d.check == "history_drift" and d.field not in _DRIFTS:
        labels = history.labels_of(model) if (model := _model_of(d.entity_type)) is not None else history.LABELS
        columns = history_drift.columns_of(d.reason, d.field)
        named = ", ".join(str(labels.get(column, column)) for column in columns)
        return _("Changed outside the application: %(columns)s", columns=named)
    return field_label(d.check, d.field)


@bp.app_template_filter()
def discrepancy_reason(d) -> str:
    """A discrepancy's reason in the reader's words, as :func:`reasons` says it (a record's history panel)."""
    return reasons([d]).get(d.id, "")


def _drift(d) -> str:
    """A ``history_drift`` discrepancy's reason: the record's state, or the columns changed by their labels."""
    code = _DRIFTS.get(d.field)
    if code is not None:
        return drift_problem(code, [], None)
    return drift_problem("changed", history_drift.columns_of(d.reason, d.field), _model_of(d.entity_type))


_DRIFTS = {
    history_drift.NO_VERSION: "no_version",
    history_drift.DELETED_VERSION: "deleted_version",
    history_drift.DELETED: "deleted",
}
"""Per state ``history_drift`` records as a field, the problem code the tampered evidence's page says it by."""


def _model_of(entity_type: str) -> type | None:
    """The model of a versioned record's entity type (``history_drift``'s :data:`NAMES`)."""
    tables = {kind: table for table, (kind, _name) in history_drift.NAMES.items()}
    return next(
        (mapper.class_ for mapper in db.Model.registry.mappers if mapper.local_table.name == tables.get(entity_type)),
        None,
    )


@bp.get("/runs/<int:run_id>.<any(csv, xlsx):format>")
@reads
def download(run_id: int, format: str):
    record = _get(run_id)
    check = request.args.get("check") or None
    filename = csv_filename(record, current_app.config["TIMEZONE"], format)
    if format == "xlsx":
        rows = run_rows(record.id, check, typed=True)
        return xlsx_download(
            filename, xlsx_chunks(CSV_COLUMNS, rows, cell_words()), _("Reconciliation run #%(id)s", id=record.id)
        )
    return csv_download(filename, csv_lines(record.id, check, cell_words()))


def _get(run_id: int) -> ReconciliationRun:
    record = db.session.get(ReconciliationRun, run_id)
    if record is None:
        abort(404)
    return record
