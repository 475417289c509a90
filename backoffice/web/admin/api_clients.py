"""The clients of the API, an admin's screen: a client issued its token (shown once), named, revoked; and the calls
the clients made, newest first."""

from __future__ import annotations

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import StringField
from wtforms.validators import InputRequired, Length

from backoffice.models import Role
from backoffice.models.api_clients import ApiClient
from backoffice.platform.extensions import LARGEST_ROW_NUMBER, db
from backoffice.services import ChangedMeanwhile, api_clients
from backoffice.web.plumbing.auth import requires_role
from backoffice.web.plumbing.forms import FlaskForm
from backoffice.web.plumbing.versions import Versioned

bp = Blueprint("clients", __name__, url_prefix="/admin")

NAME_HELP = _l("The system that will call with the token: a portal, a metering app, a service that sells.")


class IssueForm(FlaskForm):
    name = StringField(
        _l("Name"),
        validators=[InputRequired(_l("Name the client.")), Length(max=api_clients.NAME_LENGTH)],
        description=NAME_HELP,
    )


class NameForm(Versioned, FlaskForm):
    name = StringField(
        _l("Name"), validators=[InputRequired(_l("Name the client.")), Length(max=api_clients.NAME_LENGTH)]
    )


@bp.route("/api-clients", methods=["GET", "POST"])
@requires_role(Role.ADMIN)
def index():
    """The clients, the form that issues one, and the latest calls (of one client: ``?client=<id>``). A client
    just issued has its token shown here, this once."""
    form = IssueForm()
    issued = token = None
    if form.validate_on_submit():
        try:
            issued, token = api_clients.issue(form.name.data, by=current_user)
        except api_clients.ApiClientError as error:
            form.name.errors.append(str(error))
        else:
            form = IssueForm(formdata=None)
    page = make_response(_page(form, issued=issued, token=token), 422 if form.errors else 200)
    page.headers["Cache-Control"] = "no-store"  # the token is shown once: no copy of the page is kept
    return page


@bp.post("/api-clients/<int:client_id>/name")
@requires_role(Role.ADMIN)
def rename(client_id: int):
    client = db.session.get(ApiClient, client_id) or abort(404)
    form = NameForm(prefix=f"client-{client_id}")
    if form.validate_on_submit():
        try:
            api_clients.rename(client, form.name.data, version=form.version.data)
        except api_clients.ApiClientError as error:
            form.name.errors.append(str(error))
        except ChangedMeanwhile:
            current = db.session.get(ApiClient, client_id, populate_existing=True)
            form.changed = _(
                "This API client was changed by someone else since you opened it: it is now %(name)s. Reload to see "
                "the current values; nothing was saved.",
                name=current.name,
            )
        else:
            flash(_("API client renamed %(name)s.", name=client.name), "success")
            return redirect(url_for(".index"))
    db.session.rollback()
    return _page(IssueForm(formdata=None), names={client_id: form}), 409 if form.changed else 422


@bp.post("/api-clients/<int:client_id>/revoke")
@requires_role(Role.ADMIN)
def revoke(client_id: int):
    if db.session.get(ApiClient, client_id) is None:
        abort(404)
    try:
        client = api_clients.revoke(client_id, by=current_user)
    except api_clients.ApiClientError as error:
        flash(str(error), "error")
    else:
        flash(_("API client %(name)s revoked: its token is refused from its next call.", name=client.name), "success")
    return redirect(url_for(".index"))


def _page(form: IssueForm, *, issued: ApiClient | None = None, token: str | None = None, names: dict | None = None):
    clients = api_clients.clients()
    names = names or {}
    for client in clients:
        names.setdefault(client.id, NameForm(formdata=None, obj=client, prefix=f"client-{client.id}"))
    shown = request.args.get("client", "")
    one = int(shown) if shown.isdigit() and int(shown) <= LARGEST_ROW_NUMBER else None
    return render_template(
        "admin/api_clients.html",
        form=form,
        clients=clients,
        names=names,
        issued=issued,
        token=token,
        calls=api_clients.calls(one),
        one=next((client for client in clients if client.id == one), None),
    )
