"""Admin-only screens. Every view here is marked with the admin role."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from backoffice.extensions import db
from backoffice.models import Role, User
from backoffice.models.users import MIN_PASSWORD_LENGTH
from backoffice.services.users import UserError, create_user
from backoffice.web.auth import requires_role

bp = Blueprint("admin", __name__, url_prefix="/admin")


class UserForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    name = StringField("Name", validators=[Length(max=120)])
    role = SelectField("Role", choices=[SelectChoice(r.value, r.value) for r in Role], default=Role.FINANCE.value)
    password = PasswordField(
        "Password", validators=[DataRequired()], description=f"At least {MIN_PASSWORD_LENGTH} characters."
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
            flash(f"User {user.email} created with role {user.role.value}.", "success")
            return redirect(url_for("admin.users"))
    listing = db.session.scalars(select(User).order_by(User.email)).all()
    return render_template("admin/users.html", form=form, users=listing), 422 if form.errors else 200
