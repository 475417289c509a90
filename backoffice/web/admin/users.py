"""Admin-only screens. Every view here is marked with the admin role."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user
from sqlalchemy import select
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from backoffice.models import Role, User
from backoffice.models.users import MIN_PASSWORD_LENGTH
from backoffice.platform.extensions import db
from backoffice.services import ChangedMeanwhile
from backoffice.services.users import UserError, change_user, create_user
from backoffice.web.plumbing.auth import requires_role
from backoffice.web.plumbing.filters import role_name
from backoffice.web.plumbing.forms import FlaskForm
from backoffice.web.plumbing.versions import Versioned, refused_edit

bp = Blueprint("admin", __name__, url_prefix="/admin")

ROLES = {Role.ADMIN: _l("admin"), Role.FINANCE: _l("finance")}


class UserForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    name = StringField(_l("Name"), validators=[Length(max=120)])
    role = SelectField(_l("Role"), choices=[SelectChoice(r.value, ROLES[r]) for r in Role], default=Role.FINANCE.value)
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired()],
        description=_l("At least %(count)s characters.", count=MIN_PASSWORD_LENGTH),
    )


class UserChangeForm(Versioned, FlaskForm):
    role = SelectField(_l("Role"), choices=[SelectChoice(r.value, ROLES[r]) for r in Role])
    active = BooleanField(_l("Active"), description=_l("An inactive user cannot log in."))
    password = PasswordField(
        _l("New password"),
        description=_l("Leave empty to keep the password; at least %(count)s characters.", count=MIN_PASSWORD_LENGTH),
    )


@bp.route("/users", methods=["GET", "POST"])
@requires_role(Role.ADMIN)
def users():
    form = UserForm()
    if form.validate_on_submit():
        try:
            user = create_user(form.email.data, form.role.data, form.password.data, form.name.data or "")
        except UserError as error:
            form[error.field].errors.append(str(error))
        else:
            flash(
                _("User %(email)s created with role %(role)s.", email=user.email, role=role_name(user.role)), "success"
            )
            return redirect(url_for("admin.users"))
    listing = db.session.scalars(select(User).order_by(User.email)).all()
    return render_template("admin/users.html", form=form, users=listing), 422 if form.errors else 200


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@requires_role(Role.ADMIN)
def user(user_id: int):
    user = db.session.get(User, user_id) or abort(404)
    form = UserChangeForm(obj=user)
    if form.validate_on_submit():
        myself = user.id == current_user.id
        try:
            change_user(
                user,
                form.role.data,
                form.active.data,
                form.password.data or None,
                by=current_user,
                version=form.version.data,
            )
        except UserError as error:
            form[error.field].errors.append(str(error))
        except ChangedMeanwhile:
            if gone := refused_edit(form, User, user_id, "user", gone_to=url_for("admin.users")):
                return gone
        else:
            if myself:
                login_user(user)  # the admin's own sessions ended with the change, except this one
            flash(
                _("User %(email)s saved; if anything changed, their sessions have ended.", email=user.email), "success"
            )
            return redirect(url_for("admin.users"))
    status = 409 if form.changed else 422 if form.errors else 200
    return render_template("admin/user.html", form=form, user=user), status
