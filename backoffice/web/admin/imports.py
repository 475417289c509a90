"""The Imports page: a kind's template, a file uploaded and checked whole, its preview and its columns, the import
itself (a job, its progress followed), its report; the imports before it. A clerk imports the kinds a clerk's forms
write (readings, payments); an admin every kind. An import is its maker's: only the user who uploaded it, or an admin,
opens it, changes its columns, runs it or downloads its rows (anyone else is answered 403)."""

from __future__ import annotations

from decimal import Decimal

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.file import FileField, FileRequired
from sqlalchemy import select, update
from wtforms import SelectField
from wtforms.fields.choices import SelectChoice

from backoffice.imports import files, kept, mapping, running, said, waiting, whose
from backoffice.imports.checked import Checked, Rejection
from backoffice.imports.kinds import KINDS
from backoffice.imports.values import as_written, written_form
from backoffice.imports.written import DATE_ORDERS, DECIMAL_MARKS, Written
from backoffice.jobs.queues import QueueUnavailable, redis_url
from backoffice.models import Import, ImportStatus, Role
from backoffice.platform.extensions import db
from backoffice.platform.i18n import number_locale
from backoffice.platform.money import MoneyError, parse_number
from backoffice.services import ChangedMeanwhile, cut_over
from backoffice.services.exports import csv_chunks
from backoffice.services.metering import MeteringError
from backoffice.services.workbooks import xlsx_chunks
from backoffice.web.plumbing.auth import requires_role
from backoffice.web.plumbing.forms import FlaskForm
from backoffice.web.plumbing.lists import csv_download, xlsx_download

bp = Blueprint("imports", __name__, url_prefix="/imports")

SHOWN = 50
"""Past imports listed."""


def _allowed() -> dict:
    """The kinds the user imports."""
    return {name: kind for name, kind in KINDS.items() if current_user.has_role(kind.role)}


class UploadForm(FlaskForm):
    kind = SelectField(_l("What the file holds"))
    file = FileField(
        _l("File"),
        validators=[FileRequired(_l("Choose a file."))],
        description=_l("CSV (comma, semicolon or tab; any encoding Excel writes) or an Excel workbook (.xlsx)."),
    )


@bp.route("", methods=["GET", "POST"])
@requires_role(Role.FINANCE)
def index():
    allowed = _allowed()
    form = UploadForm()
    form.kind.choices = [SelectChoice(name, kind.label) for name, kind in allowed.items()]
    if form.validate_on_submit():
        upload = form.file.data
        kind = KINDS[form.kind.data]
        name = upload.filename or "file"
        with kept.uploaded(upload, name) as path:
            try:
                table = running.open_table(kind, path, name, mapping.remembered(kind, current_user))
                checked = None if redis_url() else running.check(kind, table)
            except running.MissingColumns as missing:
                record = running.to_map(kind, name, path, missing, current_user)
                return redirect(url_for("imports.show", import_id=record.id))
            except files.Unreadable as error:
                form.file.errors.append(str(error))
            else:
                if checked is None:
                    record = running.checked_later(kind, name, path, table, current_user)
                else:
                    record = running.started(kind, name, path, checked, current_user, False)
                return redirect(url_for("imports.show", import_id=record.id))
    past = db.session.scalars(
        select(Import)
        .where(Import.kind.in_(list(allowed)), whose.seen_by(current_user))
        .order_by(Import.id.desc())
        .limit(SHOWN)
    ).all()
    page = render_template(
        "imports/index.html",
        form=form,
        imports=past,
        kinds=KINDS,
        allowed=allowed,
        date_form=written_form(),
        cut_over=cut_over.day(),
    )
    return page, 422 if form.errors else 200


@bp.route(f"/template/<any({', '.join(KINDS)}):kind>.<any(csv, xlsx):extension>")
@requires_role(Role.FINANCE)
def template(kind: str, extension: str):
    spec = KINDS[kind]
    if not current_user.has_role(spec.role):
        abort(403)
    header = spec.template()
    filename = f"{_('import')}-{kind}.{extension}"
    if extension == "csv":
        return csv_download(filename, csv_chunks(header, []))
    return xlsx_download(filename, xlsx_chunks(header, []), spec.label)


def _record(import_id: int) -> Import:
    """The import, if the user may import its kind and act on it (:func:`whose.acts_on`)."""
    record = db.session.get(Import, import_id) or abort(404)
    if not current_user.has_role(said.kind_of(record.kind).role) or not whose.acts_on(record, current_user):
        abort(403)
    return record


@bp.route("/<int:import_id>")
@requires_role(Role.FINANCE)
def show(import_id: int):
    record = _record(import_id)
    kind = said.kind_of(record.kind)
    template_name = "imports/_progress.html" if request.headers.get("HX-Request") else "imports/show.html"
    return render_template(
        template_name,
        record=record,
        kind=kind,
        preview=(record.report or {}).get("preview"),
        missing=said.missing_said(kind, (record.report or {}).get("preview")),
        fields=mapping.fields(kind),
        written=as_written(Written.of(record.written)),
        lines=said.report_lines(record.report) if running.has_run(record) else [],
        error=said.error_said(record),
        said=said.said,
        stopped=running.lost(record),
        held=[_shown_waiting(held) for held in waiting.waiting(record)],
    )


def _shown_waiting(held: dict) -> dict:
    """A reading waiting for a confirmation, its figures as numbers for the page to write them."""
    figures = {"index": held.get("index"), "previous": held["waits"].get("previous")}
    figures |= {"counted": held["waits"].get("volume"), "usual": held["waits"].get("usual")}
    return held | {name: None if value is None else Decimal(value) for name, value in figures.items()}


def _checked(record: Import) -> Checked:
    with kept.kept_file_at(record) as path:
        kind = said.kind_of(record.kind)
        return running.check(kind, running.table_of(record, kind, path))


@bp.route("/<int:import_id>/columns", methods=["POST"])
@requires_role(Role.FINANCE)
def columns(import_id: int):
    """Read the file's columns into the fields the admin chose, check it again, and remember the choices for the
    kind's next file: only while it is checked, and at the version the page showed."""
    record = _record(import_id)
    kind = said.kind_of(record.kind)
    shown = (record.report or {}).get("preview", {}).get("columns", [])
    if record.status != ImportStatus.CHECKED or request.form.get("version") != str(record.version) or not shown:
        flash(_("This import has changed since the page was shown: its columns are as below."), "info")
        return redirect(url_for("imports.show", import_id=import_id))
    names = {field.name for field in mapping.fields(kind)}
    encoding = request.form.get("encoding") or record.encoding
    alternatives = {name for name, _line in record.report["preview"].get("alternatives", [])}
    if encoding != record.encoding and encoding not in alternatives:
        abort(400)
    kept_written = Written.of(record.written)
    decimal = request.form.get("decimal", kept_written.decimal)
    dates = request.form.get("dates", kept_written.dates)
    if decimal not in (*DECIMAL_MARKS, None) or dates not in (*DATE_ORDERS, None):
        abort(400)
    updates = (
        tuple(request.form.getlist("update"))
        if "version" in request.form and "columns-form" in request.form
        else tuple(record.updates or ())
    )
    if not set(updates) <= set(kind.updatable):
        abort(400)
    chosen = {}
    for index, (header, field) in enumerate(shown):
        value = request.form.get(f"column-{index}", field or "")
        if value not in names | {""}:
            abort(400)
        if (value or None) != field:
            chosen[header] = value or None
    with kept.kept_file_at(record) as path:
        try:
            table = running.open_table(
                kind, path, record.filename, (record.mapping or {}) | chosen, encoding, Written(decimal, dates), updates
            )
            checked = None if redis_url() else running.check(kind, table)
        except running.MissingColumns as missing:
            table, checked = missing.table, missing
        except files.Unreadable as error:
            db.session.rollback()
            flash(str(error), "error")
            return redirect(url_for("imports.show", import_id=import_id))
    db.session.rollback()  # the check's own table of keys
    mapping.remember(kind, chosen, current_user)
    if isinstance(checked, running.MissingColumns):
        state = running.unread(checked)
    elif checked is None:
        state = {"status": ImportStatus.QUEUED, "report": None, "rows_in_file": 0, "rows_good": 0, "rows_rejected": 0}
    else:
        state = running.found(checked)
    changed = db.session.execute(
        update(Import)
        .where(Import.id == import_id, Import.version == record.version, Import.status == ImportStatus.CHECKED)
        .values(
            mapping=mapping.used(table),
            encoding=encoding,
            written=table.written.kept(),
            updates=list(updates) or None,
            version=Import.version + 1,
            **state,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if not changed:
        db.session.rollback()
        flash(_("This import has changed since the page was shown: its columns are as below."), "info")
        return redirect(url_for("imports.show", import_id=import_id))
    db.session.commit()
    if checked is None:
        running.check_again(db.session.get(Import, import_id))
    return redirect(url_for("imports.show", import_id=import_id))


@bp.route("/<int:import_id>/run", methods=["POST"])
@requires_role(Role.FINANCE)
def run(import_id: int):
    """Start the import: once, however often the form is sent (its row moves from checked, or failed, to queued
    only at the version the page showed)."""
    record = _record(import_id)
    valid_only = request.form.get("valid_only") == "1"
    if (missing := said.missing_said(said.kind_of(record.kind), (record.report or {}).get("preview"))) is not None:
        flash(missing, "error")
        return redirect(url_for("imports.show", import_id=import_id))
    if not redis_url() and record.rows_good > running.IN_REQUEST_ROWS:
        flash(
            _(
                "An import of more than %(count)s rows runs as a job, with its progress on this page: set REDIS_URL "
                "and start a worker (make worker), or import it with the command (backoffice import).",
                count=running.IN_REQUEST_ROWS,
            ),
            "error",
        )
        return redirect(url_for("imports.show", import_id=import_id))
    resumable = record.status in (ImportStatus.CHECKED, ImportStatus.FAILED) or running.lost(record)
    began = (
        resumable
        and db.session.execute(
            update(Import)
            .where(Import.id == import_id, Import.version == record.version)
            .values(status=ImportStatus.QUEUED, valid_only=valid_only, error=None, version=Import.version + 1)
            .execution_options(synchronize_session=False)
        ).rowcount
    )
    if not began:
        db.session.rollback()
        flash(_("This import has started already."), "info")
        return redirect(url_for("imports.show", import_id=import_id))
    db.session.commit()
    db.session.refresh(record)
    try:
        running.start(record)
    except QueueUnavailable as error:
        running.failed(record, str(error))
    return redirect(url_for("imports.show", import_id=import_id))


@bp.route("/<int:import_id>/waiting/<int:line>", methods=["POST"])
@requires_role(Role.FINANCE)
def confirm_waiting(import_id: int, line: int):
    """Confirm a reading the import holds as the file gives it (a rollover with the meter's digits), or correct it:
    written once, at the version of the import the page showed."""
    record = _record(import_id)
    asked = {}
    try:
        for name, places in (("digits", 0), ("volume", 4), ("index", 4)):
            if (written := request.form.get(name, "").strip()) and (
                name == "digits" or request.form.get("action") == "correct"
            ):
                asked[name] = parse_number(written, number_locale(), "number")
                if asked[name] != asked[name].quantize(Decimal(1).scaleb(-places)) or asked[name] < 0:
                    raise MoneyError(_("Use at most %(count)s decimal places.", count=places))
        if request.form.get("action") == "correct" and not ({"volume", "index"} & set(asked)):
            raise MoneyError(_("Enter the reading as it should be."))
        waiting.confirm(
            record,
            line,
            current_user,
            version=int(request.form.get("version") or 0),
            digits=int(asked["digits"]) if "digits" in asked else None,
            volume=asked.get("volume"),
            index=asked.get("index"),
        )
    except (waiting.NotWaiting, ChangedMeanwhile):
        flash(_("This import has changed since the page was shown: its readings are as below."), "info")
    except (MoneyError, MeteringError) as refusal:
        flash(_("Line %(line)s: %(message)s", line=line, message=refusal), "error")
    else:
        flash(_("Line %(line)s: the reading is written.", line=line), "success")
    return redirect(url_for("imports.show", import_id=import_id))


@bp.route("/<int:import_id>/rejected.xlsx")
@requires_role(Role.FINANCE)
def rejected(import_id: int):
    """The rejected rows as the file had them, with a column saying why: fixed and uploaded again."""
    record = _record(import_id)
    kind = said.kind_of(record.kind)
    checked = _checked(record)
    names = [spec.name for spec in (*kind.fields, *(stated.field for stated in kind.stated))]
    header = [*kind.template(), _("Line"), _("Why it was rejected")]
    rows = (
        [*(rejection.row.values.get(name, "") for name in names), rejection.line, _reason(kind, rejection)]
        for rejection in checked.rejected
    )
    return xlsx_download(f"{_('rejected')}-{record.id}.xlsx", xlsx_chunks(header, rows), _("Rejected rows"))


def _reason(kind, rejection: Rejection) -> str:
    if rejection.column is None:
        return rejection.message
    return f"{kind.field(rejection.column).label}: {rejection.message}"


@bp.route("/<int:import_id>/report.<any(csv, xlsx):extension>")
@requires_role(Role.FINANCE)
def report(import_id: int, extension: str):
    """The report: once the import has run, its figures as a table (numbers as numbers: a spreadsheet sums and
    filters them); before, what checking found, a sentence a row."""
    record = _record(import_id)
    filename = f"{_('import')}-{record.id}-{_('report')}.{extension}"
    if running.has_run(record):
        header, rows = said.report_table(record.report)
        title = str(said.kind_of(record.kind).label)
    else:
        header = [_("Report of import #%(id)s", id=record.id)]
        rows = [[line] for line in said.preview_lines(record)]
        title = header[0]
    if extension == "csv":
        return csv_download(filename, csv_chunks(header, rows))
    return xlsx_download(filename, xlsx_chunks(header, rows), title)
